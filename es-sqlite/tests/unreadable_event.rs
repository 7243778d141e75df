//! One stored event that cannot be read back (metadata written by another
//! tool) stalls nobody: `read_all` hands out the events before it and then
//! reports it as its own error with its position; the runner stops naming
//! it; a subscription that is asked again and again backs off.

mod common;

use std::time::{Duration, Instant};

use common::{TempDb, event};
use es_core::projection::{Dispatch, Projection, ProjectionError};
use es_core::{EventStore, ExpectedVersion, RecordedEvent};
use es_sqlite::{ProjectionRunner, SqliteEventStore, SqliteProjection};
use sqlx::SqliteConnection;

#[derive(Default)]
struct Seen(Vec<u64>);

impl Projection for Seen {
    const NAME: &'static str = "seen";
    const EVENT_TYPES: &'static [&'static str] = &["Tracked"];
}

impl Dispatch<SqliteConnection> for Seen {
    async fn dispatch(
        &mut self,
        e: &RecordedEvent,
        _: &mut SqliteConnection,
    ) -> Result<(), ProjectionError> {
        self.0.push(e.global_position);
        Ok(())
    }
}

impl SqliteProjection for Seen {}

/// A good event, one whose metadata does not decode, a good event.
async fn store_with_a_bad_row(db: &TempDb) -> SqliteEventStore {
    let store = SqliteEventStore::open(db.path()).await.unwrap();
    store
        .append(
            "Good-1",
            ExpectedVersion::NoStream,
            vec![event("Tracked", 1)],
        )
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO events (event_id, stream_id, stream_version, aggregate_type, event_type, \
           schema_version, payload, metadata, recorded_at) \
         VALUES ('0190d0f1-0000-7000-8000-000000000001', 'Bad-1', 1, 'Bad', 'Tracked', 1, '{}', \
           '{\"command_id\": \"not-a-uuid\"}', '2026-01-01T00:00:00.000000Z')",
    )
    .execute(store.pool())
    .await
    .unwrap();
    store
        .append(
            "Good-2",
            ExpectedVersion::NoStream,
            vec![event("Tracked", 3)],
        )
        .await
        .unwrap();
    store
}

fn positions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.global_position).collect()
}

#[tokio::test]
async fn read_all_hands_out_the_events_before_a_bad_row_then_reports_it() {
    let db = TempDb::new("unreadable-read");
    let store = store_with_a_bad_row(&db).await;
    let page = store.read_all(0, 100, None).await.unwrap();
    assert_eq!((positions(&page.events), page.scanned_to), (vec![1], 1));
    let err = store.read_all(1, 100, None).await.unwrap_err();
    assert_eq!(err.unreadable_position(), Some(2), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("Bad-1") && text.contains("metadata"),
        "{text}"
    );
    assert_eq!(
        positions(&store.read_all(2, 100, None).await.unwrap().events),
        [3]
    );
    store.close().await;
}

#[tokio::test]
async fn the_runner_stops_at_the_bad_row_naming_it() {
    let db = TempDb::new("unreadable-runner");
    let store = store_with_a_bad_row(&db).await;
    let mut runner = ProjectionRunner::new(store.clone(), Seen::default());
    let err = runner.catch_up().await.unwrap_err();
    let ProjectionError::Store { source, .. } = &err else {
        panic!("expected a store error, got {err:?}");
    };
    assert_eq!(source.unreadable_position(), Some(2), "{err}");
    assert_eq!(
        runner.projection().0,
        [1],
        "the event before it was handled"
    );
    assert_eq!(store.load_checkpoint(Seen::NAME).await.unwrap(), Some(1));
    store.close().await;
}

#[tokio::test]
async fn a_subscription_delivers_what_comes_before_and_backs_off() {
    let db = TempDb::new("unreadable-sub");
    let store = store_with_a_bad_row(&db).await;
    let mut sub = store.subscribe(0);
    assert_eq!(sub.next().await.unwrap().global_position, 1);
    let (mut errors, started) = (0, Instant::now());
    while started.elapsed() < Duration::from_secs(1) {
        match tokio::time::timeout(Duration::from_secs(1), sub.next()).await {
            Ok(Err(e)) => {
                assert_eq!(e.unreadable_position(), Some(2), "{e}");
                errors += 1;
            }
            Ok(Ok(e)) => panic!("expected the bad row's error, got {e:?}"),
            Err(_) => break,
        }
    }
    assert!(
        (1..=8).contains(&errors),
        "{errors} errors in a second: the subscription must back off"
    );
    store.close().await;
}
