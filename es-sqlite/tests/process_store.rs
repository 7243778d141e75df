//! The process store conformance suite of `es-testing` on SQLite: a fresh
//! database file per case (WAL, a pool of connections), removed afterwards;
//! and the upgrade of a file made before the process tables.

mod common;

use common::TempDb;
use es_sqlite::SqliteEventStore;

es_testing::process_store_conformance_tests!(common::file_store("process-store"));

/// A file migrated by the version before process managers (migrations 1
/// and 2), with an event in it: opening it adds the process tables alone,
/// the event stays, and a process manager runs on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_upgrades_a_file_without_the_process_tables() {
    use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent, StreamEnd};

    let db = TempDb::new("process-upgrade");
    let old = common::older_file(&db, 3).await;
    let e = NewEvent::from_raw("Pinged", 1, br#"{"n":1}"#.to_vec(), Metadata::new());
    old.append("Pinger-1", ExpectedVersion::NoStream, vec![e])
        .await
        .expect("append on the older schema");
    let tables =
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name LIKE 'process_%'";
    let before: i64 = sqlx::query_scalar(tables)
        .fetch_one(old.pool())
        .await
        .expect("tables");
    assert_eq!(before, 0, "the older file has no process tables");
    old.close().await;

    let store = SqliteEventStore::open(db.path())
        .await
        .expect("open upgrades the file");
    let after: i64 = sqlx::query_scalar(tables)
        .fetch_one(store.pool())
        .await
        .expect("tables");
    assert_eq!(
        after, 3,
        "opening the file creates the three process tables"
    );
    let kept = store.read_stream("Pinger-1", 1, StreamEnd::Head, 10).await;
    assert_eq!(kept.expect("read").len(), 1, "the older event is kept");

    // A process manager runs on the upgraded store.
    es_testing::process_store::runner_settles_commands_deadlines_and_rejections(store.clone())
        .await;
    store.close().await;
}
