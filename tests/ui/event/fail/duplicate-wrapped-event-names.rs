use es_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "Opened")]
struct Opened {
    owner: String,
}

#[derive(Serialize, Deserialize, Event)]
#[event(name = "Reopened", alias = "Opened")]
struct Reopened {
    owner: String,
}

#[derive(Event)]
enum AccountEvent {
    Opened(Opened),
    Reopened(Reopened),
}

fn main() {}
