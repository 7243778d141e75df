//! Feeds arbitrary (type name, schema version, payload bytes) to a derived
//! event enum's `decode`: it must return `Ok` or `Err`, never panic, never
//! overflow the stack. What decodes must encode again.
//!
//! Run: `cargo +nightly fuzz run decode` (from the repository root). The
//! same property runs in CI as a proptest: tests/tests/hostile_input.rs.

#![no_main]

use es_core::{Event, UpcastError};
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(version = 3, alias = "Old", upcast(from = 1, with = rename), upcast(from = 2, with = wrap))]
struct Noted {
    note: String,
    #[serde(default)]
    nested: Option<serde_json::Value>,
}

/// v1 -> v2: `text` became `note`.
fn rename(mut v: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
    let o = v.as_object_mut().ok_or_else(UpcastError::not_an_object)?;
    let text = o
        .remove("text")
        .ok_or_else(|| UpcastError::missing_field("text"))?;
    o.insert("note".to_owned(), text);
    Ok(v)
}

/// v2 -> v3: `extra` moved under `nested`.
fn wrap(mut v: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
    let o = v.as_object_mut().ok_or_else(UpcastError::not_an_object)?;
    if let Some(extra) = o.remove("extra") {
        o.insert("nested".to_owned(), serde_json::json!({ "extra": extra }));
    }
    Ok(v)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
struct Counted {
    n: u64,
    #[serde(default)]
    ratio: f64,
}

#[derive(Debug, Clone, PartialEq, Event)]
enum Any {
    Noted(Noted),
    Counted(Counted),
    Inline {
        values: Vec<i32>,
        label: Option<String>,
    },
    #[event(name = "Renamed", version = 2)]
    Renamed {
        from: String,
        to: String,
    },
}

fuzz_target!(|input: (String, u32, Vec<u8>)| {
    let (event_type, version, payload) = input;
    match Any::decode(&event_type, version, &payload) {
        Ok(event) => {
            let bytes = event.encode().expect("a decoded event encodes");
            let again = Any::decode(event.event_type(), event.schema_version(), &bytes)
                .expect("an encoded event decodes");
            // NaN never equals itself; everything else round-trips.
            if !matches!(&event, Any::Counted(c) if c.ratio.is_nan()) {
                assert_eq!(again, event);
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
