use es_core::{Aggregate, Event};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
struct Opened {
    owner: String,
}

#[derive(Serialize, Deserialize, Event)]
struct Closed {}

#[derive(Event)]
enum AccountEvent {
    Opened(Opened),
    Closed(Closed),
}

#[derive(Default, Serialize, Deserialize, Aggregate)]
#[aggregate(name = "Account")]
struct Account {
    open: bool,
}

fn main() {}
