//! The durable projection runner: [`ProjectionRunner`], a
//! [`PgProjection`] on the consumer engine ([`es_core::consumer::Engine`]).
//!
//! # Exactly once
//!
//! Each batch is one transaction on a pooled connection (the engine's
//! argument, with PostgreSQL's part of it):
//!
//! 1. the events are read first (`read_all` after the checkpoint, only the
//!    projection's types), outside the transaction, so the batch
//!    transaction's own id never holds the read back;
//! 2. `BEGIN`; `SELECT position FROM checkpoints WHERE projection = $1 FOR
//!    UPDATE`: the row lock serializes every batch of the projection, and
//!    the position must be the one the events were read after, or the batch
//!    is dropped and the runner reads again from the stored position;
//! 3. the handlers run on the transaction and write the read model (or
//!    buffer their writes in the projection), then
//!    [`PgProjection::flush`] writes what they buffered, once per batch;
//! 4. the checkpoint row moves to the batch's last position;
//! 5. the lease connection is pinged (still the active runner?); `COMMIT`.
//!
//! A crash (or an error, or a shutdown) before `COMMIT` leaves the read
//! model and the checkpoint as they were, and the runner calls
//! [`PgProjection::discard`] so nothing buffered for that batch survives
//! into the next attempt; after it, both have moved. A `COMMIT` whose
//! outcome is unknown (the connection broke) is resolved by step 2 of the
//! next batch. Step 2 also makes exactly-once independent of the lease: if
//! the lease connection dies mid-batch and a second runner starts, the two
//! batch transactions queue on the row lock, and the second finds the
//! position moved and drops its batch instead of applying it again. The
//! lease only keeps the others from doing work to throw away.
//!
//! # The lease
//!
//! Of several runners of one projection name (one store schema), across
//! processes, one is active: it holds a [`PgLease`](crate::PgLease) (a
//! session advisory lock on a connection of its own). The others stand by
//! and try again every [`ProjectionRunner::lease_retry`] (500 ms by
//! default); see [`PgLease`](crate::PgLease) for how fast a dead runner's
//! lease is freed.

use std::future::Future;
use std::time::Duration;

use es_core::StoreError;
use es_core::consumer::{Engine, Partition, PartitionedRunner, Progress};
use es_core::projection::ProjectionError;

use crate::checkpoints::ProjectionStatus;
use crate::inline::PgConsumer;
use crate::inline::PgProjection;
use crate::store::PgEventStore;

/// Runs a [`PgProjection`] durably: catches up from its checkpoint in
/// batches, then follows new commits; one transaction per batch writes the
/// read model and the checkpoint (see [`Engine`](es_core::consumer::Engine)
/// for why that is exactly once, and [`PgLease`](crate::PgLease) for the
/// lease that keeps one runner per name active). It is the consumer engine
/// over the PostgreSQL store, with the projection's hooks.
///
/// ```no_run
/// # use es_core::projection::*; use es_core::RecordedEvent; use sqlx::PgConnection;
/// # struct Balances;
/// # impl Projection for Balances { const NAME: &'static str = "balances"; const EVENT_TYPES: &'static [&'static str] = &[]; }
/// # impl Dispatch<PgConnection> for Balances {
/// #     async fn dispatch(&mut self, _: &RecordedEvent, _: &mut PgConnection) -> Result<(), ProjectionError> { Ok(()) } }
/// # impl es_postgres::PgProjection for Balances {}
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use es_postgres::{ErrorPolicy, PgEventStore, ProjectionRunner};
///
/// let store = PgEventStore::connect("postgres://postgres@127.0.0.1:5432/app").await?;
/// store.migrate().await?;
/// let mut runner = ProjectionRunner::new(store, Balances)
///     .batch_size(200)
///     .error_policy(ErrorPolicy::DeadLetter);
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// // … hand `stop` to whatever decides to stop (a signal handler, say)
/// # drop(stop);
/// // Runs until told to stop; the batch in flight finishes first.
/// runner.run(async { let _ = stopped.await; }).await?;
/// # Ok(()) }
/// ```
pub struct ProjectionRunner<P> {
    engine: Engine<PgEventStore, PgConsumer<P>>,
}

impl<P: PgProjection> std::fmt::Debug for ProjectionRunner<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectionRunner")
            .field("engine", &self.engine)
            .finish()
    }
}

impl<P: PgProjection> ProjectionRunner<P> {
    /// A runner of `projection` over `store`: batches of 500, stops on a
    /// handler error, retries the lease every 500 ms, polls at the store's
    /// poll interval when no notification arrives.
    pub fn new(store: PgEventStore, projection: P) -> Self {
        Self {
            engine: Engine::new(store, PgConsumer(projection)),
        }
    }

    /// A worker of `projection` run as `count` partitions (a
    /// [`PartitionedRunner`]): `projection(p)` makes the projection of
    /// partition `p` each time the worker takes one. Start one in each
    /// worker process with the same count; each partition's reads and
    /// status are filtered by the store, in SQL. See [`PartitionedRunner`]
    /// for what holds (each event handled once, by one partition; each
    /// stream's events in order; takeover of a dead worker's partitions).
    ///
    /// ```no_run
    /// # use es_core::projection::*; use es_core::RecordedEvent; use sqlx::PgConnection;
    /// # struct Balances;
    /// # impl Projection for Balances { const NAME: &'static str = "balances"; const EVENT_TYPES: &'static [&'static str] = &[]; }
    /// # impl Dispatch<PgConnection> for Balances {
    /// #     async fn dispatch(&mut self, _: &RecordedEvent, _: &mut PgConnection) -> Result<(), ProjectionError> { Ok(()) } }
    /// # impl es_postgres::PgProjection for Balances {}
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use es_postgres::{PgEventStore, ProjectionRunner};
    ///
    /// let store = PgEventStore::connect("postgres://postgres@127.0.0.1:5432/app").await?;
    /// let mut worker = ProjectionRunner::partitioned(store, 4, |_partition| Balances)
    ///     .engine(|e| e.batch_size(200));
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// # drop(stop);
    /// worker.run(async { let _ = stopped.await; }).await?;
    /// # Ok(()) }
    /// ```
    pub fn partitioned<F>(
        store: PgEventStore,
        count: u32,
        projection: F,
    ) -> PartitionedRunner<
        PgEventStore,
        PgConsumer<P>,
        impl Fn(Partition) -> PgConsumer<P> + Send + Sync + 'static,
    >
    where
        F: Fn(Partition) -> P + Send + Sync + 'static,
    {
        PartitionedRunner::new(store, count, move |p| PgConsumer(projection(p)))
    }

    fn map(
        self,
        f: impl FnOnce(Engine<PgEventStore, PgConsumer<P>>) -> Engine<PgEventStore, PgConsumer<P>>,
    ) -> Self {
        Self {
            engine: f(self.engine),
        }
    }

    /// How many events one batch (one transaction) handles at most (default 500).
    pub fn batch_size(self, n: usize) -> Self {
        self.map(|e| e.batch_size(n))
    }

    /// What a handler error does (default [`ErrorPolicy::Stop`](crate::ErrorPolicy::Stop)).
    /// Under [`ErrorPolicy::DeadLetter`](crate::ErrorPolicy::DeadLetter) the
    /// skipped events are rows of the `dead_letters` table (see
    /// [`PgEventStore::dead_letters`]).
    pub fn error_policy(self, policy: crate::ErrorPolicy) -> Self {
        self.map(|e| e.error_policy(policy))
    }

    /// How often a standby tries to take the lease (default 500 ms): the
    /// bound on a takeover once the active runner's connection is gone.
    pub fn lease_retry(self, interval: Duration) -> Self {
        self.map(|e| e.lease_retry(interval))
    }

    /// How often a caught-up runner looks for new events when no commit
    /// notification wakes it (default: the store's poll interval).
    pub fn poll_interval(self, interval: Duration) -> Self {
        self.map(|e| e.poll_interval(interval))
    }

    /// The backoff after a transient database error (connection lost,
    /// serialization failure, deadlock, pool timeout, server shutting down):
    /// starts at `initial` and doubles up to `max` (defaults 100 ms and
    /// 10 s). Such errors are retried for as long as the runner runs.
    pub fn retry_backoff(self, initial: Duration, max: Duration) -> Self {
        self.map(|e| e.retry_backoff(initial, max))
    }

    /// The projection.
    pub fn projection(&self) -> &P {
        &self.engine.consumer().0
    }

    /// The projection, mutably.
    pub fn projection_mut(&mut self) -> &mut P {
        &mut self.engine.consumer_mut().0
    }

    /// Whether this runner holds the lease (is the active runner).
    pub fn is_active(&self) -> bool {
        self.engine.is_active()
    }

    /// How many events this runner has read from the store (all of the
    /// projection's types: the store filters the rest out).
    pub fn events_read(&self) -> u64 {
        self.engine.events_read()
    }

    /// How far the runner has come, to wait on for read-your-writes (see
    /// [`Progress::wait_for`]).
    pub fn progress(&self) -> Progress {
        self.engine.progress()
    }

    /// The projection's checkpoint, head and lag, from the database. (The
    /// future does not borrow the runner.)
    pub fn status(
        &self,
    ) -> impl Future<Output = Result<ProjectionStatus, StoreError>> + Send + 'static {
        self.engine.status()
    }

    /// Becomes the active runner (waiting for the lease), catches up, then
    /// follows new commits until `shutdown` completes, and releases the
    /// lease. Returns `Ok(())` after a shutdown, or the error that stopped
    /// it: a handler's under [`ErrorPolicy::Stop`](crate::ErrorPolicy::Stop) (a
    /// [`ProjectionError::Handler`] or [`ProjectionError::Decode`]), or a
    /// store failure that is not transient.
    ///
    /// `shutdown` is any future: `tokio::signal::ctrl_c()` mapped to `()`, a
    /// `oneshot::Receiver` mapped to `()`, a
    /// `tokio_util::sync::CancellationToken::cancelled_owned()`. A plain
    /// future ties the runner to no signalling crate. It is checked between
    /// batches and while waiting: the batch in flight finishes (commits)
    /// first, so a shutdown never half-commits and never throws away a
    /// batch's work; a process that dies instead rolls it back.
    pub async fn run<F>(&mut self, shutdown: F) -> Result<(), ProjectionError>
    where
        F: Future<Output = ()> + Send,
    {
        self.engine.run(shutdown).await
    }

    /// Becomes the active runner (waiting for the lease) and handles every
    /// event up to the head, then returns how many it handled. Keeps the
    /// lease until [`ProjectionRunner::release`], `run` or a drop.
    pub async fn catch_up(&mut self) -> Result<u64, ProjectionError> {
        self.engine.catch_up().await
    }

    /// Rebuilds the read model, as the active runner (waiting for the
    /// lease): one transaction runs [`PgProjection::reset`], deletes the
    /// projection's dead letters and moves the checkpoint back to 0; then
    /// every event of its types is replayed in batches, and
    /// `progress(done, total)` is called after the reset and after each
    /// batch (`total`: the events of its types when the reset committed,
    /// raised to `done` if more arrive). Returns the events replayed. Keeps
    /// the lease, like [`ProjectionRunner::catch_up`].
    pub async fn rebuild<F>(&mut self, progress: F) -> Result<u64, ProjectionError>
    where
        F: FnMut(u64, u64) + Send,
    {
        self.engine.rebuild(progress).await
    }

    /// Gives up the lease (a standby takes over within its retry interval).
    pub async fn release(&mut self) {
        self.engine.release().await;
    }
}
