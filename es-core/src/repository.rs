//! [`Repository`]: load an aggregate, let it decide, append its events —
//! with optimistic concurrency, snapshots, temporal loads and idempotent
//! commands.

mod cache;
mod error;
mod replay;

pub use cache::CacheStats;
pub use error::RepositoryError;

use std::sync::Arc;

use cache::{AggregateCache, json_size};

use std::fmt;
use std::marker::PhantomData;

use tracing::{Instrument, field};

use crate::aggregate::{Aggregate, Handle};
use crate::envelope::{Metadata, NewEvent, Timestamp};
use crate::store::{
    EventStore, ExpectedVersion, InvalidStreamId, SnapshotStore, StreamEnd, validate_stream_id,
};

/// How many events one store read returns while an aggregate is replayed.
///
/// Large enough that a long stream (10,000 events) replays in one read: a
/// database store sorts the rest of the stream for each page, so small
/// pages cost more server time than the events they carry (measured by
/// es-bench). A page of 16,384 small events is a few MB.
const PAGE: usize = 16_384;

/// A point in a stream's history for [`Repository::load_at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// The state after this stream version.
    Version(u64),
    /// The state from the events recorded at or before this time.
    Time(Timestamp),
}

/// An aggregate's state and the stream version it reflects.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<A> {
    /// The state.
    pub state: A,
    /// The version of the last event applied.
    pub version: u64,
}

/// The outcome of a command.
pub struct Executed<A: Aggregate> {
    /// The stream the events went to.
    pub stream_id: String,
    /// The events the command produced (for a repeated command id: the
    /// events the first execution recorded).
    pub events: Vec<A::Event>,
    /// The stream version of the first of `events` (one past `version` when
    /// there are none).
    pub first_version: u64,
    /// The stream version after the command's events.
    pub version: u64,
    /// The global position of the command's last event (`None` when it
    /// produced none): what a read model's
    /// [`Progress::wait_for`](crate::consumer::Progress::wait_for) waits for.
    pub last_position: Option<u64>,
    /// The state after the command's events.
    pub state: A,
    /// True when the command id had already been recorded and nothing new was
    /// appended.
    pub duplicate: bool,
}

impl<A> fmt::Debug for Executed<A>
where
    A: Aggregate + fmt::Debug,
    A::Event: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executed")
            .field("stream_id", &self.stream_id)
            .field("events", &self.events)
            .field("first_version", &self.first_version)
            .field("version", &self.version)
            .field("last_position", &self.last_position)
            .field("state", &self.state)
            .field("duplicate", &self.duplicate)
            .finish()
    }
}

/// Loads aggregates from a store and executes commands against them.
///
/// ```
/// # use es_core::{Aggregate, Apply, Event, EventTypeInfo, DecodeError, EncodeError, Handle};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Debug, Clone, Serialize, Deserialize)] pub struct Incremented;
/// # impl Event for Incremented {
/// #     const EVENT_TYPES: &'static [EventTypeInfo] = &[EventTypeInfo::new("Incremented", 1, &[])];
/// #     fn event_type(&self) -> &'static str { "Incremented" }
/// #     fn schema_version(&self) -> u32 { 1 }
/// #     fn encode(&self) -> Result<Vec<u8>, EncodeError> { es_core::event::json::encode_json("Incremented", self) }
/// #     fn decode(t: &str, v: u32, p: &[u8]) -> Result<Self, DecodeError> {
/// #         es_core::event::json::check_known::<Self>(t, v)?; es_core::event::json::decode_json("Incremented", v, p) }
/// # }
/// # #[derive(Debug, Default, Clone, Serialize, Deserialize)]
/// # struct Counter { value: u64 }
/// # impl Aggregate for Counter {
/// #     const NAME: &'static str = "Counter";
/// #     const SNAPSHOT_VERSION: u32 = 1;
/// #     type Event = Incremented;
/// #     fn apply_event(&mut self, _: &Incremented) { self.value += 1 }
/// # }
/// # #[derive(Debug, thiserror::Error)] #[error("too big")] struct TooBig;
/// #[derive(Clone)]
/// struct Increment;
/// impl Handle<Increment> for Counter {
///     type Error = TooBig;
///     fn handle(&self, _: Increment) -> Result<Vec<Incremented>, TooBig> {
///         if self.value >= 2 { Err(TooBig) } else { Ok(vec![Incremented]) }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let counters = es_core::Repository::<Counter, _>::new(es_core::InMemoryEventStore::new())
///     .snapshot_every(100)
///     .retry_on_conflict(3);
/// counters.execute("c-1", Increment).await?;
/// let done = counters.execute("c-1", Increment).await?;
/// assert_eq!((done.version, done.state.value), (2, 2));
/// assert!(counters.execute("c-1", Increment).await.unwrap_err().rejection().is_some());
/// let then = counters.load_at("c-1", es_core::At::Version(1)).await?.unwrap();
/// assert_eq!(then.state.value, 1);
/// # Ok(()) }
/// ```
pub struct Repository<A, S> {
    store: S,
    snapshot_every: Option<u64>,
    retries: u32,
    cache: Option<Arc<AggregateCache<A>>>,
    _aggregate: PhantomData<fn() -> A>,
}

impl<A, S: Clone> Clone for Repository<A, S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            snapshot_every: self.snapshot_every,
            retries: self.retries,
            cache: self.cache.clone(),
            _aggregate: PhantomData,
        }
    }
}

impl<A, S: fmt::Debug> fmt::Debug for Repository<A, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Repository")
            .field("aggregate", &std::any::type_name::<A>())
            .field("store", &self.store)
            .field("snapshot_every", &self.snapshot_every)
            .field("retries", &self.retries)
            .field("cache", &self.cache.as_ref().map(|c| c.stats()))
            .finish()
    }
}

impl<A, S> Repository<A, S>
where
    A: Aggregate,
    S: EventStore + SnapshotStore,
{
    /// A repository over a store, without snapshots or retries.
    pub fn new(store: S) -> Self {
        Self {
            store,
            snapshot_every: None,
            retries: 0,
            cache: None,
            _aggregate: PhantomData,
        }
    }

    /// Saves a snapshot whenever a command's events cross a multiple of `n`
    /// versions, and starts loads from the stream's snapshot. `0` (and the
    /// default) turns snapshots off: neither taken nor looked up, which
    /// saves a store round trip per load.
    pub fn snapshot_every(mut self, n: u64) -> Self {
        self.snapshot_every = (n > 0).then_some(n);
        self
    }

    /// On a version conflict, reloads and decides again, up to `n` times.
    pub fn retry_on_conflict(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }

    /// Keeps the state and version of up to `max_entries` recently used
    /// aggregates (and at most `max_bytes` of them, counted as their
    /// serialized size), least recently used first out, shared with the
    /// repository's clones. A command then decides on the cached state and
    /// appends expecting its version: one store round trip instead of two.
    ///
    /// Correctness never rests on the cache being fresh. Another process
    /// may have written since: the append's version check then fails, the
    /// entry is dropped, and the command loads the stream and decides again
    /// (without spending a [`retry_on_conflict`](Self::retry_on_conflict)
    /// retry). A decision on a cached state that appends nothing, or that
    /// rejects the command, is checked against a fresh load before it is
    /// returned, so a stale entry never answers. [`load`](Self::load) and
    /// [`load_at`](Self::load_at) always read the store.
    ///
    /// ```
    /// # use es_core::{Aggregate, Apply, Event, EventTypeInfo, DecodeError, EncodeError, Handle};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Debug, Clone, Serialize, Deserialize)] pub struct Incremented;
    /// # impl Event for Incremented {
    /// #     const EVENT_TYPES: &'static [EventTypeInfo] = &[EventTypeInfo::new("Incremented", 1, &[])];
    /// #     fn event_type(&self) -> &'static str { "Incremented" }
    /// #     fn schema_version(&self) -> u32 { 1 }
    /// #     fn encode(&self) -> Result<Vec<u8>, EncodeError> { es_core::event::json::encode_json("Incremented", self) }
    /// #     fn decode(t: &str, v: u32, p: &[u8]) -> Result<Self, DecodeError> {
    /// #         es_core::event::json::check_known::<Self>(t, v)?; es_core::event::json::decode_json("Incremented", v, p) }
    /// # }
    /// # #[derive(Debug, Default, Clone, Serialize, Deserialize)]
    /// # struct Counter { value: u64 }
    /// # impl Aggregate for Counter {
    /// #     const NAME: &'static str = "Counter";
    /// #     const SNAPSHOT_VERSION: u32 = 1;
    /// #     type Event = Incremented;
    /// #     fn apply_event(&mut self, _: &Incremented) { self.value += 1 }
    /// # }
    /// # #[derive(Clone)] struct Increment;
    /// # impl Handle<Increment> for Counter {
    /// #     type Error = std::convert::Infallible;
    /// #     fn handle(&self, _: Increment) -> Result<Vec<Incremented>, Self::Error> { Ok(vec![Incremented]) }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let counters = es_core::Repository::<Counter, _>::new(es_core::InMemoryEventStore::new())
    ///     .cache(10_000, 64 << 20)          // 10,000 aggregates, 64 MiB
    ///     .retry_on_conflict(3);
    /// counters.execute("c-1", Increment).await?;   // loads the stream, then caches
    /// counters.execute("c-1", Increment).await?;   // decides on the cached state
    /// let stats = counters.cache_stats().unwrap();
    /// assert_eq!((stats.entries, stats.hits), (1, 1));
    /// # Ok(()) }
    /// ```
    pub fn cache(mut self, max_entries: usize, max_bytes: usize) -> Self
    where
        A: Clone,
    {
        self.cache = Some(AggregateCache::new(max_entries, max_bytes));
        self
    }

    /// What the cache holds and how it has served (`None`: no cache).
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.cache.as_ref().map(|c| c.stats())
    }

    /// Keeps `state` at `version` in the cache, if there is one.
    fn remember(&self, stream_id: &str, state: &A, version: u64) {
        if let Some(cache) = &self.cache {
            cache.put(stream_id, cache.copy(state), version, json_size(state));
        }
    }

    /// The store underneath.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The stream id of an aggregate id: `{A::NAME}-{id}`, checked.
    pub fn stream_id(&self, id: &str) -> Result<String, RepositoryError> {
        if id.is_empty() {
            return Err(RepositoryError::InvalidStreamId {
                aggregate: A::NAME,
                source: InvalidStreamId::Empty,
            });
        }
        let stream_id = format!("{}-{id}", A::NAME);
        validate_stream_id(&stream_id).map_err(|source| RepositoryError::InvalidStreamId {
            aggregate: A::NAME,
            source,
        })?;
        Ok(stream_id)
    }

    /// The aggregate's current state, or `None` when its stream has no events.
    pub async fn load(&self, id: &str) -> Result<Option<Loaded<A>>, RepositoryError> {
        let stream_id = self.stream_id(id)?;
        let span = tracing::debug_span!("es.load", stream = %stream_id, version = field::Empty, events = field::Empty);
        async {
            let loaded = self.load_state(&stream_id, StreamEnd::Head).await?;
            Ok((loaded.version > 0).then_some(loaded))
        }
        .instrument(span)
        .await
    }

    /// The aggregate's state as of a version or a time, or `None` when no
    /// event is that old.
    pub async fn load_at(&self, id: &str, at: At) -> Result<Option<Loaded<A>>, RepositoryError> {
        let stream_id = self.stream_id(id)?;
        let span = tracing::debug_span!("es.load", stream = %stream_id, at = ?at, version = field::Empty, events = field::Empty);
        let to = match at {
            At::Version(v) => StreamEnd::Version(v),
            At::Time(t) => StreamEnd::Time(t),
        };
        async {
            let loaded = self.load_state(&stream_id, to).await?;
            Ok((loaded.version > 0).then_some(loaded))
        }
        .instrument(span)
        .await
    }

    /// Executes a command with empty metadata.
    ///
    /// The command is `Clone` so that a conflict can be retried with a fresh
    /// decision (see [`Repository::retry_on_conflict`]).
    pub async fn execute<C>(
        &self,
        id: &str,
        command: C,
    ) -> Result<Executed<A>, RepositoryError<<A as Handle<C>>::Error>>
    where
        A: Handle<C>,
        C: Clone + Send,
    {
        self.execute_with(id, command, Metadata::new()).await
    }

    /// Executes a command; every new event carries `metadata` (correlation,
    /// causation, command id, actor, free-form data).
    ///
    /// When `metadata.command_id` is already recorded on the stream, nothing
    /// is appended: the result holds the recorded events and `duplicate` is
    /// true. (The command is decided on the current state first and that
    /// decision dropped: the append's own check of the id answers, so a
    /// first execution costs no extra look-up.)
    pub async fn execute_with<C>(
        &self,
        id: &str,
        command: C,
        metadata: Metadata,
    ) -> Result<Executed<A>, RepositoryError<<A as Handle<C>>::Error>>
    where
        A: Handle<C>,
        C: Clone + Send,
    {
        let stream_id = self.stream_id(id).map_err(RepositoryError::widen)?;
        let span = tracing::info_span!(
            "es.execute",
            stream = %stream_id,
            command = std::any::type_name::<C>(),
            version = field::Empty,
            events = field::Empty,
            attempts = field::Empty,
        );
        self.execute_in(stream_id, command, metadata)
            .instrument(span)
            .await
    }

    async fn execute_in<C>(
        &self,
        stream_id: String,
        command: C,
        metadata: Metadata,
    ) -> Result<Executed<A>, RepositoryError<<A as Handle<C>>::Error>>
    where
        A: Handle<C>,
        C: Clone + Send,
    {
        // A command id already recorded is answered from the stream's record:
        // by the append itself when the decision appends (its statement checks
        // the id), or by a look-up when the decision appends nothing (a
        // rejection or no events), which may be only because the command
        // already took effect.
        let mut attempt = 0;
        let mut conflicts = 0;
        // The version a cached state claimed, while it is being checked.
        let mut checking: Option<u64> = None;
        loop {
            attempt += 1;
            let cached = match (&self.cache, checking) {
                (Some(cache), None) => cache.get(&stream_id),
                _ => None,
            };
            let from_cache = cached.is_some();
            let Loaded { mut state, version } = match cached {
                Some((state, version)) => Loaded { state, version },
                None => {
                    let loaded = self
                        .load_state(&stream_id, StreamEnd::Head)
                        .await
                        .map_err(RepositoryError::widen)?;
                    if let (Some(cache), Some(claimed)) = (&self.cache, checking.take())
                        && claimed != loaded.version
                    {
                        cache.note_stale();
                    }
                    self.remember(&stream_id, &loaded.state, loaded.version);
                    loaded
                }
            };
            let decided = state.handle(command.clone());
            if from_cache && !decided.as_ref().is_ok_and(|events| !events.is_empty()) {
                // A rejection or a decision to append nothing would be
                // answered without the store's word: check it on a fresh load.
                checking = Some(version);
                continue;
            }
            if let Some(command_id) = metadata.command_id
                && !decided.as_ref().is_ok_and(|events| !events.is_empty())
            {
                let found = self
                    .store
                    .find_command(&stream_id, command_id)
                    .await
                    .map_err(|e| RepositoryError::from_store(&stream_id, e))?;
                if let Some(record) = found {
                    return self
                        .recorded_outcome(stream_id, record.first_version, record.last_version)
                        .await
                        .map_err(RepositoryError::widen);
                }
            }
            let events = decided.map_err(|error| RepositoryError::Rejected {
                stream_id: stream_id.clone(),
                error,
            })?;
            let span = tracing::Span::current();
            span.record("attempts", attempt);
            if events.is_empty() {
                span.record("version", version);
                span.record("events", 0);
                return Ok(Executed {
                    stream_id,
                    events,
                    first_version: version + 1,
                    version,
                    last_position: None,
                    state,
                    duplicate: false,
                });
            }
            let batch = events
                .iter()
                .map(|e| NewEvent::new(e, metadata.clone()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|source| RepositoryError::Encode {
                    stream_id: stream_id.clone(),
                    source,
                })?;
            let expected = ExpectedVersion::from_version(version);
            let appended = {
                let span = tracing::debug_span!("es.append", stream = %stream_id, expected = %expected, events = batch.len());
                self.store
                    .append(&stream_id, expected, batch)
                    .instrument(span)
                    .await
            };
            match appended {
                Ok(result) if result.duplicate => {
                    if let Some(cache) = &self.cache {
                        cache.forget(&stream_id);
                    }
                    return self
                        .recorded_outcome(stream_id, result.first_version, result.last_version)
                        .await
                        .map_err(RepositoryError::widen);
                }
                Ok(result) => {
                    for e in &events {
                        state.apply_event(e);
                    }
                    span.record("version", result.last_version);
                    span.record("events", events.len());
                    self.maybe_snapshot(&stream_id, version, result.last_version, &state)
                        .await;
                    self.remember(&stream_id, &state, result.last_version);
                    return Ok(Executed {
                        stream_id,
                        events,
                        first_version: result.first_version,
                        version: result.last_version,
                        last_position: result.last_position,
                        state,
                        duplicate: false,
                    });
                }
                Err(e) if e.is_conflict() && from_cache => {
                    // Another writer moved the stream past the cached state:
                    // not a conflict of this command's, so no retry is spent.
                    if let Some(cache) = &self.cache {
                        cache.note_stale();
                        cache.forget(&stream_id);
                    }
                    tracing::debug!(stream = %stream_id, attempt, "the cached state was stale; loading and deciding again");
                    continue;
                }
                Err(e) if e.is_conflict() && conflicts < self.retries => {
                    conflicts += 1;
                    tracing::debug!(stream = %stream_id, attempt, "version conflict; deciding again");
                    continue;
                }
                Err(e) => return Err(RepositoryError::from_store(&stream_id, e)),
            }
        }
    }
}
