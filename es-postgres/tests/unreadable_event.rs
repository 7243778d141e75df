//! One stored event that cannot be read back (metadata written by another
//! tool) stalls nobody: `read_all` hands out the events before it and then
//! reports it as its own error with its position; a dead-lettering runner
//! records it and goes on, a stopping one stops naming it, and a
//! subscription that is asked again and again backs off.

mod common;

use std::time::{Duration, Instant};

use common::ev;
use es_core::projection::{Dispatch, Projection, ProjectionError};
use es_core::{EventStore, ExpectedVersion, RecordedEvent, StoreError};
use es_postgres::{ErrorPolicy, PgEventStore, PgProjection, ProjectionRunner};
use es_testing::postgres::TestDatabase;
use serde_json::json;
use sqlx::PgConnection;

/// Counts what it handles (in memory: enough to see what went through).
#[derive(Default)]
struct Seen(Vec<u64>);

impl Projection for Seen {
    const NAME: &'static str = "seen";
    const EVENT_TYPES: &'static [&'static str] = &["Tracked"];
}

impl Dispatch<PgConnection> for Seen {
    async fn dispatch(
        &mut self,
        e: &RecordedEvent,
        _: &mut PgConnection,
    ) -> Result<(), ProjectionError> {
        self.0.push(e.global_position);
        Ok(())
    }
}

impl PgProjection for Seen {}

/// A store holding: a good event, one whose metadata does not decode, a
/// good event. Returns the three positions.
async fn store_with_a_bad_row() -> (TestDatabase, PgEventStore, [u64; 3]) {
    let db = TestDatabase::create().await;
    let store = PgEventStore::from_pool(db.pool().clone());
    store.migrate().await.expect("migrate");
    let first = store
        .append(
            "Good-1",
            ExpectedVersion::NoStream,
            vec![ev("Tracked", json!({"n": 1}))],
        )
        .await
        .unwrap();
    let bad = common::insert_unreadable_event(&db).await;
    let last = store
        .append(
            "Good-2",
            ExpectedVersion::NoStream,
            vec![ev("Tracked", json!({"n": 3}))],
        )
        .await
        .unwrap();
    let positions = [
        first.last_position.unwrap(),
        bad,
        last.last_position.unwrap(),
    ];
    (db, store, positions)
}

#[tokio::test]
async fn read_all_hands_out_the_events_before_a_bad_row_then_reports_it() {
    let (db, store, [first, bad, last]) = store_with_a_bad_row().await;

    let page = store.read_all(0, 100, None).await.unwrap();
    assert_eq!(
        page.events
            .iter()
            .map(|e| e.global_position)
            .collect::<Vec<_>>(),
        [first]
    );
    assert_eq!(page.scanned_to, first, "the page ends before the bad row");

    let err = store.read_all(first, 100, None).await.unwrap_err();
    assert_eq!(err.unreadable_position(), Some(bad), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("Bad-1") && text.contains("metadata"),
        "{text}"
    );

    let after = store.read_all(bad, 100, None).await.unwrap();
    assert_eq!(
        after
            .events
            .iter()
            .map(|e| e.global_position)
            .collect::<Vec<_>>(),
        [last]
    );
    db.drop_db().await;
}

#[tokio::test]
async fn a_dead_lettering_runner_records_the_bad_row_and_goes_on() {
    let (db, store, [first, bad, last]) = store_with_a_bad_row().await;
    let mut runner =
        ProjectionRunner::new(store.clone(), Seen::default()).error_policy(ErrorPolicy::DeadLetter);
    runner.catch_up().await.unwrap();
    assert_eq!(runner.projection().0, [first, last]);
    let dead = store.dead_letters(Seen::NAME).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].global_position, bad);
    assert_eq!(dead[0].stream_id, "Bad-1");
    assert!(dead[0].error.contains("metadata"), "{}", dead[0].error);
    assert_eq!(
        store
            .load_checkpoint(Seen::NAME)
            .await
            .unwrap()
            .unwrap_or(0),
        last
    );
    db.drop_db().await;
}

#[tokio::test]
async fn a_stopping_runner_stops_at_the_bad_row_naming_it() {
    let (db, store, [first, bad, _]) = store_with_a_bad_row().await;
    let mut runner = ProjectionRunner::new(store.clone(), Seen::default());
    let err = runner.catch_up().await.unwrap_err();
    let ProjectionError::Store { source, .. } = &err else {
        panic!("expected a store error, got {err:?}");
    };
    assert_eq!(source.unreadable_position(), Some(bad), "{err}");
    assert!(matches!(source, StoreError::UnreadableEvent { .. }));
    assert_eq!(
        runner.projection().0,
        [first],
        "the event before it was handled"
    );
    assert_eq!(
        store
            .load_checkpoint(Seen::NAME)
            .await
            .unwrap()
            .unwrap_or(0),
        first
    );
    db.drop_db().await;
}

#[tokio::test]
async fn a_subscription_delivers_what_comes_before_and_backs_off() {
    let (db, store, [first, bad, _]) = store_with_a_bad_row().await;
    let mut sub = store.subscribe(0, None);
    let e = sub.next().await.unwrap().unwrap();
    assert_eq!(e.global_position, first);
    // A caller that asks again at once, for a second.
    let (mut errors, started) = (0, Instant::now());
    while started.elapsed() < Duration::from_secs(1) {
        match tokio::time::timeout(Duration::from_secs(1), sub.next()).await {
            Ok(Some(Err(e))) => {
                assert_eq!(e.unreadable_position(), Some(bad), "{e}");
                errors += 1;
            }
            Ok(other) => panic!("expected the bad row's error, got {other:?}"),
            Err(_) => break,
        }
    }
    assert!(
        (1..=8).contains(&errors),
        "{errors} errors in a second: the subscription must back off"
    );
    db.drop_db().await;
}
