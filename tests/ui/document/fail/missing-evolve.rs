use es_core::document::{DocumentState, Evolve};
use es_core::{Event, Recorded};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct AccountOpened {
    owner_id: String,
}

#[derive(Default, Serialize, Deserialize, es_core::document::Document)]
#[document(events(AccountOpened))]
struct Summary {
    owner_id: String,
    balance: i64,
}

fn main() {}
