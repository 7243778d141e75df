//! The cases, by topic, and the helpers they share.

use std::time::Duration;

use es_core::consumer::{Backend, Engine};
use es_core::projection::ProjectionError;
use es_core::{
    AppendResult, ErrorChain, EventStore, ExpectedVersion, Metadata, NewEvent, RecordedEvent,
};

use super::journal::Journaling;
use super::{BATCH, EngineHarness, OTHER, SECOND, TRACKED};

mod catch_up;
mod dead_letters;
mod failures;
mod partitions;
mod takeover;
mod wait_for;

pub use catch_up::*;
pub use dead_letters::*;
pub use failures::*;
pub use partitions::*;
pub use takeover::*;
pub use wait_for::*;

type EngineOf<H> = Engine<<H as EngineHarness>::Backend, Journaling<<H as EngineHarness>::Journal>>;

const ONLY_TRACKED: &[&str] = &[TRACKED];

fn rolls_back<H: EngineHarness>() -> bool {
    <H::Backend as Backend>::ROLLS_BACK
}

/// A consumer of `types` named `name`; a faulting handler writes first
/// where the store's transaction undoes it.
fn consumer<H: EngineHarness>(
    h: &H,
    name: &'static str,
    types: Option<&'static [&'static str]>,
) -> Journaling<H::Journal> {
    Journaling::new(name, types, h.journal(name)).write_before_fault(rolls_back::<H>())
}

/// An engine with batches of [`BATCH`], quick lease retries and backoff.
fn engine<H: EngineHarness>(h: &H, consumer: Journaling<H::Journal>) -> EngineOf<H> {
    Engine::new(h.backend(), consumer)
        .batch_size(BATCH)
        .lease_retry(Duration::from_millis(20))
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(20))
}

fn new_event(event_type: &str, n: usize) -> NewEvent {
    NewEvent::from_raw(
        event_type,
        1,
        format!(r#"{{"n":{n}}}"#).into_bytes(),
        Metadata::new(),
    )
}

/// Appends one event of each of `types` to `stream`, in one batch.
async fn write<S: EventStore>(store: &S, stream: &str, types: &[&str]) -> AppendResult {
    let events = types
        .iter()
        .enumerate()
        .map(|(n, t)| new_event(t, n))
        .collect();
    store
        .append(stream, ExpectedVersion::Any, events)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "engine conformance: appending {types:?} to `{stream}` failed: {}",
                ErrorChain(&e)
            )
        })
}

/// A log of 20 events over 3 streams: 11 [`TRACKED`] (three batches), 3
/// [`SECOND`], 6 [`OTHER`], ending with [`OTHER`].
async fn seed<S: EventStore>(store: &S) -> AppendResult {
    write(store, "Seed-1", &[TRACKED, OTHER, TRACKED, TRACKED]).await;
    write(store, "Seed-2", &[OTHER, TRACKED, SECOND, TRACKED]).await;
    write(store, "Seed-1", &[TRACKED, OTHER, SECOND, TRACKED]).await;
    write(store, "Seed-3", &[TRACKED, TRACKED, SECOND, TRACKED]).await;
    write(store, "Seed-2", &[TRACKED, OTHER, OTHER, OTHER]).await
}

/// The whole log, unfiltered.
async fn log<S: EventStore>(store: &S) -> Vec<RecordedEvent> {
    let mut out: Vec<RecordedEvent> = Vec::new();
    loop {
        let after = out.last().map_or(0, |e| e.global_position);
        let page = store.read_all(after, 1000, None).await.unwrap_or_else(|e| {
            panic!(
                "engine conformance: reading the log after {after} failed: {}",
                ErrorChain(&e)
            )
        });
        if page.events.is_empty() {
            return out;
        }
        out.extend(page.events);
    }
}

/// The positions of the events of `types` (`None`: all) in `log`.
fn of(log: &[RecordedEvent], types: Option<&[&str]>) -> Vec<u64> {
    log.iter()
        .filter(|e| types.is_none_or(|t| t.contains(&e.event_type.as_str())))
        .map(|e| e.global_position)
        .collect()
}

async fn tracked<S: EventStore>(store: &S) -> Vec<u64> {
    of(&log(store).await, Some(ONLY_TRACKED))
}

/// The stored checkpoint of `name` (0: none).
async fn checkpoint<B: Backend>(store: &B, name: &str) -> u64 {
    store
        .consumer_status(name, None)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "engine conformance: reading the status of `{name}` failed: {}",
                ErrorChain(&e)
            )
        })
        .position
}

fn ok<T>(r: Result<T, ProjectionError>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("engine conformance: {what} failed: {}", ErrorChain(&e)))
}

/// Asserts the journal of `name` is `expected`, naming duplicates, missing
/// and foreign positions first.
async fn assert_journal<H: EngineHarness>(h: &H, name: &'static str, expected: &[u64], when: &str) {
    let got = h.applied(name).await;
    if got == expected {
        return;
    }
    let mut seen = std::collections::HashSet::new();
    let twice: Vec<u64> = got.iter().copied().filter(|p| !seen.insert(*p)).collect();
    let missing: Vec<u64> = expected
        .iter()
        .copied()
        .filter(|p| !got.contains(p))
        .collect();
    let foreign: Vec<u64> = got
        .iter()
        .copied()
        .filter(|p| !expected.contains(p))
        .collect();
    panic!(
        "engine conformance: {when}: the journal of `{name}` is wrong: handled twice {twice:?}, \
         never handled {missing:?}, not to be handled {foreign:?}\n  expected {expected:?}\n       got {got:?}"
    );
}
