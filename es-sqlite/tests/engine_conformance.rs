//! The consumer engine conformance suite of `es-testing` on SQLite: a
//! fresh database file per case (removed afterwards), each consumer
//! journaling into a table through the batch transaction.

mod common;

use common::TempDb;
use es_core::consumer::DeadLetter;
use es_core::projection::HandlerError;
use es_sqlite::{SqliteEventStore, SqliteTx};
use es_testing::engine::{EngineHarness, Journal};

/// The journal of every consumer of a case: `seq` keeps the order of the
/// writes; no unique key, so a position handled twice shows twice.
const JOURNAL_TABLE: &str = "CREATE TABLE engine_journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    consumer TEXT NOT NULL,
    position INTEGER NOT NULL
)";

#[derive(Clone)]
struct SqliteJournal(&'static str);

impl Journal<SqliteTx> for SqliteJournal {
    async fn record(&mut self, tx: &mut SqliteTx, position: u64) -> Result<(), HandlerError> {
        sqlx::query("INSERT INTO engine_journal (consumer, position) VALUES (?1, ?2)")
            .bind(self.0)
            .bind(i64::try_from(position)?)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn clear(&mut self, tx: &mut SqliteTx) -> Result<(), HandlerError> {
        sqlx::query("DELETE FROM engine_journal WHERE consumer = ?1")
            .bind(self.0)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

struct SqliteHarness {
    db: TempDb,
    store: SqliteEventStore,
}

impl EngineHarness for SqliteHarness {
    type Backend = SqliteEventStore;
    type Journal = SqliteJournal;

    fn backend(&self) -> SqliteEventStore {
        self.store.clone()
    }

    fn journal(&self, name: &'static str) -> SqliteJournal {
        SqliteJournal(name)
    }

    async fn applied(&self, name: &'static str) -> Vec<u64> {
        let rows: Vec<i64> = sqlx::query_scalar(
            "SELECT position FROM engine_journal WHERE consumer = ?1 ORDER BY seq",
        )
        .bind(name)
        .fetch_all(self.store.pool())
        .await
        .expect("reading the journal");
        rows.into_iter()
            .map(|p| u64::try_from(p).expect("a journaled position is positive"))
            .collect()
    }

    async fn dead_letters(&self, name: &'static str) -> Vec<DeadLetter> {
        self.store
            .dead_letters(name)
            .await
            .expect("reading the dead letters")
    }

    async fn teardown(self) {
        self.store.close().await;
        drop(self.db);
    }
}

async fn harness() -> SqliteHarness {
    // A file (WAL, a pool of connections): a standby engine needs a
    // connection of its own while the active one works.
    let db = TempDb::new("engine-conformance");
    let store = SqliteEventStore::open(db.path())
        .await
        .expect("a SQLite store in a temp file");
    sqlx::query(JOURNAL_TABLE)
        .execute(store.pool())
        .await
        .expect("creating the journal table");
    SqliteHarness { db, store }
}

es_testing::engine_conformance_tests!(harness());
