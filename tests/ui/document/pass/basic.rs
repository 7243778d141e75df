#![deny(warnings)]

use es_core::document::{Document, DocumentState, Evolve};
use es_core::{Event, Recorded};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct AccountOpened {
    owner_id: String,
}

#[derive(Debug, Serialize, Deserialize, Event)]
struct MoneyDeposited {
    amount: i64,
}

#[derive(Debug, Serialize, Deserialize, Event)]
enum Audit {
    Checked { by: String },
}

fn auditor(e: &Recorded<Audit>) -> String {
    match &e.event {
        Audit::Checked { by } => by.clone(),
    }
}

/// The default key for two events, a field key for one, a function for one.
#[derive(Default, Serialize, Deserialize, Document)]
#[document(
    name = "account-summary.v2",
    index(owner_id, balance),
    events(MoneyDeposited, AccountOpened(key = owner_id), Audit(key_with = auditor))
)]
struct Summary {
    owner_id: String,
    balance: i64,
    #[serde(default)]
    audits: u32,
}

impl Evolve<AccountOpened> for Summary {
    fn evolve(&mut self, e: &Recorded<AccountOpened>, _: &mut DocumentState) {
        self.owner_id.clone_from(&e.event.owner_id);
    }
}

impl Evolve<MoneyDeposited> for Summary {
    fn evolve(&mut self, e: &Recorded<MoneyDeposited>, doc: &mut DocumentState) {
        self.balance += e.event.amount;
        if self.balance < 0 {
            doc.delete();
        }
    }
}

impl Evolve<Audit> for Summary {
    fn evolve(&mut self, _: &Recorded<Audit>, _: &mut DocumentState) {
        self.audits += 1;
    }
}

fn main() {
    assert_eq!(Summary::NAME, "account-summary.v2");
    assert_eq!(Summary::EVENT_TYPES, ["MoneyDeposited", "AccountOpened", "Checked"]);
    assert_eq!(Summary::INDEXES, ["owner_id", "balance"]);
}
