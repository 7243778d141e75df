use es_core::{Event, Projection};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
struct Opened {}

#[derive(Projection)]
#[projection(nmae = "accounts", events(Opened))]
struct Accounts;

fn main() {}
