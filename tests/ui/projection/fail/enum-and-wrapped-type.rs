use es_core::{Event, Projection};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
struct Opened {}

#[derive(Event)]
enum AccountEvent {
    Opened(Opened),
    Closed {},
}

#[derive(Projection)]
#[projection(events(AccountEvent, Opened))]
struct Accounts;

fn main() {}
