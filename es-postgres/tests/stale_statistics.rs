//! Stream reads on missing statistics: right after a bulk load, before
//! autovacuum's ANALYZE, the server knows nothing of the table's streams
//! and estimates any one of them at 0.5% of its rows. It then planned a
//! page of a long stream as a bitmap scan of the whole rest of the stream
//! and a sort (240 ms a page on 300,000 events, against 18 ms after
//! ANALYZE). A page now names the versions it covers, so whatever the plan
//! it reads one page of rows.

mod common;

use std::ops::ControlFlow;

use es_core::{EventStore, StreamEnd};
use es_postgres::PgEventStore;
use sqlx::postgres::PgPoolOptions;

const LONG: i64 = 200_000;
const PAGE: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_pages_read_one_page_of_rows_without_statistics() {
    let (db, store) = common::store().await;
    // No ANALYZE may run behind the test's back.
    sqlx::query("ALTER TABLE es.events SET (autovacuum_enabled = false)")
        .execute(db.pool())
        .await
        .unwrap();
    // A bulk load: one long stream and 100,000 events over 1,000 others.
    sqlx::query(
        "INSERT INTO es.events (global_position, event_id, stream_id, stream_version, \
           aggregate_type, event_type, schema_version, payload) \
         SELECT (pg_current_xact_id()::text::bigint << 20) + n, gen_random_uuid(), 'Long-1', n, \
           'Long', 'Noted', 1, '{\"n\":1}' FROM generate_series(1, $1::bigint) n",
    )
    .bind(LONG)
    .execute(db.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO es.events (global_position, event_id, stream_id, stream_version, \
           aggregate_type, event_type, schema_version, payload) \
         SELECT (pg_current_xact_id()::text::bigint << 20) + n, gen_random_uuid(), \
           'Short-' || (n % 1000), n / 1000 + 1, 'Short', 'Noted', 1, '{\"n\":1}' \
         FROM generate_series(0, 99999) n",
    )
    .execute(db.pool())
    .await
    .unwrap();
    let analyzed: Option<i64> = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stats WHERE schemaname = 'es' AND tablename = 'events'",
    )
    .fetch_optional(db.pool())
    .await
    .unwrap();
    assert_eq!(
        analyzed,
        Some(0),
        "the table has statistics: the case is not the one under test"
    );

    // A session of its own, whose statistics the test flushes.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(db.url())
        .await
        .unwrap();
    let reader = PgEventStore::builder().build(pool.clone());
    let before = common::rows_read(&db, &pool, "events").await;
    let mut pages = 0;
    for from in [1, LONG as u64 / 2, LONG as u64 - 10] {
        let page = reader
            .read_stream("Long-1", from, StreamEnd::Head, PAGE)
            .await
            .unwrap();
        assert_eq!(page.first().map(|e| e.stream_version), Some(from));
        assert_eq!(page.len(), PAGE.min((LONG as u64 - from + 1) as usize));
        pages += 1;
        let page = reader
            .read_stream("Long-1", from, StreamEnd::Version(from + 99), PAGE)
            .await
            .unwrap();
        assert_eq!(page.len(), 100.min((LONG as u64 - from + 1) as usize));
        pages += 1;
        let mut replayed = 0;
        reader
            .replay_stream("Long-1", from, StreamEnd::Head, PAGE, |_| {
                replayed += 1;
                ControlFlow::Continue(())
            })
            .await
            .unwrap();
        assert_eq!(replayed, PAGE.min((LONG as u64 - from + 1) as usize));
        pages += 1;
    }
    let read = common::rows_read(&db, &pool, "events").await - before;
    // Each page reads at most its own rows (index entries and heap rows).
    assert!(
        read <= pages * 2 * PAGE as i64,
        "{pages} pages of at most {PAGE} events read {read} rows of `events` (a plan that sorts the rest of the stream reads up to {LONG} per page)"
    );
    pool.close().await;
    drop(store);
    db.drop_db().await;
}
