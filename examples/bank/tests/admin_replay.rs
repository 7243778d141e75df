//! `bank-admin inspect`, `rebuild` and `status` (es_cli::Tool with the
//! bank's aggregate and projection) on an SQLite file and on PostgreSQL (a
//! database of its own on the DATABASE_URL server, by default
//! postgres://postgres@127.0.0.1:5432/postgres).

mod common;

use std::time::Duration;

use assert_cmd::Command;
use bank::{AccountEvent, AccountOpened, MoneyDeposited, MoneyWithdrawn};
use common::{admin, json_of, stderr_of, stdout_of, typed, url};
use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent, StreamEnd};
use es_sqlite::SqliteEventStore;
use serde_json::json;

fn deposited(amount: i64) -> AccountEvent {
    AccountEvent::Deposited(MoneyDeposited {
        amount,
        description: "pay".into(),
        category: "salary".into(),
    })
}

/// `BankAccount-acc-1`: opened with 100, +50 (a version-1 deposit, upcast
/// on read), -30, +5, each in an append of its own a few milliseconds
/// apart; `BankAccount-acc-2`: opened with 7. Returns the time event 2 of
/// acc-1 was recorded.
async fn write<S: EventStore>(store: &S) -> String {
    let opened = AccountEvent::Opened(AccountOpened {
        owner_id: "alice".into(),
        initial_deposit: 100,
    });
    let v1_deposit = NewEvent::from_raw(
        "MoneyDeposited",
        1,
        json!({"amount": 50}).to_string().into_bytes(),
        Metadata::new(),
    );
    let withdrawn = AccountEvent::Withdrawn(MoneyWithdrawn {
        amount: 30,
        description: "rent".into(),
    });
    for event in [
        typed(opened),
        v1_deposit,
        typed(withdrawn),
        typed(deposited(5)),
    ] {
        store
            .append("BankAccount-acc-1", ExpectedVersion::Any, vec![event])
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let other = AccountEvent::Opened(AccountOpened {
        owner_id: "bob".into(),
        initial_deposit: 7,
    });
    store
        .append(
            "BankAccount-acc-2",
            ExpectedVersion::Any,
            vec![typed(other)],
        )
        .await
        .unwrap();
    let two = store
        .read_stream("BankAccount-acc-1", 2, StreamEnd::Version(2), 1)
        .await
        .unwrap();
    two[0]
        .recorded_at
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Everything the tests ask of one store, given its URL and the time event
/// 2 of acc-1 was recorded.
fn inspect_rebuild_and_status(url: &str, second_at: &str) {
    // At a version, text: each step's changes and state, the final state.
    let a = admin(url)
        .args(["inspect", "acc-1", "--at", "3"])
        .assert()
        .success();
    let out = stdout_of(&a);
    assert!(
        out.contains("BankAccount-acc-1 (aggregate BankAccount): 3 of 4 event(s), up to version 3"),
        "{out}"
    );
    assert!(out.contains("~ balance: 0 -> 100"), "{out}");
    assert!(out.contains("~ owner_id: \"\" -> \"alice\""), "{out}");
    assert!(out.contains("MoneyDeposited@1"), "{out}");
    assert!(out.contains("~ balance: 100 -> 150"), "{out}");
    assert!(out.contains("~ balance: 150 -> 120"), "{out}");
    assert!(!out.contains("-> 125"), "{out}");
    assert!(out.contains("state at version 3:"), "{out}");

    // At a time, JSON, by the full stream id.
    let a = admin(url)
        .args(["inspect", "BankAccount-acc-1", "--at", second_at, "--json"])
        .assert()
        .success();
    let report = json_of(&a);
    assert_eq!(report["version"], 2);
    assert_eq!(report["head"], 4);
    assert_eq!(report["steps"].as_array().unwrap().len(), 2);
    assert_eq!(report["state"]["balance"], 150);
    assert_eq!(report["initial"]["balance"], 0);
    let changes = &report["steps"][1]["changes"];
    assert_eq!(
        changes,
        &json!([{"path": "balance", "kind": "changed", "old": 100, "new": 150}])
    );
    assert_eq!(report["steps"][1]["payload"], json!({"amount": 50}));

    // Unknown stream, a version past the end, a time before the first event: exit 4.
    for args in [
        vec!["inspect", "nope"],
        vec!["inspect", "acc-1", "--at", "9"],
        vec!["inspect", "acc-1", "--at", "2000-01-01T00:00:00Z"],
    ] {
        let a = admin(url).args(&args).assert().code(4);
        let err = stderr_of(&a);
        assert!(err.starts_with("bank-admin: error: "), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    admin(url)
        .args(["inspect", "acc-1", "--at", "soon"])
        .assert()
        .code(2);

    // Never run: every event of its types is lag.
    let a = admin(url).args(["status", "--json"]).assert().success();
    let rows = json_of(&a);
    assert_eq!(rows[0]["projection"], "account_summary");
    assert_eq!(
        (rows[0]["started"].clone(), rows[0]["lag"].clone()),
        (json!(false), json!(5))
    );
    let a = admin(url).arg("status").assert().success();
    assert!(stdout_of(&a).contains("never started"), "{}", stdout_of(&a));

    // Rebuild, then status says lag 0.
    let a = admin(url)
        .args(["rebuild", "account_summary", "--json"])
        .assert()
        .success();
    let done = json_of(&a);
    assert_eq!(
        (done["replayed"].clone(), done["lag"].clone()),
        (json!(5), json!(0))
    );
    let a = admin(url)
        .args(["rebuild", "account_summary"])
        .assert()
        .success();
    assert!(
        stdout_of(&a).contains("rebuilt projection `account_summary`"),
        "{}",
        stdout_of(&a)
    );
    let a = admin(url).args(["status", "--json"]).assert().success();
    let rows = json_of(&a);
    assert_eq!(rows[0]["lag"], 0);
    assert_eq!(rows[0]["started"], true);
    assert_eq!(rows[0]["running"], false);
    assert_eq!(rows[0]["dead_letters"], 0);
    let a = admin(url).arg("status").assert().success();
    let out = stdout_of(&a);
    assert!(
        out.contains("account_summary") && out.contains("stopped"),
        "{out}"
    );

    let a = admin(url).args(["rebuild", "nope"]).assert().code(4);
    assert!(
        stderr_of(&a).contains("known: account_summary"),
        "{}",
        stderr_of(&a)
    );
}

#[tokio::test]
async fn inspect_rebuild_and_status_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bank.db");
    let store = SqliteEventStore::open(&path).await.unwrap();
    let second_at = write(&store).await;
    store.close().await;
    let url = url(&path);
    inspect_rebuild_and_status(&url, &second_at);

    // The rebuilt read model holds the replayed balances.
    let store = SqliteEventStore::open(&path).await.unwrap();
    assert_eq!(
        balances(&store).await,
        [("acc-1".to_owned(), 125), ("acc-2".to_owned(), 7)]
    );
    store.close().await;
}

#[tokio::test]
async fn inspect_rebuild_and_status_on_postgres() {
    let db = es_testing::postgres::TestDatabase::create().await;
    let store = es_postgres::PgEventStore::connect(db.url()).await.unwrap();
    store.migrate().await.unwrap();
    let second_at = write(&store).await;
    store.pool().close().await;
    inspect_rebuild_and_status(db.url(), &second_at);
    let store = es_postgres::PgEventStore::connect(db.url()).await.unwrap();
    assert_eq!(
        balances(&store).await,
        [("acc-1".to_owned(), 125), ("acc-2".to_owned(), 7)]
    );
    store.pool().close().await;
    db.drop_db().await;
}

/// The balances in the `account_summary` documents, by account.
async fn balances<S: es_core::document::DocumentBackend>(store: &S) -> Vec<(String, i64)> {
    es_core::document::Documents::<bank::AccountSummary, _>::new(store.clone())
        .page(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, a)| (id, a.balance))
        .collect()
}

/// The bank's story, then bank-admin on the file it wrote: everything
/// decodes, the read model is caught up, a rebuild keeps it so.
#[test]
fn bank_admin_after_the_story() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bank.db");
    Command::cargo_bin("bank")
        .expect("the bank binary")
        .env_remove("DATABASE_URL")
        .arg("--db")
        .arg(&path)
        .assert()
        .success();
    let url = url(&path);
    admin(&url).arg("check").assert().success();
    let rows = json_of(&admin(&url).args(["status", "--json"]).assert().success());
    assert_eq!(rows[0]["lag"], 0, "{rows}");
    admin(&url)
        .args(["rebuild", "account_summary"])
        .assert()
        .success();
    let rows = json_of(&admin(&url).args(["status", "--json"]).assert().success());
    assert_eq!(rows[0]["lag"], 0, "{rows}");
}

/// A projection run in partitions: `status` shows a row per partition
/// (`account_summary#0/2`, `#1/2`), each with its own checkpoint and lag,
/// instead of the unpartitioned whole; a partition that ran is caught up,
/// one that did not lags by its own streams' events.
#[tokio::test]
async fn status_shows_each_partition() {
    use es_core::consumer::{Engine, Partition};
    use es_core::document::DocumentProjection;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bank.db");
    let store = SqliteEventStore::open(&path).await.unwrap();
    write(&store).await;
    let ran = Partition::new(0, 2).unwrap();
    let mut engine = Engine::new(
        store.clone(),
        DocumentProjection::<bank::AccountSummary, _>::new(store.clone()),
    )
    .in_partition(ran);
    engine.catch_up().await.unwrap();
    engine.release().await;
    store.close().await;
    // acc-1 has 4 events, acc-2 one.
    let events = |p: Partition| {
        [("BankAccount-acc-1", 4), ("BankAccount-acc-2", 1)]
            .iter()
            .filter(|(s, _)| p.owns(s))
            .map(|(_, n)| *n)
            .sum::<u64>()
    };

    let rows = json_of(
        &admin(&url(&path))
            .args(["status", "--json"])
            .assert()
            .success(),
    );
    let rows = rows.as_array().unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["projection"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["account_summary#0/2", "account_summary#1/2"],
        "{rows:?}"
    );
    assert_eq!(rows[0]["lag"], 0, "{rows:?}");
    assert_eq!(rows[0]["started"], true, "{rows:?}");
    let idle = Partition::new(1, 2).unwrap();
    assert_eq!(rows[1]["lag"], events(idle), "{rows:?}");
    assert_eq!(rows[1]["started"], false, "{rows:?}");
    let text = stdout_of(&admin(&url(&path)).arg("status").assert().success());
    assert!(
        text.contains("account_summary#0/2") && text.contains("account_summary#1/2"),
        "{text}"
    );
    assert!(!text.contains("not registered here"), "{text}");
}
