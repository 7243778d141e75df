//! The durable projection runner: [`ProjectionRunner`], its lease, dead
//! letters and status.
//!
//! # Exactly once
//!
//! Each batch is one transaction on a pooled connection:
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
//! into the next attempt; after it, both have moved. A
//! `COMMIT` whose outcome is unknown (the connection broke) is resolved by
//! step 2 of the next batch. Step 2 also makes exactly-once independent of
//! the lease: if the lease connection dies mid-batch and a second runner
//! starts, the two batch transactions queue on the row lock, and the second
//! finds the position moved and drops its batch instead of applying it
//! again. The lease only keeps the others from doing work to throw away.
//!
//! # The lease
//!
//! Of several runners of one projection name (one store schema), across
//! processes, one is active: it holds the session advisory lock
//! `pg_try_advisory_lock(hashtext(schema), hashtext(name))` on a connection
//! of its own for as long as it runs. The others stand by and try again
//! every [`ProjectionRunner::lease_retry`] (500 ms by default). The lock is
//! released when the runner stops (`run` returns, or it is dropped), or when
//! its connection ends, so a killed process releases it as soon as
//! PostgreSQL sees the socket close, which is at once when the process dies
//! and its kernel closes the socket. A takeover then takes at most
//! `lease_retry` plus the standby's setup. If the whole host vanishes, the
//! server notices through TCP keepalives, which the lease connection sets to
//! 10 s idle + 3 probes 2 s apart: about 16 s more. (Over a Unix socket
//! keepalives do not apply; the host is the server's own.)
//!
//! Two names whose `hashtext` collides share one lease: they are safe, but
//! only one of them runs at a time.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::time::Duration;

use es_core::projection::{HandlerError, Projection, ProjectionError};
use es_core::{CommitWatch, EventStore, RecordedEvent, StoreError};
use futures::FutureExt;
use sqlx::PgConnection;
use tracing::Instrument;

use crate::checkpoints::ProjectionStatus;
use crate::inline::PgProjection;
use crate::lease::Lease;
use crate::store::PgEventStore;

/// What a [`ProjectionRunner`] does when a handler fails (or an event of
/// its types does not decode).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorPolicy {
    /// Roll the batch back and return the error, which names the
    /// projection, event type, stream, version and position. The checkpoint
    /// stays before the batch; a restarted runner tries the event again.
    #[default]
    Stop,
    /// Skip the events whose handler fails: record each in the
    /// `dead_letters` table (in the batch's transaction) and go on. See
    /// [`PgEventStore::dead_letters`].
    ///
    /// A batch first runs like under `Stop` (no savepoints). When a handler
    /// or [`PgProjection::flush`] fails, that attempt is rolled back and
    /// [`PgProjection::discard`]ed, and the batch is handled again one event
    /// at a time: each event's handler and its own `flush` in a
    /// `SAVEPOINT`; a failure there undoes only that event's writes (and
    /// discards its buffer) and makes it a dead letter. A flush failure is
    /// thereby attributed to one event, and a buffering projection stays
    /// exactly-once. Handlers of such a batch run twice (the first run's
    /// writes rolled back).
    DeadLetter,
}

const DEFAULT_BATCH_SIZE: usize = 500;
const DEFAULT_LEASE_RETRY: Duration = Duration::from_millis(500);
const DEFAULT_BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(10));

/// Runs a [`PgProjection`] durably: catches up from its checkpoint in
/// batches, then follows new commits; one transaction per batch writes the
/// read model and the checkpoint (see the [module docs](self) for why that
/// is exactly once, and for the lease that keeps one runner per name
/// active).
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
    store: PgEventStore,
    projection: P,
    batch_size: usize,
    policy: ErrorPolicy,
    lease_retry: Duration,
    poll_interval: Duration,
    backoff: (Duration, Duration),
    lease: Option<Lease>,
    position: u64,
    events_read: u64,
}

impl<P> std::fmt::Debug for ProjectionRunner<P>
where
    P: Projection,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectionRunner")
            .field("projection", &P::NAME)
            .field("batch_size", &self.batch_size)
            .field("policy", &self.policy)
            .field("active", &self.lease.is_some())
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
    /// The lease connection is gone; stand by again.
    LeaseLost,
    /// The rebuild's reset committed; this many events are to replay.
    Reset(u64),
    /// (Inside `apply_batch` only.) Under `DeadLetter`, a handler or the
    /// flush failed; nothing committed; handle the batch event by event.
    Isolate,
}

impl<P: PgProjection> ProjectionRunner<P> {
    /// A runner of `projection` over `store`: batches of 500, stops on a
    /// handler error, retries the lease every 500 ms, polls at the store's
    /// poll interval when no notification arrives.
    pub fn new(store: PgEventStore, projection: P) -> Self {
        let poll_interval = store.poll_interval();
        Self {
            store,
            projection,
            batch_size: DEFAULT_BATCH_SIZE,
            policy: ErrorPolicy::Stop,
            lease_retry: DEFAULT_LEASE_RETRY,
            poll_interval,
            backoff: DEFAULT_BACKOFF,
            lease: None,
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

    /// How often a standby tries to take the lease (default 500 ms): the
    /// bound on a takeover once the active runner's connection is gone.
    pub fn lease_retry(mut self, interval: Duration) -> Self {
        self.lease_retry = interval.max(Duration::from_millis(1));
        self
    }

    /// How often a caught-up runner looks for new events when no commit
    /// notification wakes it (default: the store's poll interval).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// The backoff after a transient database error (connection lost,
    /// serialization failure, deadlock, pool timeout, server shutting down):
    /// starts at `initial` and doubles up to `max` (defaults 100 ms and
    /// 10 s). Such errors are retried for as long as the runner runs.
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

    /// Whether this runner holds the lease (is the active runner).
    pub fn is_active(&self) -> bool {
        self.lease.is_some()
    }

    /// How many events this runner has read from the store (all of the
    /// projection's types: the store filters the rest out).
    pub fn events_read(&self) -> u64 {
        self.events_read
    }

    /// The projection's checkpoint, head and lag, from the database.
    pub async fn status(&self) -> Result<ProjectionStatus, StoreError> {
        self.store.projection_status(P::NAME, P::EVENT_TYPES).await
    }

    /// Becomes the active runner (waiting for the lease), catches up, then
    /// follows new commits until `shutdown` completes, and releases the
    /// lease. Returns `Ok(())` after a shutdown, or the error that stopped
    /// it: a handler's under [`ErrorPolicy::Stop`] (a
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
        let mut shutdown = pin!(shutdown);
        let result = self
            .drive(shutdown.as_mut(), true, false, &mut |_, _| {})
            .await;
        self.release().await;
        result.map(|_| ())
    }

    /// Becomes the active runner (waiting for the lease) and handles every
    /// event up to the head, then returns how many it handled. Keeps the
    /// lease until [`ProjectionRunner::release`], `run` or a drop.
    pub async fn catch_up(&mut self) -> Result<u64, ProjectionError> {
        let never = pin!(std::future::pending::<()>());
        self.drive(never, false, false, &mut |_, _| {}).await
    }

    /// Rebuilds the read model, as the active runner (waiting for the
    /// lease): one transaction runs [`PgProjection::reset`], deletes the
    /// projection's dead letters and moves the checkpoint back to 0; then
    /// every event of its types is replayed in batches, and
    /// `progress(done, total)` is called after the reset and after each
    /// batch (`total`: the events of its types when the reset committed,
    /// raised to `done` if more arrive). Returns the events replayed. Keeps
    /// the lease, like [`ProjectionRunner::catch_up`].
    pub async fn rebuild<F>(&mut self, mut progress: F) -> Result<u64, ProjectionError>
    where
        F: FnMut(u64, u64) + Send,
    {
        let never = pin!(std::future::pending::<()>());
        self.drive(never, false, true, &mut progress).await
    }

    /// Gives up the lease (a standby takes over within its retry interval).
    pub async fn release(&mut self) {
        if let Some(lease) = self.lease.take() {
            lease.close().await;
            tracing::info!(projection = P::NAME, "projection runner released its lease");
        }
    }

    fn store_error(&self, context: &str, e: impl Into<es_core::BoxError>) -> ProjectionError {
        ProjectionError::Store {
            projection: P::NAME,
            source: StoreError::backend(format!("{context} of projection `{}`", P::NAME), e),
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
            let step = if self.lease.is_none() {
                tokio::select! {
                    biased;
                    () = shutdown.as_mut() => return Ok(handled),
                    r = self.activate() => r.map(|()| Step::Moved),
                }
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
                        () = changed(&mut watch) => {}
                        () = tokio::time::sleep(self.poll_interval) => {}
                    }
                }
                Ok(Step::Reset(n)) => {
                    reset = false;
                    total = n;
                    progress(0, total);
                }
                Ok(Step::Moved | Step::Isolate) => {}
                Ok(Step::LeaseLost) => {
                    tracing::warn!(
                        projection = P::NAME,
                        "projection runner lost its lease connection; standing by"
                    );
                    self.lease = None;
                }
                Err(e) if is_transient(&e) => {
                    tracing::warn!(
                        projection = P::NAME,
                        error = %es_core::ErrorChain(&e),
                        retry_in_ms = backoff.as_millis() as u64,
                        "transient database error; retrying"
                    );
                    if !self.still_active().await {
                        self.lease = None;
                    }
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

    /// Takes the lease (waiting), runs the setup hook, creates the
    /// checkpoint row and loads the position.
    async fn activate(&mut self) -> Result<(), ProjectionError> {
        let mut standby_logged = false;
        let lease = loop {
            match Lease::try_acquire(&self.store, P::NAME).await {
                Ok(Some(lease)) => break lease,
                Ok(None) => {
                    if !standby_logged {
                        tracing::info!(
                            projection = P::NAME,
                            "another runner is active; standing by"
                        );
                        standby_logged = true;
                    }
                    tokio::time::sleep(self.lease_retry).await;
                }
                Err(e) => return Err(self.store_error("taking the lease", e)),
            }
        };
        self.lease = Some(lease);
        let ready = async {
            let mut tx = self
                .store
                .pool()
                .begin()
                .await
                .map_err(|e| self.store_error("setting up", e))?;
            self.projection
                .setup(&mut tx)
                .await
                .map_err(|e| self.store_error("running the setup hook", e))?;
            self.store
                .checkpoints()
                .init(&mut tx, P::NAME)
                .await
                .map_err(|e| self.store_error("creating the checkpoint", e))?;
            tx.commit()
                .await
                .map_err(|e| self.store_error("setting up", e))?;
            self.store
                .load_checkpoint(P::NAME)
                .await
                .map(|p| p.unwrap_or(0))
                .map_err(|source| ProjectionError::Store {
                    projection: P::NAME,
                    source,
                })
        }
        .await;
        match ready {
            Ok(position) => {
                self.position = position;
                tracing::info!(
                    projection = P::NAME,
                    position,
                    "projection runner is active"
                );
                Ok(())
            }
            Err(e) => {
                self.release().await;
                Err(e)
            }
        }
    }

    /// Locks the checkpoint row in `tx`; the stored position.
    async fn lock_checkpoint(&self, tx: &mut PgConnection) -> Result<Option<u64>, ProjectionError> {
        self.store
            .checkpoints()
            .lock(tx, P::NAME)
            .await
            .map_err(|e| self.store_error("locking the checkpoint", e))
    }

    /// Begins a batch transaction with the checkpoint row locked at this
    /// runner's position; `Err(step)` (nothing begun) when the checkpoint
    /// moved under the runner (read again) or its row is gone (activate
    /// again, which creates it at 0).
    async fn begin_at_checkpoint(
        &mut self,
    ) -> Result<Result<sqlx::Transaction<'static, sqlx::Postgres>, Step>, ProjectionError> {
        let mut tx = self
            .store
            .pool()
            .begin()
            .await
            .map_err(|e| self.store_error("beginning a batch", e))?;
        match self.lock_checkpoint(&mut tx).await? {
            Some(p) if p == self.position => Ok(Ok(tx)),
            Some(p) => {
                tracing::debug!(
                    projection = P::NAME,
                    expected = self.position,
                    stored = p,
                    "the checkpoint moved under this runner; reading again"
                );
                self.position = p;
                Ok(Err(Step::Moved))
            }
            None => {
                drop(tx);
                self.release().await;
                Ok(Err(Step::Moved))
            }
        }
    }

    /// Whether the lease connection still answers.
    async fn still_active(&mut self) -> bool {
        match self.lease.as_mut() {
            Some(lease) => lease.alive().await,
            None => false,
        }
    }

    /// The rebuild's reset transaction.
    async fn reset(&mut self) -> Result<Step, ProjectionError> {
        // Nothing buffered before the reset may be flushed after it.
        self.projection.discard();
        let span = tracing::info_span!("es_postgres.projection.reset", projection = P::NAME);
        async {
            let store = self.store.clone();
            let checkpoints = store.checkpoints();
            let mut tx = store
                .pool()
                .begin()
                .await
                .map_err(|e| self.store_error("beginning the reset", e))?;
            if self.lock_checkpoint(&mut tx).await?.is_none() {
                drop(tx);
                self.release().await;
                return Ok(Step::Moved);
            }
            self.projection.reset(&mut tx).await.map_err(|e| {
                if e.is::<es_core::projection::NoResetHook>() {
                    ProjectionError::NoReset {
                        projection: P::NAME,
                    }
                } else {
                    self.store_error("running the reset hook", e)
                }
            })?;
            checkpoints
                .clear_dead_letters(&mut tx, P::NAME)
                .await
                .map_err(|e| self.store_error("clearing the dead letters", e))?;
            checkpoints
                .update(&mut tx, P::NAME, 0)
                .await
                .map_err(|e| self.store_error("clearing the checkpoint", e))?;
            if !self.still_active().await {
                return Ok(Step::LeaseLost);
            }
            tx.commit()
                .await
                .map_err(|e| self.store_error("committing the reset", e))?;
            self.position = 0;
            let status = self
                .status()
                .await
                .map_err(|source| ProjectionError::Store {
                    projection: P::NAME,
                    source,
                })?;
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
        let events = match self
            .store
            .read_all(self.position, self.batch_size, Some(P::EVENT_TYPES))
            .await
        {
            Ok(page) => page.events,
            Err(source) => {
                if let (Some(position), ErrorPolicy::DeadLetter) =
                    (source.unreadable_position(), self.policy)
                {
                    return self.dead_letter_unreadable(position, &source).await;
                }
                return Err(ProjectionError::Store {
                    projection: P::NAME,
                    source,
                });
            }
        };
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Ok(Step::Handled(0));
        };
        self.events_read += events.len() as u64;
        let span = tracing::info_span!(
            "es_postgres.projection.batch",
            projection = P::NAME,
            first = first.global_position,
            last = last.global_position,
            events = events.len(),
        );
        self.apply_batch(&events).instrument(span).await
    }

    /// Records an event the store cannot read back as a dead letter and
    /// moves the checkpoint past it, in one transaction
    /// ([`ErrorPolicy::DeadLetter`]).
    async fn dead_letter_unreadable(
        &mut self,
        position: u64,
        error: &StoreError,
    ) -> Result<Step, ProjectionError> {
        let store = self.store.clone();
        let checkpoints = store.checkpoints();
        let mut tx = match self.begin_at_checkpoint().await? {
            Ok(tx) => tx,
            Err(step) => return Ok(step),
        };
        tracing::warn!(
            projection = P::NAME,
            position,
            error = %error,
            "event cannot be read back; recording a dead letter"
        );
        checkpoints
            .record_unreadable(&mut tx, P::NAME, position, error_chain(error))
            .await
            .map_err(|x| self.store_error("recording a dead letter", x))?;
        checkpoints
            .update(&mut tx, P::NAME, position)
            .await
            .map_err(|e| self.store_error("saving the checkpoint", e))?;
        if !self.still_active().await {
            return Ok(Step::LeaseLost);
        }
        tx.commit()
            .await
            .map_err(|e| self.store_error("committing a dead letter", e))?;
        self.position = position;
        Ok(Step::Moved)
    }

    /// Applies one batch; whatever does not commit is discarded from the
    /// projection's buffer (see [`PgProjection::discard`]).
    async fn apply_batch(&mut self, events: &[RecordedEvent]) -> Result<Step, ProjectionError> {
        // Nothing of an abandoned attempt (say, a dropped `catch_up` future)
        // carries over into this one.
        self.projection.discard();
        let mut result = self.try_batch(events, false).await;
        if matches!(result, Ok(Step::Isolate)) {
            // DeadLetter: a handler or the flush failed, and what it
            // buffered cannot be told apart from the others'. Handle the
            // batch again one event at a time.
            self.projection.discard();
            result = self.try_batch(events, true).await;
        }
        if !matches!(result, Ok(Step::Handled(_))) {
            self.projection.discard();
        }
        result
    }

    /// One attempt at a batch in one transaction. `isolated`: each event in
    /// a `SAVEPOINT` with its own flush, failures become dead letters (the
    /// [`ErrorPolicy::DeadLetter`] path after a failure); otherwise all
    /// handlers, one flush, and under `DeadLetter` a non-transient failure
    /// returns [`Step::Isolate`] with nothing committed.
    async fn try_batch(
        &mut self,
        events: &[RecordedEvent],
        isolated: bool,
    ) -> Result<Step, ProjectionError> {
        let store = self.store.clone();
        let checkpoints = store.checkpoints();
        let mut tx = match self.begin_at_checkpoint().await? {
            Ok(tx) => tx,
            Err(step) => return Ok(step),
        };
        let isolate_on =
            |err: &ProjectionError| self.policy == ErrorPolicy::DeadLetter && !is_transient(err);
        if !isolated {
            for e in events {
                if let Err(err) = dispatch(&mut self.projection, e, &mut tx).await {
                    if isolate_on(&err) {
                        tracing::debug!(
                            projection = P::NAME,
                            position = e.global_position,
                            error = %es_core::ErrorChain(&err),
                            "handler failed; handling the batch again event by event"
                        );
                        return Ok(Step::Isolate);
                    }
                    return Err(err);
                }
            }
            if let Err(err) = flush(&mut self.projection, &mut tx).await {
                let first = events.first().map_or(0, |e| e.global_position);
                let last = events.last().map_or(0, |e| e.global_position);
                let err = self.store_error(
                    &format!("flushing the batch of positions {first}..={last}"),
                    err,
                );
                if isolate_on(&err) {
                    tracing::debug!(
                        projection = P::NAME,
                        error = %es_core::ErrorChain(&err),
                        "flush failed; handling the batch again event by event"
                    );
                    return Ok(Step::Isolate);
                }
                return Err(err);
            }
        } else {
            for e in events {
                self.savepoint(&mut tx, "SAVEPOINT es_event").await?;
                let mut r = dispatch(&mut self.projection, e, &mut tx).await;
                if r.is_ok() {
                    r = flush(&mut self.projection, &mut tx)
                        .await
                        .map_err(|err| ProjectionError::handler::<P>(e, err));
                }
                match r {
                    Ok(()) => {
                        self.savepoint(&mut tx, "RELEASE SAVEPOINT es_event")
                            .await?
                    }
                    Err(err) if is_transient(&err) => return Err(err),
                    Err(err) => {
                        self.projection.discard();
                        self.savepoint(&mut tx, "ROLLBACK TO SAVEPOINT es_event")
                            .await?;
                        self.savepoint(&mut tx, "RELEASE SAVEPOINT es_event")
                            .await?;
                        tracing::warn!(
                            projection = P::NAME,
                            position = e.global_position,
                            error = %es_core::ErrorChain(&err),
                            "handler failed; recording a dead letter"
                        );
                        checkpoints
                            .record_dead_letter(&mut tx, P::NAME, e, error_chain(&err))
                            .await
                            .map_err(|x| self.store_error("recording a dead letter", x))?;
                    }
                }
            }
        }
        let last = events.last().map_or(self.position, |e| e.global_position);
        checkpoints
            .update(&mut tx, P::NAME, last)
            .await
            .map_err(|e| self.store_error("saving the checkpoint", e))?;
        if !self.still_active().await {
            return Ok(Step::LeaseLost);
        }
        tx.commit()
            .await
            .map_err(|e| self.store_error("committing a batch", e))?;
        self.position = last;
        Ok(Step::Handled(events.len()))
    }

    async fn savepoint(
        &self,
        tx: &mut PgConnection,
        statement: &str,
    ) -> Result<(), ProjectionError> {
        sqlx::query(statement)
            .execute(tx)
            .await
            .map_err(|e| self.store_error("handling a savepoint", e))?;
        Ok(())
    }
}

/// Runs the projection's batch hook; a panic becomes an error.
async fn flush<P: PgProjection>(
    projection: &mut P,
    conn: &mut PgConnection,
) -> Result<(), HandlerError> {
    match AssertUnwindSafe(projection.flush(conn))
        .catch_unwind()
        .await
    {
        Ok(r) => r,
        Err(panic) => Err(format!("the flush hook panicked: {}", panic_message(&*panic)).into()),
    }
}

/// The text of a panic's payload.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string payload".to_owned())
}

/// Runs one handler; a panic becomes a handler error (and the batch's
/// transaction is rolled back or the savepoint undone, like for an error).
async fn dispatch<P: PgProjection>(
    projection: &mut P,
    event: &RecordedEvent,
    conn: &mut PgConnection,
) -> Result<(), ProjectionError> {
    match AssertUnwindSafe(projection.dispatch(event, conn))
        .catch_unwind()
        .await
    {
        Ok(r) => r,
        Err(panic) => Err(ProjectionError::handler::<P>(
            event,
            format!("the handler panicked: {}", panic_message(&*panic)).into(),
        )),
    }
}

async fn changed(watch: &mut Option<CommitWatch>) {
    match watch {
        Some(w) => {
            if w.changed().await.is_none() {
                *watch = None;
            }
        }
        None => std::future::pending().await,
    }
}

/// An error and its causes, for the dead-letter table.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        cur = s.source();
    }
    out
}

/// How sqlx 0.8's message for a connection closed before it answered the
/// SSLRequest starts (sqlx appends its source location).
const SSL_REQUEST_EOF: &str = "unexpected response from SSLRequest: 0x00";

/// Whether an error (or one of its causes) is a database failure worth
/// retrying: the connection broke, the pool timed out, a serialization
/// failure or deadlock, the server is shutting down or out of connections.
pub(crate) fn is_transient(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(sql) = e.downcast_ref::<sqlx::Error>() {
            return match sql {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::WorkerCrashed => true,
                // A connection the server (or a proxy in front of it) closed
                // before answering the TLS request: sqlx 0.8 reads the
                // missing byte as 0x00 and reports a protocol error
                // (transact-rs/sqlx#4395). A restarting server does that.
                sqlx::Error::Protocol(msg) => msg.starts_with(SSL_REQUEST_EOF),
                sqlx::Error::Database(db) => db.code().is_some_and(|c| {
                    // 08: connection exception; 53: insufficient resources
                    // (too many connections); 57P01-03: shutting down.
                    c.starts_with("08")
                        || c.starts_with("53")
                        || matches!(
                            &*c,
                            "40001" | "40P01" | "55P03" | "57P01" | "57P02" | "57P03"
                        )
                }),
                _ => false,
            };
        }
        cur = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_closed_at_the_tls_request_is_transient() {
        let closed = sqlx::Error::Protocol(format!(
            "{SSL_REQUEST_EOF} (sqlx_postgres::connection::tls:95)"
        ));
        assert!(is_transient(&closed));
        let other = sqlx::Error::Protocol("unexpected response from SSLRequest: 0x45".to_owned());
        assert!(!is_transient(&other));
        assert!(is_transient(&sqlx::Error::Tls("handshake".into())));
    }
}
