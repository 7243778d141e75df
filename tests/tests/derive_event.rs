//! `#[derive(Event)]` at run time: round trips, upcast chains, aliases,
//! version and payload errors, and the registry.

use es_core::{DecodeError, Event, EventRegistry, EventTypeInfo, UpcastError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
struct ItemAdded {
    sku: String,
    quantity: u32,
}

/// Version 1 was `{"name": …}`, version 2 added `quantity` (as `qty`),
/// version 3 renamed `name` to `sku` and `qty` to `quantity`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(
    name = "ItemRemoved",
    version = 3,
    alias = "ItemDropped",
    alias = "ItemDeleted",
    upcast(from = 1, with = removed_v1_to_v2),
    upcast(from = 2, via = ItemRemovedV2)
)]
struct ItemRemoved {
    sku: String,
    quantity: u32,
}

fn removed_v1_to_v2(mut v: Value) -> Result<Value, UpcastError> {
    es_core::upcast::field(&v, "name")?;
    v["qty"] = json!(1);
    Ok(v)
}

#[derive(Deserialize)]
struct ItemRemovedV2 {
    name: String,
    qty: u32,
}

impl From<ItemRemovedV2> for ItemRemoved {
    fn from(v: ItemRemovedV2) -> Self {
        Self {
            sku: v.name,
            quantity: v.qty,
        }
    }
}

/// Three JSON steps in a row; version 2 of it had no shape change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(
    version = 4,
    upcast(from = 1, with = add_a),
    upcast(from = 3, with = add_c)
)]
struct Chained {
    a: u32,
    #[serde(default)]
    b: u32,
    c: u32,
}

fn add_a(mut v: Value) -> Result<Value, UpcastError> {
    v["a"] = json!(1);
    Ok(v)
}
fn add_c(mut v: Value) -> Result<Value, UpcastError> {
    v["c"] = json!(3);
    Ok(v)
}

#[derive(Debug, Clone, PartialEq, Event)]
enum CartEvent {
    Added(ItemAdded),
    Removed(ItemRemoved),
    #[event(name = "CartCheckedOut", version = 2, alias = "CheckedOut", upcast(from = 1, with = checkout_v1))]
    CheckedOut {
        total: i64,
        #[serde(default)]
        coupon: Option<String>,
    },
    Noted(String, u32),
    Cleared,
}

fn checkout_v1(mut v: Value) -> Result<Value, UpcastError> {
    let cents = es_core::upcast::field(&v, "total_dollars")?
        .as_i64()
        .unwrap_or(0)
        * 100;
    v["total"] = json!(cents);
    Ok(v)
}

fn all_events() -> Vec<CartEvent> {
    vec![
        ItemAdded {
            sku: "a".into(),
            quantity: 2,
        }
        .into(),
        ItemRemoved {
            sku: "a".into(),
            quantity: 1,
        }
        .into(),
        CartEvent::CheckedOut {
            total: 500,
            coupon: Some("X".into()),
        },
        CartEvent::CheckedOut {
            total: 1,
            coupon: None,
        },
        CartEvent::Noted("hello".into(), 3),
        CartEvent::Cleared,
    ]
}

#[test]
fn every_event_round_trips() {
    for e in all_events() {
        let bytes = e.encode().unwrap();
        let back = CartEvent::decode(e.event_type(), e.schema_version(), &bytes).unwrap();
        assert_eq!(back, e, "{}", String::from_utf8_lossy(&bytes));
    }
    let c = Chained { a: 1, b: 2, c: 3 };
    assert_eq!(
        Chained::decode("Chained", 4, &c.encode().unwrap()).unwrap(),
        c
    );
}

#[test]
fn names_and_versions_come_from_the_attributes() {
    let names: Vec<_> = all_events()
        .iter()
        .map(|e| (e.event_type(), e.schema_version()))
        .collect();
    assert_eq!(
        names,
        [
            ("ItemAdded", 1),
            ("ItemRemoved", 3),
            ("CartCheckedOut", 2),
            ("CartCheckedOut", 2),
            ("Noted", 1),
            ("Cleared", 1),
        ]
    );
}

#[test]
fn inline_variants_encode_as_their_fields() {
    let e = CartEvent::CheckedOut {
        total: 5,
        coupon: None,
    };
    assert_eq!(
        serde_json::from_slice::<Value>(&e.encode().unwrap()).unwrap(),
        json!({"total": 5, "coupon": null})
    );
    assert_eq!(CartEvent::Cleared.encode().unwrap(), b"{}");
    assert_eq!(
        CartEvent::Noted("n".into(), 1).encode().unwrap(),
        br#"["n",1]"#
    );
}

#[test]
fn a_version_1_payload_of_a_version_3_event_decodes_through_the_chain() {
    let e = ItemRemoved::decode("ItemRemoved", 1, br#"{"name":"sku-1"}"#).unwrap();
    assert_eq!(
        e,
        ItemRemoved {
            sku: "sku-1".into(),
            quantity: 1
        }
    );
    let e = ItemRemoved::decode("ItemRemoved", 2, br#"{"name":"sku-2","qty":4}"#).unwrap();
    assert_eq!(
        e,
        ItemRemoved {
            sku: "sku-2".into(),
            quantity: 4
        }
    );
    let e = CartEvent::decode("ItemRemoved", 1, br#"{"name":"sku-1"}"#).unwrap();
    assert_eq!(
        e,
        CartEvent::Removed(ItemRemoved {
            sku: "sku-1".into(),
            quantity: 1
        })
    );
}

#[test]
fn json_steps_chain_and_undeclared_versions_decode_directly() {
    // 1 -> 2 by add_a, 2 has no step: decoded directly (b defaults).
    assert_eq!(
        Chained::decode("Chained", 1, br#"{"c":9}"#).unwrap(),
        Chained { a: 1, b: 0, c: 9 }
    );
    assert_eq!(
        Chained::decode("Chained", 2, br#"{"a":5,"c":9}"#).unwrap(),
        Chained { a: 5, b: 0, c: 9 }
    );
    assert_eq!(
        Chained::decode("Chained", 3, br#"{"a":5,"b":2}"#).unwrap(),
        Chained { a: 5, b: 2, c: 3 }
    );
}

#[test]
fn an_inline_variant_upcasts() {
    let e = CartEvent::decode("CartCheckedOut", 1, br#"{"total_dollars":3}"#).unwrap();
    assert_eq!(
        e,
        CartEvent::CheckedOut {
            total: 300,
            coupon: None
        }
    );
}

#[test]
fn aliases_decode() {
    let bytes = br#"{"sku":"a","quantity":2}"#;
    for name in ["ItemDropped", "ItemDeleted"] {
        assert_eq!(ItemRemoved::decode(name, 3, bytes).unwrap().sku, "a");
        assert!(matches!(
            CartEvent::decode(name, 3, bytes).unwrap(),
            CartEvent::Removed(_)
        ));
    }
    let e = CartEvent::decode("CheckedOut", 2, br#"{"total":1}"#).unwrap();
    assert_eq!(
        e,
        CartEvent::CheckedOut {
            total: 1,
            coupon: None
        }
    );
}

#[test]
fn a_too_new_version_says_so() {
    let err = ItemAdded::decode("ItemAdded", 2, br#"{}"#).unwrap_err();
    assert_eq!(
        err,
        DecodeError::NewerVersion {
            event_type: "ItemAdded".into(),
            stored: 2,
            current: 1
        }
    );
    assert!(err.to_string().contains("newer code"), "{err}");
    let err = CartEvent::decode("CartCheckedOut", 3, br#"{}"#).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::NewerVersion {
                stored: 3,
                current: 2,
                ..
            }
        ),
        "{err:?}"
    );
    let err = CartEvent::decode("ItemRemoved", 0, br#"{}"#).unwrap_err();
    assert!(matches!(err, DecodeError::InvalidVersion { .. }), "{err:?}");
}

#[test]
fn a_corrupt_payload_names_type_version_and_path() {
    let err = CartEvent::decode("ItemAdded", 1, br#"{"sku":"a","quantity":"two"}"#).unwrap_err();
    let DecodeError::Payload {
        event_type,
        schema_version,
        path,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        (event_type.as_str(), *schema_version, path.as_str()),
        ("ItemAdded", 1, "quantity")
    );
    // After an upcast, the path and the version read are those of the upcast payload.
    let err = ItemRemoved::decode("ItemRemoved", 1, br#"{"name":5}"#).unwrap_err();
    let DecodeError::Payload {
        schema_version,
        path,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((*schema_version, path.as_str()), (2, "name"));
    let err = CartEvent::decode("CartCheckedOut", 2, br#"{"total":1,"coupon":7}"#).unwrap_err();
    let DecodeError::Payload {
        event_type, path, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        (event_type.as_str(), path.as_str()),
        ("CartCheckedOut", "coupon")
    );
    assert!(err.to_string().contains("schema version 2"), "{err}");
}

#[test]
fn a_failing_upcast_step_names_its_version() {
    let err = ItemRemoved::decode("ItemRemoved", 1, br#"{}"#).unwrap_err();
    assert!(
        matches!(&err, DecodeError::Upcast { from: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn an_unknown_name_lists_the_known_ones() {
    let err = CartEvent::decode("Nope", 1, b"{}").unwrap_err();
    let DecodeError::UnknownEventType { known, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        known,
        &[
            "ItemAdded",
            "ItemRemoved",
            "ItemDropped",
            "ItemDeleted",
            "CartCheckedOut",
            "CheckedOut",
            "Noted",
            "Cleared"
        ]
    );
    assert!(ItemAdded::decode("ItemRemoved", 1, b"{}").is_err());
}

#[test]
fn the_registry_lists_exactly_the_declared_types() {
    assert_eq!(
        CartEvent::EVENT_TYPES,
        &[
            EventTypeInfo::new("ItemAdded", 1, &[]),
            EventTypeInfo::new("ItemRemoved", 3, &["ItemDropped", "ItemDeleted"]),
            EventTypeInfo::new("CartCheckedOut", 2, &["CheckedOut"]),
            EventTypeInfo::new("Noted", 1, &[]),
            EventTypeInfo::new("Cleared", 1, &[]),
        ]
    );
    assert_eq!(
        ItemAdded::EVENT_TYPES,
        &[EventTypeInfo::new("ItemAdded", 1, &[])]
    );
    let registry = EventRegistry::of::<CartEvent>();
    assert_eq!(registry.resolve("ItemDropped").unwrap().name, "ItemRemoved");
}

/// Enums nest: a wrapping variant may wrap another derived enum.
#[derive(Debug, Clone, PartialEq, Event)]
enum AppEvent {
    Cart(CartEvent),
    Chained(Chained),
}

#[test]
fn enums_nest() {
    let e: AppEvent = CartEvent::Cleared.into();
    let back = AppEvent::decode("Cleared", 1, &e.encode().unwrap()).unwrap();
    assert_eq!(back, e);
    assert_eq!(AppEvent::EVENT_TYPES.len(), 6);
}
