//! The consumer conformance case: whatever reads the log after a position
//! and acts on each event (the core `catch_up`, a store's projection runner,
//! subscription or listener) handles every event of its types exactly once,
//! in global order, while a writer keeps its transaction open across the
//! consumer's reads and other writers append concurrently.
//!
//! A store's tests supply two things: how to hold a writer open on that
//! store ([`HeldWriter`]), and how to start the consumer under test (a
//! [`Consumer`]: a closure that spawns it and reports each handled event).
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() {
//! use es_core::InMemoryEventStore;
//! use es_testing::consumers::{self, CatchUp, Delayed};
//!
//! let store = InMemoryEventStore::new();
//! consumers::every_event_once(store.clone(), Delayed(store), CatchUp).await;
//! # }
//! ```

use std::collections::HashSet;
use std::time::Duration;

use es_core::projection::{Dispatch, Projection, ProjectionError, catch_up};
use es_core::{
    AppendResult, EventStore, ExpectedVersion, Metadata, NewEvent, RecordedEvent, StoreError, Uuid,
};
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The event type every consumer under test reads.
pub const TRACKED: &str = "Tracked";
/// An event type every consumer under test leaves out (its filter skips it).
pub const IGNORED: &str = "Ignored";
/// The type filter of the consumer under test: `[TRACKED]`.
pub const TYPES: &[&str] = &[TRACKED];

/// How long each held writer keeps its transaction open.
const HOLD: Duration = Duration::from_millis(400);
/// Held writers, one after the other.
const HOLDS: usize = 3;
/// Plain writers running meanwhile.
const WRITERS: usize = 3;
/// How long the consumer may go without handling an event, once the
/// writers finished, before the events it has not handled count as skipped.
const IDLE: Duration = Duration::from_secs(5);
/// How long the consumer may take in all to handle everything after the
/// writers finished.
const SETTLE: Duration = Duration::from_secs(60);

/// Keeps one append's transaction open, the way a store's slow writer would.
pub trait HeldWriter: Send + Sync + 'static {
    /// Appends `events` to `stream` in a transaction that has written them
    /// (where the store can) and stays open: it sends on `holding` once it
    /// holds, then commits when `release` fires.
    fn append_held(
        &self,
        stream: String,
        events: Vec<NewEvent>,
        holding: oneshot::Sender<()>,
        release: oneshot::Receiver<()>,
    ) -> BoxFuture<'static, Result<AppendResult, StoreError>>;
}

/// A held writer for a store with no transaction to hold open (the
/// in-memory store, whose appends are atomic under a lock): it waits, then
/// appends.
#[derive(Debug, Clone)]
pub struct Delayed<S>(pub S);

impl<S: EventStore> HeldWriter for Delayed<S> {
    fn append_held(
        &self,
        stream: String,
        events: Vec<NewEvent>,
        holding: oneshot::Sender<()>,
        release: oneshot::Receiver<()>,
    ) -> BoxFuture<'static, Result<AppendResult, StoreError>> {
        let store = self.0.clone();
        Box::pin(async move {
            let _ = holding.send(());
            let _ = release.await;
            store.append(&stream, ExpectedVersion::Any, events).await
        })
    }
}

/// Starts the consumer under test on `store`: it reads the events of
/// [`TYPES`] from the start of the log and sends each event it handles to
/// `handled`, in the order it handles them, until the returned task is
/// aborted.
pub trait Consumer<S> {
    /// Spawns the consumer.
    fn start(self, store: S, handled: mpsc::UnboundedSender<RecordedEvent>) -> JoinHandle<()>;
}

impl<S, F> Consumer<S> for F
where
    F: FnOnce(S, mpsc::UnboundedSender<RecordedEvent>) -> JoinHandle<()>,
{
    fn start(self, store: S, handled: mpsc::UnboundedSender<RecordedEvent>) -> JoinHandle<()> {
        self(store, handled)
    }
}

/// The core [`catch_up`] as a consumer: called in a loop from its last
/// checkpoint, on any store.
#[derive(Debug, Clone, Copy)]
pub struct CatchUp;

impl<S: EventStore> Consumer<S> for CatchUp {
    fn start(self, store: S, handled: mpsc::UnboundedSender<RecordedEvent>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut projection = Reporter(handled);
            let mut checkpoint = 0;
            loop {
                match catch_up(&store, &mut projection, checkpoint, 7).await {
                    Ok(c) => checkpoint = c,
                    Err(e) => panic!("consumer conformance: catch_up failed: {e}"),
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    }
}

/// A projection of [`TYPES`] that reports each event it handles: the
/// handler of the consumers under test (in any context).
#[derive(Debug, Clone)]
pub struct Reporter(pub mpsc::UnboundedSender<RecordedEvent>);

impl Projection for Reporter {
    const NAME: &'static str = "consumer_conformance";
    const EVENT_TYPES: &'static [&'static str] = TYPES;
}

impl<Ctx: Send + ?Sized> Dispatch<Ctx> for Reporter {
    async fn dispatch(
        &mut self,
        event: &RecordedEvent,
        _: &mut Ctx,
    ) -> Result<(), ProjectionError> {
        let _ = self.0.send(event.clone());
        Ok(())
    }
}

fn event(event_type: &str, writer: usize, n: usize) -> NewEvent {
    NewEvent::from_raw(
        event_type,
        1,
        format!(r#"{{"writer":{writer},"n":{n}}}"#).into_bytes(),
        Metadata::new(),
    )
}

/// The case: `consumer` handles every [`TRACKED`] event of `store` exactly
/// once, in global order, while `held` keeps writers open across its reads
/// and plain writers append tracked and ignored events concurrently.
///
/// Panics naming what went wrong: events never handled (skipped), handled
/// twice, or out of order.
pub async fn every_event_once<S, H, C>(store: S, held: H, consumer: C)
where
    S: EventStore,
    H: HeldWriter,
    C: Consumer<S>,
{
    // Some history before the consumer starts.
    let history: Vec<NewEvent> = (0..10)
        .map(|n| event(if n % 3 == 0 { IGNORED } else { TRACKED }, 99, n))
        .collect();
    store
        .append("History-1", ExpectedVersion::NoStream, history)
        .await
        .unwrap_or_else(|e| panic!("consumer conformance: appending the history failed: {e}"));

    let (tx, mut handled) = mpsc::unbounded_channel();
    let task = consumer.start(store.clone(), tx);

    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            let done = done_rx.clone();
            tokio::spawn(async move {
                let mut n = 0;
                while !*done.borrow() || n < 20 {
                    // Mostly single events (the common append), now and
                    // then a batch that mixes both types.
                    let batch: Vec<NewEvent> = if n % 5 == 4 {
                        vec![
                            event(TRACKED, w, n),
                            event(IGNORED, w, n),
                            event(TRACKED, w, n),
                        ]
                    } else if n % 2 == 0 {
                        vec![event(IGNORED, w, n)]
                    } else {
                        vec![event(TRACKED, w, n)]
                    };
                    store
                        .append(&format!("Writer-{w}"), ExpectedVersion::Any, batch)
                        .await
                        .unwrap_or_else(|e| {
                            panic!("consumer conformance: a plain writer's append failed: {e}")
                        });
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
            })
        })
        .collect();

    for round in 0..HOLDS {
        let (holding_tx, holding_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        let append = held.append_held(
            format!("Held-{round}"),
            vec![
                event(TRACKED, 100 + round, 0),
                event(TRACKED, 100 + round, 1),
            ],
            holding_tx,
            release_rx,
        );
        let append = tokio::spawn(append);
        holding_rx
            .await
            .unwrap_or_else(|_| panic!("consumer conformance: the held writer never held"));
        tokio::time::sleep(HOLD).await;
        let _ = release_tx.send(());
        append
            .await
            .expect("consumer conformance: the held writer panicked")
            .unwrap_or_else(|e| panic!("consumer conformance: the held append failed: {e}"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = done_tx.send(true);
    for w in writers {
        w.await
            .expect("consumer conformance: a plain writer panicked");
    }

    // What the consumer must have handled: every tracked event, in order.
    let mut expected: Vec<(u64, Uuid)> = Vec::new();
    let mut after = 0;
    loop {
        let page = store
            .read_all(after, 1000, None)
            .await
            .unwrap_or_else(|e| panic!("consumer conformance: reading the log failed: {e}"));
        if page.is_empty() {
            break;
        }
        after = page.events.last().map_or(after, |e| e.global_position);
        expected.extend(
            page.events
                .iter()
                .filter(|e| e.event_type == TRACKED)
                .map(|e| (e.global_position, e.event_id)),
        );
    }

    let mut got: Vec<(u64, Uuid)> = Vec::with_capacity(expected.len());
    let deadline = tokio::time::Instant::now() + SETTLE;
    while got.len() < expected.len() {
        let idle = (tokio::time::Instant::now() + IDLE).min(deadline);
        match tokio::time::timeout_at(idle, handled.recv()).await {
            Ok(Some(e)) => got.push((e.global_position, e.event_id)),
            Ok(None) | Err(_) => break,
        }
    }
    // A little longer, to catch an event handled twice.
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(300), handled.recv()).await {
        got.push((e.global_position, e.event_id));
    }
    task.abort();
    let _ = task.await;

    let expected_ids: HashSet<Uuid> = expected.iter().map(|(_, id)| *id).collect();
    let mut seen = HashSet::new();
    let twice: Vec<u64> = got
        .iter()
        .filter(|(_, id)| !seen.insert(*id))
        .map(|(p, _)| *p)
        .collect();
    let missing: Vec<u64> = expected
        .iter()
        .filter(|(_, id)| !seen.contains(id))
        .map(|(p, _)| *p)
        .collect();
    let foreign: Vec<u64> = got
        .iter()
        .filter(|(_, id)| !expected_ids.contains(id))
        .map(|(p, _)| *p)
        .collect();
    assert!(
        missing.is_empty(),
        "consumer conformance: {} of {} events were never handled (skipped), at positions {:?}",
        missing.len(),
        expected.len(),
        &missing[..missing.len().min(20)]
    );
    assert!(
        twice.is_empty(),
        "consumer conformance: events handled twice, at positions {:?}",
        &twice[..twice.len().min(20)]
    );
    assert!(
        foreign.is_empty(),
        "consumer conformance: events of other types handled, at positions {:?}",
        &foreign[..foreign.len().min(20)]
    );
    assert_eq!(
        got, expected,
        "consumer conformance: the events were handled out of global order"
    );
}

/// Starts an engine under test on `store` that reports each event it
/// handles to `handled` before its batch commits, and returns it with the
/// engine's [`Progress`](es_core::consumer::Progress) (for
/// [`reads_its_writes`]).
pub trait Waited<S> {
    /// Spawns the engine.
    fn start(
        self,
        store: S,
        handled: mpsc::UnboundedSender<RecordedEvent>,
    ) -> (JoinHandle<()>, es_core::consumer::Progress);
}

impl<S, F> Waited<S> for F
where
    F: FnOnce(
        S,
        mpsc::UnboundedSender<RecordedEvent>,
    ) -> (JoinHandle<()>, es_core::consumer::Progress),
{
    fn start(
        self,
        store: S,
        handled: mpsc::UnboundedSender<RecordedEvent>,
    ) -> (JoinHandle<()>, es_core::consumer::Progress) {
        self(store, handled)
    }
}

/// Every [`TRACKED`] position at or below `to` in `store`'s log.
async fn tracked_up_to<S: EventStore>(store: &S, to: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut after = 0;
    while after < to {
        let page = store
            .read_all(after, 1000, Some(TYPES))
            .await
            .unwrap_or_else(|e| panic!("read-your-writes: reading the log failed: {e}"));
        if page.is_empty() {
            break;
        }
        after = page.events.last().map_or(after, |e| e.global_position);
        out.extend(
            page.events
                .iter()
                .map(|e| e.global_position)
                .filter(|p| *p <= to),
        );
    }
    out
}

/// What `handled` has reported so far, added to `seen`.
fn drain(handled: &mut mpsc::UnboundedReceiver<RecordedEvent>, seen: &mut HashSet<u64>) {
    while let Ok(e) = handled.try_recv() {
        seen.insert(e.global_position);
    }
}

/// The read-your-writes case: once `Progress::wait_for(write)` returns a
/// position, the engine has handled that write and every event of its
/// types at or before the position, even while a writer that took an
/// earlier position holds its transaction open (`held`).
///
/// Rounds of: a held writer takes its position and keeps its transaction
/// open; a plain writer appends a tracked event (and another append of an
/// ignored type only); while the held writer still holds, a wait for the
/// plain write may only return if everything up to the position it returns
/// is handled (a wait that returns early, before the held event, fails
/// here once that event commits); after the held writer commits, the wait
/// returns, for the ignored-only append too. Last, a wait for a position
/// never written times out with [`WaitTimeout`](es_core::consumer::WaitTimeout).
pub async fn reads_its_writes<S, H, W>(store: S, held: H, engine: W)
where
    S: EventStore,
    H: HeldWriter,
    W: Waited<S>,
{
    const ROUNDS: usize = 3;
    let (tx, mut handled) = mpsc::unbounded_channel();
    let (task, progress) = engine.start(store.clone(), tx);
    let mut seen = HashSet::new();
    let mut checks: Vec<(u64, HashSet<u64>)> = Vec::new();
    for round in 0..ROUNDS {
        let (holding_tx, holding_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        let held_append = tokio::spawn(held.append_held(
            format!("Waited-{round}"),
            vec![event(TRACKED, 200 + round, 0)],
            holding_tx,
            release_rx,
        ));
        holding_rx
            .await
            .unwrap_or_else(|_| panic!("read-your-writes: the held writer never held"));
        let plain = {
            let store = store.clone();
            tokio::spawn(async move {
                let tracked = store
                    .append(
                        "Plain-1",
                        ExpectedVersion::Any,
                        vec![event(TRACKED, 1, round)],
                    )
                    .await;
                let ignored = store
                    .append(
                        "Plain-2",
                        ExpectedVersion::Any,
                        vec![event(IGNORED, 2, round)],
                    )
                    .await;
                (tracked, ignored)
            })
        };
        // Where the store lets the plain writer commit while the held one
        // holds (PostgreSQL, the in-memory store), wait for it now.
        let mut plain = Some(plain);
        if let Ok(done) = tokio::time::timeout(HOLD / 2, plain.as_mut().expect("set")).await {
            plain = None;
            let (tracked, _) = done.expect("read-your-writes: the plain writer panicked");
            let tracked =
                tracked.unwrap_or_else(|e| panic!("read-your-writes: an append failed: {e}"));
            if let Ok(at) = progress
                .wait_for(&tracked, Duration::from_millis(200))
                .await
            {
                drain(&mut handled, &mut seen);
                checks.push((at, seen.clone()));
            }
        }
        let _ = release_tx.send(());
        held_append
            .await
            .expect("read-your-writes: the held writer panicked")
            .unwrap_or_else(|e| panic!("read-your-writes: the held append failed: {e}"));
        let (tracked, ignored) = match plain {
            Some(p) => p
                .await
                .expect("read-your-writes: the plain writer panicked"),
            None => (
                store
                    .append(
                        "Plain-1",
                        ExpectedVersion::Any,
                        vec![event(TRACKED, 3, round)],
                    )
                    .await,
                store
                    .append(
                        "Plain-2",
                        ExpectedVersion::Any,
                        vec![event(IGNORED, 4, round)],
                    )
                    .await,
            ),
        };
        for written in [tracked, ignored] {
            let written =
                written.unwrap_or_else(|e| panic!("read-your-writes: an append failed: {e}"));
            let at = progress
                .wait_for(&written, Duration::from_secs(10))
                .await
                .unwrap_or_else(|e| panic!("read-your-writes: {e}"));
            assert!(
                at >= written.last_position.expect("one event written"),
                "read-your-writes: wait_for returned {at}, before the write"
            );
            drain(&mut handled, &mut seen);
            checks.push((at, seen.clone()));
        }
    }
    // Every wait's answer, checked against the log as it is now that every
    // writer committed.
    for (at, seen_then) in &checks {
        let missing: Vec<u64> = tracked_up_to(&store, *at)
            .await
            .into_iter()
            .filter(|p| !seen_then.contains(p))
            .collect();
        assert!(
            missing.is_empty(),
            "read-your-writes: a wait returned position {at}, but the events at {missing:?} were not handled yet"
        );
    }
    let head = store
        .head_position()
        .await
        .unwrap_or_else(|e| panic!("read-your-writes: reading the head failed: {e}"));
    let never = progress
        .wait_for(head + 1_000, Duration::from_millis(200))
        .await;
    assert!(
        matches!(never, Err(es_core::consumer::WaitTimeout { wanted, .. }) if wanted == head + 1_000),
        "read-your-writes: a wait for a position never written returned {never:?}"
    );
    task.abort();
    let _ = task.await;
}
