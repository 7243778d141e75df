use es_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(verion = 2)]
struct Opened {
    owner: String,
}

fn main() {}
