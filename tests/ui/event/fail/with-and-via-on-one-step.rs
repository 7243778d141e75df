use es_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(version = 2, upcast(from = 1, with = up, via = OpenedV1))]
struct Opened {
    owner: String,
}

#[derive(Deserialize)]
struct OpenedV1 {
    owner: String,
}

fn up(v: serde_json::Value) -> Result<serde_json::Value, es_core::UpcastError> {
    Ok(v)
}

fn main() {}
