//! Read-your-writes: `Progress::wait_for` with `run` going.

use std::time::Duration;

use es_core::consumer::WaitTimeout;

use super::{ONLY_TRACKED, assert_journal, consumer, engine, ok, seed, tracked, write};
use crate::engine::{EngineHarness, NAME, OTHER, PATIENCE, SECOND, TRACKED};

/// Read-your-writes with `run` in a spawned task: `wait_for` an append
/// returns, and the journal already holds the event (and every earlier
/// one); the same for an append of a type the consumer does not read (the
/// journal unchanged); a wait for a position never written times out with
/// [`WaitTimeout`] naming it; a shutdown stops `run` with `Ok` and it
/// releases the lease.
pub async fn wait_for_sees_the_write_in_the_journal<H: EngineHarness>(h: &H) {
    let store = h.backend();
    seed(&store).await;
    let mut e = engine(h, consumer(h, NAME, Some(ONLY_TRACKED)));
    let progress = e.progress();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let r = e
            .run(async move {
                let _ = stopped.await;
            })
            .await;
        (e, r)
    });

    let mut last = 0;
    for (round, types) in [
        &[TRACKED][..],
        &[OTHER],
        &[OTHER, TRACKED, OTHER],
        &[TRACKED, TRACKED],
        &[SECOND],
    ]
    .into_iter()
    .enumerate()
    {
        let w = write(&store, "Live-1", types).await;
        let at = progress.wait_for(&w, PATIENCE).await.unwrap_or_else(|x| {
            panic!(
                "engine conformance: waiting for append {round} ({types:?}) with `run` going: {x}"
            )
        });
        let written = w.last_position.expect("an append of events has a position");
        assert!(
            at >= written,
            "engine conformance: wait_for returned {at}, before the write at {written}"
        );
        assert_journal(
            h,
            NAME,
            &tracked(&store).await,
            &format!("when wait_for append {round} ({types:?}) returned"),
        )
        .await;
        last = written;
    }

    let never = last + 1_000;
    let short = Duration::from_millis(200);
    match progress.wait_for(never, short).await {
        Err(WaitTimeout { wanted, at, waited }) => {
            assert_eq!(
                (wanted, waited),
                (never, short),
                "engine conformance: the WaitTimeout must name the position and the wait"
            );
            assert!(
                (last..never).contains(&at),
                "engine conformance: the WaitTimeout must say where the consumer is ({last}), it says {at}"
            );
        }
        Ok(p) => panic!(
            "engine conformance: waiting for position {never}, never written, returned Ok({p})"
        ),
    }

    let _ = stop.send(());
    let (e, r) = tokio::time::timeout(PATIENCE, task)
        .await
        .unwrap_or_else(|_| {
            panic!("engine conformance: run did not stop within {PATIENCE:?} of the shutdown")
        })
        .expect("engine conformance: the run task panicked");
    ok(r, "run");
    assert!(
        !e.is_active(),
        "engine conformance: run releases the lease when it stops"
    );
    assert_journal(h, NAME, &tracked(&store).await, "after run stopped").await;
}
