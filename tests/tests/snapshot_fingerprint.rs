//! A changed state struct never loads a snapshot written by the old one:
//! `#[derive(Aggregate)]` folds a fingerprint of the struct's definition into
//! the snapshot key, so the state is rebuilt from events instead.

use es_core::{
    Aggregate, Event, Handle, InMemoryEventStore, Repository, SnapshotStore, snapshot_key,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
struct Deposited {
    amount: i64,
}

#[derive(Clone)]
struct Deposit(i64);

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

/// The state as first deployed.
mod v1 {
    use super::*;
    use es_core::{Aggregate, Apply};

    #[derive(Debug, Default, Serialize, Deserialize, Aggregate)]
    #[aggregate(name = "Account", event = Deposited, snapshot_version = 1)]
    pub(crate) struct Account {
        pub(crate) balance: i64,
    }

    impl Apply<Deposited> for Account {
        fn apply(&mut self, e: &Deposited) {
            self.balance += e.amount;
        }
    }

    impl Handle<Deposit> for Account {
        type Error = Never;
        fn handle(&self, Deposit(amount): Deposit) -> Result<Vec<Deposited>, Never> {
            Ok(vec![Deposited { amount }])
        }
    }
}

/// The next release added a field with `#[serde(default)]` and forgot to
/// raise `snapshot_version`.
mod added_field {
    use super::*;
    use es_core::{Aggregate, Apply};

    #[derive(Debug, Default, Serialize, Deserialize, Aggregate)]
    #[aggregate(name = "Account", event = Deposited, snapshot_version = 1)]
    pub(crate) struct Account {
        pub(crate) balance: i64,
        #[serde(default)]
        pub(crate) deposits: u32,
    }

    impl Apply<Deposited> for Account {
        fn apply(&mut self, e: &Deposited) {
            self.balance += e.amount;
            self.deposits += 1;
        }
    }

    impl Handle<Deposit> for Account {
        type Error = Never;
        fn handle(&self, Deposit(amount): Deposit) -> Result<Vec<Deposited>, Never> {
            Ok(vec![Deposited { amount }])
        }
    }
}

/// Another release renamed the field (in cents now), again without raising
/// `snapshot_version`.
mod renamed_field {
    use super::*;
    use es_core::{Aggregate, Apply};

    #[derive(Debug, Default, Serialize, Deserialize, Aggregate)]
    #[aggregate(name = "Account", event = Deposited, snapshot_version = 1)]
    pub(crate) struct Account {
        #[serde(default)]
        pub(crate) balance_cents: i64,
    }

    impl Apply<Deposited> for Account {
        fn apply(&mut self, e: &Deposited) {
            self.balance_cents += e.amount * 100;
        }
    }

    impl Handle<Deposit> for Account {
        type Error = Never;
        fn handle(&self, Deposit(amount): Deposit) -> Result<Vec<Deposited>, Never> {
            Ok(vec![Deposited { amount }])
        }
    }
}

/// Three deposits under v1, with a snapshot after each.
async fn history() -> InMemoryEventStore {
    let store = InMemoryEventStore::new();
    let old = Repository::<v1::Account, _>::new(store.clone()).snapshot_every(1);
    for amount in [10, 20, 30] {
        old.execute("a", Deposit(amount)).await.unwrap();
    }
    let snap = store.load_snapshot("Account-a").await.unwrap().unwrap();
    assert_eq!(snap.version, 3, "v1 took its snapshot");
    store
}

#[tokio::test(flavor = "current_thread")]
async fn an_added_serde_default_field_ignores_the_old_snapshot() {
    let store = history().await;
    let new = Repository::<added_field::Account, _>::new(store.clone()).snapshot_every(1);
    let loaded = new.load("a").await.unwrap().unwrap();
    assert_eq!(
        (loaded.state.balance, loaded.state.deposits, loaded.version),
        (60, 3, 3),
        "the state is rebuilt from the events, not read from v1's snapshot"
    );
    // The next command writes a snapshot under the new key, which the new
    // struct loads.
    new.execute("a", Deposit(5)).await.unwrap();
    let snap = store.load_snapshot("Account-a").await.unwrap().unwrap();
    assert_eq!(
        (snap.version, snap.snapshot_version),
        (4, snapshot_key::<added_field::Account>())
    );
    let loaded = new.load("a").await.unwrap().unwrap();
    assert_eq!(
        (loaded.state.balance, loaded.state.deposits, loaded.version),
        (65, 4, 4)
    );
    // And the old code (a rolling deploy) ignores the new snapshot in turn.
    let old = Repository::<v1::Account, _>::new(store).snapshot_every(1);
    assert_eq!(old.load("a").await.unwrap().unwrap().state.balance, 65);
}

#[tokio::test(flavor = "current_thread")]
async fn a_renamed_field_ignores_the_old_snapshot() {
    let store = history().await;
    let new = Repository::<renamed_field::Account, _>::new(store).snapshot_every(1);
    let loaded = new.load("a").await.unwrap().unwrap();
    assert_eq!(
        (loaded.state.balance_cents, loaded.version),
        (6000, 3),
        "the state is rebuilt from the events, not read from v1's snapshot"
    );
}

#[test]
fn the_key_differs_per_shape_and_keeps_the_declared_version() {
    assert_eq!(v1::Account::SNAPSHOT_VERSION, 1);
    assert_eq!(added_field::Account::SNAPSHOT_VERSION, 1);
    let keys = [
        snapshot_key::<v1::Account>(),
        snapshot_key::<added_field::Account>(),
        snapshot_key::<renamed_field::Account>(),
    ];
    assert!(keys[0] != keys[1] && keys[1] != keys[2] && keys[0] != keys[2]);
    assert_ne!(v1::Account::STATE_FINGERPRINT, 0);
}

/// The generated impl, fingerprint included, compiles without a warning
/// (`derive_hygiene.rs` checks its paths beside shadowing modules).
#[deny(warnings)]
mod no_warnings {
    use es_core::{Aggregate, Apply};
    use serde::{Deserialize, Serialize};

    #[derive(Default, Serialize, Deserialize, Aggregate)]
    #[aggregate(event = super::Deposited)]
    pub(crate) struct Quiet {
        total: i64,
    }

    impl Apply<super::Deposited> for Quiet {
        fn apply(&mut self, e: &super::Deposited) {
            self.total += e.amount;
        }
    }
}

#[test]
fn a_derived_aggregate_under_deny_warnings() {
    use es_core::Aggregate;
    let mut q = no_warnings::Quiet::default();
    q.apply_event(&Deposited { amount: 2 });
    assert_ne!(no_warnings::Quiet::STATE_FINGERPRINT, 0);
}
