//! End to end on PostgreSQL: commands through the repository on
//! `PgEventStore`, the `account_summary` documents kept in PostgreSQL by
//! the engine (one transaction per batch with the checkpoint), read back
//! with `Documents`; stored version-1 deposits upcast on load.
// Amounts are in cents, written `dollars_cents` (100_00 is $100.00).
#![allow(clippy::inconsistent_digit_grouping)]

#[path = "../../common/backend.rs"]
#[allow(dead_code, unreachable_pub)]
mod backend;

use bank::{AccountSummary, BankAccount, CloseAccount, Deposit, OpenAccount, Withdraw};
use es_core::consumer::Engine;
use es_core::document::{DocumentProjection, Documents, Filter};
use es_core::{Aggregate, EventStore, ExpectedVersion, Metadata, NewEvent, Repository};
use es_postgres::PgEventStore;
use es_testing::postgres::TestDatabase;

type Summary = Engine<PgEventStore, DocumentProjection<AccountSummary, PgEventStore>>;

/// The store and an engine of `account_summary`, caught up.
async fn store(db: &TestDatabase) -> (PgEventStore, Summary) {
    let store = backend::open_postgres(db.url()).await.unwrap();
    let mut summary = Engine::new(store.clone(), DocumentProjection::new(store.clone()));
    summary.catch_up().await.unwrap();
    (store, summary)
}

/// The `account_summary` document of `id`.
async fn summary_of(store: &PgEventStore, id: &str) -> AccountSummary {
    Documents::<AccountSummary, _>::new(store.clone())
        .get(id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no account_summary document for {id}"))
}

#[tokio::test]
async fn commands_and_account_summary_on_postgres() {
    let db = TestDatabase::create().await;
    let (store, mut summary) = store(&db).await;
    let accounts = Repository::<BankAccount, _>::new(store.clone());
    let open = |owner: &str, initial| OpenAccount {
        owner_id: owner.into(),
        initial_deposit: initial,
    };
    accounts.execute("a1", open("alice", 100_00)).await.unwrap();
    accounts
        .execute(
            "a1",
            Deposit {
                amount: 25_00,
                description: "gift".into(),
            },
        )
        .await
        .unwrap();
    accounts.execute("a2", open("alice", 0)).await.unwrap();
    accounts.execute("b1", open("bob", 5_00)).await.unwrap();
    accounts
        .execute(
            "b1",
            Withdraw {
                amount: 5_00,
                description: "all".into(),
            },
        )
        .await
        .unwrap();
    accounts.execute("b1", CloseAccount).await.unwrap();
    let refused = accounts
        .execute(
            "a2",
            Withdraw {
                amount: 1,
                description: "x".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(refused.rejection().is_some());

    assert_eq!(summary.catch_up().await.unwrap(), 6);
    let first = summary.status().await.unwrap();
    // Again: nothing new, nothing counted twice.
    assert_eq!(summary.catch_up().await.unwrap(), 0);
    let again = summary.status().await.unwrap();
    assert_eq!(first, again);
    assert_eq!(first.lag, 0);
    assert_eq!(
        store
            .load_checkpoint("account_summary")
            .await
            .unwrap()
            .unwrap_or(0),
        first.position
    );

    let summaries = Documents::<AccountSummary, _>::new(store.clone());
    let rows: Vec<(String, String, i64, bool, i64, bool)> = summaries
        .page(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, a)| {
            let moved = a.last_transaction_at.is_some();
            (id, a.owner_id, a.balance, a.open, a.transactions, moved)
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("a1".into(), "alice".into(), 125_00, true, 2, true),
            ("a2".into(), "alice".into(), 0, true, 0, false),
            ("b1".into(), "bob".into(), 0, false, 2, true),
        ]
    );
    let alice = summaries
        .filter(&Filter::new().eq("owner_id", "alice"))
        .await
        .unwrap();
    assert_eq!(alice.len(), 2);

    // Later events are picked up from the checkpoint.
    accounts
        .execute(
            "a2",
            Deposit {
                amount: 7_00,
                description: "late".into(),
            },
        )
        .await
        .unwrap();
    summary.catch_up().await.unwrap();
    let a2 = summary_of(&store, "a2").await;
    assert_eq!((a2.balance, a2.transactions), (7_00, 1));
    summary.release().await;
    store.pool().close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn stored_version_1_deposits_upcast_on_postgres() {
    let db = TestDatabase::create().await;
    let (store, mut summary) = store(&db).await;
    let raw = |event_type: &str, version: u32, payload: &str| {
        NewEvent::from_raw(
            event_type,
            version,
            payload.as_bytes().to_vec(),
            Metadata::new(),
        )
    };
    store
        .append(
            &format!("{}-old", BankAccount::NAME),
            ExpectedVersion::NoStream,
            vec![
                raw(
                    "AccountOpened",
                    1,
                    r#"{"owner_id":"bob","initial_deposit":100}"#,
                ),
                raw("MoneyDeposited", 1, r#"{"amount":50}"#),
                raw("MoneyDeposited", 1, r#"{"amount":25,"description":"gift"}"#),
            ],
        )
        .await
        .unwrap();
    let stored: Vec<i32> = sqlx::query_scalar(
        "SELECT schema_version FROM es.events WHERE event_type = 'MoneyDeposited'",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert_eq!(stored, [1, 1], "the rows stay at version 1");

    let accounts = Repository::<BankAccount, _>::new(store.clone());
    let loaded = accounts.load("old").await.unwrap().expect("the account");
    assert_eq!((loaded.state.balance, loaded.version), (175, 3));
    accounts
        .execute(
            "old",
            Deposit {
                amount: 1,
                description: "new".into(),
            },
        )
        .await
        .unwrap();

    summary.catch_up().await.unwrap();
    let old = summary_of(&store, "old").await;
    assert_eq!((old.balance, old.transactions), (176, 4));
    summary.release().await;
    store.pool().close().await;
    db.drop_db().await;
}
