//! `read_stream_for_replay` (the repository's lean read) returns exactly the
//! version, type, schema version and payload `read_stream` does, for every
//! kind of range; and commits are still announced to watchers now that the
//! append statement no longer sends `NOTIFY` itself.

mod common;

use std::time::Duration;

use common::{ev, store};
use es_core::{EventStore, ExpectedVersion, NewEvent, ReplayedEvent, StreamEnd};

#[tokio::test]
async fn the_lean_replay_read_matches_read_stream() {
    let (db, store) = store().await;
    let mut batch: Vec<NewEvent> = (0..20)
        .map(|i| ev("Added", serde_json::json!({ "n": i })))
        .collect();
    batch[3].schema_version = 2;
    batch[4].event_type = "Removed".into();
    store
        .append("Replay-1", ExpectedVersion::NoStream, batch)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    store
        .append(
            "Replay-1",
            ExpectedVersion::Exact(20),
            vec![ev("Added", serde_json::json!({ "n": 20 }))],
        )
        .await
        .unwrap();

    for (from, to, limit) in [
        (1, StreamEnd::Head, 100),
        (1, StreamEnd::Head, 7),
        (5, StreamEnd::Version(12), 100),
        (0, StreamEnd::Time(between), 100),
        (21, StreamEnd::Head, 100),
        (30, StreamEnd::Head, 100),
        (1, StreamEnd::Head, 0),
    ] {
        let full: Vec<ReplayedEvent> = store
            .read_stream("Replay-1", from, to, limit)
            .await
            .unwrap()
            .into_iter()
            .map(ReplayedEvent::from)
            .collect();
        let lean = store
            .read_stream_for_replay("Replay-1", from, to, limit)
            .await
            .unwrap();
        assert_eq!(lean, full, "from {from}, to {to:?}, limit {limit}");
    }
    let lean = store
        .read_stream_for_replay("Replay-1", 1, StreamEnd::Head, 100)
        .await
        .unwrap();
    assert_eq!(lean.len(), 21);
    assert_eq!(
        (lean[3].schema_version, lean[4].event_type.as_str()),
        (2, "Removed")
    );
    assert!(
        store
            .read_stream_for_replay("", 1, StreamEnd::Head, 10)
            .await
            .is_err()
    );
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
    let position = r.last_position.unwrap();
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
    .expect("woken within 5 s");
    assert!(woke >= position);
    db.drop_db().await;
}
