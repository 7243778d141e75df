use es_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(version = "two")]
struct Opened {
    owner: String,
}

fn main() {}
