//! The durable projection runner on SQLite: [`ProjectionRunner`] and its
//! [`SqliteProjection`] hooks, on the consumer engine
//! ([`es_core::consumer::Engine`]).
//!
//! The same shape as `es_postgres::ProjectionRunner` (`new`, `batch_size`,
//! `error_policy`, `run`, `catch_up`, `rebuild`, `status`, `progress`), so
//! an application moves between the two stores by changing the crate path.
//!
//! # Exactly once, across processes
//!
//! Each batch is one transaction on a pooled connection:
//!
//! 1. the events are read first (`read_all` after the runner's position,
//!    only the projection's types), outside the transaction;
//! 2. `BEGIN IMMEDIATE` takes the database file's write lock at once. SQLite
//!    has one writer per file, so from here to `COMMIT` no other
//!    transaction writes: no append, no batch of another runner of this
//!    projection, in this process or any other;
//! 3. the checkpoint is read again inside the transaction. It must be the
//!    position the events were read after; if another runner moved it
//!    meanwhile (it did this batch, or part of it), the transaction is
//!    rolled back untouched and the runner reads again from the stored
//!    position;
//! 4. the handlers run on the transaction's connection and write the read
//!    model (or buffer, and [`SqliteProjection::flush`] writes the buffer);
//! 5. the checkpoint moves to the batch's last position, the lease is
//!    renewed in the same transaction; `COMMIT`.
//!
//! Why two runners (two processes on one file) never apply an event twice:
//! a batch writes only after step 3 saw the checkpoint at the position its
//! events follow, and the write lock held from step 2 to step 5 means the
//! checkpoint cannot move between that check and the commit that moves it
//! past the batch. A crash (or an error, or a shutdown) before `COMMIT`
//! leaves the read model and the checkpoint as they were; after it, both
//! have moved, so a restart neither loses nor repeats an effect.
//!
//! # The lease
//!
//! Of several runners of one projection on one file (across processes),
//! one is active: it holds a [`SqliteLease`](crate::SqliteLease), a row of
//! the `leases` table it renews in every batch and, while idle, every lease
//! retry interval. The others stand by and take the lease once it has not
//! been renewed for [`LEASE_TTL`](crate::LEASE_TTL): a runner that stops
//! releases it at once, a killed one within that bound.

use std::future::Future;
use std::time::Duration;

use es_core::StoreError;
use es_core::consumer::{Engine, Partition, PartitionedRunner, Progress};
use es_core::projection::ProjectionError;

use crate::projection::SqliteConsumer;
pub use crate::projection::SqliteProjection;
use crate::store::SqliteEventStore;

pub use es_core::consumer::ConsumerStatus as ProjectionStatus;

/// The default number of events one batch (one transaction) handles.
pub const DEFAULT_RUNNER_BATCH_SIZE: usize = 500;

/// Runs a [`SqliteProjection`] durably: catches up from its checkpoint in
/// batches, then follows new commits (this process's wake it at once, other
/// processes' within the store's [`POLL_INTERVAL`](crate::POLL_INTERVAL)); one `BEGIN IMMEDIATE`
/// transaction per batch writes the read model and moves the checkpoint.
/// See the [module docs](crate::runner) for why two runners on one file
/// never apply an event twice.
///
/// The name mirrors `es_postgres::ProjectionRunner`: one shape, two crates.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use es_core::projection::{Dispatch, Projection, ProjectionError};
/// use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent, RecordedEvent};
/// use es_sqlite::{ProjectionRunner, SqliteEventStore, SqliteProjection};
/// use sqlx::SqliteConnection;
///
/// /// Counts `Pinged` events per stream in the table `pings`.
/// struct Pings;
/// impl Projection for Pings {
///     const NAME: &'static str = "pings";
///     const EVENT_TYPES: &'static [&'static str] = &["Pinged"];
/// }
/// impl Dispatch<SqliteConnection> for Pings {
///     async fn dispatch(&mut self, e: &RecordedEvent, conn: &mut SqliteConnection)
///         -> Result<(), ProjectionError> {
///         sqlx::query("INSERT INTO pings (stream_id, n) VALUES (?, 1) \
///                      ON CONFLICT (stream_id) DO UPDATE SET n = n + 1")
///             .bind(&e.stream_id)
///             .execute(conn)
///             .await
///             .map_err(|err| ProjectionError::handler::<Self>(e, err.into()))?;
///         Ok(())
///     }
/// }
/// impl SqliteProjection for Pings {
///     async fn setup(&mut self, conn: &mut SqliteConnection) -> Result<(), es_core::projection::HandlerError> {
///         sqlx::query("CREATE TABLE IF NOT EXISTS pings (stream_id TEXT PRIMARY KEY, n INTEGER NOT NULL)")
///             .execute(conn).await?;
///         Ok(())
///     }
///     async fn reset(&mut self, conn: &mut SqliteConnection) -> Result<(), es_core::projection::HandlerError> {
///         sqlx::query("DELETE FROM pings").execute(conn).await?;
///         Ok(())
///     }
/// }
///
/// let store = SqliteEventStore::in_memory().await?;
/// let ping = || NewEvent::from_raw("Pinged", 1, b"{}".to_vec(), Metadata::new());
/// store.append("Pinger-1", ExpectedVersion::Any, vec![ping(), ping()]).await?;
///
/// let mut runner = ProjectionRunner::new(store.clone(), Pings).batch_size(100);
/// assert_eq!(runner.catch_up().await?, 2);           // events handled
/// let status = runner.status().await?;
/// assert_eq!((status.position, status.head, status.lag), (2, 2, 0));
///
/// // Or follow new commits until a shutdown future completes:
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let follower = tokio::spawn(async move {
///     runner.run(async { let _ = stopped.await; }).await.map(|()| runner)
/// });
/// store.append("Pinger-2", ExpectedVersion::Any, vec![ping()]).await?;
/// # tokio::time::sleep(std::time::Duration::from_millis(50)).await;
/// let _ = stop.send(());
/// let mut runner = follower.await??;
///
/// let n: i64 = sqlx::query_scalar("SELECT SUM(n) FROM pings").fetch_one(store.pool()).await?;
/// assert_eq!(n, 3);
/// assert_eq!(runner.rebuild(|done, total| println!("{done}/{total}")).await?, 3);
/// # Ok(()) }
/// ```
pub struct ProjectionRunner<P> {
    engine: Engine<SqliteEventStore, SqliteConsumer<P>>,
}

impl<P: SqliteProjection> std::fmt::Debug for ProjectionRunner<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectionRunner")
            .field("engine", &self.engine)
            .finish()
    }
}

type SqliteEngine<P> = Engine<SqliteEventStore, SqliteConsumer<P>>;

impl<P: SqliteProjection> ProjectionRunner<P> {
    /// A runner of `projection` over `store`: batches of
    /// [`DEFAULT_RUNNER_BATCH_SIZE`], stops on a handler error, retries the
    /// lease every 500 ms.
    pub fn new(store: SqliteEventStore, projection: P) -> Self {
        Self {
            engine: Engine::new(store, SqliteConsumer(projection))
                .batch_size(DEFAULT_RUNNER_BATCH_SIZE),
        }
    }

    /// A worker of `projection` run as `count` partitions (a
    /// [`PartitionedRunner`]): `projection(p)` makes the projection of
    /// partition `p` each time the worker takes one. Start one in each
    /// worker process with the same count. SQLite filters nothing by
    /// partition: each partition reads every event of the projection's
    /// types and keeps its own, and one writer at a time commits the
    /// batches, so partitions mostly help a handler that waits on
    /// something else. A dead worker's partitions are taken over once its
    /// leases expire ([`LEASE_TTL`](crate::LEASE_TTL)). See
    /// [`PartitionedRunner`] for what holds.
    ///
    /// ```no_run
    /// # use es_core::projection::*; use es_core::RecordedEvent; use sqlx::SqliteConnection;
    /// # struct Balances;
    /// # impl Projection for Balances { const NAME: &'static str = "balances"; const EVENT_TYPES: &'static [&'static str] = &[]; }
    /// # impl Dispatch<SqliteConnection> for Balances {
    /// #     async fn dispatch(&mut self, _: &RecordedEvent, _: &mut SqliteConnection) -> Result<(), ProjectionError> { Ok(()) } }
    /// # impl es_sqlite::SqliteProjection for Balances {}
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use es_sqlite::{ProjectionRunner, SqliteEventStore};
    ///
    /// let store = SqliteEventStore::open("app.db").await?;
    /// let mut worker = ProjectionRunner::partitioned(store, 2, |_partition| Balances);
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// # drop(stop);
    /// worker.run(async { let _ = stopped.await; }).await?;
    /// # Ok(()) }
    /// ```
    pub fn partitioned<F>(
        store: SqliteEventStore,
        count: u32,
        projection: F,
    ) -> PartitionedRunner<
        SqliteEventStore,
        SqliteConsumer<P>,
        impl Fn(Partition) -> SqliteConsumer<P> + Send + Sync + 'static,
    >
    where
        F: Fn(Partition) -> P + Send + Sync + 'static,
    {
        PartitionedRunner::new(store, count, move |p| SqliteConsumer(projection(p)))
    }

    fn map(self, f: impl FnOnce(SqliteEngine<P>) -> SqliteEngine<P>) -> Self {
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
    /// [`SqliteEventStore::dead_letters`]).
    pub fn error_policy(self, policy: crate::ErrorPolicy) -> Self {
        self.map(|e| e.error_policy(policy))
    }

    /// How often a standby tries to take the lease (default 500 ms), and an
    /// idle active runner renews it.
    pub fn lease_retry(self, interval: Duration) -> Self {
        self.map(|e| e.lease_retry(interval))
    }

    /// How often a caught-up runner reads again if the store cannot wake it
    /// (no commit watch: normally the store's watch wakes it, at once for
    /// this process's commits and within [`POLL_INTERVAL`](crate::POLL_INTERVAL) for others').
    pub fn poll_interval(self, interval: Duration) -> Self {
        self.map(|e| e.poll_interval(interval))
    }

    /// The backoff after a transient database error (`SQLITE_BUSY` past the
    /// busy timeout, `SQLITE_LOCKED`, a pool timeout, an I/O error): starts
    /// at `initial` and doubles up to `max` (defaults 100 ms and 10 s). Such
    /// errors are retried for as long as the runner runs.
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

    /// How many events this runner has read from the store (only the
    /// projection's types: the store filters the rest out), including
    /// batches it dropped because another runner did them first.
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
    /// it: a handler's under [`ErrorPolicy::Stop`](crate::ErrorPolicy::Stop)
    /// (a [`ProjectionError::Handler`] or [`ProjectionError::Decode`]), or a
    /// store failure that is not transient.
    ///
    /// Commits made through this store (or its clones) wake the runner at
    /// once; commits by other processes within the store's
    /// [`POLL_INTERVAL`](crate::POLL_INTERVAL).
    ///
    /// `shutdown` is any future (a `oneshot::Receiver` mapped to `()`,
    /// `tokio::signal::ctrl_c()` mapped to `()`, …). It is checked between
    /// batches and while waiting: the batch in flight commits first, so a
    /// shutdown never half-commits; a process that dies instead rolls it back.
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

    /// Rebuilds the read model, as the active runner: one `BEGIN IMMEDIATE`
    /// transaction runs [`SqliteProjection::reset`], deletes the
    /// projection's dead letters and moves the checkpoint back to 0; then
    /// every event of its types is replayed in batches, and
    /// `progress(done, total)` is called after the reset and after each
    /// batch (`total`: the events of its types when the reset committed,
    /// raised to `done` if more arrive). Returns the events replayed.
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
