//! The consumer engine conformance suite of `es-testing` on PostgreSQL: a
//! fresh database per case (dropped afterwards, also when the case failed),
//! each consumer journaling into a table through the batch transaction.

use es_core::consumer::DeadLetter;
use es_core::projection::HandlerError;
use es_postgres::{PgEventStore, PgTx};
use es_testing::engine::{EngineHarness, Journal};
use es_testing::postgres::TestDatabase;

/// The journal of every consumer of a case: `seq` keeps the order of the
/// writes; no unique key, so a position handled twice shows twice.
const JOURNAL_TABLE: &str = "CREATE TABLE engine_journal (
    seq bigserial PRIMARY KEY,
    consumer text NOT NULL,
    position bigint NOT NULL
)";

#[derive(Clone)]
struct PgJournal(&'static str);

impl Journal<PgTx> for PgJournal {
    async fn record(&mut self, tx: &mut PgTx, position: u64) -> Result<(), HandlerError> {
        sqlx::query("INSERT INTO engine_journal (consumer, position) VALUES ($1, $2)")
            .bind(self.0)
            .bind(i64::try_from(position)?)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn clear(&mut self, tx: &mut PgTx) -> Result<(), HandlerError> {
        sqlx::query("DELETE FROM engine_journal WHERE consumer = $1")
            .bind(self.0)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

struct PgHarness {
    db: TestDatabase,
    store: PgEventStore,
}

impl EngineHarness for PgHarness {
    type Backend = PgEventStore;
    type Journal = PgJournal;

    fn backend(&self) -> PgEventStore {
        self.store.clone()
    }

    fn journal(&self, name: &'static str) -> PgJournal {
        PgJournal(name)
    }

    async fn applied(&self, name: &'static str) -> Vec<u64> {
        let rows: Vec<i64> = sqlx::query_scalar(
            "SELECT position FROM engine_journal WHERE consumer = $1 ORDER BY seq",
        )
        .bind(name)
        .fetch_all(self.db.pool())
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
        drop(self.store);
        self.db.drop_db().await;
    }
}

async fn harness() -> PgHarness {
    let db = TestDatabase::create().await;
    let store = PgEventStore::from_pool(db.pool().clone());
    store.migrate().await.expect("migrate");
    sqlx::query(JOURNAL_TABLE)
        .execute(db.pool())
        .await
        .expect("creating the journal table");
    PgHarness { db, store }
}

es_testing::engine_conformance_tests!(harness());
