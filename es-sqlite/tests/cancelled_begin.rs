//! An append whose future is dropped at any point (a timeout, a `select!`)
//! leaves no connection inside a transaction: the next appends on the same
//! pool go through. (A `BEGIN IMMEDIATE` cancelled after SQLite ran it used
//! to come back to the pool still open, and the next transaction on that
//! connection failed with `InvalidSavePointStatement`.)

mod common;

use std::time::Duration;

use common::TempDb;
use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent};
use es_sqlite::SqliteEventStore;

fn ev() -> NewEvent {
    NewEvent::from_raw("Pinged", 1, br#"{"n":1}"#.to_vec(), Metadata::new())
}

/// Polls an append `k` times, letting the connection's worker thread
/// finish each step in between, then drops it: for `k` = 1, 2, … the drop
/// lands on each await point of the append in turn.
async fn append_dropped_after(store: &SqliteEventStore, k: usize) -> bool {
    let mut append = Box::pin(store.append("Pinger-1", ExpectedVersion::Any, vec![ev()]));
    for _ in 0..k {
        if let std::task::Poll::Ready(result) = futures::poll!(append.as_mut()) {
            result.unwrap();
            return true;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_dropped_at_each_await_point_leave_the_pool_usable() {
    let db = TempDb::new("cancelled-begin");
    let pool = SqliteEventStore::pool_options()
        .max_connections(1)
        .connect_with(SqliteEventStore::connect_options(db.path()))
        .await
        .unwrap();
    let store = SqliteEventStore::from_pool(pool);
    store.migrate().await.unwrap();
    let mut k = 1;
    while !append_dropped_after(&store, k).await {
        store
            .append("Pinger-2", ExpectedVersion::Any, vec![ev()])
            .await
            .unwrap_or_else(|e| {
                panic!("the append after one dropped at await point {k} failed: {e}")
            });
        k += 1;
        assert!(k < 1_000, "the append never finished");
    }
    assert!(
        k > 3,
        "the append finished at its first polls: nothing was dropped mid-way"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_dropped_at_any_point_leave_the_pool_usable() {
    let db = TempDb::new("cancelled-begin");
    let pool = SqliteEventStore::pool_options()
        .max_connections(1)
        .connect_with(SqliteEventStore::connect_options(db.path()))
        .await
        .unwrap();
    let store = SqliteEventStore::from_pool(pool);
    store.migrate().await.unwrap();
    let mut cancelled = 0;
    let mut done = 0u64;
    for i in 0..400u64 {
        // From a few microseconds to a full append: every await point.
        let budget = Duration::from_micros(5 + (i * 37) % 900);
        match tokio::time::timeout(
            budget,
            store.append("Pinger-1", ExpectedVersion::Any, vec![ev()]),
        )
        .await
        {
            Ok(result) => {
                result
                    .unwrap_or_else(|e| panic!("append {i} after {cancelled} cancelled ones: {e}"));
                done += 1;
            }
            Err(_) => cancelled += 1,
        }
        store
            .append("Pinger-2", ExpectedVersion::Any, vec![ev()])
            .await
            .unwrap_or_else(|e| panic!("the append after cancelled append {i} failed: {e}"));
    }
    assert!(
        cancelled > 0,
        "no append was cancelled: the test did not test"
    );
    let head = store.stream_version("Pinger-2").await.unwrap();
    assert_eq!(head, 400);
    // What the timed appends wrote is whole: each one, once or not at all.
    let pinged = store.stream_version("Pinger-1").await.unwrap();
    assert!(
        pinged >= done && pinged <= 400,
        "{pinged} events for {done} completed appends"
    );
    store.close().await;
}

/// A catch-up dropped while it takes its lease leaves no lease row behind:
/// the next engine need not wait for it to expire (`LEASE_TTL`). (The lease
/// used to be held only once its statement had returned, so a drop during
/// it left the row, and the next engine waited 5 s.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_dropped_while_taking_its_lease_leaves_no_lease() {
    use es_core::consumer::Engine;
    use es_core::document::DocumentProjection;
    use es_testing::document_store::Card;

    let db = TempDb::new("cancelled-lease");
    let store = SqliteEventStore::open(db.path()).await.unwrap();
    let leases =
        || sqlx::query_scalar::<_, i64>("SELECT count(*) FROM leases").fetch_one(store.pool());
    for k in 1..=60 {
        // A new engine each time: its first steps are the lease's.
        let mut engine = Engine::new(
            store.clone(),
            DocumentProjection::<Card, _>::new(store.clone()),
        );
        {
            let mut run = Box::pin(engine.catch_up());
            for _ in 0..k {
                if futures::poll!(run.as_mut()).is_ready() {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        engine.release().await;
        drop(engine);
        assert_eq!(
            leases().await.unwrap(),
            0,
            "a lease row is left after a catch-up dropped after {k} step(s)"
        );
    }
    store.close().await;
}
