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
            metadata_counts_toward_the_size_limit
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

// ------------------------------------------------------------------ cases

/// Appended events read back with every field preserved: event id, stream
/// id, versions from 1, type, schema version, payload (JSON-equal),
/// metadata, increasing global positions, a plausible `recorded_at`; the
/// same records come back from `read_all`.
pub async fn append_and_read_back<S: EventStore + SnapshotStore>(store: S) {
    let correlation = Uuid::now_v7();
    let meta = Metadata::new()
        .correlation_id(correlation)
        .causation_id(Uuid::now_v7())
        .command_id(Uuid::now_v7())
        .actor("user-17")
        .with("ip", "10.0.0.1")
        .with("nested", json!({"a": [1, 2, {"b": null}], "ü": "ß"}));
    let mut sent = vec![
        NewEvent::from_raw(
            "AccountOpened",
            1,
            br#"{"owner_id":"u1","initial_deposit":100}"#.to_vec(),
            meta.clone(),
        ),
        NewEvent::from_raw(
            "MoneyDeposited",
            3,
            br#"{"amount":5,"description":"caf\u00e9 \"latte\"","tags":["a","b"],"n":null}"#
                .to_vec(),
            meta.clone(),
        ),
        NewEvent::from_raw("AccountClosed", 2, b"{}".to_vec(), meta.clone()),
    ];
    sent[2].metadata = Metadata::new(); // an event with empty metadata
    let stream = "BankAccount-1";
    let r = append(&store, stream, ExpectedVersion::NoStream, sent.clone()).await;
    assert_eq!(
        (r.first_version, r.last_version, r.duplicate),
        (1, 3, false),
        "store conformance: appending 3 events to a new stream must report versions 1..=3, got {r:?}"
    );
    let read_back = read_whole(&store, stream).await;
    assert_eq!(
        read_back.len(),
        3,
        "store conformance: 3 appended events must read back, got {}",
        read_back.len()
    );
    assert_versions(&read_back, 1..=3, "append and read back");
    assert_increasing_positions(&read_back, "append and read back");
    assert_eq!(
        r.last_position,
        Some(read_back[2].global_position),
        "store conformance: AppendResult::last_position must be the global position of the batch's last event"
    );
    for (s, e) in sent.iter().zip(&read_back) {
        let what = format!("event {} of `{stream}`", e.stream_version);
        assert_eq!(
            e.event_id, s.event_id,
            "store conformance: {what}: event_id changed"
        );
        assert_eq!(
            e.stream_id, stream,
            "store conformance: {what}: stream_id changed"
        );
        assert_eq!(
            e.event_type, s.event_type,
            "store conformance: {what}: event_type changed"
        );
        assert_eq!(
            e.schema_version, s.schema_version,
            "store conformance: {what}: schema_version changed"
        );
        let sent_payload: Value =
            serde_json::from_slice(&s.payload).expect("test payloads are JSON");
        assert_eq!(
            payload(e),
            sent_payload,
            "store conformance: {what}: payload changed"
        );
        assert_eq!(
            e.metadata, s.metadata,
            "store conformance: {what}: metadata changed"
        );
        close_to_now(e.recorded_at, &what);
    }
    for pair in read_back.windows(2) {
        assert!(
            pair[0].recorded_at <= pair[1].recorded_at,
            "store conformance: recorded_at must not go backwards within a stream"
        );
    }

    let other = append(
        &store,
        "BankAccount-2",
        ExpectedVersion::NoStream,
        numbered("MoneyDeposited", 1..=2),
    )
    .await;
    assert_eq!((other.first_version, other.last_version), (1, 2));
    let all = read_all(&store, 0, 1000, None).await;
    assert_eq!(
        all.len(),
        5,
        "store conformance: read_all must return the 5 appended events, got {}",
        all.len()
    );
    assert_increasing_positions(&all, "read_all after two appends");
    assert_eq!(
        &all[..3],
        &read_back[..],
        "store conformance: read_all and read_stream must return the same records"
    );
    assert_eq!(
        other.last_position,
        Some(all[4].global_position),
        "store conformance: the second batch's last_position"
    );
    assert!(
        all[3].global_position > all[2].global_position,
        "store conformance: a later batch must get higher global positions"
    );

    // Without a command id, one event and several, with and without
    // metadata (a store may take another path for each).
    let plain = Metadata::new().correlation_id(correlation).actor("user-18");
    let batches = [
        ("BankAccount-3", vec![("Pinged", 1, plain.clone())]),
        ("BankAccount-4", vec![("Pinged", 2, Metadata::new())]),
        (
            "BankAccount-5",
            vec![("Pinged", 1, plain.clone()), ("Ponged", 4, Metadata::new())],
        ),
    ];
    for (stream, events) in batches {
        let sent: Vec<NewEvent> = events
            .into_iter()
            .enumerate()
            .map(|(i, (t, v, m))| {
                NewEvent::from_raw(t, v, format!(r#"{{"i":{i}}}"#).into_bytes(), m)
            })
            .collect();
        let r = append(&store, stream, ExpectedVersion::NoStream, sent.clone()).await;
        let back = read_whole(&store, stream).await;
        assert_eq!(
            (r.first_version, r.last_version, r.last_position),
            (1, sent.len() as u64, back.last().map(|e| e.global_position)),
            "store conformance: the result of appending {} event(s) to `{stream}`",
            sent.len()
        );
        let got: Vec<_> = back
            .iter()
            .map(|e| {
                (
                    e.event_id,
                    e.event_type.as_str(),
                    e.schema_version,
                    payload(e),
                    &e.metadata,
                )
            })
            .collect();
        let want: Vec<_> = sent
            .iter()
            .map(|e| {
                let p: Value = serde_json::from_slice(&e.payload).expect("test payloads are JSON");
                (
                    e.event_id,
                    e.event_type.as_str(),
                    e.schema_version,
                    p,
                    &e.metadata,
                )
            })
            .collect();
        assert_eq!(
            got, want,
            "store conformance: `{stream}` must read back as appended (ids, types, schema versions, payloads, metadata)"
        );
    }
}

/// `ExpectedVersion::Any` appends to a new stream and to an existing one.
pub async fn expected_any<S: EventStore + SnapshotStore>(store: S) {
    let r = append(&store, "Any-1", ExpectedVersion::Any, numbered("E", 1..=1)).await;
    assert_eq!(
        (r.first_version, r.last_version),
        (1, 1),
        "Any on a new stream: {r:?}"
    );
    let r = append(&store, "Any-1", ExpectedVersion::Any, numbered("E", 2..=3)).await;
    assert_eq!(
        (r.first_version, r.last_version),
        (2, 3),
        "store conformance: Any on a stream at 1 must write versions 2..=3, got {r:?}"
    );
    assert_eq!(version(&store, "Any-1").await, 3);
}

/// `ExpectedVersion::NoStream` appends to a stream that has no events.
pub async fn expected_no_stream_on_new_stream<S: EventStore + SnapshotStore>(store: S) {
    let r = append(
        &store,
        "New-1",
        ExpectedVersion::NoStream,
        numbered("E", 1..=2),
    )
    .await;
    assert_eq!(
        (r.first_version, r.last_version, r.duplicate),
        (1, 2, false),
        "store conformance: NoStream on a new stream must write versions 1..=2, got {r:?}"
    );
    assert_eq!(version(&store, "New-1").await, 2);
}

/// `ExpectedVersion::NoStream` on a stream with events is a conflict that
/// writes nothing.
pub async fn expected_no_stream_on_existing_stream<S: EventStore + SnapshotStore>(store: S) {
    append(
        &store,
        "Existing-1",
        ExpectedVersion::NoStream,
        numbered("E", 1..=1),
    )
    .await;
    expect_conflict(
        &store,
        "Existing-1",
        ExpectedVersion::NoStream,
        numbered("E", 2..=2),
        1,
    )
    .await;
}

/// `ExpectedVersion::Exact(n)` on a stream at `n` appends from `n + 1`.
pub async fn expected_exact_right<S: EventStore + SnapshotStore>(store: S) {
    append(
        &store,
        "Exact-1",
        ExpectedVersion::NoStream,
        numbered("E", 1..=2),
    )
    .await;
    let r = append(
        &store,
        "Exact-1",
        ExpectedVersion::Exact(2),
        numbered("E", 3..=4),
    )
    .await;
    assert_eq!(
        (r.first_version, r.last_version),
        (3, 4),
        "store conformance: Exact(2) on a stream at 2 must write versions 3..=4, got {r:?}"
    );
    let r = append(
        &store,
        "Exact-1",
        ExpectedVersion::Exact(4),
        numbered("E", 5..=5),
    )
    .await;
    assert_eq!((r.first_version, r.last_version), (5, 5));
    assert_versions(
        &read_whole(&store, "Exact-1").await,
        1..=5,
        "Exact(n) appends",
    );
}

/// `ExpectedVersion::Exact(n)` on a stream not at `n` (behind, ahead, or
/// missing) is a conflict that writes nothing.
pub async fn expected_exact_wrong<S: EventStore + SnapshotStore>(store: S) {
    append(
        &store,
        "Wrong-1",
        ExpectedVersion::NoStream,
        numbered("E", 1..=2),
    )
    .await;
    expect_conflict(
        &store,
        "Wrong-1",
        ExpectedVersion::Exact(1),
        numbered("E", 3..=3),
        2,
    )
    .await;
    expect_conflict(
        &store,
        "Wrong-1",
        ExpectedVersion::Exact(3),
        numbered("E", 3..=3),
        2,
    )
    .await;
    expect_conflict(
        &store,
        "Wrong-2",
        ExpectedVersion::Exact(5),
        numbered("E", 1..=1),
        0,
    )
    .await;
    assert_eq!(
        read_whole(&store, "Wrong-2").await.len(),
        0,
        "store conformance: a conflicting append must not create the stream"
    );
}

/// `ExpectedVersion::Exact(0)` means "no stream": it appends to a new
/// stream and conflicts on an existing one.
pub async fn expected_exact_zero<S: EventStore + SnapshotStore>(store: S) {
    let r = append(
        &store,
        "Zero-1",
        ExpectedVersion::Exact(0),
        numbered("E", 1..=1),
    )
    .await;
    assert_eq!(
        (r.first_version, r.last_version),
        (1, 1),
        "store conformance: Exact(0) on a new stream must write version 1, got {r:?}"
    );
    expect_conflict(
        &store,
        "Zero-1",
        ExpectedVersion::Exact(0),
        numbered("E", 2..=2),
        1,
    )
    .await;
}

/// A batch that conflicts writes none of its events; the stream then
/// accepts the batch at the right version.
pub async fn conflicting_batch_writes_nothing<S: EventStore + SnapshotStore>(store: S) {
    append(
        &store,
        "Batch-1",
        ExpectedVersion::NoStream,
        numbered("E", 1..=1),
    )
    .await;
    let all_before = read_all(&store, 0, 1000, None).await;
    expect_conflict(
        &store,
        "Batch-1",
        ExpectedVersion::Exact(0),
        numbered("Bad", 1..=3),
        1,
    )
    .await;
    expect_conflict(
        &store,
        "Batch-1",
        ExpectedVersion::NoStream,
        numbered("Bad", 1..=3),
        1,
    )
    .await;
    assert_eq!(
        read_all(&store, 0, 1000, None).await,
        all_before,
        "store conformance: a conflicting batch must write nothing (read_all changed)"
    );
    let r = append(
        &store,
        "Batch-1",
        ExpectedVersion::Exact(1),
        numbered("Good", 2..=4),
    )
    .await;
    assert_eq!((r.first_version, r.last_version), (2, 4));
    let events = read_whole(&store, "Batch-1").await;
    assert_versions(&events, 1..=4, "after a conflict and a good batch");
    assert!(
        events.iter().all(|e| e.event_type != "Bad"),
        "store conformance: an event of a conflicting batch was stored"
    );
}

/// An empty batch writes nothing and returns the stream's current version.
pub async fn empty_batch_is_a_noop<S: EventStore + SnapshotStore>(store: S) {
    let r = append(&store, "Empty-1", ExpectedVersion::NoStream, Vec::new()).await;
    assert_eq!(
        (r.first_version, r.last_version, r.last_position),
        (1, 0, None),
        "store conformance: an empty batch on a new stream must return last_version 0, first_version 1, no position; got {r:?}"
    );
    assert_eq!(version(&store, "Empty-1").await, 0);
    assert_eq!(
        head(&store).await,
        0,
        "store conformance: an empty batch must write nothing"
    );

    append(
        &store,
        "Empty-1",
        ExpectedVersion::NoStream,
        numbered("E", 1..=2),
    )
    .await;
    let head_before = head(&store).await;
    for expected in [ExpectedVersion::Exact(2), ExpectedVersion::Any] {
        let r = append(&store, "Empty-1", expected, Vec::new()).await;
        assert_eq!(
            (r.first_version, r.last_version, r.last_position),
            (3, 2, None),
            "store conformance: an empty batch ({expected}) on a stream at 2 must return last_version 2, first_version 3, no position; got {r:?}"
        );
    }
    assert_eq!(version(&store, "Empty-1").await, 2);
    assert_eq!(
        head(&store).await,
        head_before,
        "store conformance: an empty batch must write nothing"
    );
}

/// A batch whose command id the stream already recorded appends nothing and
/// returns the earlier batch's versions with `duplicate: true`, whatever it
/// expected (a client retry carries its original expectation); the same id
/// on another stream is a new command.
pub async fn repeated_command_id_appends_nothing<S: EventStore + SnapshotStore>(store: S) {
    let command = Uuid::now_v7();
    let with_command = |n: u64| {
        numbered("E", n..=n + 1)
            .into_iter()
            .map(|mut e| {
                e.metadata = Metadata::new().command_id(command);
                e
            })
            .collect::<Vec<_>>()
    };
    let first = append(&store, "Cmd-1", ExpectedVersion::NoStream, with_command(1)).await;
    assert_eq!(
        (first.first_version, first.last_version, first.duplicate),
        (1, 2, false)
    );
    append(
        &store,
        "Cmd-1",
        ExpectedVersion::Exact(2),
        numbered("E", 3..=3),
    )
    .await;
    let head_before = head(&store).await;

    for expected in [
        ExpectedVersion::NoStream,
        ExpectedVersion::Any,
        ExpectedVersion::Exact(3),
    ] {
        let r = match store.append("Cmd-1", expected, with_command(1)).await {
            Ok(r) => r,
            Err(e) => panic!(
                "store conformance: a repeated command id (retry expecting {expected}) must return the earlier outcome, got an error: {e}",
                e = es_core::ErrorChain(&e)
            ),
        };
        assert_eq!(
            (r.first_version, r.last_version, r.duplicate),
            (1, 2, true),
            "store conformance: a repeated command id (retry expecting {expected}) must return the earlier versions 1..=2 with duplicate: true, got {r:?}"
        );
    }
    assert_eq!(
        version(&store, "Cmd-1").await,
        3,
        "store conformance: a repeated command id must append nothing"
    );
    assert_eq!(
        head(&store).await,
        head_before,
        "store conformance: a repeated command id must append nothing (head moved)"
    );
    let found = store
        .find_command("Cmd-1", command)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "store conformance: find_command failed: {e}",
                e = es_core::ErrorChain(&e)
            )
        });
    assert_eq!(
        found.map(|c| (c.first_version, c.last_version)),
        Some((1, 2)),
        "store conformance: find_command must return the versions the command wrote"
    );
    let missing = store
        .find_command("Cmd-1", Uuid::now_v7())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "store conformance: find_command failed: {e}",
                e = es_core::ErrorChain(&e)
            )
        });
    assert_eq!(
        missing, None,
        "store conformance: find_command of an unknown id"
    );

    let elsewhere = append(&store, "Cmd-2", ExpectedVersion::NoStream, with_command(1)).await;
    assert_eq!(
        (
            elsewhere.first_version,
            elsewhere.last_version,
            elsewhere.duplicate
        ),
        (1, 2, false),
        "store conformance: a command id is recorded per stream; on another stream it appends, got {elsewhere:?}"
    );
}

/// `read_stream` from a version (0 reads from the start), up to a version,
/// both, beyond the end, and on a missing stream.
pub async fn read_stream_from_and_to_version<S: EventStore + SnapshotStore>(store: S) {
    let s = "Range-1";
    append(&store, s, ExpectedVersion::NoStream, numbered("E", 1..=10)).await;
    let cases: [(u64, StreamEnd, std::ops::RangeInclusive<u64>); 8] = [
        (1, StreamEnd::Head, 1..=10),
        (0, StreamEnd::Head, 1..=10),
        (4, StreamEnd::Head, 4..=10),
        (1, StreamEnd::Version(6), 1..=6),
        (4, StreamEnd::Version(6), 4..=6),
        (10, StreamEnd::Version(10), 10..=10),
        (3, StreamEnd::Version(100), 3..=10),
        (6, StreamEnd::Version(6), 6..=6),
    ];
    for (from, to, expected) in cases {
        let events = read(&store, s, from, to, 1000).await;
        assert_versions(
            &events,
            expected,
            &format!("read_stream from {from} to {to:?}"),
        );
        for e in &events {
            assert_eq!(
                payload(e),
                json!({ "n": e.stream_version }),
                "store conformance: event {} read back with another event's payload",
                e.stream_version
            );
        }
    }
    for (from, to) in [
        (11, StreamEnd::Head),
        (1, StreamEnd::Version(0)),
        (7, StreamEnd::Version(3)),
    ] {
        let events = read(&store, s, from, to, 1000).await;
        assert_versions(
            &events,
            [],
            &format!("read_stream from {from} to {to:?} must be empty"),
        );
    }
    assert_versions(
        &read_whole(&store, "Range-missing").await,
        [],
        "a stream with no events reads empty",
    );
}

/// `read_stream` up to a time returns the events recorded at or before it.
pub async fn read_stream_up_to_time<S: EventStore + SnapshotStore>(store: S) {
    let s = "Time-1";
    append(&store, s, ExpectedVersion::NoStream, numbered("E", 1..=3)).await;
    let t_first = read_whole(&store, s).await[2].recorded_at;
    tokio::time::sleep(Duration::from_millis(50)).await;
    append(&store, s, ExpectedVersion::Exact(3), numbered("E", 4..=5)).await;
    let all = read_whole(&store, s).await;
    let t_second = all[4].recorded_at;
    assert!(
        all[3].recorded_at > t_first,
        "store conformance: a batch appended 50 ms later must be recorded later ({} vs {t_first})",
        all[3].recorded_at
    );
    let cases: [(u64, StreamEnd, std::ops::RangeInclusive<u64>); 4] = [
        (1, StreamEnd::Time(t_first), 1..=3),
        (2, StreamEnd::Time(t_first), 2..=3),
        (1, StreamEnd::Time(t_second), 1..=5),
        (
            1,
            StreamEnd::Time(chrono::Utc::now() + chrono::Duration::hours(1)),
            1..=5,
        ),
    ];
    for (from, to, expected) in cases {
        let events = read(&store, s, from, to, 1000).await;
        assert_versions(
            &events,
            expected,
            &format!("read_stream from {from} to {to:?}"),
        );
    }
    let before = read(
        &store,
        s,
        1,
        StreamEnd::Time(t_first - chrono::Duration::days(1)),
        1000,
    )
    .await;
    assert_versions(
        &before,
        [],
        "read_stream up to a time before the first event",
    );
    let limited = read(&store, s, 1, StreamEnd::Time(t_second), 2).await;
    assert_versions(&limited, 1..=2, "read_stream up to a time with limit 2");
}

/// `read_stream` pages with `limit`: from the last version + 1 until empty;
/// `limit` 0 reads nothing and `usize::MAX` reads everything.
pub async fn read_stream_paging<S: EventStore + SnapshotStore>(store: S) {
    let s = "Paged-1";
    append(&store, s, ExpectedVersion::NoStream, numbered("E", 1..=25)).await;
    let mut from = 1;
    let mut sizes = Vec::new();
    let mut seen = Vec::new();
    loop {
        let page = read(&store, s, from, StreamEnd::Head, 10).await;
        if page.is_empty() {
            break;
        }
        assert!(
            sizes.len() < 10,
            "store conformance: paging through 25 events never ends"
        );
        sizes.push(page.len());
        from = page.last().map_or(from, |e| e.stream_version + 1);
        seen.extend(page);
    }
    assert_eq!(
        sizes,
        [10, 10, 5],
        "store conformance: pages of 10 over 25 events"
    );
    assert_versions(&seen, 1..=25, "paging through a stream");
    assert_versions(&read(&store, s, 1, StreamEnd::Head, 0).await, [], "limit 0");
    assert_versions(
        &read(&store, s, 1, StreamEnd::Head, usize::MAX).await,
        1..=25,
        "limit usize::MAX",
    );
    assert_versions(
        &read(&store, s, 5, StreamEnd::Version(20), 3).await,
        5..=7,
        "from 5 to version 20 with limit 3",
    );
}

/// `replay_stream` lends exactly the version, type, schema version and
/// payload `read_stream` returns for the same range (from/to versions, a
/// time, a limit), counts what it lent, stops at the first
/// `ControlFlow::Break`, and refuses an invalid stream id.
pub async fn replay_stream_matches_read_stream<S: EventStore + SnapshotStore>(store: S) {
    type Lent = (u64, String, u32, Vec<u8>);
    async fn replay<S: EventStore>(
        store: &S,
        stream: &str,
        from: u64,
        to: StreamEnd,
        limit: usize,
        stop_at: Option<u64>,
    ) -> (usize, Vec<Lent>) {
        let mut lent = Vec::new();
        let n = store
            .replay_stream(stream, from, to, limit, |e| {
                lent.push((
                    e.stream_version,
                    e.event_type.to_owned(),
                    e.schema_version,
                    e.payload.to_vec(),
                ));
                if stop_at == Some(e.stream_version) {
                    std::ops::ControlFlow::Break(())
                } else {
                    std::ops::ControlFlow::Continue(())
                }
            })
            .await
            .unwrap_or_else(|e| {
                panic!("store conformance: replay_stream(`{stream}`, from {from}, to {to:?}, limit {limit}) failed: {e}", e = es_core::ErrorChain(&e))
            });
        (n, lent)
    }
    let s = "Replay-1";
    let mut batch = numbered("Added", 1..=12);
    batch[3].schema_version = 2;
    batch[4].event_type = "Removed".into();
    append(&store, s, ExpectedVersion::NoStream, batch).await;
    let t_first = read_whole(&store, s).await[11].recorded_at;
    tokio::time::sleep(Duration::from_millis(50)).await;
    append(
        &store,
        s,
        ExpectedVersion::Exact(12),
        numbered("Added", 13..=15),
    )
    .await;
    let cases = [
        (1, StreamEnd::Head, 100),
        (0, StreamEnd::Head, 100),
        (1, StreamEnd::Head, 7),
        (5, StreamEnd::Version(9), 100),
        (2, StreamEnd::Time(t_first), 100),
        (14, StreamEnd::Head, 100),
        (16, StreamEnd::Head, 100),
        (1, StreamEnd::Head, 0),
    ];
    for (from, to, limit) in cases {
        let expected: Vec<Lent> = read(&store, s, from, to, limit)
            .await
            .into_iter()
            .map(|e| (e.stream_version, e.event_type, e.schema_version, e.payload))
            .collect();
        let (n, lent) = replay(&store, s, from, to, limit, None).await;
        assert_eq!(
            lent, expected,
            "store conformance: replay_stream from {from} to {to:?} limit {limit} must lend what read_stream returns"
        );
        assert_eq!(
            n,
            lent.len(),
            "store conformance: replay_stream must return how many events it lent"
        );
    }
    let (_, all) = replay(&store, s, 1, StreamEnd::Head, 100, None).await;
    assert_eq!(
        (all[3].2, all[4].1.as_str()),
        (2, "Removed"),
        "store conformance: replay_stream lends each event's own schema version and type"
    );
    let (n, lent) = replay(&store, s, 1, StreamEnd::Head, 100, Some(4)).await;
    assert_eq!(
        (n, lent.len()),
        (4, 4),
        "store conformance: replay_stream stops at the event whose visit breaks"
    );
    let (n, _) = replay(&store, "Replay-missing", 1, StreamEnd::Head, 100, None).await;
    assert_eq!(n, 0, "store conformance: a missing stream replays nothing");
    let refused = store
        .replay_stream("", 1, StreamEnd::Head, 10, |_| {
            std::ops::ControlFlow::Continue(())
        })
        .await;
    assert!(
        matches!(refused, Err(StoreError::InvalidStreamId(_))),
        "store conformance: replay_stream(\"\") must fail with InvalidStreamId, got {refused:?}"
    );
}

/// `read_all` returns every stream's events in strictly increasing global
/// position, in commit order, each with the position its append reported.
pub async fn read_all_in_global_order<S: EventStore + SnapshotStore>(store: S) {
    let streams = [
        "Order-a", "Order-b", "Order-a", "Order-c", "Order-b", "Order-a",
    ];
    let mut appended = Vec::new();
    let mut versions_of: BTreeMap<&str, u64> = BTreeMap::new();
    for (i, s) in streams.iter().enumerate() {
        let v = versions_of.entry(s).or_default();
        let batch = numbered("E", (i as u64 * 2 + 1)..=(i as u64 * 2 + 2));
        let batch_ids: Vec<Uuid> = batch.iter().map(|e| e.event_id).collect();
        let r = append(&store, s, ExpectedVersion::from_version(*v), batch).await;
        *v = r.last_version;
        appended.push((batch_ids, r.last_position));
    }
    let all = read_all(&store, 0, 1000, None).await;
    assert_increasing_positions(&all, "read_all");
    let expected_ids: Vec<Uuid> = appended.iter().flat_map(|(ids, _)| ids.clone()).collect();
    assert_eq!(
        ids(&all),
        expected_ids,
        "store conformance: read_all must return the events in the order they were committed"
    );
    for (i, (_, last_position)) in appended.iter().enumerate() {
        assert_eq!(
            *last_position,
            Some(all[i * 2 + 1].global_position),
            "store conformance: append {} reported a last_position that read_all does not show",
            i + 1
        );
    }
    assert_eq!(
        all.iter().map(|e| e.stream_id.as_str()).collect::<Vec<_>>(),
        streams.iter().flat_map(|s| [*s, *s]).collect::<Vec<_>>(),
        "store conformance: read_all: stream ids"
    );
}

/// `read_all` after a position, with a limit, and paged to the end.
pub async fn read_all_after_position_and_limit<S: EventStore + SnapshotStore>(store: S) {
    let mut positions = Vec::new();
    for i in 1..=10u64 {
        let stream = format!("After-{}", i % 3);
        let v = version(&store, &stream).await;
        let r = append(
            &store,
            &stream,
            ExpectedVersion::from_version(v),
            numbered("E", i..=i),
        )
        .await;
        positions.push(
            r.last_position
                .expect("an append of one event reports its position"),
        );
    }
    let all = read_all(&store, 0, 1000, None).await;
    assert_eq!(
        all.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        positions
    );
    let after3 = read_all(&store, positions[2], 1000, None).await;
    assert_eq!(
        ids(&after3),
        ids(&all[3..]),
        "store conformance: read_all after the 3rd event's position must return events 4..=10"
    );
    let two = read_all(&store, positions[2], 2, None).await;
    assert_eq!(
        ids(&two),
        ids(&all[3..5]),
        "store conformance: read_all after 3rd with limit 2"
    );
    assert!(
        read_all(&store, positions[9], 1000, None).await.is_empty(),
        "store conformance: read_all after the last position must be empty"
    );
    assert!(
        read_all(&store, 0, 0, None).await.is_empty(),
        "store conformance: read_all with limit 0 must be empty"
    );
    let mut after = 0;
    let mut paged = Vec::new();
    for _ in 0..20 {
        let page = read_all(&store, after, 3, None).await;
        let Some(last) = page.last() else { break };
        assert!(
            page.len() <= 3,
            "store conformance: read_all returned more than its limit"
        );
        after = last.global_position;
        paged.extend(page);
    }
    assert_eq!(
        ids(&paged),
        ids(&all),
        "store conformance: paging read_all by 3"
    );
}

/// `read_all` with a type filter returns only those types, in order, and
/// combines with the position and the limit; an empty filter matches
/// nothing.
pub async fn read_all_type_filter<S: EventStore + SnapshotStore>(store: S) {
    let types = ["Alpha", "Beta", "Gamma", "Alpha", "Beta", "Alpha", "Gamma"];
    for (i, t) in types.iter().enumerate() {
        let n = i as u64 + 1;
        append(
            &store,
            "Types-1",
            ExpectedVersion::Exact(n - 1),
            vec![event(t, json!({ "n": n }))],
        )
        .await;
    }
    let all = read_all(&store, 0, 1000, None).await;
    let select = |wanted: &[&str]| -> Vec<Uuid> {
        all.iter()
            .filter(|e| wanted.contains(&e.event_type.as_str()))
            .map(|e| e.event_id)
            .collect()
    };
    for wanted in [&["Alpha"][..], &["Alpha", "Gamma"], &["Beta", "Nope"]] {
        let got = read_all(&store, 0, 1000, Some(wanted)).await;
        assert_eq!(
            ids(&got),
            select(wanted),
            "store conformance: read_all filtered by {wanted:?}"
        );
        assert_increasing_positions(&got, "filtered read_all");
    }
    assert!(
        read_all(&store, 0, 1000, Some(&["Nope"])).await.is_empty(),
        "store conformance: read_all filtered by an unknown type must be empty"
    );
    assert!(
        read_all(&store, 0, 1000, Some(&[])).await.is_empty(),
        "store conformance: read_all with an empty type filter must be empty"
    );
    let alphas = read_all(&store, 0, 1000, Some(&["Alpha"])).await;
    let second = read_all(&store, alphas[0].global_position, 1, Some(&["Alpha"])).await;
    assert_eq!(
        ids(&second),
        ids(&alphas[1..2]),
        "store conformance: read_all filtered by Alpha after the first Alpha with limit 1 must return the second Alpha"
    );
}

/// `read_all` says how far it scanned: a full page to its last event, a
/// short one past the events its filter left out, to the newest event; an
/// empty store or an empty read never moves backwards.
pub async fn read_all_says_how_far_it_scanned<S: EventStore + SnapshotStore>(store: S) {
    let empty = read_page(&store, 0, 10, None).await;
    assert_eq!(
        (empty.len(), empty.scanned_to),
        (0, 0),
        "store conformance: read_all of an empty store must scan to 0"
    );
    let types = ["Alpha", "Beta", "Beta", "Alpha", "Beta"];
    let mut last = None;
    for (i, t) in types.iter().enumerate() {
        let r = append(
            &store,
            "Scan-1",
            ExpectedVersion::Exact(i as u64),
            vec![event(t, json!({ "n": i }))],
        )
        .await;
        last = r.last_position;
    }
    let head = last.expect("an append returns its position");
    let all = read_all(&store, 0, 100, None).await;

    let alphas = read_page(&store, 0, 100, Some(&["Alpha"])).await;
    assert_eq!(alphas.len(), 2, "store conformance: two Alphas");
    assert_eq!(
        alphas.scanned_to, head,
        "store conformance: a short filtered read_all must scan past the Betas after the last Alpha, to the newest event"
    );
    let full = read_page(&store, 0, 2, Some(&["Beta"])).await;
    assert_eq!(
        full.scanned_to, all[2].global_position,
        "store conformance: a full page must scan to its last event, not further"
    );
    let rest = read_page(&store, full.scanned_to, 2, Some(&["Beta"])).await;
    assert_eq!(
        (ids(&rest.events), rest.scanned_to),
        (vec![all[4].event_id], head),
        "store conformance: read_all after a full page must return the next Beta and scan to the head"
    );
    let none = read_page(&store, head, 10, Some(&["Alpha"])).await;
    assert_eq!(
        (none.len(), none.scanned_to),
        (0, head),
        "store conformance: read_all after the head must be empty and stay at the head"
    );
    let gone = read_page(&store, 0, 10, Some(&["Nope"])).await;
    assert_eq!(
        (gone.len(), gone.scanned_to),
        (0, head),
        "store conformance: read_all of an unknown type must be empty and scan to the head"
    );
    let zero = read_page(&store, 0, 0, None).await;
    assert_eq!(
        (zero.len(), zero.scanned_to),
        (0, 0),
        "store conformance: read_all with limit 0 reads nothing and scans nothing"
    );
}

/// `head_position` is 0 on an empty store, then the position of the newest
/// event; a conflict does not move it.
pub async fn head_position_follows_appends<S: EventStore + SnapshotStore>(store: S) {
    assert_eq!(
        head(&store).await,
        0,
        "store conformance: head_position of an empty store"
    );
    let r = append(
        &store,
        "Head-1",
        ExpectedVersion::NoStream,
        numbered("E", 1..=3),
    )
    .await;
    assert_eq!(
        Some(head(&store).await),
        r.last_position,
        "store conformance: head_position after an append must be its last_position"
    );
    let before = head(&store).await;
    let _ = store
        .append("Head-1", ExpectedVersion::NoStream, numbered("E", 4..=4))
        .await;
    assert_eq!(
        head(&store).await,
        before,
        "store conformance: a conflict moved head_position"
    );
    let r = append(
        &store,
        "Head-2",
        ExpectedVersion::NoStream,
        numbered("E", 1..=1),
    )
    .await;
    let h = head(&store).await;
    assert!(
        h > before,
        "store conformance: head_position must grow with an append"
    );
    assert_eq!(Some(h), r.last_position);
    let all = read_all(&store, 0, 1000, None).await;
    assert_eq!(
        all.last().map(|e| e.global_position),
        Some(h),
        "store conformance: head_position must be the position of read_all's last event"
    );
}

/// `stream_version` is 0 for a missing stream, then the stream's newest
/// version; streams are independent.
pub async fn stream_version_per_stream<S: EventStore + SnapshotStore>(store: S) {
    assert_eq!(
        version(&store, "Ver-1").await,
        0,
        "store conformance: stream_version of a missing stream"
    );
    append(
        &store,
        "Ver-1",
        ExpectedVersion::NoStream,
        numbered("E", 1..=3),
    )
    .await;
    append(
        &store,
        "Ver-2",
        ExpectedVersion::NoStream,
        numbered("E", 1..=1),
    )
    .await;
    append(
        &store,
        "Ver-1",
        ExpectedVersion::Exact(3),
        numbered("E", 4..=5),
    )
    .await;
    assert_eq!(
        version(&store, "Ver-1").await,
        5,
        "store conformance: stream_version after 3 + 2 events"
    );
    assert_eq!(
        version(&store, "Ver-2").await,
        1,
        "store conformance: another stream's version"
    );
    assert_eq!(version(&store, "Ver-3").await, 0);
}

/// 8 tasks × 25 appends on one stream, each with `Exact(version it read)`,
/// retrying on conflict: every successful append lands exactly at the
/// expected version + 1, and the stream ends at versions 1..=200, each
/// append present once.
pub async fn concurrent_appenders_one_stream<S: EventStore + SnapshotStore>(store: S) {
    const WRITERS: u64 = 8;
    const APPENDS: u64 = 25;
    let stream = "Contended-1";
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0u64;
            for seq in 0..APPENDS {
                loop {
                    let v = store
                        .stream_version(stream)
                        .await
                        .unwrap_or_else(|e| panic!("store conformance: stream_version failed: {e}", e = es_core::ErrorChain(&e)));
                    // Let the other writers run between the read and the
                    // write, as a store doing I/O would.
                    tokio::task::yield_now().await;
                    let e = event("Contended", json!({ "writer": writer, "seq": seq }));
                    match store.append(stream, ExpectedVersion::Exact(v), vec![e]).await {
                        Ok(r) => {
                            assert_eq!(
                                (r.first_version, r.last_version),
                                (v + 1, v + 1),
                                "store conformance: an append expecting version {v} succeeded but wrote version {}: the store ignored the expected version",
                                r.first_version
                            );
                            break;
                        }
                        Err(e) if e.is_conflict() => {
                            conflicts += 1;
                            assert!(
                                conflicts < 100_000,
                                "store conformance: a writer never got its append through"
                            );
                        }
                        Err(e) => panic!("store conformance: a concurrent append failed: {e}", e = es_core::ErrorChain(&e)),
                    }
                }
            }
            conflicts
        }));
    }
    for task in tasks {
        if let Err(e) = task.await {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic());
            }
            panic!(
                "store conformance: a writer task failed: {e}",
                e = es_core::ErrorChain(&e)
            );
        }
    }
    let events = read_whole(&store, stream).await;
    assert_versions(&events, 1..=WRITERS * APPENDS, "concurrent appenders");
    let mut seen = BTreeSet::new();
    let mut last_seq: BTreeMap<u64, u64> = BTreeMap::new();
    for e in &events {
        let p = payload(e);
        let (writer, seq) = (
            p["writer"].as_u64().unwrap_or(u64::MAX),
            p["seq"].as_u64().unwrap_or(u64::MAX),
        );
        assert!(
            seen.insert((writer, seq)),
            "store conformance: writer {writer}'s append {seq} was written twice"
        );
        if let Some(prev) = last_seq.insert(writer, seq) {
            assert!(
                prev < seq,
                "store conformance: writer {writer}'s appends are out of order"
            );
        }
    }
    assert_eq!(
        seen.len() as u64,
        WRITERS * APPENDS,
        "store conformance: appends lost"
    );
    assert_eq!(version(&store, stream).await, WRITERS * APPENDS);
    assert_increasing_positions(&events, "concurrent appenders");
}

/// 8 tasks × 25 appends, each task on its own stream: no conflicts (writers
/// of different streams never block each other out), every stream complete.
pub async fn concurrent_appenders_distinct_streams<S: EventStore + SnapshotStore>(store: S) {
    const WRITERS: u64 = 8;
    const APPENDS: u64 = 25;
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let stream = format!("Parallel-{writer}");
            for seq in 0..APPENDS {
                let e = event("Parallel", json!({ "writer": writer, "seq": seq }));
                if let Err(e) = store.append(&stream, ExpectedVersion::Exact(seq), vec![e]).await {
                    panic!("store conformance: append {seq} to `{stream}` (its only writer) failed: {e}", e = es_core::ErrorChain(&e));
                }
            }
        }));
    }
    for task in tasks {
        if let Err(e) = task.await {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic());
            }
            panic!(
                "store conformance: a writer task failed: {e}",
                e = es_core::ErrorChain(&e)
            );
        }
    }
    for writer in 0..WRITERS {
        let stream = format!("Parallel-{writer}");
        assert_versions(&read_whole(&store, &stream).await, 1..=APPENDS, &stream);
    }
    let all = read_all(&store, 0, usize::MAX, None).await;
    assert_eq!(
        all.len() as u64,
        WRITERS * APPENDS,
        "store conformance: read_all after parallel writers"
    );
    assert_increasing_positions(&all, "parallel writers");
}

/// Snapshots: none at first; a saved one loads back whole; a newer one
/// replaces it; every u32 snapshot key loads unchanged; streams' snapshots
/// are independent.
pub async fn snapshots_save_load_replace<S: EventStore + SnapshotStore>(store: S) {
    use chrono::SubsecRound as _;
    let load = |stream: &'static str| {
        let store = store.clone();
        async move {
            store.load_snapshot(stream).await.unwrap_or_else(|e| {
                panic!(
                    "store conformance: load_snapshot(`{stream}`) failed: {e}",
                    e = es_core::ErrorChain(&e)
                )
            })
        }
    };
    let save = |snapshot: Snapshot| {
        let store = store.clone();
        async move {
            let stream = snapshot.stream_id.clone();
            store.save_snapshot(snapshot).await.unwrap_or_else(|e| {
                panic!(
                    "store conformance: save_snapshot(`{stream}`) failed: {e}",
                    e = es_core::ErrorChain(&e)
                )
            })
        }
    };
    assert_eq!(
        load("Snap-1").await,
        None,
        "store conformance: no snapshot saved yet"
    );
    let first = Snapshot {
        stream_id: "Snap-1".to_owned(),
        version: 5,
        snapshot_version: 1,
        payload: serde_json::to_vec(&json!({"balance": 100, "owner": "zoë"})).expect("JSON"),
        taken_at: chrono::Utc::now().trunc_subsecs(6),
    };
    save(first.clone()).await;
    let loaded = load("Snap-1")
        .await
        .expect("store conformance: a saved snapshot must load");
    assert_eq!(
        (&loaded.stream_id, loaded.version, loaded.snapshot_version),
        (&first.stream_id, first.version, first.snapshot_version),
        "store conformance: the loaded snapshot's stream, version and snapshot version"
    );
    let as_json = |p: &[u8]| {
        serde_json::from_slice::<Value>(p).expect("store conformance: snapshot payload is not JSON")
    };
    assert_eq!(
        as_json(&loaded.payload),
        as_json(&first.payload),
        "store conformance: snapshot payload changed"
    );
    assert_eq!(
        loaded.taken_at, first.taken_at,
        "store conformance: snapshot taken_at changed"
    );

    let second = Snapshot {
        version: 10,
        snapshot_version: 2,
        payload: serde_json::to_vec(&json!({"balance": 7})).expect("JSON"),
        taken_at: chrono::Utc::now().trunc_subsecs(6),
        ..first.clone()
    };
    save(second.clone()).await;
    let loaded = load("Snap-1")
        .await
        .expect("store conformance: a replaced snapshot must load");
    assert_eq!(
        (
            loaded.version,
            loaded.snapshot_version,
            as_json(&loaded.payload)
        ),
        (10, 2, json!({"balance": 7})),
        "store conformance: a saved snapshot must replace the stream's previous one"
    );
    // A snapshot key is any u32 (`es_core::snapshot_key` mixes a state
    // fingerprint into it), so all 32 bits must come back.
    for key in [u32::MAX, 0x8000_0000, 0] {
        save(Snapshot {
            snapshot_version: key,
            ..second.clone()
        })
        .await;
        assert_eq!(
            load("Snap-1").await.map(|s| s.snapshot_version),
            Some(key),
            "store conformance: a snapshot key of {key:#x} must load unchanged"
        );
    }
    assert_eq!(
        load("Snap-2").await,
        None,
        "store conformance: snapshots are per stream"
    );
    save(Snapshot {
        stream_id: "Snap-2".to_owned(),
        ..first.clone()
    })
    .await;
    assert_eq!(load("Snap-2").await.map(|s| s.version), Some(5));
    assert_eq!(
        load("Snap-1").await.map(|s| s.version),
        Some(10),
        "store conformance: saving another stream's snapshot changed this one"
    );
}

/// Empty ids, ids with a NUL byte, and ids over 255 bytes (10 KB of SQL
/// among them) are refused by every call with `StoreError::InvalidStreamId`,
/// and nothing is stored.
pub async fn invalid_stream_ids_refused<S: EventStore + SnapshotStore>(store: S) {
    let long_ascii = "x".repeat(256);
    let long_multibyte = "é".repeat(128); // 256 bytes, 128 chars
    let ten_kb_of_sql = "'; DROP TABLE events; --".repeat(10 * 1024 / 24 + 1);
    let invalid = [
        "",
        "a\0b",
        "\0",
        long_ascii.as_str(),
        long_multibyte.as_str(),
        ten_kb_of_sql.as_str(),
    ];
    for id in invalid {
        let shown: String = id
            .chars()
            .take(20)
            .collect::<String>()
            .escape_debug()
            .to_string();
        let what = format!("stream id \"{shown}\" ({} bytes)", id.len());
        let check = |call: &str, r: Result<(), StoreError>| match r {
            Err(StoreError::InvalidStreamId(_)) => {}
            Err(e) => panic!(
                "store conformance: {call} with the invalid {what} must fail with StoreError::InvalidStreamId, got: {e}",
                e = es_core::ErrorChain(&e)
            ),
            Ok(()) => panic!(
                "store conformance: {call} with the invalid {what} must be refused, but it succeeded"
            ),
        };
        check(
            "append",
            store
                .append(id, ExpectedVersion::Any, numbered("E", 1..=1))
                .await
                .map(drop),
        );
        check(
            "read_stream",
            store
                .read_stream(id, 1, StreamEnd::Head, 10)
                .await
                .map(drop),
        );
        check("stream_version", store.stream_version(id).await.map(drop));
        check(
            "save_snapshot",
            store
                .save_snapshot(Snapshot {
                    stream_id: id.to_owned(),
                    version: 1,
                    snapshot_version: 1,
                    payload: b"{}".to_vec(),
                    taken_at: chrono::Utc::now(),
                })
                .await,
        );
    }
    assert_eq!(
        head(&store).await,
        0,
        "store conformance: an invalid stream id stored an event"
    );
    assert!(
        read_all(&store, 0, 1000, None).await.is_empty(),
        "store conformance: an invalid stream id stored an event"
    );
}

/// Stream ids with unicode, quotes, semicolons, SQL (statements that would
/// drop, delete or truncate the log if executed), placeholders, LIKE
/// wildcards, backslashes, control and right-to-left characters, the lossy
/// form of invalid UTF-8, case and trailing-space differences, and exactly
/// 255 bytes are stored verbatim, kept apart, and never executed: the log
/// holds exactly their events afterwards.
pub async fn unusual_stream_ids_stored_verbatim<S: EventStore + SnapshotStore>(store: S) {
    let max_len = format!("{}x", "é".repeat(127)); // 255 bytes
    // Invalid UTF-8 cannot reach a store as a `&str` (safe Rust refuses to
    // build one); what a caller can send is the lossy conversion.
    let lossy = String::from_utf8_lossy(b"Lossy-\xff\xfe-\xc3\x28").into_owned();
    let ids: Vec<String> = [
        "Ünïcødé-日本語-🦀",
        "Quote-it's \"quoted\"",
        "Semi-a;b;c",
        "Sql-'); DROP TABLE events; --",
        "Sql-x'); DROP TABLE es.events; --",
        "Sql-\"; DELETE FROM events; --",
        "Sql-Robert'); TRUNCATE es.events CASCADE;--",
        "Sql-' OR '1'='1",
        "Placeholders-$1 ?1 :name @x %_ \\'",
        "Rtl-\u{202e}🦀",
        lossy.as_str(),
        "Wild-%",
        "Wild-_",
        "Wild-ab",
        "Back-\\slash\\",
        "Case-a",
        "Case-A",
        "Space-x",
        "Space-x ",
        " Space-x",
        "Tab-\t\n\r",
        "Json-{\"a\":[1]}",
        "Dollar-$1 $$ ?",
        max_len.as_str(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for (i, id) in ids.iter().enumerate() {
        append(
            &store,
            id,
            ExpectedVersion::NoStream,
            vec![event("Odd", json!({ "i": i }))],
        )
        .await;
    }
    for (i, id) in ids.iter().enumerate() {
        let events = read_whole(&store, id).await;
        assert_eq!(
            events.len(),
            1,
            "store conformance: stream {id:?} must read back exactly its one event, got {}",
            events.len()
        );
        assert_eq!(
            events[0].stream_id, *id,
            "store conformance: stream id not stored verbatim"
        );
        assert_eq!(
            payload(&events[0]),
            json!({ "i": i }),
            "store conformance: stream {id:?} read another stream's event"
        );
        assert_eq!(
            version(&store, id).await,
            1,
            "store conformance: stream_version of {id:?}"
        );
        // A second append sees its own stream, not another's.
        match store
            .append(id, ExpectedVersion::NoStream, vec![event("Odd", json!({}))])
            .await
        {
            Err(e) if e.is_conflict() => {}
            other => panic!(
                "store conformance: a second NoStream append to {id:?} must conflict, got {other:?}"
            ),
        }
    }
    let all = read_all(&store, 0, 1000, None).await;
    assert_eq!(
        all.iter().map(|e| e.stream_id.clone()).collect::<Vec<_>>(),
        ids,
        "store conformance: read_all must show the stream ids verbatim"
    );
    for id in ["Wild-x", "Case-", "Space-", "Sql-"] {
        assert!(
            read_whole(&store, id).await.is_empty(),
            "store conformance: stream {id:?} was never written but reads events"
        );
    }
    for id in &ids {
        store
            .save_snapshot(Snapshot {
                stream_id: id.clone(),
                version: 1,
                snapshot_version: 1,
                payload: b"{}".to_vec(),
                taken_at: chrono::Utc::now(),
            })
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "store conformance: save_snapshot({id:?}) failed: {e}",
                    e = es_core::ErrorChain(&e)
                )
            });
        let loaded = store.load_snapshot(id).await.unwrap_or_else(|e| {
            panic!(
                "store conformance: load_snapshot({id:?}) failed: {e}",
                e = es_core::ErrorChain(&e)
            )
        });
        assert_eq!(
            loaded.map(|s| s.stream_id),
            Some(id.clone()),
            "store conformance: snapshot stream id"
        );
    }
}

/// A 10,000-event stream (appended in batches of 1,000) reads back whole,
/// in pages of 1,000, and from a late version.
pub async fn ten_thousand_event_stream<S: EventStore + SnapshotStore>(store: S) {
    let s = "Long-1";
    for batch in 0..10u64 {
        let first = batch * 1000 + 1;
        let r = append(
            &store,
            s,
            ExpectedVersion::Exact(first - 1),
            numbered("Tick", first..=first + 999),
        )
        .await;
        assert_eq!(r.last_version, first + 999);
    }
    assert_eq!(version(&store, s).await, 10_000);
    let mut from = 1;
    let mut count = 0u64;
    loop {
        let page = read(&store, s, from, StreamEnd::Head, 1000).await;
        if page.is_empty() {
            break;
        }
        assert_eq!(
            page.len(),
            1000,
            "store conformance: a full page of the 10,000-event stream"
        );
        for e in &page {
            count += 1;
            assert_eq!(
                e.stream_version, count,
                "store conformance: the 10,000-event stream has a gap"
            );
        }
        assert_eq!(payload(&page[999]), json!({ "n": count }));
        from = count + 1;
        assert!(count <= 10_000, "store conformance: paging never ends");
    }
    assert_eq!(
        count, 10_000,
        "store conformance: events of the 10,000-event stream"
    );
    let whole = read_whole(&store, s).await;
    assert_versions(&whole, 1..=10_000, "the whole 10,000-event stream");
    assert_increasing_positions(&whole, "the 10,000-event stream");
    assert_versions(
        &read(&store, s, 9_990, StreamEnd::Head, 100).await,
        9_990..=10_000,
        "the tail",
    );
}

/// A 1 MiB payload (with escapes and multi-byte characters) is stored and
/// read back unchanged.
pub async fn large_payload<S: EventStore + SnapshotStore>(store: S) {
    let mut blob = String::with_capacity(1 << 20);
    while blob.len() < (1 << 20) {
        blob.push_str("0123456789abcdef\"\\\n€🦀 ");
    }
    let value = json!({ "blob": blob, "n": 1 });
    let bytes = serde_json::to_vec(&value).expect("JSON");
    assert!(bytes.len() > 1 << 20);
    let e = NewEvent::from_raw("Big", 1, bytes, Metadata::new());
    append(&store, "Big-1", ExpectedVersion::NoStream, vec![e]).await;
    let events = read_whole(&store, "Big-1").await;
    assert_eq!(events.len(), 1);
    assert!(
        payload(&events[0]) == value,
        "store conformance: a 1 MiB payload changed when stored (read back {} bytes)",
        events[0].payload.len()
    );
    let all = read_all(&store, 0, 10, None).await;
    assert!(
        all.len() == 1 && payload(&all[0]) == value,
        "store conformance: a 1 MiB payload via read_all"
    );
}

/// Nested `depth` arrays: `[[…]]`.
fn nested(depth: usize) -> Vec<u8> {
    let mut out = vec![b'['; depth];
    out.extend(std::iter::repeat_n(b']', depth));
    out
}

/// Appends `bad` after a good event and expects the whole batch refused
/// before anything was stored, as [`StoreError::UnreadablePayload`].
async fn assert_unreadable<S: EventStore>(store: &S, what: &str, bad: NewEvent) {
    let batch = vec![event("Good", json!({ "n": 1 })), bad];
    match store
        .append("Unreadable-1", ExpectedVersion::Any, batch)
        .await
    {
        Err(StoreError::UnreadablePayload { stream_id, .. }) => assert_eq!(
            stream_id, "Unreadable-1",
            "store conformance: the refusal of {what} must name the stream"
        ),
        Ok(r) => panic!(
            "store conformance: {what} must be refused (it would never read back), but the append stored it at version {}",
            r.last_version
        ),
        Err(e) => panic!(
            "store conformance: {what} must be refused as StoreError::UnreadablePayload before anything is stored, got: {e}",
            e = es_core::ErrorChain(&e)
        ),
    }
    assert_eq!(
        version(store, "Unreadable-1").await,
        0,
        "store conformance: refusing {what} left part of its batch stored"
    );
}

/// What a store accepts reads back: a payload that is not JSON, has bytes
/// after its value, holds a number no decoder reads (`1e400`) or is nested
/// deeper than the decoder reads (128 levels) is refused with
/// [`StoreError::UnreadablePayload`], and so is metadata nested too deep; the
/// deepest payload the decoder reads (127 levels) is stored and read back.
pub async fn unreadable_payloads_refused<S: EventStore + SnapshotStore>(store: S) {
    let raw = |bytes: &[u8]| NewEvent::from_raw("Raw", 1, bytes.to_vec(), Metadata::new());
    for (what, bytes) in [
        ("an empty payload", b"".to_vec()),
        ("a payload that is not JSON", b"{nope".to_vec()),
        (
            "a payload with bytes after its value",
            br#"{"n":1} 2"#.to_vec(),
        ),
        (
            "a payload with a raw NUL byte in a string",
            b"\"a\0b\"".to_vec(),
        ),
        ("a payload that is not UTF-8", b"\"\xff\"".to_vec()),
        ("a payload with an out-of-range number", b"[1e400]".to_vec()),
        ("a payload nested 128 levels deep", nested(128)),
        ("a payload nested 100,000 levels deep", nested(100_000)),
    ] {
        assert_unreadable(&store, what, raw(&bytes)).await;
    }
    let mut deep = Value::Null;
    for _ in 0..200 {
        deep = Value::Array(vec![deep]);
    }
    let mut e = event("Deep", json!({}));
    e.metadata = Metadata::new().with("deep", deep);
    assert_unreadable(&store, "metadata nested 200 levels deep", e).await;

    // The deepest the decoder reads is stored and reads back.
    let deepest = nested(127);
    append(
        &store,
        "Deepest-1",
        ExpectedVersion::NoStream,
        vec![raw(&deepest)],
    )
    .await;
    let events = read_whole(&store, "Deepest-1").await;
    let expected: Value = serde_json::from_slice(&deepest).expect("127 levels parse");
    assert!(
        events.len() == 1 && payload(&events[0]) == expected,
        "store conformance: a payload nested 127 levels deep did not read back"
    );
}

/// The size limit (the default, [`es_core::DEFAULT_MAX_PAYLOAD_BYTES`]) is
/// on what an event stores, payload and metadata together: a small payload
/// with metadata over the limit is refused with
/// [`StoreError::PayloadTooLarge`], and its batch with it.
pub async fn metadata_counts_toward_the_size_limit<S: EventStore + SnapshotStore>(store: S) {
    let limit = es_core::DEFAULT_MAX_PAYLOAD_BYTES;
    let mut e = event("Tagged", json!({ "n": 1 }));
    e.metadata = Metadata::new().actor("a".repeat(limit));
    let batch = vec![event("Good", json!({ "n": 1 })), e];
    match store.append("Meta-1", ExpectedVersion::Any, batch).await {
        Err(StoreError::PayloadTooLarge {
            stream_id,
            event_type,
            size,
            ..
        }) => {
            assert_eq!(
                (stream_id.as_str(), event_type.as_str()),
                ("Meta-1", "Tagged"),
                "store conformance: the size refusal must name the stream and the event type"
            );
            assert!(
                size > limit,
                "store conformance: the size refusal must count payload and metadata (said {size} bytes)"
            );
        }
        Ok(_) => panic!(
            "store conformance: an event with {limit} bytes of metadata must be refused as over the size limit (payload and metadata count), but it was stored"
        ),
        Err(e) => panic!(
            "store conformance: an event with {limit} bytes of metadata must be refused as StoreError::PayloadTooLarge, got: {e}",
            e = es_core::ErrorChain(&e)
        ),
    }
    assert_eq!(
        version(&store, "Meta-1").await,
        0,
        "store conformance: refusing an oversized event left part of its batch stored"
    );
}

/// `watch_commits` wakes a waiting reader after an append, announcing a
/// position at least the appended one, and again after a later append.
pub async fn watch_commits_wakes_after_append<S: EventStore + SnapshotStore>(store: S) {
    let mut watch = store.watch_commits().await.unwrap_or_else(|e| {
        panic!(
            "store conformance: watch_commits failed: {e}",
            e = es_core::ErrorChain(&e)
        )
    });
    for round in 1..=2u64 {
        let writer = store.clone();
        let task = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            writer
                .append(
                    "Watched-1",
                    ExpectedVersion::Exact(round - 1),
                    numbered("E", round..=round),
                )
                .await
                .map(|r| r.last_position)
        });
        let woke = tokio::time::timeout(Duration::from_secs(10), watch.changed()).await;
        let appended = task
            .await
            .expect("the writer task")
            .unwrap_or_else(|e| {
                panic!(
                    "store conformance: append failed: {e}",
                    e = es_core::ErrorChain(&e)
                )
            })
            .expect("one event appended");
        match woke {
            Err(_) => panic!(
                "store conformance: watch_commits did not wake within 10 s of append {round}"
            ),
            Ok(None) => panic!(
                "store conformance: watch_commits stopped announcing while the store is alive"
            ),
            Ok(Some(position)) => {
                // The announcement may come before or after we read the result;
                // wait until it covers the append.
                let mut position = position;
                while position < appended {
                    position = tokio::time::timeout(Duration::from_secs(10), watch.changed())
                        .await
                        .unwrap_or_else(|_| panic!("store conformance: watch_commits announced {position}, never the appended position {appended}"))
                        .expect("store conformance: watch_commits stopped announcing");
                }
            }
        }
    }
}
