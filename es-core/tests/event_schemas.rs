//! `Event::event_schemas` (feature `schema`): derived structs with and
//! without `schemars::JsonSchema`, and enums of both and of inline variants.
#![cfg(feature = "schema")]

use es_core::Event;
use serde::{Deserialize, Serialize};

/// An account was opened.
#[derive(Debug, Serialize, Deserialize, Event, schemars::JsonSchema)]
#[event(name = "AccountOpened", alias = "Opened")]
pub struct AccountOpened {
    /// Who owns it.
    pub owner_id: String,
    /// The first deposit, in cents.
    pub initial_deposit: i64,
}

/// No JSON Schema derive: listed, without a schema.
#[derive(Debug, Serialize, Deserialize, Event)]
#[event(version = 3)]
pub struct MoneyDeposited {
    /// In cents.
    pub amount: i64,
}

/// Both structs and an inline variant.
#[derive(Debug, Event)]
pub enum AccountEvent {
    /// With a schema.
    Opened(AccountOpened),
    /// Without one.
    Deposited(MoneyDeposited),
    /// Inline fields: no schema.
    Closed {
        /// Why.
        reason: String,
    },
}

#[test]
fn a_struct_with_json_schema_has_its_schema_marked_with_name_and_version() {
    let [opened] = AccountOpened::event_schemas().try_into().unwrap();
    assert_eq!((opened.name, opened.version), ("AccountOpened", 1));
    assert_eq!(opened.aliases, ["Opened"]);
    let schema = opened.schema.unwrap().to_value();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["title"], "AccountOpened");
    assert_eq!(schema["properties"]["owner_id"]["type"], "string");
    assert_eq!(
        schema["properties"]["owner_id"]["description"],
        "Who owns it."
    );
    assert_eq!(schema["properties"]["initial_deposit"]["type"], "integer");
    assert_eq!(
        schema["required"],
        serde_json::json!(["owner_id", "initial_deposit"])
    );
    assert_eq!(schema["x-event-type"], "AccountOpened");
    assert_eq!(schema["x-schema-version"], 1);
    assert_eq!(schema["x-aliases"], serde_json::json!(["Opened"]));
}

#[test]
fn a_struct_without_json_schema_is_listed_without_one() {
    let [deposited] = MoneyDeposited::event_schemas().try_into().unwrap();
    assert_eq!((deposited.name, deposited.version), ("MoneyDeposited", 3));
    assert!(deposited.schema.is_none());
}

#[test]
fn an_enum_lists_each_event_type_with_its_variants_schema() {
    let schemas = AccountEvent::event_schemas();
    let listed: Vec<(&str, u32, bool)> = schemas
        .iter()
        .map(|s| (s.name, s.version, s.schema.is_some()))
        .collect();
    assert_eq!(
        listed,
        [
            ("AccountOpened", 1, true),
            ("MoneyDeposited", 3, false),
            ("Closed", 1, false)
        ]
    );
}
