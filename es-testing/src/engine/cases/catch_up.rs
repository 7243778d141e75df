//! Catching up: every event of its types once, in order; the type filter.

use std::time::Duration;

use es_core::ErrorChain;

use super::{
    ONLY_TRACKED, assert_journal, checkpoint, consumer, engine, log, of, ok, seed, tracked, write,
};
use crate::engine::{EngineHarness, NAME, OTHER, SECOND, TRACKED};

/// `catch_up` handles every event of its types exactly once, in global
/// order, across several batches; events of other types are skipped; the
/// checkpoint ends at the last one, the status says caught up, and the
/// progress covers the whole log (also the trailing events of other
/// types). A second `catch_up` handles nothing; after another append it
/// handles just the new event.
pub async fn catch_up_handles_each_event_once_in_order<H: EngineHarness>(h: &H) {
    let store = h.backend();
    let last_write = seed(&store).await;
    let expected = tracked(&store).await;
    let head = log(&store).await.last().map_or(0, |e| e.global_position);

    let mut e = engine(h, consumer(h, NAME, Some(ONLY_TRACKED)));
    let n = ok(e.catch_up().await, "catch_up");
    assert_eq!(
        n,
        expected.len() as u64,
        "engine conformance: catch_up must say it handled the {} events of its type",
        expected.len()
    );
    assert_journal(h, NAME, &expected, "after catch_up").await;
    let last = *expected.last().expect("the seed has tracked events");
    assert_eq!(
        checkpoint(&store, NAME).await,
        last,
        "engine conformance: after catch_up the checkpoint must be the last event of its type"
    );
    let status = e
        .status()
        .await
        .unwrap_or_else(|x| panic!("engine conformance: status() failed: {}", ErrorChain(&x)));
    assert_eq!(
        (status.position, status.head, status.lag),
        (last, last, 0),
        "engine conformance: after catch_up the status must be (position, head, lag) = ({last}, {last}, 0)"
    );
    assert!(
        e.is_active(),
        "engine conformance: catch_up keeps the lease"
    );
    let progress = e.progress();
    assert_eq!(
        progress.position(),
        head,
        "engine conformance: after catch_up the progress must cover the whole log (head {head}), \
         also the trailing events of other types"
    );
    progress
        .wait_for(&last_write, Duration::ZERO)
        .await
        .unwrap_or_else(|x| {
            panic!("engine conformance: after catch_up, waiting for the last append must return at once: {x}")
        });

    let again = ok(e.catch_up().await, "a second catch_up");
    assert_eq!(
        again, 0,
        "engine conformance: a second catch_up with nothing new must handle nothing"
    );
    assert_journal(h, NAME, &expected, "after a second catch_up").await;

    let w = write(&store, "Seed-4", &[OTHER, TRACKED, OTHER]).await;
    let more = ok(e.catch_up().await, "catch_up after an append");
    assert_eq!(
        more, 1,
        "engine conformance: catch_up after an append of one event of its type must handle one"
    );
    let expected = tracked(&store).await;
    assert_journal(h, NAME, &expected, "after catch_up of an append").await;
    assert_eq!(
        e.progress().position(),
        w.last_position.unwrap_or(0),
        "engine conformance: the progress must cover the append"
    );
}
/// A consumer of two types gets exactly the events of those two; one of
/// every type (`None`) gets every event. Each is journaled once, in order.
pub async fn only_listed_types_reach_the_handler<H: EngineHarness>(h: &H) {
    const TWO: &[&str] = &[TRACKED, SECOND];
    const ALL: &str = "engine_conformance_all";
    let store = h.backend();
    seed(&store).await;
    let log = log(&store).await;

    let mut two = engine(h, consumer(h, NAME, Some(TWO)));
    ok(two.catch_up().await, "catch_up of two types");
    assert_journal(
        h,
        NAME,
        &of(&log, Some(TWO)),
        "a consumer of [TRACKED, SECOND]",
    )
    .await;

    let mut all = engine(h, consumer(h, ALL, None));
    ok(all.catch_up().await, "catch_up of every type");
    assert_journal(h, ALL, &of(&log, None), "a consumer of every type").await;
    assert_eq!(
        checkpoint(&store, ALL).await,
        log.last().map_or(0, |e| e.global_position),
        "engine conformance: a consumer of every type must end at the head"
    );
}
