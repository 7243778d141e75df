//! The lease: one active engine per name, and a takeover from its
//! checkpoint.

use std::time::Duration;

use super::{ONLY_TRACKED, assert_journal, checkpoint, consumer, engine, ok, tracked, write};
use crate::engine::{EngineHarness, NAME, OTHER, PATIENCE, TRACKED};

/// Engine A is active (its `catch_up` keeps the lease). Engine B of the
/// same name, with a short lease retry, calls `catch_up` and stands by: it
/// does not move while A handles more events. A releases; B takes over,
/// continues from A's checkpoint (handling only what A left) and the
/// journal has every event once.
pub async fn takeover_continues_from_the_checkpoint<H: EngineHarness>(h: &H) {
    let store = h.backend();
    write(&store, "Take-1", &[TRACKED, OTHER, TRACKED]).await;
    let mut a = engine(h, consumer(h, NAME, Some(ONLY_TRACKED)));
    ok(a.catch_up().await, "A's catch_up");
    assert!(
        a.is_active(),
        "engine conformance: catch_up keeps the lease"
    );

    let retry = Duration::from_millis(10);
    let mut b = engine(h, consumer(h, NAME, Some(ONLY_TRACKED))).lease_retry(retry);
    let b_progress = b.progress();
    let b_task = tokio::spawn(async move {
        let r = b.catch_up().await;
        (b, r)
    });

    // A keeps working while B stands by.
    write(&store, "Take-2", &[TRACKED, TRACKED, OTHER]).await;
    let n = ok(a.catch_up().await, "A's second catch_up");
    assert_eq!(
        n, 2,
        "engine conformance: the active engine A must handle the 2 new events"
    );
    // Give B many chances (20 lease retries) to do what it must not.
    tokio::time::sleep(retry * 20).await;
    assert!(
        !b_task.is_finished(),
        "engine conformance: B's catch_up finished while A held the lease"
    );
    assert_eq!(
        b_progress.position(),
        0,
        "engine conformance: B moved while A held the lease"
    );
    let by_a = tracked(&store).await;
    assert_journal(h, NAME, &by_a, "while A is active and B stands by").await;
    let a_checkpoint = checkpoint(&store, NAME).await;

    write(&store, "Take-1", &[OTHER, TRACKED, TRACKED, TRACKED]).await;
    a.release().await;
    assert!(
        !a.is_active(),
        "engine conformance: A is not active after release()"
    );
    let (b, r) = tokio::time::timeout(PATIENCE, b_task)
        .await
        .unwrap_or_else(|_| {
            panic!("engine conformance: B did not take over within {PATIENCE:?} of A's release")
        })
        .expect("engine conformance: B's task panicked");
    let n = ok(r, "B's catch_up");
    assert_eq!(
        n, 3,
        "engine conformance: B must continue from A's checkpoint {a_checkpoint}, handling the 3 events after it"
    );
    assert!(
        b.is_active(),
        "engine conformance: B is active after its catch_up"
    );
    let expected = tracked(&store).await;
    assert_journal(h, NAME, &expected, "after B took over").await;
    assert_eq!(
        checkpoint(&store, NAME).await,
        *expected.last().unwrap_or(&0),
        "engine conformance: B's checkpoint must end at the last event"
    );
}
