use es_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
struct Subscribed(#[tag] String, u32);

fn main() {}
