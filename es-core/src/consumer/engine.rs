//! [`Engine`]: the loop every durable consumer runs.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;

mod partitioned;
mod read_ahead;
mod steps;

use super::backend::{Backend, Consumer, ConsumerStatus, Transient};
use super::partition::Partition;
use super::progress::Progress;
use crate::error::ErrorChain;
use crate::projection::{HandlerError, ProjectionError};
use crate::store::{CommitWatch, StoreError};

/// What an [`Engine`] does when a handler fails (or an event of its types
/// does not decode, or cannot be read back).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorPolicy {
    /// Stop and return the error, which names the consumer, event type,
    /// stream, version and position. The checkpoint stays before the
    /// event; a restarted engine tries it again.
    #[default]
    Stop,
    /// Skip the events whose handler fails: record each as a dead letter
    /// (in the batch's transaction) and go on.
    ///
    /// A batch first runs whole. When a handler or the flush fails, that
    /// attempt is rolled back and discarded, and the batch is handled again
    /// one event at a time: each event's handler and its own flush under a
    /// savepoint; a failure there undoes only that event's writes (and
    /// discards its buffer) and makes it a dead letter. A flush failure is
    /// thereby attributed to one event, and a buffering consumer stays
    /// exactly-once. Handlers of such a batch run twice (the first run's
    /// writes rolled back).
    DeadLetter,
    /// Retry the failing event, with backoff, until it succeeds: the
    /// events before it commit, nothing after it is handled. For side
    /// effects that must not be skipped (listeners).
    Retry,
}

const DEFAULT_BATCH_SIZE: usize = 500;
const DEFAULT_LEASE_RETRY: Duration = Duration::from_millis(500);
const DEFAULT_BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(10));
/// How often a following engine refreshes its lag gauge.
const LAG_EVERY: Duration = Duration::from_secs(10);

/// Runs a [`Consumer`] durably on a [`Backend`]: catches up from its
/// checkpoint in batches, then follows new commits.
///
/// # Exactly once
///
/// Each batch is one transaction of the backend:
///
/// 1. the events are read first (`read_all` after the checkpoint, only the
///    consumer's types), outside the transaction;
/// 2. the transaction begins and locks the checkpoint: it must be the
///    position the events were read after, or the batch is dropped and the
///    engine reads again from the stored position;
/// 3. the handlers run on the transaction (or buffer), then
///    [`Consumer::flush`] writes what they buffered, once per batch;
/// 4. the checkpoint moves to the batch's last event;
/// 5. the lease is checked (still the active engine?); the transaction
///    commits.
///
/// A crash (or an error, or a shutdown) before the commit leaves the
/// consumer's writes and the checkpoint as they were, and the engine calls
/// [`Consumer::discard`] so nothing buffered for that batch survives into
/// the next attempt; after it, both have moved. Step 2 makes this hold even
/// without the lease: of two engines that read the same events, the second
/// to lock finds the checkpoint moved and drops its batch. The lease only
/// keeps the others from doing work to throw away.
///
/// # The lease
///
/// Of several engines of one name (across processes), one is active: it
/// holds the backend's lease for as long as it runs. The others stand by
/// and try again every [`Engine::lease_retry`] (500 ms by default).
///
/// # Errors
///
/// Transient errors are retried with a doubling backoff for as long as the
/// engine runs, the whole batch rolled back each time: the store's (as the
/// backend classifies them, [`Backend::is_transient`]) and a consumer's
/// that its handler or flush marked [`Transient`]. Any other handler error
/// is handled by the [`ErrorPolicy`]; a panicking handler counts as a
/// failing one. Anything else stops [`Engine::run`] with the error.
///
/// # Observability
///
/// A `tracing` span `es.consumer.batch` per batch (fields `consumer`,
/// `first`, `last`, `events`), and through the [`metrics`](https://docs.rs/metrics)
/// facade, each labelled `consumer`: `es_consumer_events_total` (events
/// through the consumer, dead letters included),
/// `es_consumer_dead_letters_total`, `es_consumer_batch_seconds`,
/// `es_consumer_position` and `es_consumer_lag_events` (refreshed every
/// 10 s while following, and by [`Engine::status`]).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use es_core::consumer::{Engine, MemoryProjection};
/// use es_core::projection::{Dispatch, Projection, ProjectionError};
/// use es_core::{EventStore, ExpectedVersion, InMemoryEventStore, Metadata, NewEvent, RecordedEvent};
///
/// #[derive(Default)]
/// struct Count(u64);
/// impl Projection for Count {
///     const NAME: &'static str = "count";
///     const EVENT_TYPES: &'static [&'static str] = &["Pinged"];
/// }
/// impl Dispatch for Count {
///     async fn dispatch(&mut self, _: &RecordedEvent, _: &mut ()) -> Result<(), ProjectionError> {
///         self.0 += 1;
///         Ok(())
///     }
/// }
///
/// let store = InMemoryEventStore::new();
/// let ping = || NewEvent::from_raw("Pinged", 1, b"{}".to_vec(), Metadata::new());
/// let written = store.append("Pinger-1", ExpectedVersion::Any, vec![ping(), ping()]).await?;
///
/// let mut engine = Engine::new(store.clone(), MemoryProjection::new(Count::default()));
/// assert_eq!(engine.catch_up().await?, 2);
/// assert_eq!(engine.consumer().get().0, 2);
/// // Read-your-writes: the checkpoint covers the append.
/// engine.progress().wait_for(&written, std::time::Duration::from_secs(1)).await?;
/// # Ok(()) }
/// ```
pub struct Engine<B: Backend, C> {
    backend: B,
    consumer: C,
    batch_size: usize,
    policy: ErrorPolicy,
    lease_retry: Duration,
    poll_interval: Duration,
    backoff: (Duration, Duration),
    lease: Option<B::Lease>,
    /// The stored checkpoint, as this engine last saw it.
    position: u64,
    /// How far reads vouched there is nothing more of its types (at least
    /// `position`; not stored: an empty read moves it without a write).
    scanned: u64,
    events_read: u64,
    progress: Arc<tokio::sync::watch::Sender<u64>>,
    lag_refreshed: Option<Instant>,
    /// The partition it runs (`None`: the whole log).
    partition: Option<Partition>,
    /// The name its checkpoint, lease and dead letters are kept under: the
    /// consumer's, or its partition's ([`Partition::key`]).
    key: Arc<str>,
    /// Whether a lost lease makes it stand by (or return, under a
    /// [`PartitionedRunner`](super::PartitionedRunner)).
    stand_by: bool,
    /// The page after a full batch, being read while the batch is handled.
    ahead: Option<read_ahead::ReadAhead>,
}

impl<B: Backend, C: Consumer<B::Tx>> std::fmt::Debug for Engine<B, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("consumer", &self.consumer.name())
            .field("partition", &self.partition)
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
    /// The stored checkpoint was not where this engine thought; reread.
    Moved,
    /// The lease is gone; stand by again.
    LeaseLost,
    /// The rebuild's reset committed; this many events are to replay.
    Reset(u64),
    /// (Inside `apply_batch` only.) Under `DeadLetter`, a handler or the
    /// flush failed; nothing committed; handle the batch event by event.
    Isolate,
}

/// How one attempt at a batch runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// All handlers, one flush.
    Whole,
    /// Each event under a savepoint, with its own flush.
    PerEvent,
}

impl<B: Backend, C: Consumer<B::Tx>> Engine<B, C> {
    /// An engine of `consumer` over `backend`: batches of 500, stops on a
    /// handler error, retries the lease every 500 ms, polls at the
    /// backend's interval when no commit wakes it.
    pub fn new(backend: B, consumer: C) -> Self {
        let poll_interval = backend.poll_interval();
        let key = Arc::from(consumer.name());
        Self {
            backend,
            consumer,
            batch_size: DEFAULT_BATCH_SIZE,
            policy: ErrorPolicy::Stop,
            lease_retry: DEFAULT_LEASE_RETRY,
            poll_interval,
            backoff: DEFAULT_BACKOFF,
            lease: None,
            position: 0,
            scanned: 0,
            events_read: 0,
            progress: Arc::new(tokio::sync::watch::Sender::new(0)),
            lag_refreshed: None,
            partition: None,
            key,
            stand_by: true,
            ahead: None,
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
    /// bound on a takeover once the active engine's lease is gone.
    pub fn lease_retry(mut self, interval: Duration) -> Self {
        self.lease_retry = interval.max(Duration::from_millis(1));
        self
    }

    /// How often a caught-up engine looks for new events when no commit
    /// wakes it (default: the backend's poll interval).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// The backoff after a transient error (and, under
    /// [`ErrorPolicy::Retry`], a failing handler): starts at `initial` and
    /// doubles up to `max` (defaults 100 ms and 10 s).
    pub fn retry_backoff(mut self, initial: Duration, max: Duration) -> Self {
        let initial = initial.max(Duration::from_millis(1));
        self.backoff = (initial, max.max(initial));
        self
    }

    /// The consumer.
    pub fn consumer(&self) -> &C {
        &self.consumer
    }

    /// The consumer, mutably.
    pub fn consumer_mut(&mut self) -> &mut C {
        &mut self.consumer
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Whether this engine holds the lease (is the active one).
    pub fn is_active(&self) -> bool {
        self.lease.is_some()
    }

    /// How many events this engine has read from the store (only its
    /// types: the store filters the rest out), including batches it dropped
    /// because another engine did them first.
    pub fn events_read(&self) -> u64 {
        self.events_read
    }

    /// A handle that tells how far this engine has come, and waits for it
    /// to cover a write ([`Progress::wait_for`]). Clone it freely; it
    /// outlives nothing it needs.
    pub fn progress(&self) -> Progress {
        Progress::new(self.progress.subscribe())
    }

    /// The consumer's checkpoint, head and lag, from the store.
    pub fn status(
        &self,
    ) -> impl Future<Output = Result<ConsumerStatus, StoreError>> + Send + 'static {
        // Owns what it needs: the future neither borrows the engine nor
        // asks the consumer to be `Sync`.
        let backend = self.backend.clone();
        let name = self.consumer.name();
        let types = self.consumer.event_types();
        let partition = self.partition;
        let key = self.key.to_string();
        async move {
            let status = match partition {
                Some(p) => backend.partition_status(name, types, p).await?,
                None => backend.consumer_status(name, types).await?,
            };
            metrics::gauge!("es_consumer_lag_events", "consumer" => key).set(status.lag as f64);
            Ok(status)
        }
    }

    /// Becomes the active engine (waiting for the lease), catches up, then
    /// follows new commits until `shutdown` completes, and releases the
    /// lease. Returns `Ok(())` after a shutdown, or the error that stopped
    /// it: a handler's under [`ErrorPolicy::Stop`] (a
    /// [`ProjectionError::Handler`] or [`ProjectionError::Decode`]), or a
    /// store failure that is not transient.
    ///
    /// `shutdown` is any future (a `oneshot::Receiver` mapped to `()`,
    /// `tokio::signal::ctrl_c()` mapped to `()`, a cancellation token's
    /// `cancelled_owned()`). It is checked between batches and while
    /// waiting: the batch in flight commits first, so a shutdown never
    /// half-commits; a process that dies instead rolls it back.
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

    /// Becomes the active engine (waiting for the lease) and handles every
    /// event up to the head, then returns how many it handled. Keeps the
    /// lease until [`Engine::release`], `run` or a drop.
    pub async fn catch_up(&mut self) -> Result<u64, ProjectionError> {
        let never = pin!(std::future::pending::<()>());
        self.drive(never, false, false, &mut |_, _| {}).await
    }

    /// Rebuilds what the consumer wrote, as the active engine (waiting for
    /// the lease): one transaction runs [`Consumer::reset`], deletes its
    /// dead letters and moves the checkpoint back to 0; then every event of
    /// its types is replayed in batches, and `progress(done, total)` is
    /// called after the reset and after each batch (`total`: the events of
    /// its types when the reset committed, raised to `done` if more
    /// arrive). Returns the events replayed. A consumer without a reset
    /// hook is refused up front ([`ProjectionError::NoReset`]), and so is
    /// an engine of one partition ([`ProjectionError::Store`]: the reset
    /// hook would empty the other partitions' part of the read model too).
    pub async fn rebuild<F>(&mut self, mut progress: F) -> Result<u64, ProjectionError>
    where
        F: FnMut(u64, u64) + Send,
    {
        if let Some(p) = self.partition {
            return Err(self.wrap(StoreError::backend(
                format!("rebuilding partition {p}"),
                "a partition cannot be rebuilt on its own: the reset hook empties the whole read model; stop every worker, empty the read model and delete the checkpoints instead",
            )));
        }
        let never = pin!(std::future::pending::<()>());
        self.drive(never, false, true, &mut progress).await
    }

    /// Gives up the lease (a standby takes over within its retry interval).
    pub async fn release(&mut self) {
        self.ahead = None;
        if let Some(lease) = self.lease.take() {
            self.backend.release_lease(lease).await;
            tracing::info!(consumer = %self.key, "released the lease");
        }
    }

    fn wrap(&self, source: StoreError) -> ProjectionError {
        ProjectionError::Store {
            projection: self.consumer.name(),
            source,
        }
    }

    fn hook_error(&self, context: &str, e: HandlerError) -> ProjectionError {
        let name = self.consumer.name();
        self.wrap(StoreError::backend(
            format!("{context} of consumer `{name}`"),
            e,
        ))
    }

    /// Whether the loop retries `e` (after a backoff) instead of stopping.
    fn retries(&self, e: &ProjectionError) -> bool {
        Self::transient(e) || (self.policy == ErrorPolicy::Retry && e.position().is_some())
    }

    /// Whether `e` is worth retrying as it is: the store says so, or the
    /// consumer marked it [`Transient`].
    fn transient(e: &(dyn std::error::Error + 'static)) -> bool {
        B::is_transient(e) || Transient::marks(e)
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
        let name = self.consumer.name();
        let mut watch: Option<CommitWatch> = None;
        let mut backoff = self.backoff.0;
        let mut handled = 0u64;
        let mut total = 0u64;
        let mut lease_checked = Instant::now();
        loop {
            if shutdown.as_mut().now_or_never().is_some() {
                return Ok(handled);
            }
            let step = if self.lease.is_none() {
                if !self.stand_by {
                    return Ok(handled);
                }
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
                    // wait still wakes the engine.
                    watch = self.backend.watch_commits().await.ok();
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
                    self.refresh_lag().await;
                    tokio::select! {
                        biased;
                        () = shutdown.as_mut() => return Ok(handled),
                        () = changed(&mut watch) => {}
                        () = tokio::time::sleep(self.poll_interval) => {}
                    }
                    if lease_checked.elapsed() >= self.lease_retry {
                        // An idle engine still renews (or notices losing)
                        // its lease.
                        lease_checked = Instant::now();
                        if !self.still_active(None).await {
                            tracing::warn!(consumer = %self.key, "lost the lease; standing by");
                            self.lease = None;
                        }
                    }
                }
                Ok(Step::Reset(n)) => {
                    reset = false;
                    total = n;
                    progress(0, total);
                }
                Ok(Step::Moved | Step::Isolate) => {}
                Ok(Step::LeaseLost) => {
                    tracing::warn!(consumer = %self.key, "lost the lease; standing by");
                    self.lease = None;
                }
                Err(e) if self.retries(&e) => {
                    tracing::warn!(
                        consumer = name,
                        error = %ErrorChain(&e),
                        retry_in_ms = backoff.as_millis() as u64,
                        "retrying after an error"
                    );
                    if !self.still_active(None).await {
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
                    tracing::error!(consumer = name, error = %ErrorChain(&e), "consumer stopped");
                    return Err(e);
                }
            }
        }
    }

    async fn refresh_lag(&mut self) {
        if self.lag_refreshed.is_some_and(|t| t.elapsed() < LAG_EVERY) {
            return;
        }
        self.lag_refreshed = Some(Instant::now());
        if let Err(e) = self.status().await {
            tracing::debug!(consumer = self.consumer.name(), error = %ErrorChain(&e), "cannot read the lag");
        }
    }
}

/// Waits for the next announced commit; forever when there is no watch
/// (the poll interval wakes the engine then).
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
