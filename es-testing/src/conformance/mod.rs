//! The store conformance suite: the behaviour every [`EventStore`] (and
//! [`SnapshotStore`]) implementation must show.
//!
//! Each case is an `async fn` taking a fresh, empty store. Run the whole
//! battery as separate tests with [`store_conformance_tests!`](crate::store_conformance_tests):
//!
//! ```
//! es_testing::store_conformance_tests!(async { es_core::InMemoryEventStore::new() });
//! # fn main() {}
//! ```
//!
//! The factory expression is evaluated once per case, so every case gets its
//! own store. It is a future whose output is a store, or a [`TestStore`]
//! that also cleans up after the case (a per-test database, say):
//!
//! ```
//! # use es_core::InMemoryEventStore as PgEventStore;
//! # struct TestDatabase;
//! # impl TestDatabase {
//! #     async fn create() -> Self { TestDatabase }
//! #     async fn drop_db(self) {}
//! # }
//! use es_testing::conformance::{TestStore, WithTeardown};
//!
//! // es-postgres/tests/conformance.rs, say
//! async fn fresh_store() -> impl TestStore<Store = PgEventStore> {
//!     let db = TestDatabase::create().await;        // a database for this case
//!     let store = PgEventStore::new();              // connected to it
//!     WithTeardown::new(store, move |store| async move {
//!         drop(store);
//!         db.drop_db().await;                       // runs even when the case failed
//!     })
//! }
//!
//! es_testing::store_conformance_tests!(fresh_store());
//! # fn main() {}
//! ```
//!
//! A guard whose `Drop` cleans up works too:
//! `Guarded::new(store, guard)` (see [`Guarded`]).
//!
//! The cases can also be called directly, e.g. to show that a broken store
//! fails them (see `es-testing/tests/conformance_memory.rs`).
//!
//! A failing case panics with a message that says what the store did and
//! what it should have done.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use es_core::{
    AppendResult, EventStore, ExpectedVersion, Metadata, NewEvent, ReadAllPage, RecordedEvent,
    Snapshot, SnapshotStore, StoreError, StreamEnd, Timestamp, Uuid,
};
use futures::FutureExt as _;
use serde_json::{Value, json};

mod append;
mod concurrency;
mod payloads;
mod read_all;
mod read_stream;
mod snapshots;
mod stream_ids;
mod watch;

pub use append::*;
pub use concurrency::*;
pub use payloads::*;
pub use read_all::*;
pub use read_stream::*;
pub use snapshots::*;
pub use stream_ids::*;
pub use watch::*;

/// What a conformance factory returns: the store a case runs against, and
/// what happens after the case.
///
/// Every `EventStore + SnapshotStore` is one (nothing to clean up); wrap a
/// store in [`Guarded`] to keep a guard alive for the case, or in
/// [`WithTeardown`] to run async cleanup after it (even when it failed).
pub trait TestStore: Sized {
    /// The store under test.
    type Store: EventStore + SnapshotStore;
    /// A handle to the store for the case.
    fn store(&self) -> Self::Store;
    /// Cleans up after the case (which may have failed).
    fn teardown(self) -> impl Future<Output = ()> {
        async move { drop(self) }
    }
}

impl<S: EventStore + SnapshotStore> TestStore for S {
    type Store = S;
    fn store(&self) -> S {
        self.clone()
    }
}

/// A store and a guard that lives until its case has finished (then it is
/// dropped, also when the case failed).
#[derive(Debug)]
pub struct Guarded<S, G> {
    store: S,
    guard: G,
}

impl<S, G> Guarded<S, G> {
    /// Keeps `guard` alive while the case runs against `store`.
    pub fn new(store: S, guard: G) -> Self {
        Self { store, guard }
    }
}

impl<S: EventStore + SnapshotStore, G> TestStore for Guarded<S, G> {
    type Store = S;
    fn store(&self) -> S {
        self.store.clone()
    }
    async fn teardown(self) {
        // The store first: a guard that drops a database needs its
        // connections closed.
        drop(self.store);
        drop(self.guard);
    }
}

/// A store and an async cleanup that runs after its case (also when the
/// case failed) and receives the store.
pub struct WithTeardown<S, F> {
    store: S,
    teardown: F,
}

impl<S: std::fmt::Debug, F> std::fmt::Debug for WithTeardown<S, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithTeardown")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl<S, F> WithTeardown<S, F> {
    /// Runs `teardown(store)` after the case.
    pub fn new(store: S, teardown: F) -> Self {
        Self { store, teardown }
    }
}

impl<S, F, Fut> TestStore for WithTeardown<S, F>
where
    S: EventStore + SnapshotStore,
    F: FnOnce(S) -> Fut,
    Fut: Future<Output = ()>,
{
    type Store = S;
    fn store(&self) -> S {
        self.store.clone()
    }
    fn teardown(self) -> impl Future<Output = ()> {
        (self.teardown)(self.store)
    }
}

/// Runs one case on a fresh multi-threaded runtime: awaits the factory,
/// runs the case on its store, tears down, and re-raises the case's panic.
/// This is what each test of [`store_conformance_tests!`](crate::store_conformance_tests) calls.
pub fn run<T, Case, CaseFut>(factory: impl Future<Output = T>, case: Case)
where
    T: TestStore,
    Case: FnOnce(T::Store) -> CaseFut,
    CaseFut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("store conformance: cannot build a tokio runtime");
    runtime.block_on(async move {
        let subject = factory.await;
        let outcome = AssertUnwindSafe(case(subject.store())).catch_unwind().await;
        subject.teardown().await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    });
}

/// Expands into one `#[test]` per conformance case, each running the case
/// against a store from `factory`.
///
/// `factory` is an expression evaluated once per case, inside the case's
/// tokio runtime: a future (an `async` block or a call of an `async fn`)
/// whose output is an `EventStore + SnapshotStore` (an empty one) or a
/// [`TestStore`](crate::conformance::TestStore) wrapper that cleans up after
/// the case. The calling crate needs no tokio dependency of its own.
///
/// ```
/// use es_core::InMemoryEventStore;
///
/// es_testing::store_conformance_tests!(async { InMemoryEventStore::new() });
/// // or, with `async fn make_store() -> MyStore`:
/// // es_testing::store_conformance_tests!(make_store());
/// # fn main() {}
/// ```
///
/// The tests are named after the cases in [`conformance`](crate::conformance)
/// (`append_and_read_back`, `expected_exact_wrong`, …), so call the macro in
/// a module of its own when its scope has items of those names, or to run
/// the suite on two stores in one file.
#[macro_export]
macro_rules! store_conformance_tests {
    ($factory:expr $(,)?) => {
        $crate::store_conformance_tests!(@cases ($factory)
            append_and_read_back
            expected_any
            expected_no_stream_on_new_stream
            expected_no_stream_on_existing_stream
            expected_exact_right
            expected_exact_wrong
            expected_exact_zero
            conflicting_batch_writes_nothing
            empty_batch_is_a_noop
            repeated_command_id_appends_nothing
            read_stream_from_and_to_version
            read_stream_up_to_time
            read_stream_paging
            replay_stream_matches_read_stream
            read_all_in_global_order
            read_all_after_position_and_limit
            read_all_type_filter
            read_all_says_how_far_it_scanned
            head_position_follows_appends
            stream_version_per_stream
            concurrent_appenders_one_stream
            concurrent_appenders_distinct_streams
            snapshots_save_load_replace
            invalid_stream_ids_refused
            unusual_stream_ids_stored_verbatim
            ten_thousand_event_stream
            large_payload
            unreadable_payloads_refused
            invalid_event_types_refused
            metadata_counts_toward_the_size_limit
            payload_over_the_limit_refuses_the_whole_batch
            watch_commits_wakes_after_append
        );
    };
    (@cases ($factory:expr) $($case:ident)*) => {
        $(
            #[test]
            fn $case() {
                $crate::conformance::run(
                    async { $factory.await },
                    $crate::conformance::$case,
                );
            }
        )*
    };
}

// ---------------------------------------------------------------- helpers

fn event(event_type: &str, payload: Value) -> NewEvent {
    NewEvent::from_raw(
        event_type,
        1,
        serde_json::to_vec(&payload).expect("a JSON value encodes"),
        Metadata::new(),
    )
}

fn numbered(event_type: &str, range: std::ops::RangeInclusive<u64>) -> Vec<NewEvent> {
    range
        .map(|n| event(event_type, json!({ "n": n })))
        .collect()
}

fn payload(e: &RecordedEvent) -> Value {
    serde_json::from_slice(&e.payload).unwrap_or_else(|err| {
        panic!(
            "store conformance: the payload of event {} of `{}` read back is not JSON: {err}",
            e.stream_version, e.stream_id
        )
    })
}

fn versions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.stream_version).collect()
}

fn ids(events: &[RecordedEvent]) -> Vec<Uuid> {
    events.iter().map(|e| e.event_id).collect()
}

async fn append<S: EventStore>(
    store: &S,
    stream: &str,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
) -> AppendResult {
    let n = events.len();
    match store.append(stream, expected, events).await {
        Ok(r) => r,
        Err(e) => panic!(
            "store conformance: appending {n} event(s) to `{stream}` expecting {expected} must succeed, got: {e}",
            e = es_core::ErrorChain(&e)
        ),
    }
}

async fn read<S: EventStore>(
    store: &S,
    stream: &str,
    from: u64,
    to: StreamEnd,
    limit: usize,
) -> Vec<RecordedEvent> {
    store
        .read_stream(stream, from, to, limit)
        .await
        .unwrap_or_else(|e| {
            panic!("store conformance: read_stream(`{stream}`, from {from}, to {to:?}, limit {limit}) failed: {e}", e = es_core::ErrorChain(&e))
        })
}

async fn read_whole<S: EventStore>(store: &S, stream: &str) -> Vec<RecordedEvent> {
    read(store, stream, 1, StreamEnd::Head, usize::MAX).await
}

async fn read_all<S: EventStore>(
    store: &S,
    after: u64,
    limit: usize,
    types: Option<&[&str]>,
) -> Vec<RecordedEvent> {
    read_page(store, after, limit, types).await.events
}

async fn read_page<S: EventStore>(
    store: &S,
    after: u64,
    limit: usize,
    types: Option<&[&str]>,
) -> ReadAllPage {
    let page = store
        .read_all(after, limit, types)
        .await
        .unwrap_or_else(|e| {
            panic!("store conformance: read_all(after {after}, limit {limit}, types {types:?}) failed: {e}", e = es_core::ErrorChain(&e))
        });
    let last = page.events.last().map_or(after, |e| e.global_position);
    assert!(
        page.scanned_to >= last && page.scanned_to >= after,
        "store conformance: read_all(after {after}, limit {limit}, types {types:?}) says it scanned to {}, below its last event ({last}) or its start ({after})",
        page.scanned_to
    );
    page
}

async fn version<S: EventStore>(store: &S, stream: &str) -> u64 {
    store.stream_version(stream).await.unwrap_or_else(|e| {
        panic!(
            "store conformance: stream_version(`{stream}`) failed: {e}",
            e = es_core::ErrorChain(&e)
        )
    })
}

async fn head<S: EventStore>(store: &S) -> u64 {
    store.head_position().await.unwrap_or_else(|e| {
        panic!(
            "store conformance: head_position() failed: {e}",
            e = es_core::ErrorChain(&e)
        )
    })
}

/// Asserts an append failed with a version conflict reporting `actual`, and
/// that the stream and the store's head did not move.
async fn expect_conflict<S: EventStore>(
    store: &S,
    stream: &str,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
    actual: u64,
) {
    let head_before = head(store).await;
    let n = events.len();
    match store.append(stream, expected, events).await {
        Err(StoreError::VersionConflict {
            stream_id,
            expected: reported,
            actual: reported_actual,
        }) => {
            assert_eq!(
                stream_id, stream,
                "store conformance: a version conflict must name the stream"
            );
            let same = reported == expected
                || matches!(
                    (reported, expected),
                    (ExpectedVersion::Exact(0), ExpectedVersion::NoStream)
                        | (ExpectedVersion::NoStream, ExpectedVersion::Exact(0))
                );
            assert!(
                same,
                "store conformance: the version conflict on `{stream}` must report the expected version {expected:?}, it reports {reported:?}"
            );
            assert_eq!(
                reported_actual, actual,
                "store conformance: the version conflict on `{stream}` (expecting {expected}) must report the stream's actual version {actual}, it reports {reported_actual}"
            );
        }
        Err(other) => panic!(
            "store conformance: appending {n} event(s) to `{stream}` at version {actual} expecting {expected} must fail with StoreError::VersionConflict, got another error: {other}"
        ),
        Ok(r) => panic!(
            "store conformance: appending {n} event(s) to `{stream}` at version {actual} expecting {expected} must fail with a version conflict, but it succeeded: {r:?}"
        ),
    }
    assert_eq!(
        version(store, stream).await,
        actual,
        "store conformance: a conflicting append to `{stream}` must write nothing (stream version changed)"
    );
    assert_eq!(
        head(store).await,
        head_before,
        "store conformance: a conflicting append to `{stream}` must write nothing (head position changed)"
    );
}

fn assert_versions(events: &[RecordedEvent], expected: impl IntoIterator<Item = u64>, what: &str) {
    let expected: Vec<u64> = expected.into_iter().collect();
    assert_eq!(
        versions(events),
        expected,
        "store conformance: {what}: wrong stream versions read back"
    );
}

fn assert_increasing_positions(events: &[RecordedEvent], what: &str) {
    for pair in events.windows(2) {
        assert!(
            pair[0].global_position < pair[1].global_position,
            "store conformance: {what}: global positions must strictly increase, got {} then {} (`{}` v{} then `{}` v{})",
            pair[0].global_position,
            pair[1].global_position,
            pair[0].stream_id,
            pair[0].stream_version,
            pair[1].stream_id,
            pair[1].stream_version
        );
    }
    if let Some(first) = events.first() {
        assert!(
            first.global_position >= 1,
            "store conformance: {what}: global positions start at 1, got 0"
        );
    }
}

fn close_to_now(t: Timestamp, what: &str) {
    let skew = (chrono::Utc::now() - t).num_seconds().abs();
    assert!(
        skew < 300,
        "store conformance: {what}: recorded_at {t} is {skew} s away from now"
    );
}
