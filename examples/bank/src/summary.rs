//! The `account_summary` read model: per account its owner, balance, open
//! or closed, transaction count and last transaction time; accounts by
//! owner.
//!
//! A [document projection](es_core::document): one document per account
//! (its key: the id of the account's stream), evolved by the account's
//! events. The framework stores it on every store (PostgreSQL, SQLite, in
//! memory) with no SQL written here, runs it on the consumer engine (one
//! read and one write of the documents per batch, with the checkpoint),
//! and answers `get` by account and `filter` by the indexed `owner_id`.
//!
//! The opening deposit counts as a transaction when it is above zero.

use es_core::document::{Document, DocumentState, Evolve};
use es_core::{Recorded, Timestamp};
use serde::{Deserialize, Serialize};

use crate::domain::{AccountClosed, AccountOpened, MoneyDeposited, MoneyWithdrawn};

/// One account in `account_summary` (the account id is its key).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Document)]
#[document(
    name = "account_summary",
    events(AccountOpened, MoneyDeposited, MoneyWithdrawn, AccountClosed),
    index(owner_id)
)]
pub struct AccountSummary {
    /// Who owns it.
    pub owner_id: String,
    /// In cents.
    pub balance: i64,
    /// Open (not closed).
    pub open: bool,
    /// Deposits and withdrawals, the opening deposit included.
    pub transactions: i64,
    /// When money last moved.
    pub last_transaction_at: Option<Timestamp>,
    /// When it was opened.
    pub opened_at: Timestamp,
}

impl AccountSummary {
    /// Money moved: `delta` cents in (positive) or out (negative), at `at`.
    fn moved(&mut self, delta: i64, at: Timestamp) {
        self.balance += delta;
        self.transactions += 1;
        self.last_transaction_at = Some(at);
    }
}

impl Evolve<AccountOpened> for AccountSummary {
    fn evolve(&mut self, e: &Recorded<AccountOpened>, _: &mut DocumentState) {
        self.owner_id.clone_from(&e.event.owner_id);
        self.open = true;
        self.opened_at = e.recorded_at;
        if e.event.initial_deposit > 0 {
            self.moved(e.event.initial_deposit, e.recorded_at);
        }
    }
}

impl Evolve<MoneyDeposited> for AccountSummary {
    fn evolve(&mut self, e: &Recorded<MoneyDeposited>, _: &mut DocumentState) {
        self.moved(e.event.amount, e.recorded_at);
    }
}

impl Evolve<MoneyWithdrawn> for AccountSummary {
    fn evolve(&mut self, e: &Recorded<MoneyWithdrawn>, _: &mut DocumentState) {
        self.moved(-e.event.amount, e.recorded_at);
    }
}

impl Evolve<AccountClosed> for AccountSummary {
    fn evolve(&mut self, _: &Recorded<AccountClosed>, _: &mut DocumentState) {
        self.open = false;
    }
}
