//! A decoder fed arbitrary type names, versions and bytes never panics, and
//! deeply nested JSON is an error rather than a stack overflow.

use es_core::{DecodeError, Event, UpcastError};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(version = 3, alias = "Old", upcast(from = 1, with = step), upcast(from = 2, with = step))]
struct Noted {
    note: String,
    #[serde(default)]
    nested: Option<serde_json::Value>,
}

fn step(v: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
    Ok(v)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
struct Counted {
    n: u64,
}

#[derive(Debug, Clone, PartialEq, Event)]
enum Any {
    Noted(Noted),
    Counted(Counted),
    Inline { values: Vec<i32> },
}

fn type_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Noted".to_owned()),
        Just("Old".to_owned()),
        Just("Counted".to_owned()),
        Just("Inline".to_owned()),
        any::<String>(),
    ]
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<Vec<u8>>(),
        Just(br#"{"note":"x"}"#.to_vec()),
        Just(br#"{"n":18446744073709551615}"#.to_vec()),
        Just(br#"{"n":-1}"#.to_vec()),
        Just(br#"{"values":[1,2,3]}"#.to_vec()),
        // Valid payloads with a byte changed somewhere.
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| {
            let mut p = br#"{"note":"abc","nested":{"a":[1,2,{"b":null}]}}"#.to_vec();
            let at = i.index(p.len());
            p[at] = b;
            p
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn decoding_arbitrary_input_never_panics(name in type_name(), version in prop_oneof![0u32..5, any::<u32>()], bytes in payload()) {
        // proptest turns a panic into a failure with the input that caused it.
        match Any::decode(&name, version, &bytes) {
            Ok(event) => {
                // Whatever decoded must encode again.
                event.encode().unwrap();
            }
            Err(e) => {
                // Every error renders.
                let _ = e.to_string();
            }
        }
    }
}

fn nested(depth: usize) -> Vec<u8> {
    let mut s = String::from(r#"{"note":"deep","nested":"#);
    s.push_str(&"[".repeat(depth));
    s.push_str(&"]".repeat(depth));
    s.push('}');
    s.into_bytes()
}

#[test]
fn deeply_nested_json_is_an_error_not_a_stack_overflow() {
    let bytes = nested(1_000_000);
    for version in 1..=3 {
        // Version 3 decodes straight from the bytes; 1 and 2 go through the
        // JSON steps (a serde_json::Value tree).
        let err = Any::decode("Noted", version, &bytes).unwrap_err();
        assert!(
            matches!(err, DecodeError::Payload { .. }),
            "version {version}: {err:?}"
        );
        assert!(err.to_string().contains("recursion limit"), "{err}");
    }
    // Moderate nesting is fine.
    assert!(Any::decode("Noted", 3, &nested(50)).is_ok());
}

#[test]
fn trailing_bytes_after_a_payload_are_an_error() {
    let err = Any::decode("Counted", 1, br#"{"n":1} {"n":2}"#).unwrap_err();
    assert!(matches!(err, DecodeError::Payload { .. }), "{err:?}");
}
