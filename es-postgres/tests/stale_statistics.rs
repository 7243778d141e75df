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
    common::autovacuum_off(&db).await;
    // A bulk load: one long stream and 100,000 events over 1,000 others.
    common::bulk_load(
        &db,
        LONG,
        "'Long-1', n + 1, 'Long', 'Noted', 1, '{\"n\":1}'",
    )
    .await;
    common::bulk_load(
        &db,
        100_000,
        "'Short-' || (n % 1000), n / 1000 + 1, 'Short', 'Noted', 1, '{\"n\":1}'",
    )
    .await;
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

/// A one-connection pool whose session counts function calls
/// (`track_functions`), for [`index_order_calls`].
async fn tracked_reader(db: &es_testing::postgres::TestDatabase) -> sqlx::PgPool {
    PgPoolOptions::new()
        .max_connections(1)
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::Executor::execute(conn, "SET track_functions = 'pl'").await?;
                Ok(())
            })
        })
        .connect(db.url())
        .await
        .unwrap()
}

/// How many times the reader's session called `read_all_in_index_order`
/// (function statistics: `track_functions` is on for the reader).
async fn index_order_calls(db: &es_testing::postgres::TestDatabase, reader: &sqlx::PgPool) -> i64 {
    common::rows_read(db, reader, "events").await; // flushes the reader's statistics
    let mut conn = db.connect().await;
    sqlx::query_scalar(
        "SELECT COALESCE(sum(calls), 0)::bigint FROM pg_stat_user_functions \
         WHERE schemaname = 'es' AND funcname = 'read_all_in_index_order'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap()
}

/// Pages of the global log on missing statistics: of some types, of one
/// rare type, of everything, and of a partition. Without statistics the
/// server planned each as a bitmap scan of every matching event after the
/// position and a sort (270-700 ms a page on 1,000,000 events); the store
/// now sees that the statistics are missing and reads in index order. Once
/// the table is analyzed it takes its usual statements again, which return
/// the same pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_pages_read_in_index_order_without_statistics() {
    global_pages_after_a_bulk_load(false).await;
}

/// The same when the table was analyzed before the load, with none of the
/// loaded types in it: statistics that describe a table a thousandth of
/// the size count as stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_pages_read_in_index_order_on_stale_statistics() {
    global_pages_after_a_bulk_load(true).await;
}

async fn global_pages_after_a_bulk_load(analyzed_before: bool) {
    const EVENTS: i64 = 250_000;
    let (db, store) = common::store().await;
    common::autovacuum_off(&db).await;
    if analyzed_before {
        let events: Vec<_> = (0..250)
            .map(|_| common::ev("Opened", serde_json::json!({})))
            .collect();
        store
            .append("Other-1", es_core::ExpectedVersion::NoStream, events)
            .await
            .unwrap();
        sqlx::query("ANALYZE es.events")
            .execute(db.pool())
            .await
            .unwrap();
    }
    // One transaction: positions `base + n`, 1,000 streams, two common
    // types and one on every thousandth event.
    common::bulk_load(
        &db,
        EVENTS,
        "'Account-' || (n % 1000), n / 1000 + 1, 'Account', \
         CASE WHEN n % 1000 = 0 THEN 'Rare' WHEN n % 2 = 0 THEN 'Credited' ELSE 'Debited' END, \
         1, '{\"amount\":100}'",
    )
    .await;
    let base: i64 = sqlx::query_scalar(
        "SELECT min(global_position) FROM es.events WHERE event_type <> 'Opened'",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    let base = base as u64;

    let pool = tracked_reader(&db).await;
    let reader = PgEventStore::builder().build(pool.clone());
    let common_types: &[&str] = &["Credited", "Debited"];
    let rare: &[&str] = &["Rare"];
    let quarter = es_core::consumer::Partition::new(1, 4).unwrap();
    // Every page: (after, types, partition), read from the start, the
    // middle and near the end.
    let mut reads = Vec::new();
    for after in [0, base + EVENTS as u64 / 2, base + EVENTS as u64 - 1_500] {
        for types in [Some(common_types), Some(rare), None] {
            for partition in [None, Some(quarter)] {
                reads.push((after, types, partition));
            }
        }
    }
    let read_pages = |reader: PgEventStore| {
        let reads = reads.clone();
        async move {
            let mut pages = Vec::new();
            for (after, types, partition) in reads {
                let page = match partition {
                    None => reader.read_all(after, PAGE, types).await,
                    Some(p) => {
                        es_core::consumer::Backend::read_partition(&reader, after, PAGE, types, p)
                            .await
                    }
                }
                .unwrap();
                let positions: Vec<u64> = page.events.iter().map(|e| e.global_position).collect();
                assert!(positions.is_sorted(), "a page in position order");
                assert!(positions.iter().all(|p| *p > after));
                pages.push((positions, page.scanned_to));
            }
            pages
        }
    };

    let before = common::rows_read(&db, &pool, "events").await;
    let calls_before = index_order_calls(&db, &pool).await;
    let unanalyzed = read_pages(reader.clone()).await;
    let read = common::rows_read(&db, &pool, "events").await - before;
    let calls = index_order_calls(&db, &pool).await - calls_before;
    assert_eq!(
        calls,
        reads.len() as i64,
        "every read of the global log went in index order while the table has no statistics"
    );
    // Each page reads at most its rows and one more per type (the header's
    // lookups read two more), whatever the plan guessed; a partition's page
    // also the other partitions' events among them (a quarter are its own).
    let pages = reads.len() as i64;
    let most: i64 = reads
        .iter()
        .map(|(_, _, partition)| PAGE as i64 * i64::from(partition.map_or(1, |p| p.count())) + 10)
        .sum();
    assert!(
        read <= most,
        "{pages} pages of at most {PAGE} events read {read} rows of `events` (a plan that sorts the rest of the log reads up to {EVENTS} per page)"
    );
    // The pages are full where the log has enough events.
    assert_eq!(unanalyzed[0].0.len(), PAGE);
    assert_eq!(unanalyzed[1].0.len(), PAGE);
    assert_eq!(unanalyzed[2].0.len(), EVENTS as usize / 1000);
    if analyzed_before {
        let analyzed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stats WHERE schemaname = 'es' AND tablename = 'events'",
        )
        .fetch_one(db.pool())
        .await
        .unwrap();
        assert!(
            analyzed > 0,
            "the table has statistics (from before the load)"
        );
    }

    assert!(reader.statistics_stale().await.unwrap());
    sqlx::query("ANALYZE es.events")
        .execute(db.pool())
        .await
        .unwrap();
    // The store looks at the statistics at most once a second.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let calls_before = index_order_calls(&db, &pool).await;
    let analyzed = read_pages(reader.clone()).await;
    let calls = index_order_calls(&db, &pool).await - calls_before;
    assert_eq!(calls, 0, "after ANALYZE the usual statements run");
    assert!(!reader.statistics_stale().await.unwrap());
    assert_eq!(
        unanalyzed, analyzed,
        "both statements return the same pages"
    );

    pool.close().await;
    drop(store);
    db.drop_db().await;
}

/// A row that cannot be read back, met on the index-order path: the page
/// ends before it, the read from it reports it with its position, and the
/// read after it goes on, as on the usual statements
/// (tests/unreadable_event.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_row_read_in_index_order_is_reported_at_its_position() {
    let (db, store) = common::store().await;
    common::autovacuum_off(&db).await;
    let per_row = "'Clock-' || (n % 1000), n / 1000 + 1, 'Clock', 'Tracked', 1, '{\"n\":1}'";
    common::bulk_load(&db, 150_000, per_row).await;
    let bad = common::insert_unreadable_event(&db).await;
    common::bulk_load(
        &db,
        100_000,
        "'Later-' || (n % 1000), n / 1000 + 1, 'Later', 'Tracked', 1, '{\"n\":1}'",
    )
    .await;
    let before_bad: i64 = sqlx::query_scalar(
        "SELECT global_position FROM es.events WHERE global_position < $1 \
         ORDER BY global_position DESC OFFSET 9 LIMIT 1",
    )
    .bind(bad as i64)
    .fetch_one(db.pool())
    .await
    .unwrap();

    let pool = tracked_reader(&db).await;
    let reader = PgEventStore::builder().build(pool.clone());
    let calls_before = index_order_calls(&db, &pool).await;
    let tracked: &[&str] = &["Tracked"];
    let page = reader
        .read_all(before_bad as u64, PAGE, Some(tracked))
        .await
        .unwrap();
    assert_eq!(page.events.len(), 9, "the nine events before the bad row");
    let last_good = page.events.last().unwrap().global_position;
    assert!(last_good < bad);
    assert_eq!(
        page.scanned_to, last_good,
        "the page ends before the bad row"
    );
    let err = reader
        .read_all(last_good, PAGE, Some(tracked))
        .await
        .unwrap_err();
    assert_eq!(err.unreadable_position(), Some(bad), "{err}");
    assert!(err.to_string().contains("Bad-1"), "{err}");
    let after = reader.read_all(bad, PAGE, Some(tracked)).await.unwrap();
    assert_eq!(after.events.len(), PAGE);
    assert!(
        after
            .events
            .iter()
            .all(|e| e.stream_id.starts_with("Later-"))
    );
    assert_eq!(
        index_order_calls(&db, &pool).await - calls_before,
        3,
        "the three reads went in index order"
    );

    pool.close().await;
    drop(store);
    db.drop_db().await;
}
