//! The durable projection runner on SQLite: [`ProjectionRunner`], its
//! [`SqliteProjection`] hooks and [`ProjectionStatus`].
//!
//! The same shape as `es_postgres::ProjectionRunner` (`new`, `batch_size`,
//! `error_policy`, `run`, `catch_up`, `rebuild`, `status`), so an
//! application moves between the two stores by changing the crate path.
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
//!    model;
//! 5. the checkpoint moves to the batch's last position; `COMMIT`.
//!
//! Why two runners (two processes on one file) never apply an event twice:
//! a batch writes only after step 3 saw the checkpoint at the position its
//! events follow, and the write lock held from step 2 to step 5 means the
//! checkpoint cannot move between that check and the commit that moves it
//! past the batch. Of two runners that read the same events, the first to
//! take the lock applies them and moves the checkpoint; the second then
//! finds the checkpoint moved and drops its batch. A crash (or an error,
//! or a shutdown) before `COMMIT` leaves the read model and the checkpoint
//! as they were; after it, both have moved, so a restart neither loses nor
//! repeats an effect.
//!
//! There is no lease: the write lock already serializes the batches, so
//! several runners of one projection may run at once. They take turns, and
//! the loser of each race throws away a batch it read; for less wasted
//! work, run one runner per projection.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::time::Duration;

use es_core::projection::{Dispatch, HandlerError, Projection, ProjectionError};
use es_core::{CommitWatch, EventStore, RecordedEvent, StoreError};
use futures::FutureExt;
use sqlx::{Row, SqliteConnection};
use tracing::Instrument;

use crate::checkpoints::{load_checkpoint_with, save_checkpoint_with};
use crate::store::{POLL_INTERVAL, SqliteEventStore};

/// A projection the SQLite [`ProjectionRunner`] can run: its handlers write
/// the read model through the batch transaction's `&mut SqliteConnection`
/// (what `#[derive(Projection)]` writes from `On<E, SqliteConnection>`
/// handlers), plus two optional hooks.
///
/// ```
/// use es_core::projection::{Dispatch, HandlerError, Projection, ProjectionError};
/// use es_core::RecordedEvent;
/// use es_sqlite::SqliteProjection;
/// use sqlx::SqliteConnection;
///
/// struct Pings;
/// impl Projection for Pings {
///     const NAME: &'static str = "pings";
///     const EVENT_TYPES: &'static [&'static str] = &["Pinged"];
/// }
/// impl Dispatch<SqliteConnection> for Pings {
///     async fn dispatch(&mut self, e: &RecordedEvent, conn: &mut SqliteConnection)
///         -> Result<(), ProjectionError> {
///         sqlx::query("UPDATE pings SET n = n + 1")
///             .execute(conn)
///             .await
///             .map_err(|err| ProjectionError::handler::<Self>(e, err.into()))?;
///         Ok(())
///     }
/// }
/// impl SqliteProjection for Pings {
///     async fn setup(&mut self, conn: &mut SqliteConnection) -> Result<(), HandlerError> {
///         sqlx::query("CREATE TABLE IF NOT EXISTS pings (n INTEGER NOT NULL)").execute(&mut *conn).await?;
///         sqlx::query("INSERT INTO pings SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM pings)")
///             .execute(conn).await?;
///         Ok(())
///     }
///     async fn reset(&mut self, conn: &mut SqliteConnection) -> Result<(), HandlerError> {
///         sqlx::query("UPDATE pings SET n = 0").execute(conn).await?;
///         Ok(())
///     }
/// }
/// ```
pub trait SqliteProjection: Dispatch<SqliteConnection> {
    /// Creates the read model's tables if they do not exist. Runs once per
    /// runner, before its first batch, in a `BEGIN IMMEDIATE` transaction
    /// that also creates the projection's checkpoint (at 0) if it has none.
    fn setup(
        &mut self,
        conn: &mut SqliteConnection,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = conn;
        async { Ok(()) }
    }

    /// Empties the read model before a rebuild (`DELETE FROM …`). Runs in
    /// the transaction that moves the checkpoint back to 0, so a crash
    /// leaves either the old model and checkpoint or an empty model at 0.
    ///
    /// The default has no way to empty the model: a rebuild then refuses
    /// up front with [`ProjectionError::NoReset`]
    /// and changes nothing (replaying into the old rows would fail on their
    /// keys halfway, or count twice). A projection whose handlers may
    /// safely replay over the existing model writes a `reset` that does
    /// nothing.
    fn reset(
        &mut self,
        conn: &mut SqliteConnection,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = conn;
        async { Err(Box::new(es_core::projection::NoResetHook) as HandlerError) }
    }
}

/// What a [`ProjectionRunner`] does when a handler fails (or an event of
/// its types does not decode).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorPolicy {
    /// Roll the batch back and return the error, which names the
    /// projection, event type, stream, version and position. The checkpoint
    /// stays before the batch; a restarted runner tries the event again.
    /// (The SQLite store has no dead-letter table yet.)
    #[default]
    Stop,
}

/// Where a projection is. See [`ProjectionRunner::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProjectionStatus {
    /// The checkpoint: the last position handled (0: none).
    pub position: u64,
    /// The newest position of the projection's types (0: none).
    pub head: u64,
    /// How many events of its types lie after the checkpoint. (Other types
    /// leave gaps between a projection's positions, so lag is counted in
    /// events, not positions.)
    pub lag: u64,
}

/// The default number of events one batch (one transaction) handles.
pub const DEFAULT_RUNNER_BATCH_SIZE: usize = 500;
const DEFAULT_BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(10));

/// Runs a [`SqliteProjection`] durably: catches up from its checkpoint in
/// batches, then follows new commits (this process's wake it at once, other
/// processes' within the store's [`POLL_INTERVAL`]); one `BEGIN IMMEDIATE`
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
    store: SqliteEventStore,
    projection: P,
    batch_size: usize,
    policy: ErrorPolicy,
    poll_interval: Duration,
    backoff: (Duration, Duration),
    /// Whether the setup hook ran and the checkpoint row exists.
    ready: bool,
    /// The checkpoint as this runner last saw it.
    position: u64,
    events_read: u64,
}

impl<P: Projection> std::fmt::Debug for ProjectionRunner<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectionRunner")
            .field("projection", &P::NAME)
            .field("store", &self.store)
            .field("batch_size", &self.batch_size)
            .field("policy", &self.policy)
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

/// What one step of the loop did.
enum Step {
    /// A batch of this many events committed (0: nothing to read).
    Handled(usize),
    /// The stored checkpoint was not where this runner thought; reread.
    Moved,
    /// The rebuild's reset committed; this many events are to replay.
    Reset(u64),
}

impl<P: SqliteProjection> ProjectionRunner<P> {
    /// A runner of `projection` over `store`: batches of
    /// [`DEFAULT_RUNNER_BATCH_SIZE`], stops on a handler error.
    pub fn new(store: SqliteEventStore, projection: P) -> Self {
        Self {
            store,
            projection,
            batch_size: DEFAULT_RUNNER_BATCH_SIZE,
            policy: ErrorPolicy::Stop,
            poll_interval: POLL_INTERVAL,
            backoff: DEFAULT_BACKOFF,
            ready: false,
            position: 0,
            events_read: 0,
        }
    }

    /// How many events one batch (one transaction) handles at most (default 500).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// What a handler error does (default [`ErrorPolicy::Stop`]).
    pub fn error_policy(mut self, policy: ErrorPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How often a caught-up runner reads again if the store cannot wake it
    /// (no commit watch: normally the store's watch wakes it, at once for
    /// this process's commits and within [`POLL_INTERVAL`] for others').
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// The backoff after a transient database error (`SQLITE_BUSY` past the
    /// busy timeout, `SQLITE_LOCKED`, a pool timeout, an I/O error): starts
    /// at `initial` and doubles up to `max` (defaults 100 ms and 10 s). Such
    /// errors are retried for as long as the runner runs.
    pub fn retry_backoff(mut self, initial: Duration, max: Duration) -> Self {
        let initial = initial.max(Duration::from_millis(1));
        self.backoff = (initial, max.max(initial));
        self
    }

    /// The projection.
    pub fn projection(&self) -> &P {
        &self.projection
    }

    /// The projection, mutably.
    pub fn projection_mut(&mut self) -> &mut P {
        &mut self.projection
    }

    /// How many events this runner has read from the store (only the
    /// projection's types: the store filters the rest out), including
    /// batches it dropped because another runner did them first.
    pub fn events_read(&self) -> u64 {
        self.events_read
    }

    /// The projection's checkpoint, head and lag, from the database. (The
    /// future does not borrow the runner.)
    pub fn status(
        &self,
    ) -> impl Future<Output = Result<ProjectionStatus, StoreError>> + Send + 'static {
        let store = self.store.clone();
        async move { store.projection_status(P::NAME, P::EVENT_TYPES).await }
    }

    /// Catches up, then follows new commits until `shutdown` completes.
    /// Returns `Ok(())` after a shutdown, or the error that stopped it: a
    /// handler's under [`ErrorPolicy::Stop`] (a [`ProjectionError::Handler`]
    /// or [`ProjectionError::Decode`]), or a store failure that is not
    /// transient.
    ///
    /// Commits made through this store (or its clones) wake the runner at
    /// once; commits by other processes within the store's
    /// [`POLL_INTERVAL`] (see [`SqliteEventStore`]'s `watch_commits`).
    ///
    /// `shutdown` is any future (a `oneshot::Receiver` mapped to `()`,
    /// `tokio::signal::ctrl_c()` mapped to `()`, …). It is checked between
    /// batches and while waiting: the batch in flight commits first, so a
    /// shutdown never half-commits; a process that dies instead rolls it back.
    pub async fn run<F>(&mut self, shutdown: F) -> Result<(), ProjectionError>
    where
        F: Future<Output = ()> + Send,
    {
        let shutdown = pin!(shutdown);
        self.drive(shutdown, true, false, &mut |_, _| {})
            .await
            .map(|_| ())
    }

    /// Handles every event up to the head, then returns how many it handled.
    pub async fn catch_up(&mut self) -> Result<u64, ProjectionError> {
        let never = pin!(std::future::pending::<()>());
        self.drive(never, false, false, &mut |_, _| {}).await
    }

    /// Rebuilds the read model: one `BEGIN IMMEDIATE` transaction runs
    /// [`SqliteProjection::reset`] and moves the checkpoint back to 0; then
    /// every event of its types is replayed in batches, and
    /// `progress(done, total)` is called after the reset and after each
    /// batch (`total`: the events of its types when the reset committed,
    /// raised to `done` if more arrive). Returns the events replayed.
    ///
    /// Another runner of the projection (another process) finds the
    /// checkpoint moved at its next batch and follows from the new position.
    pub async fn rebuild<F>(&mut self, mut progress: F) -> Result<u64, ProjectionError>
    where
        F: FnMut(u64, u64) + Send,
    {
        let never = pin!(std::future::pending::<()>());
        self.drive(never, false, true, &mut progress).await
    }

    fn store_error(&self, context: &str, e: impl Into<es_core::BoxError>) -> ProjectionError {
        ProjectionError::Store {
            projection: P::NAME,
            source: StoreError::backend(format!("{context} of projection `{}`", P::NAME), e),
        }
    }

    fn wrap(source: StoreError) -> ProjectionError {
        ProjectionError::Store {
            projection: P::NAME,
            source,
        }
    }

    /// The loop behind `run`, `catch_up` and `rebuild`.
    async fn drive<F>(
        &mut self,
        mut shutdown: Pin<&mut F>,
        follow: bool,
        mut reset: bool,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<u64, ProjectionError>
    where
        F: Future<Output = ()> + Send + ?Sized,
    {
        let mut watch: Option<CommitWatch> = None;
        let mut backoff = self.backoff.0;
        let mut handled = 0u64;
        let mut total = 0u64;
        loop {
            if shutdown.as_mut().now_or_never().is_some() {
                return Ok(handled);
            }
            let step = if !self.ready {
                self.activate().await.map(|()| Step::Moved)
            } else if reset {
                self.reset().await
            } else {
                if follow && watch.is_none() {
                    // Before reading, so a commit between the read and the
                    // wait still wakes the runner.
                    watch = self.store.watch_commits().await.ok();
                }
                self.batch().await
            };
            match step {
                Ok(Step::Handled(n)) => {
                    backoff = self.backoff.0;
                    handled += n as u64;
                    if reset || n > 0 {
                        total = total.max(handled);
                        progress(handled, total);
                    }
                    // A short page may still not be the end: a page stops
                    // before an event that cannot be read. Catching up reads
                    // until a read finds nothing.
                    if n >= self.batch_size || (n > 0 && !follow) {
                        continue;
                    }
                    if !follow {
                        return Ok(handled);
                    }
                    tokio::select! {
                        biased;
                        () = shutdown.as_mut() => return Ok(handled),
                        () = changed(&mut watch, self.poll_interval) => {}
                    }
                }
                Ok(Step::Reset(n)) => {
                    reset = false;
                    total = n;
                    progress(0, total);
                }
                Ok(Step::Moved) => {}
                Err(e) if is_transient(&e) => {
                    tracing::warn!(
                        projection = P::NAME,
                        error = %es_core::ErrorChain(&e),
                        retry_in_ms = backoff.as_millis() as u64,
                        "transient database error; retrying"
                    );
                    tokio::select! {
                        biased;
                        () = shutdown.as_mut() => return Ok(handled),
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(self.backoff.1);
                }
                Err(e) => {
                    tracing::error!(projection = P::NAME, error = %es_core::ErrorChain(&e), "projection runner stopped");
                    return Err(e);
                }
            }
        }
    }

    /// Runs the setup hook and creates the checkpoint row (at 0) if there is
    /// none, in one transaction; loads the position.
    async fn activate(&mut self) -> Result<(), ProjectionError> {
        let span = tracing::info_span!("es_sqlite.projection.setup", projection = P::NAME);
        async {
            let store = self.store.clone();
            let mut tx = store
                .pool()
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(|e| self.store_error("setting up", e))?;
            let result = async {
                self.projection
                    .setup(&mut tx)
                    .await
                    .map_err(|e| self.store_error("running the setup hook", e))?;
                let position = load_checkpoint_with(&mut *tx, P::NAME)
                    .await
                    .map_err(Self::wrap)?;
                if position.is_none() {
                    save_checkpoint_with(&mut *tx, P::NAME, 0)
                        .await
                        .map_err(Self::wrap)?;
                }
                Ok(position.unwrap_or(0))
            }
            .await;
            let position = match result {
                Ok(p) => p,
                Err(e) => {
                    let _ = tx.rollback().await;
                    return Err(e);
                }
            };
            tx.commit()
                .await
                .map_err(|e| self.store_error("setting up", e))?;
            self.position = position;
            self.ready = true;
            tracing::info!(projection = P::NAME, position, "projection runner is ready");
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// The rebuild's reset transaction.
    async fn reset(&mut self) -> Result<Step, ProjectionError> {
        let span = tracing::info_span!("es_sqlite.projection.reset", projection = P::NAME);
        async {
            let store = self.store.clone();
            let mut tx = store
                .pool()
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(|e| self.store_error("beginning the reset", e))?;
            let result = async {
                self.projection.reset(&mut tx).await.map_err(|e| {
                    if e.is::<es_core::projection::NoResetHook>() {
                        ProjectionError::NoReset {
                            projection: P::NAME,
                        }
                    } else {
                        self.store_error("running the reset hook", e)
                    }
                })?;
                save_checkpoint_with(&mut *tx, P::NAME, 0)
                    .await
                    .map_err(Self::wrap)
            }
            .await;
            if let Err(e) = result {
                let _ = tx.rollback().await;
                return Err(e);
            }
            tx.commit()
                .await
                .map_err(|e| self.store_error("committing the reset", e))?;
            self.position = 0;
            let status = self
                .store
                .projection_status(P::NAME, P::EVENT_TYPES)
                .await
                .map_err(Self::wrap)?;
            tracing::info!(
                projection = P::NAME,
                total = status.lag,
                "projection reset; replaying"
            );
            Ok(Step::Reset(status.lag))
        }
        .instrument(span)
        .await
    }

    /// Reads one batch and applies it in one transaction.
    async fn batch(&mut self) -> Result<Step, ProjectionError> {
        let events = self
            .store
            .read_all(self.position, self.batch_size, Some(P::EVENT_TYPES))
            .await
            .map_err(Self::wrap)?
            .events;
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Ok(Step::Handled(0));
        };
        self.events_read += events.len() as u64;
        let span = tracing::info_span!(
            "es_sqlite.projection.batch",
            projection = P::NAME,
            first = first.global_position,
            last = last.global_position,
            events = events.len(),
        );
        self.apply_batch(&events).instrument(span).await
    }

    async fn apply_batch(&mut self, events: &[RecordedEvent]) -> Result<Step, ProjectionError> {
        let store = self.store.clone();
        // The write lock now: no other writer (append or runner, in any
        // process) until this transaction ends.
        let mut tx = store
            .pool()
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.store_error("beginning a batch", e))?;
        let stored = match load_checkpoint_with(&mut *tx, P::NAME).await {
            Ok(p) => p.unwrap_or(0),
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(Self::wrap(e));
            }
        };
        if stored != self.position {
            // Another runner did (part of) this batch: drop it and read again.
            let _ = tx.rollback().await;
            tracing::debug!(
                projection = P::NAME,
                expected = self.position,
                stored,
                "the checkpoint moved under this runner; reading again"
            );
            self.position = stored;
            return Ok(Step::Moved);
        }
        let last = events.last().map_or(self.position, |e| e.global_position);
        let result = async {
            for e in events {
                match self.policy {
                    ErrorPolicy::Stop => dispatch(&mut self.projection, e, &mut tx).await?,
                }
            }
            save_checkpoint_with(&mut *tx, P::NAME, last)
                .await
                .map_err(Self::wrap)
        }
        .await;
        if let Err(e) = result {
            let _ = tx.rollback().await;
            return Err(e);
        }
        tx.commit()
            .await
            .map_err(|e| self.store_error("committing a batch", e))?;
        self.position = last;
        Ok(Step::Handled(events.len()))
    }
}

/// Runs one handler; a panic becomes a handler error (and the batch's
/// transaction is rolled back, like for an error).
async fn dispatch<P: SqliteProjection>(
    projection: &mut P,
    event: &RecordedEvent,
    conn: &mut SqliteConnection,
) -> Result<(), ProjectionError> {
    match AssertUnwindSafe(projection.dispatch(event, conn))
        .catch_unwind()
        .await
    {
        Ok(r) => r,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string payload".to_owned());
            Err(ProjectionError::handler::<P>(
                event,
                format!("the handler panicked: {msg}").into(),
            ))
        }
    }
}

/// Waits for the next announced commit; sleeps `fallback` when there is no
/// watch (or it closed).
async fn changed(watch: &mut Option<CommitWatch>, fallback: Duration) {
    if let Some(w) = watch {
        if w.changed().await.is_some() {
            return;
        }
        *watch = None;
    }
    tokio::time::sleep(fallback).await;
}

/// Whether an error (or one of its causes) is a database failure worth
/// retrying: `SQLITE_BUSY` or `SQLITE_LOCKED` (any extended code), a pool
/// timeout, an I/O error, a crashed connection worker.
fn is_transient(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(sql) = e.downcast_ref::<sqlx::Error>() {
            return match sql {
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed => true,
                sqlx::Error::Database(db) => db
                    .code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .is_some_and(|c| matches!(c & 0xff, 5 | 6)),
                _ => false,
            };
        }
        cur = e.source();
    }
    false
}

impl SqliteEventStore {
    /// A projection's checkpoint, head and lag (see [`ProjectionStatus`]),
    /// for a name and its event types (a projection's `NAME` and
    /// `EVENT_TYPES`), read in one statement.
    pub async fn projection_status(
        &self,
        projection: &str,
        types: &[&str],
    ) -> Result<ProjectionStatus, StoreError> {
        // ?1 is the name, ?2… the types (bound once, used twice).
        let list = if types.is_empty() {
            "NULL".to_owned()
        } else {
            (2..types.len() + 2)
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let sql = format!(
            "SELECT c.position AS position, \
             COALESCE((SELECT MAX(global_position) FROM events \
                       WHERE event_type IN ({list})), 0) AS head, \
             (SELECT COUNT(*) FROM events \
              WHERE global_position > c.position AND event_type IN ({list})) AS lag \
             FROM (SELECT COALESCE((SELECT position FROM checkpoints WHERE projection = ?1), 0) \
                   AS position) AS c"
        );
        let mut query = sqlx::query(&sql).bind(projection);
        for t in types {
            query = query.bind(*t);
        }
        let ctx = || format!("reading the status of projection `{projection}`");
        let row = query
            .fetch_one(self.pool())
            .await
            .map_err(|e| StoreError::backend(ctx(), e))?;
        let get = |name: &str| -> Result<u64, StoreError> {
            let v: i64 = row
                .try_get(name)
                .map_err(|e| StoreError::backend(ctx(), e))?;
            Ok(u64::try_from(v).unwrap_or(0))
        };
        Ok(ProjectionStatus {
            position: get("position")?,
            head: get("head")?,
            lag: get("lag")?,
        })
    }
}
