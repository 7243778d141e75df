use es_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(version = 2, upcast(from = 1, with = up), upcast(from = 1, via = OpenedV1))]
struct Opened {
    owner: String,
}

#[derive(Deserialize)]
struct OpenedV1 {
    owner: String,
}

impl From<OpenedV1> for Opened {
    fn from(v: OpenedV1) -> Self {
        Self { owner: v.owner }
    }
}

fn up(v: serde_json::Value) -> Result<serde_json::Value, es_core::UpcastError> {
    Ok(v)
}

fn main() {}
