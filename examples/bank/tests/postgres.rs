//! End to end on PostgreSQL: commands through the repository on
//! `PgEventStore`, `account_summary` built in PostgreSQL by the same
//! handlers, run by `es_postgres::ProjectionRunner` (one transaction per
//! batch with the checkpoint), checked with SQL; stored version-1 deposits
//! upcast on load.
// Amounts are in cents, written `dollars_cents` (100_00 is $100.00).
#![allow(clippy::inconsistent_digit_grouping)]

#[path = "../../common/backend.rs"]
#[allow(dead_code, unreachable_pub)]
mod backend;

use bank::{AccountSummary, BankAccount, CloseAccount, Deposit, OpenAccount, Withdraw};
use es_core::{Aggregate, EventStore, ExpectedVersion, Metadata, NewEvent, Repository};
use es_postgres::{PgEventStore, ProjectionRunner};
use es_testing::postgres::TestDatabase;

/// The store and a runner of `account_summary` (which creates its table).
async fn store(db: &TestDatabase) -> (PgEventStore, ProjectionRunner<AccountSummary>) {
    let store = backend::open_postgres(db.url()).await.unwrap();
    let mut summary = ProjectionRunner::new(store.clone(), AccountSummary::default());
    summary.catch_up().await.unwrap();
    (store, summary)
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

    let rows: Vec<(String, String, i64, bool, i64, bool)> = sqlx::query_as(
        "SELECT account_id, owner_id, balance, open, transactions, \
         last_transaction_at IS NOT NULL FROM account_summary ORDER BY account_id",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert_eq!(
        rows,
        [
            ("a1".into(), "alice".into(), 125_00, true, 2, true),
            ("a2".into(), "alice".into(), 0, true, 0, false),
            ("b1".into(), "bob".into(), 0, false, 2, true),
        ]
    );
    let alice: i64 = sqlx::query_scalar("SELECT count(*) FROM account_summary WHERE owner_id = $1")
        .bind("alice")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(alice, 2);

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
    let (balance, transactions): (i64, i64) =
        sqlx::query_as("SELECT balance, transactions FROM account_summary WHERE account_id = 'a2'")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!((balance, transactions), (7_00, 1));
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
    let (balance, transactions): (i64, i64) = sqlx::query_as(
        "SELECT balance, transactions FROM account_summary WHERE account_id = 'old'",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!((balance, transactions), (176, 4));
    summary.release().await;
    store.pool().close().await;
    db.drop_db().await;
}
