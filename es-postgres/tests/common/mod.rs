//! Helpers shared by the PostgreSQL tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::pin::Pin;

use es_core::{Metadata, NewEvent};
use es_postgres::PgEventStore;
use es_testing::conformance::WithTeardown;
use es_testing::postgres::TestDatabase;

/// What [`conformance_store`] cleans up with.
pub type DropDatabase = Box<dyn FnOnce(PgEventStore) -> Pin<Box<dyn Future<Output = ()>>>>;

/// A fresh database with the store migrated, for one conformance case: the
/// database is dropped after the case, also when it failed.
pub async fn conformance_store() -> WithTeardown<PgEventStore, DropDatabase> {
    let (db, store) = store().await;
    let teardown: DropDatabase = Box::new(move |store: PgEventStore| {
        Box::pin(async move {
            drop(store);
            db.drop_db().await;
        })
    });
    WithTeardown::new(store, teardown)
}

/// A fresh database with the store migrated in schema `es`.
pub async fn store() -> (TestDatabase, PgEventStore) {
    let db = TestDatabase::create().await;
    let store = PgEventStore::from_pool(db.pool().clone());
    store.migrate().await.expect("migrate");
    (db, store)
}

pub fn ev(event_type: &str, payload: serde_json::Value) -> NewEvent {
    NewEvent::from_raw(
        event_type,
        1,
        serde_json::to_vec(&payload).unwrap(),
        Metadata::new(),
    )
}

pub fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

/// A directory holding copies of the embedded migrations older than
/// `version` (removed by the caller).
pub fn older_migrations(version: i64) -> std::path::PathBuf {
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let dir = std::env::temp_dir().join(format!("es-postgres-migrations-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    for entry in std::fs::read_dir(&all).expect("the migrations dir") {
        let path = entry.expect("a migration file").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let older = name
            .split('_')
            .next()
            .and_then(|v| v.parse::<i64>().ok())
            .is_some_and(|v| v < version);
        if older {
            std::fs::copy(&path, dir.join(&name)).expect("copy a migration");
        }
    }
    dir
}

/// Schema `es` of `db` as the embedded migrations older than `version`
/// leave it: the schema of an earlier release.
pub async fn older_schema(db: &TestDatabase, version: i64) {
    let old = older_migrations(version);
    let mut conn = db.connect().await;
    for statement in ["CREATE SCHEMA es", "SET search_path TO es"] {
        sqlx::query(statement)
            .execute(&mut conn)
            .await
            .expect("create the schema");
    }
    let migrator = sqlx::migrate::Migrator::new(old.as_path())
        .await
        .expect("the older migrations");
    migrator
        .run(&mut conn)
        .await
        .expect("the older migrations run");
    drop(conn);
    let _ = std::fs::remove_dir_all(&old);
}

/// The seed of a test's random points (`ES_TEST_SEED=<n>` replays a run;
/// otherwise the clock's nanoseconds) and a xorshift generator of numbers
/// in `lo..hi` from it.
pub fn seeded_random() -> (u64, impl FnMut(u64, u64) -> u64) {
    let seed = std::env::var("ES_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos() as u64
        });
    let mut rng = seed | 1;
    let random = move |lo: u64, hi: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        lo + rng % (hi - lo)
    };
    (seed, random)
}

/// Index entries and table rows read on `es.{table}` so far, by every
/// session: `reader`'s statistics are flushed first (a pool of one
/// session, the one that read), then read from another session.
pub async fn rows_read(db: &TestDatabase, reader: &sqlx::PgPool, table: &str) -> i64 {
    sqlx::query("SELECT pg_stat_force_next_flush()")
        .execute(reader)
        .await
        .unwrap();
    let mut conn = db.connect().await;
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query_scalar(
        "SELECT COALESCE(sum(idx_tup_read), 0)::bigint \
               + (SELECT COALESCE(seq_tup_read, 0) FROM pg_stat_user_tables \
                  WHERE schemaname = 'es' AND relname = $1) \
         FROM pg_stat_user_indexes WHERE schemaname = 'es' AND relname = $1",
    )
    .bind(table)
    .fetch_one(&mut conn)
    .await
    .unwrap()
}

/// A bulk load straight into `es.events`, in one transaction: `count` rows
/// at positions `base + n` (`n` in `0..count`, `base` from the
/// transaction id, as the store numbers them), `per_row` the SQL of each
/// row's stream id, stream version, aggregate type, event type, schema
/// version and payload in terms of `n`.
pub async fn bulk_load(db: &TestDatabase, count: i64, per_row: &str) {
    sqlx::query(&format!(
        "INSERT INTO es.events (global_position, event_id, stream_id, stream_version, \
           aggregate_type, event_type, schema_version, payload) \
         SELECT (pg_current_xact_id()::text::bigint << 20) + n, gen_random_uuid(), {per_row} \
         FROM generate_series(0, $1::bigint - 1) n"
    ))
    .bind(count)
    .execute(db.pool())
    .await
    .expect("a bulk load");
}

/// Turns autovacuum off for `es.events`: no ANALYZE runs behind a test's
/// back.
pub async fn autovacuum_off(db: &TestDatabase) {
    sqlx::query("ALTER TABLE es.events SET (autovacuum_enabled = false)")
        .execute(db.pool())
        .await
        .expect("autovacuum off");
}

/// Writes, as another tool could, event `Bad-1` version 1 (type `Tracked`)
/// whose metadata does not decode (`command_id` is not a UUID), in a
/// transaction of its own; returns its position.
pub async fn insert_unreadable_event(db: &TestDatabase) -> u64 {
    let (bad,): (i64,) = sqlx::query_as(
        "INSERT INTO es.events (global_position, event_id, stream_id, stream_version, \
           aggregate_type, event_type, schema_version, payload, metadata) \
         VALUES ((pg_current_xact_id()::text::bigint << 20) + 1, gen_random_uuid(), 'Bad-1', 1, \
           'Bad', 'Tracked', 1, '{}', '{\"command_id\": \"not-a-uuid\"}') \
         RETURNING global_position",
    )
    .fetch_one(db.pool())
    .await
    .expect("an unreadable event");
    u64::try_from(bad).expect("a positive position")
}
