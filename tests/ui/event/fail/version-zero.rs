use es_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(version = 0)]
struct Opened {
    owner: String,
}

fn main() {}
