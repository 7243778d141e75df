//! [`InMemoryEventStore`]: the store for tests and demos, with the semantics
//! a database gives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use uuid::Uuid;

use crate::consumer::backend::DeadLetter;
use crate::dcb::{AppendCondition, Tag};
use crate::envelope::{NewEvent, RecordedEvent, Timestamp};
use crate::store::{
    AppendResult, CommandRecord, CommitWatch, DEFAULT_MAX_PAYLOAD_BYTES, EventStore,
    ExpectedVersion, ReadAllPage, Snapshot, SnapshotStore, StoreError, StreamEnd, check_append,
    validate_stream_id,
};

mod dcb;

/// An event store that keeps everything in memory.
///
/// Cheap to clone (clones share the same events), safe across tasks, and
/// faithful to a database's semantics: appends are all or nothing, a conflict
/// writes nothing, and a command id is recorded once per stream.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use es_core::{EventStore, ExpectedVersion, InMemoryEventStore, Metadata, NewEvent, StreamEnd};
/// let store = InMemoryEventStore::new();
/// let e = NewEvent::from_raw("Pinged", 1, b"{}".to_vec(), Metadata::new());
/// let r = store.append("Pinger-1", ExpectedVersion::NoStream, vec![e]).await.unwrap();
/// assert_eq!(r.last_version, 1);
/// let again = NewEvent::from_raw("Pinged", 1, b"{}".to_vec(), Metadata::new());
/// assert!(store.append("Pinger-1", ExpectedVersion::NoStream, vec![again]).await.is_err());
/// let read = store.read_stream("Pinger-1", 1, StreamEnd::Head, 100).await.unwrap();
/// assert_eq!(read.len(), 1);
/// # }
/// ```
#[derive(Clone)]
pub struct InMemoryEventStore {
    inner: Arc<Shared>,
    max_payload_bytes: usize,
}

impl Default for InMemoryEventStore {
    fn default() -> Self {
        Self {
            inner: Arc::default(),
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
        }
    }
}

struct Shared {
    state: Mutex<State>,
    commits: tokio::sync::watch::Sender<u64>,
    /// Checkpoints, dead letters and leases of the consumer engine.
    consumers: SharedConsumers,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            commits: tokio::sync::watch::Sender::new(0),
            consumers: SharedConsumers::default(),
        }
    }
}

#[derive(Default)]
struct State {
    /// The global log; an event's position is its index + 1.
    log: Vec<Arc<RecordedEvent>>,
    /// Per stream, the log indices of its events in version order.
    streams: HashMap<String, Vec<usize>>,
    commands: HashMap<(String, Uuid), CommandRecord>,
    snapshots: HashMap<String, Snapshot>,
    last_recorded_at: Option<Timestamp>,
    /// The tags of the tagged events, by global position.
    tags: HashMap<u64, Vec<Tag>>,
}

impl std::fmt::Debug for InMemoryEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("InMemoryEventStore")
            .field("events", &state.log.len())
            .field("streams", &state.streams.len())
            .finish()
    }
}

impl InMemoryEventStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// This store (and its clones made afterwards) with another limit on
    /// one event's size, payload and metadata together, in bytes (default
    /// [`DEFAULT_MAX_PAYLOAD_BYTES`], 8 MiB, as in the database stores). An
    /// append with a bigger event fails with
    /// [`StoreError::PayloadTooLarge`] and stores none of its batch.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use es_core::{EventStore, ExpectedVersion, InMemoryEventStore, Metadata, NewEvent, StoreError};
    /// let store = InMemoryEventStore::new().with_max_payload_bytes(64);
    /// let e = NewEvent::from_raw("Noted", 1, b"{}".to_vec(), Metadata::new().actor("x".repeat(64)));
    /// let err = store.append("Note-1", ExpectedVersion::Any, vec![e]).await.unwrap_err();
    /// assert!(matches!(err, StoreError::PayloadTooLarge { size: 78, limit: 64, .. }));
    /// # }
    /// ```
    pub fn with_max_payload_bytes(mut self, limit: usize) -> Self {
        self.max_payload_bytes = limit;
        self
    }

    /// How many events the store holds.
    pub fn len(&self) -> usize {
        self.lock().log.len()
    }

    /// Whether the store holds no events.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn consumers(&self) -> &SharedConsumers {
        &self.inner.consumers
    }

    /// The event at a global position.
    pub(crate) fn event_at(&self, position: u64) -> Option<RecordedEvent> {
        let index = usize::try_from(position).ok()?.checked_sub(1)?;
        self.lock().log.get(index).map(|e| RecordedEvent::clone(e))
    }

    /// The newest position of `types` (every type: `None`) and how many of
    /// them lie after `after`.
    pub(crate) fn type_stats(&self, types: Option<&[&str]>, after: u64) -> (u64, u64) {
        let state = self.lock();
        let mut head = 0;
        let mut lag = 0;
        for e in &state.log {
            if types.is_none_or(|t| t.contains(&e.event_type.as_str())) {
                head = e.global_position;
                if e.global_position > after {
                    lag += 1;
                }
            }
        }
        (head, lag)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied append
        // (appends mutate only after every check passed), so poisoning is
        // safe to ignore.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn append_sync(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        self.append_checked(stream_id, expected, events, Vec::new(), None)
    }

    /// An append, with the tags of its events (empty: none) and the
    /// condition it is under, checked under the same lock.
    fn append_checked(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        tags: Vec<Vec<Tag>>,
        condition: Option<&AppendCondition>,
    ) -> Result<AppendResult, StoreError> {
        // Outside the lock: it parses every payload.
        check_append(stream_id, &events, self.max_payload_bytes)?;
        let mut state = self.lock();
        if let Some(c) = condition {
            dcb::check(&state, c)?;
        }
        let actual = state.streams.get(stream_id).map_or(0, |s| s.len() as u64);

        let command_id = events.first().and_then(|e| e.metadata.command_id);
        if let Some(record) =
            command_id.and_then(|id| state.commands.get(&(stream_id.to_owned(), id)))
        {
            return Ok(AppendResult::duplicate(*record));
        }
        if !expected.admits(actual) {
            return Err(StoreError::VersionConflict {
                stream_id: stream_id.to_owned(),
                expected,
                actual,
            });
        }
        if events.is_empty() {
            return Ok(AppendResult::unchanged(actual));
        }

        // Recorded times never go backwards, so a time bound cuts a stream at
        // one place.
        let now = chrono::Utc::now();
        let recorded_at = match state.last_recorded_at {
            Some(last) if last > now => last,
            _ => now,
        };
        state.last_recorded_at = Some(recorded_at);

        let count = events.len() as u64;
        let first_index = state.log.len();
        for (i, e) in events.into_iter().enumerate() {
            state.log.push(Arc::new(RecordedEvent {
                event_id: e.event_id,
                stream_id: stream_id.to_owned(),
                stream_version: actual + 1 + i as u64,
                global_position: (first_index + i + 1) as u64,
                event_type: e.event_type,
                schema_version: e.schema_version,
                payload: e.payload,
                metadata: e.metadata,
                recorded_at,
            }));
        }
        for (i, mut t) in tags.into_iter().enumerate() {
            if !t.is_empty() {
                t.sort();
                state.tags.insert((first_index + i + 1) as u64, t);
            }
        }
        let indices = first_index..state.log.len();
        state
            .streams
            .entry(stream_id.to_owned())
            .or_default()
            .extend(indices);
        let record = CommandRecord {
            first_version: actual + 1,
            last_version: actual + count,
        };
        if let Some(command_id) = command_id {
            state
                .commands
                .insert((stream_id.to_owned(), command_id), record);
        }
        let last_position = state.log.len() as u64;
        drop(state);
        self.inner.commits.send_replace(last_position);
        Ok(AppendResult {
            first_version: record.first_version,
            last_version: record.last_version,
            last_position: Some(last_position),
            duplicate: false,
        })
    }

    fn read_stream_sync(
        &self,
        stream_id: &str,
        from_version: u64,
        to: StreamEnd,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        validate_stream_id(stream_id)?;
        let state = self.lock();
        let Some(indices) = state.streams.get(stream_id) else {
            return Ok(Vec::new());
        };
        let start = from_version.max(1) as usize - 1;
        let mut out = Vec::new();
        for &i in indices.iter().skip(start) {
            if out.len() >= limit {
                break;
            }
            let e = &state.log[i];
            let within = match to {
                StreamEnd::Head => true,
                StreamEnd::Version(v) => e.stream_version <= v,
                StreamEnd::Time(t) => e.recorded_at <= t,
            };
            if !within {
                break;
            }
            out.push(RecordedEvent::clone(e));
        }
        Ok(out)
    }

    fn read_all_sync(
        &self,
        after_position: u64,
        limit: usize,
        types: Option<&[&str]>,
    ) -> ReadAllPage {
        let state = self.lock();
        let start = usize::try_from(after_position).unwrap_or(usize::MAX);
        let events: Vec<RecordedEvent> = state
            .log
            .iter()
            .skip(start)
            .filter(|e| types.is_none_or(|t| t.contains(&e.event_type.as_str())))
            .take(limit)
            .map(|e| RecordedEvent::clone(e))
            .collect();
        // Under the lock the whole log is settled: a short page scanned it
        // to its end.
        let scanned_to = match events.last() {
            Some(last) if events.len() >= limit => last.global_position,
            _ if limit == 0 => after_position,
            _ => (state.log.len() as u64).max(after_position),
        };
        ReadAllPage::new(events, scanned_to)
    }
}

impl EventStore for InMemoryEventStore {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        self.append_sync(stream_id, expected, events)
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        to: StreamEnd,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read_stream_sync(stream_id, from_version, to, limit)
    }

    async fn read_all(
        &self,
        after_position: u64,
        limit: usize,
        types: Option<&[&str]>,
    ) -> Result<ReadAllPage, StoreError> {
        Ok(self.read_all_sync(after_position, limit, types))
    }

    async fn stream_version(&self, stream_id: &str) -> Result<u64, StoreError> {
        validate_stream_id(stream_id)?;
        Ok(self
            .lock()
            .streams
            .get(stream_id)
            .map_or(0, |s| s.len() as u64))
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        Ok(self.lock().log.len() as u64)
    }

    async fn find_command(
        &self,
        stream_id: &str,
        command_id: Uuid,
    ) -> Result<Option<CommandRecord>, StoreError> {
        validate_stream_id(stream_id)?;
        Ok(self
            .lock()
            .commands
            .get(&(stream_id.to_owned(), command_id))
            .copied())
    }

    async fn watch_commits(&self) -> Result<CommitWatch, StoreError> {
        Ok(CommitWatch::new(self.inner.commits.subscribe()))
    }
}

impl SnapshotStore for InMemoryEventStore {
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        validate_stream_id(&snapshot.stream_id)?;
        self.lock()
            .snapshots
            .insert(snapshot.stream_id.clone(), snapshot);
        Ok(())
    }

    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        validate_stream_id(stream_id)?;
        Ok(self.lock().snapshots.get(stream_id).cloned())
    }
}

/// The consumers' state of an in-memory store: checkpoints, dead letters,
/// leases.
#[derive(Default)]
pub(crate) struct Consumers {
    pub(crate) checkpoints: HashMap<String, u64>,
    pub(crate) dead_letters: Vec<DeadLetter>,
    /// Per name, the id of the lease that holds it.
    pub(crate) leases: HashMap<String, u64>,
    pub(crate) next_lease: u64,
    /// What process managers keep: instances, outboxes, deadlines.
    pub(crate) processes: crate::process::memory::tables::ProcessTables,
    /// What document projections keep: documents per projection.
    pub(crate) documents: crate::document::memory_store::tables::DocumentTables,
}

pub(crate) type SharedConsumers = Arc<Mutex<Consumers>>;

pub(crate) fn lock_consumers(c: &Mutex<Consumers>) -> MutexGuard<'_, Consumers> {
    // Every change is applied whole under the lock.
    c.lock().unwrap_or_else(|p| p.into_inner())
}
