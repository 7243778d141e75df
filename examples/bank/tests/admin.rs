//! `bank-admin check` (es_cli::Tool with bank::AccountEvent) against SQLite
//! files written here, and against PostgreSQL when DATABASE_URL is set.

mod common;

use std::path::PathBuf;

use assert_cmd::Command;
use bank::{AccountEvent, AccountOpened, MoneyDeposited};
use common::{admin, json_of, stdout_of, typed, url};
use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent};
use es_sqlite::SqliteEventStore;
use serde_json::{Value, json};

fn raw(event_type: &str, version: u32, payload: Value) -> NewEvent {
    NewEvent::from_raw(
        event_type,
        version,
        payload.to_string().into_bytes(),
        Metadata::new(),
    )
}

/// Two accounts whose events all decode, one of them a version-1 deposit
/// (upcast on read).
fn good_history() -> Vec<(&'static str, Vec<NewEvent>)> {
    vec![
        (
            "BankAccount-1",
            vec![
                typed(AccountEvent::Opened(AccountOpened {
                    owner_id: "alice".into(),
                    initial_deposit: 100,
                })),
                typed(AccountEvent::Deposited(MoneyDeposited {
                    amount: 5,
                    description: "pay".into(),
                    category: "salary".into(),
                })),
                raw("MoneyDeposited", 1, json!({"amount": 7})),
            ],
        ),
        (
            "BankAccount-2",
            vec![typed(AccountEvent::Opened(AccountOpened {
                owner_id: "bob".into(),
                initial_deposit: 1,
            }))],
        ),
    ]
}

/// What this build can no longer read: a payload without a required field,
/// a schema version newer than the code, an unknown type.
fn bad_history() -> Vec<(&'static str, Vec<NewEvent>)> {
    let mut history = good_history();
    history.push((
        "BankAccount-3",
        vec![
            raw("AccountOpened", 1, json!({"initial_deposit": 3})),
            raw(
                "MoneyDeposited",
                9,
                json!({"amount": 1, "description": "", "category": "x"}),
            ),
            raw("AccountFrozen", 1, json!({})),
        ],
    ));
    history
}

async fn write<S: EventStore>(store: &S, history: Vec<(&'static str, Vec<NewEvent>)>) {
    for (stream, events) in history {
        store
            .append(stream, ExpectedVersion::Any, events)
            .await
            .unwrap();
    }
}

struct Db {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

async fn sqlite(history: Vec<(&'static str, Vec<NewEvent>)>) -> Db {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bank.db");
    let store = SqliteEventStore::open(&path).await.unwrap();
    write(&store, history).await;
    store.close().await;
    Db { _dir: dir, path }
}

fn count<'a>(report: &'a Value, event_type: &str) -> &'a Value {
    report["per_type"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["event_type"] == event_type)
        .unwrap_or_else(|| panic!("no {event_type} in {report}"))
}

#[tokio::test]
async fn a_history_that_decodes_exits_0_with_counts() {
    let db = sqlite(good_history()).await;
    let assert = admin(&url(&db.path)).arg("check").assert().code(0);
    let text = stdout_of(&assert);
    assert!(text.contains("checked 4 event(s)"), "{text}");
    assert!(
        text.contains("ok: every event decodes with this build's types"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("AccountOpened") && l.contains("  2       0")),
        "{text}"
    );

    let assert = admin(&url(&db.path))
        .args(["check", "--json"])
        .assert()
        .code(0);
    let report = json_of(&assert);
    assert_eq!(
        (report["checked"].clone(), report["failed"].clone()),
        (json!(4), json!(0))
    );
    assert_eq!(count(&report, "AccountOpened")["checked"], 2);
    assert_eq!(count(&report, "MoneyDeposited")["checked"], 2);
    assert_eq!(report["failures"], json!([]));
}

#[tokio::test]
async fn a_history_this_build_cannot_read_exits_1_and_names_each_event() {
    let db = sqlite(bad_history()).await;
    let assert = admin(&url(&db.path)).arg("check").assert().code(1);
    let text = stdout_of(&assert);
    assert!(
        text.contains("FAILED: 3 of 7 event(s) do not decode"),
        "{text}"
    );
    for line in [
        "position 5  stream BankAccount-3 version 1  AccountOpened@1: cannot decode `AccountOpened` (schema version 1) at `.`: missing field `owner_id`",
        "position 6  stream BankAccount-3 version 2  MoneyDeposited@9: event `MoneyDeposited` has schema version 9",
        "position 7  stream BankAccount-3 version 3  AccountFrozen@1: unknown event type `AccountFrozen`",
    ] {
        assert!(text.contains(line), "{line}\n---\n{text}");
    }
    assert!(
        text.lines()
            .any(|l| l.contains("AccountFrozen") && l.trim_end().ends_with("unknown type")),
        "{text}"
    );

    let assert = admin(&url(&db.path))
        .args(["check", "--json"])
        .assert()
        .code(1);
    let report = json_of(&assert);
    assert_eq!(
        (report["checked"].clone(), report["failed"].clone()),
        (json!(7), json!(3))
    );
    assert_eq!(
        count(&report, "AccountOpened"),
        &json!({"event_type": "AccountOpened", "known": true, "checked": 3, "failed": 1})
    );
    assert_eq!(count(&report, "AccountFrozen")["known"], false);
    let failures = report["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 3);
    assert_eq!(
        failures[2],
        json!({
            "position": 7, "stream_id": "BankAccount-3", "stream_version": 3,
            "event_type": "AccountFrozen", "schema_version": 1, "kind": "unknown_type",
            "error": failures[2]["error"],
        })
    );
    assert_eq!(failures[0]["kind"], "decode");
    assert_eq!(failures[1]["schema_version"], 9);
}

#[tokio::test]
async fn types_and_after_narrow_the_check() {
    let db = sqlite(bad_history()).await;
    let assert = admin(&url(&db.path))
        .args(["check", "--types", "MoneyDeposited", "--json"])
        .assert()
        .code(1);
    let report = json_of(&assert);
    assert_eq!(report["types"], json!(["MoneyDeposited"]));
    assert_eq!(
        (report["checked"].clone(), report["failed"].clone()),
        (json!(3), json!(1))
    );

    admin(&url(&db.path))
        .args([
            "check",
            "--types",
            "AccountOpened,MoneyWithdrawn",
            "--after",
            "4",
        ])
        .assert()
        .code(1)
        .stdout(predicates::str::contains("FAILED: 1 of 1 event(s)"));
    admin(&url(&db.path))
        .args(["check", "--types", "MoneyWithdrawn,AccountClosed"])
        .assert()
        .code(0)
        .stdout(predicates::str::contains("checked 0 event(s)"));
    admin(&url(&db.path))
        .args(["check", "--after", "7"])
        .assert()
        .code(0)
        .stdout(predicates::str::contains("checked 0 event(s)"));
}

#[tokio::test]
async fn a_row_the_store_cannot_read_is_a_failure_and_the_check_goes_on() {
    let db = sqlite(bad_history()).await;
    let store = SqliteEventStore::open(&db.path).await.unwrap();
    // Written by another tool: past the store's immutability trigger.
    for sql in [
        "DROP TRIGGER events_no_update",
        "UPDATE events SET metadata = 'not json' WHERE global_position = 2",
    ] {
        sqlx::query(sql).execute(store.pool()).await.unwrap();
    }
    store.close().await;
    let assert = admin(&url(&db.path))
        .args(["check", "--json"])
        .assert()
        .code(1);
    let report = json_of(&assert);
    assert_eq!(
        (report["checked"].clone(), report["failed"].clone()),
        (json!(7), json!(4))
    );
    assert_eq!(report["unreadable"], 1);
    let failures = report["failures"].as_array().unwrap();
    assert_eq!(failures[0]["position"], 2);
    assert_eq!(failures[0]["kind"], "unreadable");
    assert_eq!(failures[0]["stream_id"], "BankAccount-1");
    assert_eq!(failures[3]["position"], 7);
}

#[test]
fn bad_input_is_a_one_line_error_with_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.db");
    let assert = admin(&url(&missing)).arg("check").assert().code(3);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("bank-admin: error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let mut cmd = Command::cargo_bin("bank-admin").unwrap();
    cmd.env_remove("DATABASE_URL").arg("check").assert().code(3);
    let mut cmd = Command::cargo_bin("bank-admin").unwrap();
    cmd.args(["check", "--after", "x"]).assert().code(2);
    let mut cmd = Command::cargo_bin("bank-admin").unwrap();
    cmd.arg("--help")
        .assert()
        .code(0)
        .stdout(predicates::str::contains("bank-admin"))
        .stdout(predicates::str::contains("check"));
}

/// The same check on PostgreSQL, in a database of its own on the
/// DATABASE_URL server (postgres://postgres@127.0.0.1:5432/postgres).
#[tokio::test]
async fn postgres_check_finds_the_same_failures() {
    let db = es_testing::postgres::TestDatabase::create().await;
    let store = es_postgres::PgEventStore::connect(db.url()).await.unwrap();
    store.migrate().await.unwrap();
    write(&store, bad_history()).await;
    store.pool().close().await;

    let assert = admin(db.url()).args(["check", "--json"]).assert().code(1);
    let report = json_of(&assert);
    assert_eq!(
        (report["checked"].clone(), report["failed"].clone()),
        (json!(7), json!(3))
    );
    let failed: Vec<(&str, u64)> = report["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["event_type"].as_str().unwrap(),
                f["stream_version"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        failed,
        [
            ("AccountOpened", 1),
            ("MoneyDeposited", 2),
            ("AccountFrozen", 3)
        ]
    );
    admin(db.url())
        .args(["check", "--types", "AccountClosed"])
        .assert()
        .code(0);
    db.drop_db().await;
}
