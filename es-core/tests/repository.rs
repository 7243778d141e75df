//! Every repository path on the in-memory store, with hand-written trait
//! impls (no derives).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use es_core::{
    Aggregate, AppendResult, At, CommandRecord, CommitWatch, DecodeError, EncodeError, Event,
    EventStore, EventTypeInfo, ExpectedVersion, Handle, InMemoryEventStore, InvalidStreamId,
    Metadata, NewEvent, RecordedEvent, Repository, RepositoryError, Snapshot, SnapshotStore,
    StoreError, StreamEnd, Uuid,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Added {
    n: i64,
}

#[derive(Debug, Clone, PartialEq)]
enum CounterEvent {
    Added(Added),
    Reset,
}

impl Event for CounterEvent {
    const EVENT_TYPES: &'static [EventTypeInfo] = &[
        EventTypeInfo::new("Added", 1, &[]),
        EventTypeInfo::new("Reset", 1, &[]),
    ];
    fn event_type(&self) -> &'static str {
        match self {
            Self::Added(_) => "Added",
            Self::Reset => "Reset",
        }
    }
    fn schema_version(&self) -> u32 {
        1
    }
    fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        match self {
            Self::Added(e) => es_core::event::json::encode_json("Added", e),
            Self::Reset => Ok(b"{}".to_vec()),
        }
    }
    fn decode(t: &str, v: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        let info = es_core::event::json::check_known::<Self>(t, v)?;
        match info.name {
            "Added" => Ok(Self::Added(es_core::event::json::decode_json(
                t, v, payload,
            )?)),
            _ => Ok(Self::Reset),
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Counter {
    total: i64,
    applied: u64,
}

impl Aggregate for Counter {
    const NAME: &'static str = "Counter";
    const SNAPSHOT_VERSION: u32 = 2;
    type Event = CounterEvent;
    fn apply_event(&mut self, e: &CounterEvent) {
        match e {
            CounterEvent::Added(a) => self.total += a.n,
            CounterEvent::Reset => self.total = 0,
        }
        self.applied += 1;
    }
}

#[derive(Debug, Clone)]
struct Add(i64);
#[derive(Debug, Clone)]
struct AddTwice(i64);
#[derive(Debug, Clone)]
struct Noop;

#[derive(Debug, PartialEq, thiserror::Error)]
enum CounterError {
    #[error("adding {0} would pass the limit of 100")]
    TooMuch(i64),
}

impl Handle<Add> for Counter {
    type Error = CounterError;
    fn handle(&self, Add(n): Add) -> Result<Vec<CounterEvent>, CounterError> {
        if self.total + n > 100 {
            return Err(CounterError::TooMuch(n));
        }
        Ok(vec![CounterEvent::Added(Added { n })])
    }
}
impl Handle<AddTwice> for Counter {
    type Error = CounterError;
    fn handle(&self, AddTwice(n): AddTwice) -> Result<Vec<CounterEvent>, CounterError> {
        Ok(vec![
            CounterEvent::Added(Added { n }),
            CounterEvent::Added(Added { n }),
        ])
    }
}
impl Handle<Noop> for Counter {
    type Error = CounterError;
    fn handle(&self, _: Noop) -> Result<Vec<CounterEvent>, CounterError> {
        Ok(vec![])
    }
}

fn repo(store: &InMemoryEventStore) -> Repository<Counter, InMemoryEventStore> {
    Repository::new(store.clone())
}

#[tokio::test]
async fn execute_then_load() {
    let store = InMemoryEventStore::new();
    let counters = repo(&store);
    assert!(counters.load("a").await.unwrap().is_none());
    let done = counters.execute("a", Add(5)).await.unwrap();
    assert_eq!(done.stream_id, "Counter-a");
    assert_eq!((done.first_version, done.version), (1, 1));
    assert_eq!(done.events, vec![CounterEvent::Added(Added { n: 5 })]);
    assert_eq!(done.state.total, 5);
    assert!(!done.duplicate);
    let two = counters.execute("a", AddTwice(3)).await.unwrap();
    assert_eq!((two.first_version, two.version), (2, 3));
    let loaded = counters.load("a").await.unwrap().unwrap();
    assert_eq!((loaded.state.total, loaded.version), (11, 3));
    assert_eq!(store.len(), 3);
}

#[tokio::test]
async fn a_command_without_events_appends_nothing() {
    let store = InMemoryEventStore::new();
    let counters = repo(&store);
    counters.execute("a", Add(1)).await.unwrap();
    let done = counters.execute("a", Noop).await.unwrap();
    assert_eq!((done.version, done.events.len()), (1, 0));
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn a_rejected_command_stores_nothing_and_keeps_the_domain_error() {
    let store = InMemoryEventStore::new();
    let counters = repo(&store);
    counters.execute("a", Add(90)).await.unwrap();
    let err = counters.execute("a", Add(20)).await.unwrap_err();
    assert_eq!(err.rejection(), Some(&CounterError::TooMuch(20)));
    assert!(
        matches!(err, RepositoryError::Rejected { ref stream_id, .. } if stream_id == "Counter-a")
    );
    assert!(err.to_string().contains("Counter-a"), "{err}");
    assert_eq!(store.len(), 1);
    assert_eq!(counters.load("a").await.unwrap().unwrap().version, 1);
}

/// A store whose first `n` appends wait until `n` appends are in flight, so
/// that several repositories decide on the same version before any writes.
#[derive(Clone)]
struct RendezvousStore {
    inner: InMemoryEventStore,
    barrier: Arc<tokio::sync::Barrier>,
    waiting: Arc<AtomicUsize>,
    parties: usize,
}

impl RendezvousStore {
    fn new(inner: InMemoryEventStore, parties: usize) -> Self {
        Self {
            inner,
            barrier: Arc::new(tokio::sync::Barrier::new(parties)),
            waiting: Arc::new(AtomicUsize::new(0)),
            parties,
        }
    }
}

impl EventStore for RendezvousStore {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) < self.parties {
            self.barrier.wait().await;
        }
        self.inner.append(stream_id, expected, events).await
    }
    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        to: StreamEnd,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner
            .read_stream(stream_id, from_version, to, limit)
            .await
    }
    async fn read_all(
        &self,
        after_position: u64,
        limit: usize,
        types: Option<&[&str]>,
    ) -> Result<es_core::ReadAllPage, StoreError> {
        self.inner.read_all(after_position, limit, types).await
    }
    async fn stream_version(&self, stream_id: &str) -> Result<u64, StoreError> {
        self.inner.stream_version(stream_id).await
    }
    async fn head_position(&self) -> Result<u64, StoreError> {
        self.inner.head_position().await
    }
    async fn find_command(
        &self,
        stream_id: &str,
        command_id: Uuid,
    ) -> Result<Option<CommandRecord>, StoreError> {
        self.inner.find_command(stream_id, command_id).await
    }
    async fn watch_commits(&self) -> Result<CommitWatch, StoreError> {
        self.inner.watch_commits().await
    }
}

impl SnapshotStore for RendezvousStore {
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.inner.save_snapshot(snapshot).await
    }
    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load_snapshot(stream_id).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_deciders_on_one_stream_without_retry_get_exactly_one_conflict() {
    let memory = InMemoryEventStore::new();
    Repository::<Counter, _>::new(memory.clone())
        .execute("a", Add(1))
        .await
        .unwrap();
    let store = RendezvousStore::new(memory.clone(), 2);
    let first = Repository::<Counter, _>::new(store.clone());
    let second = Repository::<Counter, _>::new(store);
    let (a, b) = tokio::join!(first.execute("a", Add(2)), second.execute("a", Add(3)));
    let results = [a, b];
    let conflicts: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(conflicts.len(), 1, "exactly one of the two must lose");
    match conflicts[0] {
        RepositoryError::Conflict {
            stream_id,
            expected,
            actual,
        } => {
            assert_eq!(stream_id, "Counter-a");
            assert_eq!(*expected, ExpectedVersion::Exact(1));
            assert_eq!(*actual, 2);
        }
        other => panic!("expected a version conflict, got {other:?}"),
    }
    assert_eq!(memory.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_deciders_on_one_stream_with_retry_both_land() {
    let memory = InMemoryEventStore::new();
    let store = RendezvousStore::new(memory.clone(), 2);
    let first = Repository::<Counter, _>::new(store.clone()).retry_on_conflict(1);
    let second = Repository::<Counter, _>::new(store).retry_on_conflict(1);
    let (a, b) = tokio::join!(first.execute("a", Add(2)), second.execute("a", Add(3)));
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut versions = [a.version, b.version];
    versions.sort_unstable();
    assert_eq!(versions, [1, 2]);
    let loaded = repo(&memory).load("a").await.unwrap().unwrap();
    assert_eq!((loaded.state.total, loaded.version), (5, 2));
}

#[tokio::test]
async fn snapshots_are_taken_every_n_and_used_on_load() {
    let store = InMemoryEventStore::new();
    let counters = repo(&store).snapshot_every(3);
    counters.execute("a", Add(1)).await.unwrap();
    counters.execute("a", Add(1)).await.unwrap();
    assert!(store.load_snapshot("Counter-a").await.unwrap().is_none());
    counters.execute("a", AddTwice(1)).await.unwrap(); // crosses version 3
    let snap = store.load_snapshot("Counter-a").await.unwrap().unwrap();
    assert_eq!((snap.version, snap.snapshot_version), (4, 2));

    // A snapshot that disagrees with the events shows whether it was used.
    let forged = Counter {
        total: 1000,
        applied: 4,
    };
    store
        .save_snapshot(Snapshot {
            payload: serde_json::to_vec(&forged).unwrap(),
            ..snap.clone()
        })
        .await
        .unwrap();
    counters.execute("a", AddTwice(-250)).await.unwrap();
    let loaded = counters.load("a").await.unwrap().unwrap();
    assert_eq!((loaded.state.total, loaded.version), (500, 6));
    // A version before the snapshot cannot use it.
    let early = counters
        .load_at("a", At::Version(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(early.state.total, 2);
}

#[tokio::test]
async fn a_snapshot_of_another_snapshot_version_is_ignored() {
    let store = InMemoryEventStore::new();
    let counters = repo(&store).snapshot_every(1);
    counters.execute("a", Add(7)).await.unwrap();
    let stale = Counter {
        total: 1000,
        applied: 1,
    };
    store
        .save_snapshot(Snapshot {
            stream_id: "Counter-a".into(),
            version: 1,
            snapshot_version: Counter::SNAPSHOT_VERSION - 1,
            payload: serde_json::to_vec(&stale).unwrap(),
            taken_at: chrono::Utc::now(),
        })
        .await
        .unwrap();
    let loaded = counters.load("a").await.unwrap().unwrap();
    assert_eq!((loaded.state.total, loaded.state.applied), (7, 1));
    // An undecodable snapshot is ignored the same way.
    store
        .save_snapshot(Snapshot {
            stream_id: "Counter-a".into(),
            version: 1,
            snapshot_version: Counter::SNAPSHOT_VERSION,
            payload: b"not json".to_vec(),
            taken_at: chrono::Utc::now(),
        })
        .await
        .unwrap();
    assert_eq!(counters.load("a").await.unwrap().unwrap().state.total, 7);
}

#[tokio::test]
async fn load_at_a_version_and_at_a_time() {
    let store = InMemoryEventStore::new();
    let counters = repo(&store);
    counters.execute("a", Add(1)).await.unwrap();
    counters.execute("a", Add(10)).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    counters.execute("a", Add(20)).await.unwrap();

    let v1 = counters
        .load_at("a", At::Version(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((v1.state.total, v1.version), (1, 1));
    let v9 = counters
        .load_at("a", At::Version(9))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((v9.state.total, v9.version), (31, 3));
    assert!(
        counters
            .load_at("a", At::Version(0))
            .await
            .unwrap()
            .is_none()
    );

    let t = counters
        .load_at("a", At::Time(between))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((t.state.total, t.version), (11, 2));
    let before = between - chrono::Duration::days(1);
    assert!(
        counters
            .load_at("a", At::Time(before))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn metadata_is_carried_onto_every_new_event() {
    let store = InMemoryEventStore::new();
    let counters = repo(&store);
    let (correlation, causation) = (Uuid::now_v7(), Uuid::now_v7());
    let metadata = Metadata::new()
        .correlation_id(correlation)
        .causation_id(causation)
        .actor("tester")
        .with("source", "test");
    counters
        .execute_with("a", AddTwice(2), metadata.clone())
        .await
        .unwrap();
    let events = store
        .read_stream("Counter-a", 1, StreamEnd::Head, 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    for e in &events {
        assert_eq!(e.metadata, metadata);
        assert_eq!(e.event_id.get_version_num(), 7);
        assert_eq!(e.category(), "Counter");
    }
    assert_ne!(events[0].event_id, events[1].event_id);
}

#[tokio::test]
async fn a_repeated_command_id_returns_the_recorded_outcome_and_appends_nothing() {
    let store = InMemoryEventStore::new();
    let counters = repo(&store);
    let command_id = Uuid::now_v7();
    let first = counters
        .execute_with("a", Add(60), Metadata::new().command_id(command_id))
        .await
        .unwrap();
    assert!(!first.duplicate);
    counters.execute("a", Add(30)).await.unwrap();
    // Deciding again would now be rejected (90 + 60 > 100): a retry of the
    // same command is answered from the record all the same.
    let again = counters
        .execute_with("a", Add(60), Metadata::new().command_id(command_id))
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(again.events, first.events);
    assert_eq!((again.first_version, again.version), (1, 1));
    assert_eq!(again.state.total, 60);
    assert_eq!(store.len(), 2);
    // The same command id on another stream is another command.
    let other = counters
        .execute_with("b", AddTwice(1), Metadata::new().command_id(command_id))
        .await
        .unwrap();
    assert!(!other.duplicate);
}

#[tokio::test]
async fn a_duplicate_detected_at_append_time_returns_the_recorded_outcome() {
    // Two executions of one command id race: both decide on the same state,
    // the store's own check makes the second a duplicate.
    let memory = InMemoryEventStore::new();
    let store = RendezvousStore::new(memory.clone(), 2);
    let command_id = Uuid::now_v7();
    let one = Repository::<Counter, _>::new(store.clone()).retry_on_conflict(2);
    let two = Repository::<Counter, _>::new(store).retry_on_conflict(2);
    let m = Metadata::new().command_id(command_id);
    let (a, b) = tokio::join!(
        one.execute_with("a", Add(5), m.clone()),
        two.execute_with("a", Add(5), m)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(memory.len(), 1, "the command was recorded once");
    assert_eq!([a.duplicate, b.duplicate].iter().filter(|d| **d).count(), 1);
    assert_eq!((a.version, b.version), (1, 1));
}

#[tokio::test]
async fn every_invalid_stream_id_is_refused_before_anything_is_stored() {
    let store = InMemoryEventStore::new();
    let counters = repo(&store);
    let long = "x".repeat(300);
    for id in ["", "a\0b", long.as_str()] {
        let err = counters.execute(id, Add(1)).await.unwrap_err();
        assert!(
            matches!(
                err,
                RepositoryError::InvalidStreamId {
                    aggregate: "Counter",
                    ..
                }
            ),
            "{id:?}: {err:?}"
        );
        assert!(counters.load(id).await.is_err());
    }
    assert!(store.is_empty());

    let raw = NewEvent::from_raw("Added", 1, br#"{"n":1}"#.to_vec(), Metadata::new());
    for id in ["", "a\0b", long.as_str()] {
        let err = store
            .append(id, ExpectedVersion::Any, vec![raw.clone()])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidStreamId(_)), "{err:?}");
    }
    assert!(matches!(
        es_core::validate_stream_id(&"é".repeat(128)),
        Err(InvalidStreamId::TooLong { len: 256, .. })
    ));
    assert!(store.is_empty());
}

#[tokio::test]
async fn an_empty_batch_is_a_no_op_returning_the_current_version() {
    let store = InMemoryEventStore::new();
    repo(&store).execute("a", Add(1)).await.unwrap();
    let r = store
        .append("Counter-a", ExpectedVersion::Any, vec![])
        .await
        .unwrap();
    assert_eq!((r.last_version, r.last_position), (1, None));
    let r = store
        .append("Counter-a", ExpectedVersion::Exact(5), vec![])
        .await;
    assert!(r.unwrap_err().is_conflict());
}

#[tokio::test]
async fn undecodable_and_unknown_events_name_the_stream_and_version() {
    let store = InMemoryEventStore::new();
    let counters = repo(&store);
    counters.execute("a", Add(1)).await.unwrap();
    store
        .append(
            "Counter-a",
            ExpectedVersion::Exact(1),
            vec![NewEvent::from_raw(
                "Added",
                1,
                br#"{"n":"x"}"#.to_vec(),
                Metadata::new(),
            )],
        )
        .await
        .unwrap();
    let err = counters.load("a").await.unwrap_err();
    match &err {
        RepositoryError::Decode {
            stream_id,
            version,
            event_type,
            schema_version,
            source,
        } => {
            assert_eq!((stream_id.as_str(), *version), ("Counter-a", 2));
            assert_eq!((event_type.as_str(), *schema_version), ("Added", 1));
            assert!(
                matches!(&**source, DecodeError::Payload { path, .. } if path == "n"),
                "{source:?}"
            );
        }
        other => panic!("expected a decode error, got {other:?}"),
    }

    store
        .append(
            "Counter-b",
            ExpectedVersion::Any,
            vec![NewEvent::from_raw(
                "Exploded",
                1,
                b"{}".to_vec(),
                Metadata::new(),
            )],
        )
        .await
        .unwrap();
    let err = counters.load("b").await.unwrap_err();
    assert!(
        matches!(&err, RepositoryError::UnknownEventType { event_type, known, .. }
            if event_type == "Exploded" && known == &vec!["Added", "Reset"]),
        "{err:?}"
    );
    assert!(err.to_string().contains("Counter-b"), "{err}");

    store
        .append(
            "Counter-c",
            ExpectedVersion::Any,
            vec![NewEvent::from_raw(
                "Added",
                9,
                br#"{"n":1}"#.to_vec(),
                Metadata::new(),
            )],
        )
        .await
        .unwrap();
    let err = counters.load("c").await.unwrap_err();
    let chain = es_core::ErrorChain(&err).to_string();
    assert!(chain.contains("newer code"), "{chain}");
}
