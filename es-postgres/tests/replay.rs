//! `replay_stream` lends rows as they arrive; stopping early must leave the
//! pooled connection usable. And commits are still announced to watchers
//! now that the append statement no longer sends `NOTIFY` itself, a burst of
//! them up to its last position although announcements are spaced by the
//! notify interval. (That `replay_stream` matches `read_stream` is a
//! conformance case.)

mod common;

use std::ops::ControlFlow;
use std::time::Duration;

use common::{ev, store};
use es_core::{EventStore, ExpectedVersion, NewEvent, StreamEnd};

#[tokio::test]
async fn a_replay_stopped_early_leaves_the_connection_usable() {
    let (db, _) = store().await;
    // One connection: the next statement runs on the connection whose
    // replay was abandoned with rows still unread.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(db.pool().connect_options().as_ref().clone())
        .await
        .unwrap();
    let store = es_postgres::PgEventStore::from_pool(pool);
    let batch: Vec<NewEvent> = (1..=2000)
        .map(|i| {
            ev(
                "Added",
                serde_json::json!({ "n": i, "pad": "x".repeat(200) }),
            )
        })
        .collect();
    store
        .append("Replay-1", ExpectedVersion::NoStream, batch)
        .await
        .unwrap();
    for stop in [1, 500] {
        let mut seen = 0;
        let n = store
            .replay_stream("Replay-1", 1, StreamEnd::Head, 10_000, |e| {
                seen = e.stream_version;
                if e.stream_version == stop {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .await
            .unwrap();
        assert_eq!((n, seen), (stop as usize, stop));
        assert_eq!(store.stream_version("Replay-1").await.unwrap(), 2000);
        let mut last = 0;
        let n = store
            .replay_stream("Replay-1", 1990, StreamEnd::Head, 100, |e| {
                last = e.stream_version;
                ControlFlow::Continue(())
            })
            .await
            .unwrap();
        assert_eq!((n, last), (11, 2000));
    }
    db.drop_db().await;
}

#[tokio::test]
async fn an_append_still_wakes_a_watcher() {
    let (db, _) = store().await;
    // A poll interval far beyond the timeout: only a notification wakes it.
    let store = es_postgres::PgEventStore::builder()
        .poll_interval(Duration::from_secs(600))
        .build(db.pool().clone());
    let mut watch = store.watch_commits().await.unwrap();
    // Let the listener connect before the append.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = store
        .append(
            "Replay-2",
            ExpectedVersion::NoStream,
            vec![ev("Added", serde_json::json!({ "n": 1 }))],
        )
        .await
        .unwrap();
    woken_at_or_after(&mut watch, r.last_position.unwrap(), "the append").await;
    db.drop_db().await;
}

/// Waits (up to 5 s) until `watch` reports `position` or a later one.
async fn woken_at_or_after(watch: &mut es_core::CommitWatch, position: u64, what: &str) {
    let woke = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match watch.changed().await {
                Some(p) if p >= position => return p,
                Some(_) => continue,
                None => panic!("the watch closed"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what} at position {position} is not announced within 5 s"));
    assert!(woke >= position);
}

#[tokio::test]
async fn a_burst_of_appends_is_announced_up_to_its_last_position() {
    let (db, _) = store().await;
    // Only notifications wake the watcher; announcements are at least 50 ms
    // apart, so most of the burst lands inside an interval and must be
    // announced together when it ends.
    let store = es_postgres::PgEventStore::builder()
        .poll_interval(Duration::from_secs(600))
        .notify_interval(Duration::from_millis(50))
        .build(db.pool().clone());
    let mut watch = store.watch_commits().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut last = 0;
    for i in 0..40u64 {
        let r = store
            .append(
                &format!("Burst-{}", i % 4),
                ExpectedVersion::Any,
                vec![ev("Added", serde_json::json!({ "n": i }))],
            )
            .await
            .unwrap();
        last = r.last_position.unwrap();
    }
    woken_at_or_after(&mut watch, last, "the last append of the burst").await;
    db.drop_db().await;
}
