use es_core::{Event, Projection};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
struct Opened {}

#[derive(Projection)]
#[projection(events(Opened))]
union Accounts {
    n: u32,
}

fn main() {}
