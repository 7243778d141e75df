//! The storage traits every backend implements: [`EventStore`] and
//! [`SnapshotStore`], with the types their calls take and return.

mod error;

pub use error::{InvalidStreamId, StoreError};

use std::future::Future;
use std::ops::ControlFlow;

use uuid::Uuid;

use crate::envelope::{NewEvent, RecordedEvent, ReplayedEvent, Timestamp};

/// The longest stream id a store accepts, in bytes.
pub const MAX_STREAM_ID_LEN: usize = 255;

/// Checks a stream id: not empty, no NUL byte, at most [`MAX_STREAM_ID_LEN`]
/// bytes. Every store calls this before it stores anything.
///
/// ```
/// use es_core::{validate_stream_id, InvalidStreamId};
/// assert!(validate_stream_id("BankAccount-1").is_ok());
/// assert_eq!(validate_stream_id(""), Err(InvalidStreamId::Empty));
/// assert!(validate_stream_id("a\0b").is_err());
/// assert!(validate_stream_id(&"x".repeat(256)).is_err());
/// ```
pub fn validate_stream_id(stream_id: &str) -> Result<(), InvalidStreamId> {
    if stream_id.is_empty() {
        return Err(InvalidStreamId::Empty);
    }
    if stream_id.contains('\0') {
        return Err(InvalidStreamId::ContainsNul(stream_id.replace('\0', "\\0")));
    }
    if stream_id.len() > MAX_STREAM_ID_LEN {
        let prefix: String = stream_id.chars().take(32).collect();
        return Err(InvalidStreamId::TooLong {
            len: stream_id.len(),
            max: MAX_STREAM_ID_LEN,
            prefix,
        });
    }
    Ok(())
}

/// How long a reader waits before it reads again after `failures` reads
/// failed in a row: 50 ms, doubling up to 5 s. Subscriptions use it so a
/// caller that retries at once (past an event that cannot be read, or while
/// the database is down) does not spin.
///
/// ```
/// use std::time::Duration;
/// use es_core::retry_delay;
/// assert_eq!(retry_delay(0), Duration::ZERO);
/// assert_eq!(retry_delay(1), Duration::from_millis(50));
/// assert_eq!(retry_delay(3), Duration::from_millis(200));
/// assert_eq!(retry_delay(40), Duration::from_secs(5));
/// ```
pub fn retry_delay(failures: u32) -> std::time::Duration {
    const FIRST_MS: u64 = 50;
    const MAX_MS: u64 = 5_000;
    if failures == 0 {
        return std::time::Duration::ZERO;
    }
    let ms = FIRST_MS
        .saturating_mul(1u64 << (failures - 1).min(20))
        .min(MAX_MS);
    std::time::Duration::from_millis(ms)
}

/// The largest event a store accepts unless configured otherwise: 8 MiB of
/// payload and metadata together. Far above any sane event, far below what
/// a database's own ceilings would let a runaway writer store.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 8 << 20;

/// Checks a batch before a store writes any of it, so that nothing a store
/// accepts can fail to read back. Every store calls this first, before any
/// I/O; an error refuses the whole batch.
///
/// - the stream id ([`validate_stream_id`]);
/// - each event's type holds no NUL character, else
///   [`StoreError::InvalidEventType`];
/// - each event's size: its payload plus its encoded metadata (`0` bytes when
///   empty) at most `max_bytes`, else [`StoreError::PayloadTooLarge`];
/// - each payload and metadata is JSON the decoder reads again (no bytes
///   after the value, numbers in range, nesting below the decoder's limit of
///   128 levels), else [`StoreError::UnreadablePayload`]. Typed events
///   encoded by `#[derive(Event)]` pass by construction; this guards raw
///   payloads ([`NewEvent::from_raw`]).
///
/// ```
/// use es_core::{check_append, Metadata, NewEvent, StoreError};
/// let ok = NewEvent::from_raw("Pinged", 1, br#"{"at":1}"#.to_vec(), Metadata::new());
/// assert!(check_append("Pinger-1", &[ok], 1024).is_ok());
///
/// let deep = format!("{}{}", "[".repeat(200), "]".repeat(200)).into_bytes();
/// let bad = NewEvent::from_raw("Pinged", 1, deep, Metadata::new());
/// assert!(matches!(
///     check_append("Pinger-1", &[bad], 1024),
///     Err(StoreError::UnreadablePayload { part: "payload", .. })
/// ));
///
/// let nul = NewEvent::from_raw("Pin\0ged", 1, b"{}".to_vec(), Metadata::new());
/// assert!(matches!(
///     check_append("Pinger-1", &[nul], 1024),
///     Err(StoreError::InvalidEventType { .. })
/// ));
///
/// let chatty = NewEvent::from_raw("Pinged", 1, b"{}".to_vec(), Metadata::new().actor("x".repeat(2000)));
/// assert!(matches!(
///     check_append("Pinger-1", &[chatty], 1024),
///     Err(StoreError::PayloadTooLarge { .. })
/// ));
/// ```
pub fn check_append(
    stream_id: &str,
    events: &[NewEvent],
    max_bytes: usize,
) -> Result<(), StoreError> {
    validate_stream_id(stream_id)?;
    for e in events {
        check_event(stream_id, e, max_bytes)?;
    }
    Ok(())
}

fn check_event(stream_id: &str, e: &NewEvent, max_bytes: usize) -> Result<(), StoreError> {
    let too_large = |size: usize| StoreError::PayloadTooLarge {
        stream_id: stream_id.to_owned(),
        event_type: e.event_type.clone(),
        size,
        limit: max_bytes,
    };
    let unreadable =
        |part: &'static str, source: serde_json::Error| StoreError::UnreadablePayload {
            stream_id: stream_id.to_owned(),
            event_type: e.event_type.clone(),
            part,
            source,
        };
    if e.event_type.contains('\0') {
        return Err(StoreError::InvalidEventType {
            stream_id: stream_id.to_owned(),
            event_type: e.event_type.replace('\0', "\\0"),
        });
    }
    // The size first: a runaway payload is refused without being parsed.
    if e.payload.len() > max_bytes {
        return Err(too_large(e.payload.len()));
    }
    if !e.metadata.is_empty() {
        // Encoded as the stores encode it; metadata is small next to a payload.
        let metadata =
            serde_json::to_vec(&e.metadata).map_err(|err| unreadable("metadata", err))?;
        let size = e.payload.len().saturating_add(metadata.len());
        if size > max_bytes {
            return Err(too_large(size));
        }
        crate::event::json::check_readable(&metadata).map_err(|err| unreadable("metadata", err))?;
    }
    crate::event::json::check_readable(&e.payload).map_err(|err| unreadable("payload", err))
}

/// What an append expects of its stream; anything else is a version conflict
/// and writes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpectedVersion {
    /// Append whatever the stream's version.
    Any,
    /// The stream must have no events.
    NoStream,
    /// The stream must be at exactly this version (`Exact(0)` is the same as
    /// [`ExpectedVersion::NoStream`]).
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream at `actual` satisfies this expectation.
    ///
    /// ```
    /// use es_core::ExpectedVersion;
    /// assert!(ExpectedVersion::NoStream.admits(0));
    /// assert!(!ExpectedVersion::Exact(3).admits(4));
    /// assert!(ExpectedVersion::Any.admits(9));
    /// ```
    pub fn admits(self, actual: u64) -> bool {
        match self {
            Self::Any => true,
            Self::NoStream => actual == 0,
            Self::Exact(v) => actual == v,
        }
    }

    /// The expectation for a stream last seen at `version` (0: no stream).
    pub fn from_version(version: u64) -> Self {
        if version == 0 {
            Self::NoStream
        } else {
            Self::Exact(version)
        }
    }
}

/// Where a stream read stops (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StreamEnd {
    /// Read to the newest event.
    #[default]
    Head,
    /// Read up to and including this stream version.
    Version(u64),
    /// Read the events recorded at or before this time.
    Time(Timestamp),
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    /// The version of the first event of the batch (for an empty batch, one
    /// past the current version).
    pub first_version: u64,
    /// The version of the last event of the batch: the stream's version after
    /// the append (for an empty batch, the current version).
    pub last_version: u64,
    /// The global position of the batch's last event; `None` when nothing was
    /// appended.
    pub last_position: Option<u64>,
    /// True when the batch's command id was already recorded on the stream:
    /// nothing was appended, and the versions are those the earlier command wrote.
    pub duplicate: bool,
}

impl AppendResult {
    /// Nothing appended to a stream at `version` (an empty batch).
    ///
    /// ```
    /// let r = es_core::AppendResult::unchanged(4);
    /// assert_eq!((r.first_version, r.last_version, r.last_position), (5, 4, None));
    /// ```
    pub fn unchanged(version: u64) -> Self {
        Self {
            first_version: version + 1,
            last_version: version,
            last_position: None,
            duplicate: false,
        }
    }

    /// Nothing appended because the batch's command id was already recorded:
    /// the versions are those the earlier batch wrote.
    ///
    /// ```
    /// use es_core::{AppendResult, CommandRecord};
    /// let r = AppendResult::duplicate(CommandRecord { first_version: 2, last_version: 3 });
    /// assert!(r.duplicate && r.last_position.is_none());
    /// ```
    pub fn duplicate(record: CommandRecord) -> Self {
        Self {
            first_version: record.first_version,
            last_version: record.last_version,
            last_position: None,
            duplicate: true,
        }
    }
}

/// A page of the global log: what [`EventStore::read_all`] returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadAllPage {
    /// The events, in global order.
    pub events: Vec<RecordedEvent>,
    /// How far the store has safely scanned: every event of the requested
    /// types at or below this position is in this page or before
    /// `after_position`, and none can commit there later. A consumer that
    /// has handled [`ReadAllPage::events`] may move its checkpoint here,
    /// past the events the type filter left out.
    ///
    /// Never below the read's `after_position`, nor below the last event's
    /// position. For a full page (`limit` events) it is the last event's
    /// position; for a shorter one, the newest position the store could
    /// vouch for in the same read.
    pub scanned_to: u64,
}

impl ReadAllPage {
    /// A page of `events` read up to `scanned_to`.
    pub fn new(events: Vec<RecordedEvent>, scanned_to: u64) -> Self {
        Self { events, scanned_to }
    }

    /// How many events the page holds.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether the page holds no event (the scan may still have moved on).
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The page's events, in global order.
    pub fn iter(&self) -> std::slice::Iter<'_, RecordedEvent> {
        self.events.iter()
    }
}

impl IntoIterator for ReadAllPage {
    type Item = RecordedEvent;
    type IntoIter = std::vec::IntoIter<RecordedEvent>;
    fn into_iter(self) -> Self::IntoIter {
        self.events.into_iter()
    }
}

impl<'a> IntoIterator for &'a ReadAllPage {
    type Item = &'a RecordedEvent;
    type IntoIter = std::slice::Iter<'a, RecordedEvent>;
    fn into_iter(self) -> Self::IntoIter {
        self.events.iter()
    }
}

/// The events one command wrote on a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandRecord {
    /// The first stream version the command wrote.
    pub first_version: u64,
    /// The last stream version the command wrote.
    pub last_version: u64,
}

/// A serialized aggregate state at a stream version.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The stream.
    pub stream_id: String,
    /// The stream version the state reflects.
    pub version: u64,
    /// The aggregate's [`snapshot_key`](crate::snapshot_key) when it was
    /// taken: its `SNAPSHOT_VERSION`, combined with its `STATE_FINGERPRINT`
    /// when it has one. Stores keep all 32 bits.
    pub snapshot_version: u32,
    /// The serialized state (JSON).
    pub payload: Vec<u8>,
    /// When it was taken.
    pub taken_at: Timestamp,
}

/// Wakes a reader when new events commit. Carries the highest global
/// position the store has announced (a hint: read the store for the events).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use es_core::CommitWatch;
/// let (tx, rx) = tokio::sync::watch::channel(0u64);
/// let mut watch = CommitWatch::new(rx);
/// tx.send(5).unwrap();
/// assert_eq!(watch.changed().await, Some(5));
/// drop(tx);
/// assert_eq!(watch.changed().await, None); // the store is gone
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct CommitWatch {
    rx: tokio::sync::watch::Receiver<u64>,
}

impl CommitWatch {
    /// Wraps the receiving end a store feeds with committed positions.
    pub fn new(rx: tokio::sync::watch::Receiver<u64>) -> Self {
        Self { rx }
    }

    /// Waits for the next commit; returns the announced position, or `None`
    /// when the store stopped announcing.
    pub async fn changed(&mut self) -> Option<u64> {
        self.rx.changed().await.ok()?;
        Some(*self.rx.borrow_and_update())
    }

    /// The last announced position.
    pub fn latest(&self) -> u64 {
        *self.rx.borrow()
    }
}

/// An append-only log of streams of events.
///
/// Implemented by [`crate::InMemoryEventStore`] and the database stores.
/// Every implementation runs the conformance suite of `es-testing`.
pub trait EventStore: Clone + Send + Sync + 'static {
    /// Appends a batch to a stream, all or nothing.
    ///
    /// Fails with [`StoreError::VersionConflict`] (writing nothing) when the
    /// stream is not at `expected`. An empty batch is a no-op that returns the
    /// current version. When the batch's events carry a `command_id` that an
    /// earlier batch on this stream recorded, nothing is appended and the
    /// result (with `duplicate: true`) names the earlier batch's versions.
    fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> impl Future<Output = Result<AppendResult, StoreError>> + Send;

    /// Reads a stream in version order, from `from_version` (inclusive; 1 is
    /// the first event) to `to`, at most `limit` events. Call again from the
    /// last version + 1 to page through a long stream.
    fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        to: StreamEnd,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// Replays a stream into `visit`, one event at a time, in version order:
    /// the events [`EventStore::read_stream`] would return for the same
    /// arguments, each lent as a [`ReplayedEvent`] (version, type, schema
    /// version, payload). This is how [`crate::Repository`] loads an
    /// aggregate. Returns how many events were passed to `visit`; it stops
    /// early when `visit` returns [`ControlFlow::Break`] (that event
    /// counted).
    ///
    /// The default reads the whole page with `read_stream` and lends from
    /// it. A database store overrides it to select only those four columns
    /// and lend them straight from each row as it arrives, so a replay
    /// neither copies type names and payloads nor holds the page in memory.
    ///
    /// ```
    /// # use std::ops::ControlFlow;
    /// # use es_core::{EventStore, ExpectedVersion, InMemoryEventStore, Metadata, NewEvent, StreamEnd};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), es_core::StoreError> {
    /// let store = InMemoryEventStore::new();
    /// let added = |n: u32| NewEvent::from_raw("Added", 1, format!(r#"{{"n":{n}}}"#).into_bytes(), Metadata::new());
    /// store.append("Counter-1", ExpectedVersion::NoStream, vec![added(1), added(2), added(3)]).await?;
    ///
    /// let mut types = Vec::new();
    /// let n = store
    ///     .replay_stream("Counter-1", 1, StreamEnd::Head, 100, |e| {
    ///         types.push(format!("{}@{}", e.event_type, e.stream_version));
    ///         if e.stream_version == 2 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    ///     })
    ///     .await?;
    /// assert_eq!(n, 2);
    /// assert_eq!(types, ["Added@1", "Added@2"]);
    /// # Ok(()) }
    /// ```
    fn replay_stream<F>(
        &self,
        stream_id: &str,
        from_version: u64,
        to: StreamEnd,
        limit: usize,
        mut visit: F,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send
    where
        F: FnMut(ReplayedEvent<'_>) -> ControlFlow<()> + Send,
    {
        let read = self.read_stream(stream_id, from_version, to, limit);
        async move {
            let page = read.await?;
            let mut visited = 0;
            for event in &page {
                visited += 1;
                if visit(ReplayedEvent::from(event)).is_break() {
                    break;
                }
            }
            Ok(visited)
        }
    }

    /// Reads every stream in global order after `after_position` (0: from the
    /// start), at most `limit` events, only of the given types when `types`
    /// is `Some`. A reader that pages through it never skips an event that
    /// commits late with a lower position.
    ///
    /// The page also says how far the store has safely scanned
    /// ([`ReadAllPage::scanned_to`]): a consumer that has handled the
    /// page's events moves its checkpoint there, past events the type
    /// filter left out, and never asks for the head separately (an event
    /// that commits between such a read and a head query would be skipped).
    ///
    /// ```
    /// # use es_core::{EventStore, ExpectedVersion, InMemoryEventStore, Metadata, NewEvent};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), es_core::StoreError> {
    /// let store = InMemoryEventStore::new();
    /// let e = |t: &str| NewEvent::from_raw(t, 1, b"{}".to_vec(), Metadata::new());
    /// store.append("Door-1", ExpectedVersion::Any, vec![e("Opened"), e("Closed"), e("Closed")]).await?;
    ///
    /// let page = store.read_all(0, 100, Some(&["Opened"])).await?;
    /// assert_eq!(page.events.len(), 1);
    /// assert_eq!(page.scanned_to, 3); // the two `Closed` were read past
    /// # Ok(()) }
    /// ```
    fn read_all(
        &self,
        after_position: u64,
        limit: usize,
        types: Option<&[&str]>,
    ) -> impl Future<Output = Result<ReadAllPage, StoreError>> + Send;

    /// The stream's version (0 when it has no events).
    fn stream_version(
        &self,
        stream_id: &str,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The global position of the newest event a reader may see (0 when
    /// empty). For status and lag; a consumer moves its checkpoint with
    /// [`ReadAllPage::scanned_to`] instead.
    fn head_position(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The versions a command id wrote on a stream, if it did.
    fn find_command(
        &self,
        stream_id: &str,
        command_id: Uuid,
    ) -> impl Future<Output = Result<Option<CommandRecord>, StoreError>> + Send;

    /// A wake-up for new commits.
    fn watch_commits(&self) -> impl Future<Output = Result<CommitWatch, StoreError>> + Send;
}

/// Keeps the latest snapshot of each stream.
pub trait SnapshotStore: Clone + Send + Sync + 'static {
    /// Saves a snapshot, replacing the stream's previous one.
    fn save_snapshot(
        &self,
        snapshot: Snapshot,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Loads the stream's latest snapshot.
    fn load_snapshot(
        &self,
        stream_id: &str,
    ) -> impl Future<Output = Result<Option<Snapshot>, StoreError>> + Send;
}
