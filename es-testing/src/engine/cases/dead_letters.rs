//! Dead letters and rebuild.

use es_core::consumer::ErrorPolicy;
use es_core::projection::ProjectionError;

use super::{
    ONLY_TRACKED, assert_journal, checkpoint, consumer, engine, log, of, ok, seed, tracked, write,
};
use crate::engine::journal::{Fault, PLANNED_ERROR, PLANNED_PANIC};
use crate::engine::{BATCH, EngineHarness, NAME, TRACKED};

/// [`ErrorPolicy::DeadLetter`] with a handler that fails (an error) at
/// the second event and panics at the fifth (the first of the second
/// batch): every other event is journaled once, in order; the store holds
/// exactly those two dead letters (with their type, stream and error); the
/// checkpoint is at the last event; a later `catch_up` retries nothing.
pub async fn dead_letters_skip_failing_events<H: EngineHarness>(h: &H) {
    let store = h.backend();
    seed(&store).await;
    let log = log(&store).await;
    let expected = of(&log, Some(ONLY_TRACKED));
    let bad = [expected[1], expected[BATCH]];

    let mut e = engine(
        h,
        consumer(h, NAME, Some(ONLY_TRACKED))
            .fault_at(bad[0], Fault::Error, u32::MAX)
            .fault_at(bad[1], Fault::Panic, u32::MAX),
    )
    .error_policy(ErrorPolicy::DeadLetter);
    ok(e.catch_up().await, "catch_up under ErrorPolicy::DeadLetter");
    let good: Vec<u64> = expected
        .iter()
        .copied()
        .filter(|p| !bad.contains(p))
        .collect();
    assert_journal(
        h,
        NAME,
        &good,
        &format!("under ErrorPolicy::DeadLetter, failing at {bad:?}"),
    )
    .await;
    let dead = h.dead_letters(NAME).await;
    let positions: Vec<u64> = dead.iter().map(|d| d.global_position).collect();
    assert_eq!(
        positions, bad,
        "engine conformance: the dead letters must be exactly the failing events"
    );
    for (d, cause) in dead.iter().zip([PLANNED_ERROR, PLANNED_PANIC]) {
        let event = log
            .iter()
            .find(|x| x.global_position == d.global_position)
            .expect("the dead letter's event is in the log");
        assert_eq!(
            (
                d.projection.as_str(),
                d.event_type.as_str(),
                d.stream_id.as_str(),
                d.stream_version,
                d.event_id
            ),
            (
                NAME,
                event.event_type.as_str(),
                event.stream_id.as_str(),
                event.stream_version,
                event.event_id
            ),
            "engine conformance: the dead letter at {} must describe its event",
            d.global_position
        );
        assert!(
            d.error.contains(cause),
            "engine conformance: the dead letter at {} must carry the handler's `{cause}`: {}",
            d.global_position,
            d.error
        );
    }
    assert_eq!(
        checkpoint(&store, NAME).await,
        *expected.last().unwrap_or(&0),
        "engine conformance: under ErrorPolicy::DeadLetter the checkpoint must end at the last event"
    );
    let again = ok(e.catch_up().await, "a second catch_up");
    assert_eq!(
        again, 0,
        "engine conformance: a dead letter is not retried by a later catch_up"
    );
    assert_journal(h, NAME, &good, "after a second catch_up").await;
    assert_eq!(h.dead_letters(NAME).await.len(), 2);
}

/// After a `catch_up` that left a dead letter, `rebuild` (its faults gone)
/// empties the journal through the reset hook, deletes the dead letters
/// and replays from 0: the journal is every event once, in order; the
/// progress callback starts at (0, n), never goes back, and ends at
/// (n, n); it returns n; the checkpoint is at the last event.
pub async fn rebuild_replays_into_an_emptied_journal<H: EngineHarness>(h: &H) {
    let store = h.backend();
    seed(&store).await;
    let expected = tracked(&store).await;
    let bad = expected[2];
    let mut e = engine(
        h,
        consumer(h, NAME, Some(ONLY_TRACKED)).fault_at(bad, Fault::Error, u32::MAX),
    )
    .error_policy(ErrorPolicy::DeadLetter);
    ok(e.catch_up().await, "catch_up");
    assert_eq!(
        h.dead_letters(NAME).await.len(),
        1,
        "engine conformance: the failing event at {bad} must be a dead letter before the rebuild"
    );
    e.consumer_mut().clear_faults();

    let mut calls: Vec<(u64, u64)> = Vec::new();
    let n = ok(
        e.rebuild(|done, total| calls.push((done, total))).await,
        "rebuild",
    );
    let total = expected.len() as u64;
    assert_eq!(
        n, total,
        "engine conformance: rebuild must replay the {total} events of its type"
    );
    assert_journal(h, NAME, &expected, "after rebuild").await;
    assert!(
        h.dead_letters(NAME).await.is_empty(),
        "engine conformance: a rebuild starts clean: its dead letters must be deleted"
    );
    assert_eq!(
        calls.first(),
        Some(&(0, total)),
        "engine conformance: rebuild's progress must start at (0, {total}) after the reset: {calls:?}"
    );
    assert_eq!(
        calls.last(),
        Some(&(total, total)),
        "engine conformance: rebuild's last progress call must be ({total}, {total}): {calls:?}"
    );
    assert!(
        calls
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[1].0 <= w[1].1),
        "engine conformance: rebuild's progress must not go back nor past its total: {calls:?}"
    );
    assert_eq!(
        checkpoint(&store, NAME).await,
        *expected.last().unwrap_or(&0),
        "engine conformance: after rebuild the checkpoint must be the last event"
    );
}

/// A consumer without a reset hook: `rebuild` fails with
/// [`ProjectionError::NoReset`] naming it, calls no progress, and the
/// journal and the checkpoint are as they were; the engine still works.
pub async fn rebuild_without_reset_changes_nothing<H: EngineHarness>(h: &H) {
    let store = h.backend();
    seed(&store).await;
    let expected = tracked(&store).await;
    let mut e = engine(h, consumer(h, NAME, Some(ONLY_TRACKED)).without_reset());
    ok(e.catch_up().await, "catch_up");
    let before = checkpoint(&store, NAME).await;

    let mut calls: Vec<(u64, u64)> = Vec::new();
    match e.rebuild(|done, total| calls.push((done, total))).await {
        Err(ProjectionError::NoReset { projection }) if projection == NAME => {}
        other => panic!(
            "engine conformance: rebuild of a consumer without a reset hook must fail with \
             ProjectionError::NoReset {{ projection: {NAME:?} }}, got {other:?}"
        ),
    }
    assert!(
        calls.is_empty(),
        "engine conformance: a refused rebuild must report no progress: {calls:?}"
    );
    assert_journal(h, NAME, &expected, "after a refused rebuild").await;
    assert_eq!(
        checkpoint(&store, NAME).await,
        before,
        "engine conformance: a refused rebuild must leave the checkpoint"
    );
    write(&store, "Seed-9", &[TRACKED]).await;
    let n = ok(e.catch_up().await, "catch_up after a refused rebuild");
    assert_eq!(
        n, 1,
        "engine conformance: the engine goes on after a refused rebuild"
    );
    assert_journal(
        h,
        NAME,
        &tracked(&store).await,
        "catch_up after a refused rebuild",
    )
    .await;
}
