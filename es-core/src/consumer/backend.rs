//! What a store gives the engine: [`Backend`], and what a consumer is to
//! it: [`Consumer`].

use std::future::Future;
use std::time::Duration;

use crate::envelope::{RecordedEvent, Timestamp};
use crate::projection::{HandlerError, NoResetHook, ProjectionError};
use crate::store::{EventStore, StoreError};

/// A consumer's checkpoint, head and lag.
///
/// ```
/// let s = es_core::consumer::ConsumerStatus { position: 7, head: 9, lag: 1 };
/// assert!(!s.caught_up());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConsumerStatus {
    /// The checkpoint: every event of its types at or before it is handled
    /// (0: none).
    pub position: u64,
    /// The newest committed position of its types (0: none).
    pub head: u64,
    /// How many committed events of its types lie after the checkpoint,
    /// including any a store cannot hand out yet because an older
    /// transaction is still open. (Other types leave gaps between a
    /// consumer's positions, so lag is counted in events, not positions.)
    pub lag: u64,
}

impl ConsumerStatus {
    /// Whether nothing of its types is left to handle.
    pub fn caught_up(&self) -> bool {
        self.lag == 0
    }
}

/// What a dead letter records: an event a handler failed on, or one the
/// store could not read back (identified by its position only; the store
/// copies what it can from its row).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Failed<'a> {
    /// The handler (or the decoding of its event) failed.
    Event(&'a RecordedEvent),
    /// The store cannot read the event at this position back.
    Unreadable(u64),
}

impl Failed<'_> {
    /// The failed event's global position.
    ///
    /// ```
    /// assert_eq!(es_core::consumer::Failed::Unreadable(7).position(), 7);
    /// ```
    pub fn position(&self) -> u64 {
        match self {
            Self::Event(e) => e.global_position,
            Self::Unreadable(p) => *p,
        }
    }
}

/// A step of the savepoint that isolates one event of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Savepoint {
    /// `SAVEPOINT`: before the event's handler.
    Begin,
    /// `RELEASE`: the event's writes stay (they commit with the batch).
    Release,
    /// `ROLLBACK TO` and `RELEASE`: the event's writes are undone.
    Undo,
}

/// A store the [`Engine`](super::Engine) can run consumers on: batch
/// transactions that hold a consumer's checkpoint, dead letters, and the
/// lease that makes one engine per name the active one.
///
/// Its contract, which the engine's guarantees stand on:
///
/// - Between [`lock_checkpoint`](Backend::lock_checkpoint) and
///   [`commit`](Backend::commit), no other transaction moves the same
///   checkpoint (a row lock; a write lock; a mutex).
/// - [`commit`](Backend::commit) makes the checkpoint, the dead letters and
///   the consumer's own writes on the transaction durable together, or none
///   of them; a dropped transaction is rolled back.
/// - `read_all` (from [`EventStore`]) vouches for its
///   [`scanned_to`](crate::ReadAllPage::scanned_to): no event at or below it
///   can commit later.
pub trait Backend: EventStore + Clone + Send + Sync + 'static {
    /// A batch transaction; the consumer's handlers write through it.
    type Tx: Send + 'static;
    /// Proof of being the active engine of a name, held while it runs.
    type Lease: Send + 'static;

    /// Whether a transaction that does not commit undoes what the consumer
    /// wrote through it. When false (the in-memory store, whose consumers
    /// keep their model in themselves), the engine commits each event in a
    /// transaction of its own, right after its handler, so none is applied
    /// twice, even when a batch is dropped halfway.
    const ROLLS_BACK: bool = true;

    /// Begins a batch transaction.
    fn begin(&self) -> impl Future<Output = Result<Self::Tx, StoreError>> + Send;

    /// Commits it.
    fn commit(&self, tx: Self::Tx) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Creates `name`'s checkpoint at 0 unless it has one; its position.
    fn init_checkpoint(
        &self,
        tx: &mut Self::Tx,
        name: &str,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Locks `name`'s checkpoint until the transaction ends; its position
    /// (`None`: it is gone, say a tool deleted it).
    fn lock_checkpoint(
        &self,
        tx: &mut Self::Tx,
        name: &str,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    /// Moves `name`'s (locked) checkpoint.
    fn save_checkpoint(
        &self,
        tx: &mut Self::Tx,
        name: &str,
        position: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A savepoint step around one event (see [`Savepoint`]).
    fn savepoint(
        &self,
        tx: &mut Self::Tx,
        step: Savepoint,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records a dead letter of `name`.
    fn record_dead_letter(
        &self,
        tx: &mut Self::Tx,
        name: &str,
        failed: Failed<'_>,
        error: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// `name`'s dead letters, in global order.
    fn dead_letters(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<DeadLetter>, StoreError>> + Send;

    /// Deletes `name`'s dead letters (a rebuild starts clean).
    fn clear_dead_letters(
        &self,
        tx: &mut Self::Tx,
        name: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Tries once to become the active engine of `name`.
    fn try_lease(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<Self::Lease>, StoreError>> + Send;

    /// Whether [`lease_alive`](Backend::lease_alive) needs the batch
    /// transaction (default `true`). A store whose lease lives apart from
    /// it (PostgreSQL's advisory lock on a connection of its own) says
    /// `false`, and the engine checks the lease while the batch saves its
    /// checkpoint instead of after: one round trip less per batch, and the
    /// check still comes before the commit.
    ///
    /// ```
    /// use es_core::consumer::Backend;
    /// // The in-memory store keeps the default.
    /// assert!(<es_core::InMemoryEventStore as Backend>::LEASE_USES_TX);
    /// ```
    const LEASE_USES_TX: bool = true;

    /// Whether `lease` still holds (and renews it where leases expire).
    /// `tx` is the batch transaction about to commit, when there is one: a
    /// store with one writer at a time renews the lease in it.
    fn lease_alive(
        &self,
        lease: &mut Self::Lease,
        tx: Option<&mut Self::Tx>,
    ) -> impl Future<Output = bool> + Send;

    /// Gives `lease` up.
    fn release_lease(&self, lease: Self::Lease) -> impl Future<Output = ()> + Send;

    /// Which of the leases `names` some engine holds now, when the store
    /// can tell without taking them (`None`: it cannot, and a caller that
    /// needs to know tries each lease instead). The worker of a
    /// [`PartitionedRunner`](super::PartitionedRunner) counts the live
    /// workers with it every claim interval; on PostgreSQL a lease attempt
    /// opens a connection, which this spares.
    fn leases_held(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<Option<Vec<bool>>, StoreError>> + Send {
        let _ = names;
        std::future::ready(Ok(None))
    }

    /// `name`'s checkpoint, head and lag over `types`.
    fn consumer_status(
        &self,
        name: &str,
        types: Option<&[&str]>,
    ) -> impl Future<Output = Result<ConsumerStatus, StoreError>> + Send;

    /// A page of `partition`'s events of `types` after `after_position`:
    /// what [`read_all`](EventStore::read_all) would return with the other
    /// partitions' events left out, with the same promise on
    /// [`scanned_to`](crate::ReadAllPage::scanned_to) and a short page only
    /// at the end (as far as the store vouched).
    ///
    /// The default reads `read_all` pages and filters them here (every
    /// event is transferred to every partition); a store that can compute
    /// [`partition_hash`](super::partition_hash) in its query overrides it.
    fn read_partition(
        &self,
        after_position: u64,
        limit: usize,
        types: Option<&[&str]>,
        partition: super::Partition,
    ) -> impl Future<Output = Result<crate::ReadAllPage, StoreError>> + Send {
        super::partition::read_partition_filtered(self, after_position, limit, types, partition)
    }

    /// The checkpoint of consumer `name`'s `partition` (kept under
    /// [`Partition::key`](super::Partition::key)), and the head and lag of
    /// that partition's events of `types`.
    ///
    /// The default reads the checkpoint with
    /// [`consumer_status`](Backend::consumer_status) and counts the
    /// partition's events after it through
    /// [`read_partition`](Backend::read_partition); the head is then the
    /// newest of them, or the checkpoint when there are none.
    fn partition_status(
        &self,
        name: &str,
        types: Option<&[&str]>,
        partition: super::Partition,
    ) -> impl Future<Output = Result<ConsumerStatus, StoreError>> + Send {
        super::partition::partition_status_counted(self, name, types, partition)
    }

    /// Whether `err` (or a cause) is worth retrying: a lost connection, a
    /// busy database, a serialization failure.
    fn is_transient(err: &(dyn std::error::Error + 'static)) -> bool;

    /// How often a caught-up engine reads again when no commit wakes it.
    fn poll_interval(&self) -> Duration {
        Duration::from_millis(500)
    }
}

/// What the [`Engine`](super::Engine) runs: a named reader of events that
/// writes its effects through the batch transaction `Tx`.
///
/// Each store wraps its projections in one (`es_postgres::PgProjection`,
/// `es_sqlite::SqliteProjection`, [`MemoryProjection`](super::MemoryProjection));
/// other consumers (listeners, process managers, relays) implement it
/// themselves.
pub trait Consumer<Tx>: Send + 'static {
    /// The name its checkpoint, lease and dead letters are kept under.
    fn name(&self) -> &'static str;

    /// The stored type names it reads (`None`: every type).
    fn event_types(&self) -> Option<&'static [&'static str]>;

    /// Handles one event, writing through `tx`.
    fn handle(
        &mut self,
        event: &RecordedEvent,
        tx: &mut Tx,
    ) -> impl Future<Output = Result<(), ProjectionError>> + Send;

    /// Creates what it writes to, once per activation, in the transaction
    /// that creates its checkpoint.
    fn setup(&mut self, tx: &mut Tx) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = tx;
        async { Ok(()) }
    }

    /// Empties what it wrote, before a rebuild; the default refuses
    /// ([`NoResetHook`]), and the rebuild stops with
    /// [`ProjectionError::NoReset`] before changing anything.
    fn reset(&mut self, tx: &mut Tx) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = tx;
        async { Err(Box::new(NoResetHook) as HandlerError) }
    }

    /// Writes what the handlers buffered, once per batch, before the
    /// checkpoint moves.
    fn flush(&mut self, tx: &mut Tx) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = tx;
        async { Ok(()) }
    }

    /// Drops what the handlers buffered: the batch did not commit.
    fn discard(&mut self) {}
}

/// An event a consumer with [`ErrorPolicy::DeadLetter`](super::ErrorPolicy::DeadLetter) skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The consumer (projection) that skipped it.
    pub projection: String,
    /// The event's global position.
    pub global_position: u64,
    /// The event's id.
    pub event_id: uuid::Uuid,
    /// Its stream.
    pub stream_id: String,
    /// Its version in the stream.
    pub stream_version: u64,
    /// Its stored type.
    pub event_type: String,
    /// Its schema version.
    pub schema_version: u32,
    /// The error, with its causes.
    pub error: String,
    /// When it was recorded.
    pub failed_at: Timestamp,
}

/// Marks a consumer's error as transient: the [`Engine`](super::Engine)
/// rolls the batch back and retries it after its backoff
/// ([`Engine::retry_backoff`](super::Engine::retry_backoff)), for as long as
/// it runs, instead of applying its [`ErrorPolicy`](super::ErrorPolicy) (no
/// stop, no dead letter), just as it does for the store errors
/// [`Backend::is_transient`] accepts.
///
/// Return it from [`Consumer::handle`] (inside the
/// [`ProjectionError::Handler`]'s source) or from [`Consumer::flush`] when
/// trying the same batch again later may succeed: a broker that is down, a
/// remote call that timed out. The engine finds it anywhere in the error's
/// chain of causes. It is transparent: its message and causes are those of
/// the error it wraps, so logs and [`ErrorChain`](crate::ErrorChain) read
/// the same with or without it.
///
/// ```
/// use es_core::consumer::Transient;
/// use es_core::projection::HandlerError;
///
/// fn publish_failed(e: std::io::Error) -> HandlerError {
///     Box::new(Transient::new(e))
/// }
///
/// let e = publish_failed(std::io::Error::other("broker unreachable"));
/// assert!(Transient::marks(&*e));
/// assert_eq!(e.to_string(), "broker unreachable");
/// assert!(!Transient::marks(&std::io::Error::other("bad message")));
/// ```
#[derive(Debug)]
pub struct Transient(HandlerError);

impl Transient {
    /// Marks `error` as transient.
    ///
    /// ```
    /// let t = es_core::consumer::Transient::new("the broker is restarting");
    /// assert_eq!(t.to_string(), "the broker is restarting");
    /// ```
    pub fn new(error: impl Into<HandlerError>) -> Self {
        Self(error.into())
    }

    /// The error it marks.
    ///
    /// ```
    /// let t = es_core::consumer::Transient::new(std::io::Error::other("down"));
    /// assert!(t.get_ref().is::<std::io::Error>());
    /// ```
    pub fn get_ref(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }

    /// The error it marks, unmarked.
    ///
    /// ```
    /// let t = es_core::consumer::Transient::new(std::io::Error::other("down"));
    /// assert_eq!(t.into_inner().to_string(), "down");
    /// ```
    pub fn into_inner(self) -> HandlerError {
        self.0
    }

    /// Whether `err` or one of its causes is a [`Transient`]: what the
    /// engine checks, alongside [`Backend::is_transient`].
    ///
    /// ```
    /// use es_core::consumer::Transient;
    /// use es_core::StoreError;
    ///
    /// let wrapped = StoreError::backend("flushing", Transient::new("timed out"));
    /// assert!(Transient::marks(&wrapped));
    /// assert!(!Transient::marks(&StoreError::backend("flushing", "a bug")));
    /// ```
    pub fn marks(err: &(dyn std::error::Error + 'static)) -> bool {
        let mut cur = Some(err);
        while let Some(e) = cur {
            if e.is::<Self>() {
                return true;
            }
            cur = e.source();
        }
        false
    }
}

impl std::fmt::Display for Transient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Transient {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}
