use es_core::document::{DocumentState, Evolve};
use es_core::{Event, Recorded};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct AccountOpened {
    owner_id: String,
}

#[derive(Default, Serialize, Deserialize, es_core::document::Document)]
#[document(key = owner, events(AccountOpened))]
struct Summary {
    owner_id: String,
    balance: i64,
}

impl Evolve<AccountOpened> for Summary {
    fn evolve(&mut self, e: &Recorded<AccountOpened>, _: &mut DocumentState) {
        self.owner_id.clone_from(&e.event.owner_id);
    }
}

fn main() {}
