use es_core::{Event, Projection};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
struct Opened {}

#[derive(Projection)]
#[projection(name = "", event(Opened), events(Opened, Opened), name = "again")]
struct Accounts;

fn main() {}
