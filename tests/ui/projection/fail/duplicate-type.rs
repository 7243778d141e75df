use es_core::{Event, Projection};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
struct Opened {}

#[derive(Projection)]
#[projection(events(Opened, Opened))]
struct Accounts;

fn main() {}
