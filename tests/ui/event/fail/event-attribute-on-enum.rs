use es_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
struct Opened {
    owner: String,
}

#[derive(Event)]
#[event(name = "Account")]
enum AccountEvent {
    #[event(version = 2)]
    Opened(Opened),
}

fn main() {}
