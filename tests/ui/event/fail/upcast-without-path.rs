use es_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(version = 2, upcast(from = 1))]
struct Opened {
    owner: String,
}

fn main() {}
