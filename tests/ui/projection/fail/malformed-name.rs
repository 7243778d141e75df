use es_core::{Event, Projection};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
struct Opened {}

#[derive(Projection)]
#[projection(name = "account summary", events(Opened))]
struct AccountSummary;

#[derive(Projection)]
#[projection(name = account_list, events(Opened))]
struct AccountList;

fn main() {}
