use es_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
struct Opened<T> {
    owner: T,
}

fn main() {}
