//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

use es_core::{Metadata, NewEvent};
use es_sqlite::SqliteEventStore;
use es_testing::conformance::{TestStore, WithTeardown};

/// A database file under the temp dir with a unique name; removed (with its
/// WAL and shared-memory files) on drop.
pub struct TempDb {
    path: PathBuf,
}

impl TempDb {
    pub fn new(tag: &str) -> Self {
        let name = format!(
            "es-sqlite-{tag}-{}-{}.db",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        );
        Self {
            path: std::env::temp_dir().join(name),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The database file and the files SQLite keeps beside it.
    pub fn files(&self) -> Vec<PathBuf> {
        ["", "-wal", "-shm", "-journal"]
            .iter()
            .map(|suffix| {
                let mut p = self.path.clone().into_os_string();
                p.push(suffix);
                PathBuf::from(p)
            })
            .collect()
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for f in self.files() {
            let _ = std::fs::remove_file(f);
        }
    }
}

pub fn event(event_type: &str, n: u64) -> NewEvent {
    NewEvent::from_raw(
        event_type,
        1,
        format!(r#"{{"n":{n}}}"#).into_bytes(),
        Metadata::new(),
    )
}

pub fn events(event_type: &str, count: u64) -> Vec<NewEvent> {
    (1..=count).map(|n| event(event_type, n)).collect()
}

/// A store in a fresh file named after `tag`, for one conformance case:
/// closed and removed (with its WAL) after the case, also when it failed.
pub async fn file_store(tag: &str) -> impl TestStore<Store = SqliteEventStore> + use<> {
    let db = TempDb::new(tag);
    let store = SqliteEventStore::open(db.path())
        .await
        .expect("a SQLite store in a temp file");
    WithTeardown::new(store, move |store: SqliteEventStore| async move {
        store.close().await;
        drop(store);
        drop(db); // removes the file and its WAL
    })
}

/// The embedded migrations older than the version it holds: the schema a
/// file of an earlier release has.
#[derive(Debug)]
pub struct Before(pub i64);

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

/// A store on `db`'s new file migrated by the embedded migrations older
/// than `version` alone: the file of an earlier release.
pub async fn older_file(db: &TempDb, version: i64) -> SqliteEventStore {
    let older = sqlx::migrate::Migrator::new(Before(version))
        .await
        .expect("the older migrations");
    let pool = es_sqlite::SqlitePool::connect_with(SqliteEventStore::connect_options(db.path()))
        .await
        .expect("a new file");
    older.run(&pool).await.expect("the older migrations run");
    SqliteEventStore::from_pool(pool)
}
