//! Errors, crashes and retry: a failing, panicking, cancelled or retried
//! handler, and exactly once afterwards.

use es_core::ErrorChain;
use es_core::consumer::ErrorPolicy;
use es_core::projection::ProjectionError;

use super::{
    ONLY_TRACKED, assert_journal, checkpoint, consumer, engine, ok, rolls_back, seed, tracked,
};
use crate::engine::journal::{Fault, PLANNED_ERROR, PLANNED_PANIC};
use crate::engine::{BATCH, EngineHarness, NAME, PATIENCE};

/// [`ErrorPolicy::Stop`] with a handler that returns an error at position
/// *k*: see [`stop_on_panic_resumes_exactly_once`].
pub async fn stop_on_error_resumes_exactly_once<H: EngineHarness>(h: &H) {
    stop_and_resume(h, Fault::Error).await;
}

/// [`ErrorPolicy::Stop`] with a handler that panics at position *k* (the
/// second event of the second batch): `catch_up` fails naming *k*; the
/// checkpoint stays before *k* (at the end of the first batch at least, at
/// the event before *k* on a store that does not roll back) and the journal
/// holds exactly the events up to the checkpoint (the failed batch's writes
/// undone, *k*'s own too). A new engine of the name (a new consumer
/// instance, as after a restart) resumes there, and the journal has every
/// event once, in order.
pub async fn stop_on_panic_resumes_exactly_once<H: EngineHarness>(h: &H) {
    stop_and_resume(h, Fault::Panic).await;
}

async fn stop_and_resume<H: EngineHarness>(h: &H, fault: Fault) {
    let store = h.backend();
    seed(&store).await;
    let expected = tracked(&store).await;
    let k = expected[BATCH + 1];
    let previous_batch_end = expected[BATCH - 1];
    let before_k = expected[BATCH];

    let mut first = engine(
        h,
        consumer(h, NAME, Some(ONLY_TRACKED)).fault_at(k, fault, u32::MAX),
    );
    let err = match first.catch_up().await {
        Ok(n) => panic!(
            "engine conformance: under ErrorPolicy::Stop a handler {fault:?} at position {k} must stop catch_up, it returned Ok({n})"
        ),
        Err(e) => e,
    };
    assert_eq!(
        err.position(),
        Some(k),
        "engine conformance: the error must name the failing position {k}: {}",
        ErrorChain(&err)
    );
    assert!(
        matches!(err, ProjectionError::Handler { projection, .. } if projection == NAME),
        "engine conformance: a failing handler must stop with ProjectionError::Handler of `{NAME}`, got {err:?}"
    );
    let text = ErrorChain(&err).to_string();
    let cause = match fault {
        Fault::Panic => PLANNED_PANIC,
        _ => PLANNED_ERROR,
    };
    assert!(
        text.contains(cause),
        "engine conformance: the error must carry the handler's `{cause}`: {text}"
    );
    drop(first);

    let stopped_at = checkpoint(&store, NAME).await;
    assert!(
        stopped_at < k && stopped_at >= previous_batch_end,
        "engine conformance: after a failure at {k} the checkpoint must stay before it and not behind the \
         batch before ({previous_batch_end}); it is {stopped_at}"
    );
    if !rolls_back::<H>() {
        assert_eq!(
            stopped_at, before_k,
            "engine conformance: a store that does not roll back keeps the events before the failure: \
             the checkpoint must be {before_k}"
        );
    }
    let kept: Vec<u64> = expected
        .iter()
        .copied()
        .filter(|p| *p <= stopped_at)
        .collect();
    assert_journal(
        h,
        NAME,
        &kept,
        &format!("after a {fault:?} at {k} (checkpoint {stopped_at})"),
    )
    .await;

    let mut second = engine(h, consumer(h, NAME, Some(ONLY_TRACKED)));
    let n = ok(second.catch_up().await, "the new engine's catch_up");
    assert_eq!(
        n,
        (expected.len() - kept.len()) as u64,
        "engine conformance: the new engine must resume after the checkpoint {stopped_at}"
    );
    assert_journal(h, NAME, &expected, "after the new engine resumed").await;
    assert_eq!(
        checkpoint(&store, NAME).await,
        *expected.last().unwrap_or(&0),
        "engine conformance: the new engine's checkpoint must end at the last event"
    );
}

/// A `catch_up` future dropped while a handler is in flight (the third
/// event of the second batch hangs; a `select!` drops the future, as a
/// timeout would), then `catch_up` again on the same engine: the journal
/// has every event once. Nothing of the abandoned batch may count twice:
/// the events it handled before the hang are either committed with the
/// checkpoint or undone.
pub async fn cancelled_catch_up_resumes_exactly_once<H: EngineHarness>(h: &H) {
    let store = h.backend();
    seed(&store).await;
    let expected = tracked(&store).await;
    let k = expected[BATCH + 2];

    let c = consumer(h, NAME, Some(ONLY_TRACKED)).fault_at(k, Fault::Hang, 1);
    let hung = c.hung();
    let mut e = engine(h, c);
    tokio::select! {
        r = e.catch_up() => panic!(
            "engine conformance: the handler hangs at {k}, yet catch_up returned {r:?}"
        ),
        () = hung.notified() => {}
    }
    // The catch_up future is gone, mid-batch.
    let n = tokio::time::timeout(PATIENCE, e.catch_up())
        .await
        .unwrap_or_else(|_| {
            panic!("engine conformance: catch_up after a cancelled one did not finish within {PATIENCE:?}")
        });
    ok(n, "catch_up after a cancelled one");
    assert_journal(
        h,
        NAME,
        &expected,
        &format!("after a catch_up cancelled while handling {k}, then another"),
    )
    .await;
    assert_eq!(
        checkpoint(&store, NAME).await,
        *expected.last().unwrap_or(&0),
        "engine conformance: the checkpoint must end at the last event"
    );
}
/// [`ErrorPolicy::Retry`] with a handler that fails twice at position *k*
/// (in the second batch) and then succeeds: `catch_up` returns, the journal
/// has every event once, in order (the failed attempts' writes undone), the
/// handler saw *k* three times, and the checkpoint is at the last event.
pub async fn retry_until_the_handler_succeeds<H: EngineHarness>(h: &H) {
    let store = h.backend();
    seed(&store).await;
    let expected = tracked(&store).await;
    let k = expected[BATCH + 1];
    let mut e = engine(
        h,
        consumer(h, NAME, Some(ONLY_TRACKED)).fault_at(k, Fault::Error, 2),
    )
    .error_policy(ErrorPolicy::Retry);
    let n = tokio::time::timeout(PATIENCE, e.catch_up())
        .await
        .unwrap_or_else(|_| {
            panic!("engine conformance: catch_up under ErrorPolicy::Retry did not finish within {PATIENCE:?}")
        });
    ok(n, "catch_up under ErrorPolicy::Retry");
    assert_journal(
        h,
        NAME,
        &expected,
        &format!("under ErrorPolicy::Retry, failing twice at {k}"),
    )
    .await;
    assert_eq!(
        e.consumer().attempts(k),
        3,
        "engine conformance: the handler must see {k} three times (two failures, one success)"
    );
    assert!(
        expected
            .iter()
            .filter(|p| **p != k)
            .all(|p| e.consumer().attempts(*p) == 1),
        "engine conformance: under ErrorPolicy::Retry only the failing event is handled again"
    );
    assert!(
        h.dead_letters(NAME).await.is_empty(),
        "engine conformance: ErrorPolicy::Retry records no dead letter"
    );
    assert_eq!(
        checkpoint(&store, NAME).await,
        *expected.last().unwrap_or(&0),
        "engine conformance: the checkpoint must end at the last event"
    );
}
