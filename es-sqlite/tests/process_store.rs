//! The process store conformance suite of `es-testing` on SQLite: a fresh
//! database file per case (WAL, a pool of connections), removed afterwards;
//! and the upgrade of a file made before the process tables.

mod common;

use common::TempDb;
use es_sqlite::SqliteEventStore;
use es_testing::conformance::{TestStore, WithTeardown};

async fn fresh_store() -> impl TestStore<Store = SqliteEventStore> {
    let db = TempDb::new("process-store");
    let store = SqliteEventStore::open(db.path())
        .await
        .expect("a SQLite store in a temp file");
    WithTeardown::new(store, move |store: SqliteEventStore| async move {
        store.close().await;
        drop(store);
        drop(db); // removes the file and its WAL
    })
}

es_testing::process_store_conformance_tests!(fresh_store());

/// A file migrated by the version before process managers (migrations 1
/// and 2), with an event in it: opening it adds the process tables alone,
/// the event stays, and the store keeps process rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_upgrades_a_file_without_the_process_tables() {
    use es_core::consumer::Backend;
    use es_core::process::{ProcessBackend, StoredInstance};
    use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent, StreamEnd};

    let db = TempDb::new("process-upgrade");
    let older = sqlx::migrate::Migrator::new(Before(3))
        .await
        .expect("the older migrations");
    let pool = es_sqlite::SqlitePool::connect_with(SqliteEventStore::connect_options(db.path()))
        .await
        .expect("a new file");
    older.run(&pool).await.expect("the older migrations run");
    let old = SqliteEventStore::from_pool(pool);
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
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(store.pool())
            .await
            .expect("the migration history");
    assert_eq!(
        versions,
        es_sqlite::MIGRATOR
            .iter()
            .map(|m| m.version)
            .collect::<Vec<_>>(),
        "every embedded migration is applied after the upgrade"
    );
    let events = store
        .read_stream("Pinger-1", 1, StreamEnd::Head, 10)
        .await
        .expect("read");
    assert_eq!(
        events.len(),
        1,
        "the event written before the upgrade is kept"
    );

    let instance = StoredInstance {
        state: Some(b"{}".to_vec()),
        finished: false,
    };
    let mut tx = store.begin().await.expect("begin");
    store
        .save_instance(&mut tx, "upgraded", "k", &instance)
        .await
        .expect("save an instance after the upgrade");
    store.commit(tx).await.expect("commit");
    let counts = store.process_counts("upgraded").await.expect("counts");
    assert_eq!(counts.active, 1);
    store.close().await;
}

/// The embedded migrations older than the version it holds: the schema a
/// file of an earlier release has.
#[derive(Debug)]
struct Before(i64);

impl sqlx::migrate::MigrationSource<'static> for Before {
    fn resolve(
        self,
    ) -> futures::future::BoxFuture<
        'static,
        Result<Vec<sqlx::migrate::Migration>, sqlx::error::BoxDynError>,
    > {
        let older = es_sqlite::MIGRATOR
            .iter()
            .filter(|m| m.version < self.0)
            .cloned()
            .collect();
        Box::pin(async move { Ok(older) })
    }
}
