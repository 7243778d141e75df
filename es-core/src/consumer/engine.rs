//! [`Engine`]: the loop every durable consumer runs.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use tracing::Instrument;

use super::backend::{Backend, Consumer, ConsumerStatus, Failed, Savepoint};
use super::progress::Progress;
use crate::envelope::RecordedEvent;
use crate::error::ErrorChain;
use crate::projection::{HandlerError, NoResetHook, ProjectionError};
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
/// Transient store errors (as the backend classifies them) are retried with
/// a doubling backoff for as long as the engine runs; a handler's error is
/// handled by the [`ErrorPolicy`]; a panicking handler counts as a failing
/// one. Anything else stops [`Engine::run`] with the error.
///
/// # Observability
///
/// A `tracing` span `es.consumer.batch` per batch (fields `consumer`,
/// `first`, `last`, `events`), and through the [`metrics`](https://docs.rs/metrics)
/// facade, each labelled `consumer`: `es_consumer_events_total`,
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
}

impl<B: Backend, C: Consumer<B::Tx>> std::fmt::Debug for Engine<B, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("consumer", &self.consumer.name())
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
        async move {
            let status = backend.consumer_status(name, types).await?;
            metrics::gauge!("es_consumer_lag_events", "consumer" => name).set(status.lag as f64);
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
    /// hook is refused up front ([`ProjectionError::NoReset`]).
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
            self.backend.release_lease(lease).await;
            tracing::info!(consumer = self.consumer.name(), "released the lease");
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
        B::is_transient(e) || (self.policy == ErrorPolicy::Retry && e.position().is_some())
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
                            tracing::warn!(consumer = name, "lost the lease; standing by");
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
                    tracing::warn!(consumer = name, "lost the lease; standing by");
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

    /// Takes the lease (waiting), runs the setup hook, creates the
    /// checkpoint and loads the position.
    async fn activate(&mut self) -> Result<(), ProjectionError> {
        let name = self.consumer.name();
        let mut standby_logged = false;
        let lease = loop {
            match self.backend.try_lease(name).await {
                Ok(Some(lease)) => break lease,
                Ok(None) => {
                    if !standby_logged {
                        tracing::info!(consumer = name, "another engine is active; standing by");
                        standby_logged = true;
                    }
                    tokio::time::sleep(self.lease_retry).await;
                }
                Err(e) => return Err(self.wrap(e)),
            }
        };
        self.lease = Some(lease);
        let span = tracing::info_span!("es.consumer.setup", consumer = name);
        let ready = async {
            let mut tx = self.backend.begin().await.map_err(|e| self.wrap(e))?;
            guarded(self.consumer.setup(&mut tx), "the setup hook")
                .await
                .map_err(|e| self.hook_error("running the setup hook", e))?;
            let position = self
                .backend
                .init_checkpoint(&mut tx, name)
                .await
                .map_err(|e| self.wrap(e))?;
            self.backend.commit(tx).await.map_err(|e| self.wrap(e))?;
            Ok(position)
        }
        .instrument(span)
        .await;
        match ready {
            Ok(position) => {
                self.moved_to(position, true);
                tracing::info!(consumer = name, position, "active");
                Ok(())
            }
            Err(e) => {
                self.release().await;
                Err(e)
            }
        }
    }

    /// Records that the stored checkpoint is `position` (`reset`: it may
    /// have gone back, so what was scanned no longer counts).
    fn moved_to(&mut self, position: u64, reset: bool) {
        if reset {
            self.scanned = position;
        }
        self.position = position;
        self.scanned = self.scanned.max(position);
        self.publish();
    }

    fn publish(&self) {
        let at = self.scanned.max(self.position);
        self.progress.send_if_modified(|p| {
            let changed = *p != at;
            *p = at;
            changed
        });
        metrics::gauge!("es_consumer_position", "consumer" => self.consumer.name()).set(at as f64);
    }

    /// Whether the lease still holds (checked, and renewed, in `tx` when
    /// given).
    async fn still_active(&mut self, tx: Option<&mut B::Tx>) -> bool {
        match self.lease.as_mut() {
            Some(lease) => self.backend.lease_alive(lease, tx).await,
            None => false,
        }
    }

    /// Begins a batch transaction with the checkpoint locked at this
    /// engine's position; `Err(step)` (nothing begun) when the checkpoint
    /// moved under the engine (read again) or is gone (activate again,
    /// which creates it at 0).
    async fn begin_at_checkpoint(&mut self) -> Result<Result<B::Tx, Step>, ProjectionError> {
        let name = self.consumer.name();
        let mut tx = self.backend.begin().await.map_err(|e| self.wrap(e))?;
        match self
            .backend
            .lock_checkpoint(&mut tx, name)
            .await
            .map_err(|e| self.wrap(e))?
        {
            Some(p) if p == self.position => Ok(Ok(tx)),
            Some(p) => {
                tracing::debug!(
                    consumer = name,
                    expected = self.position,
                    stored = p,
                    "the checkpoint moved under this engine; reading again"
                );
                drop(tx);
                self.moved_to(p, true);
                Ok(Err(Step::Moved))
            }
            None => {
                drop(tx);
                self.release().await;
                Ok(Err(Step::Moved))
            }
        }
    }

    /// Moves the checkpoint, checks the lease and commits.
    async fn finish(&mut self, mut tx: B::Tx, to: u64) -> Result<Option<Step>, ProjectionError> {
        let name = self.consumer.name();
        self.backend
            .save_checkpoint(&mut tx, name, to)
            .await
            .map_err(|e| self.wrap(e))?;
        if !self.still_active(Some(&mut tx)).await {
            return Ok(Some(Step::LeaseLost));
        }
        self.backend.commit(tx).await.map_err(|e| self.wrap(e))?;
        self.moved_to(to, false);
        Ok(None)
    }

    /// The rebuild's reset transaction.
    async fn reset(&mut self) -> Result<Step, ProjectionError> {
        // Nothing buffered before the reset may be flushed after it.
        self.consumer.discard();
        let name = self.consumer.name();
        let span = tracing::info_span!("es.consumer.reset", consumer = name);
        async {
            let mut tx = match self.begin_at_checkpoint().await? {
                Ok(tx) => tx,
                Err(step) => return Ok(step),
            };
            guarded(self.consumer.reset(&mut tx), "the reset hook")
                .await
                .map_err(|e| {
                    if e.is::<NoResetHook>() {
                        ProjectionError::NoReset { projection: name }
                    } else {
                        self.hook_error("running the reset hook", e)
                    }
                })?;
            self.backend
                .clear_dead_letters(&mut tx, name)
                .await
                .map_err(|e| self.wrap(e))?;
            self.backend
                .save_checkpoint(&mut tx, name, 0)
                .await
                .map_err(|e| self.wrap(e))?;
            if !self.still_active(Some(&mut tx)).await {
                return Ok(Step::LeaseLost);
            }
            self.backend.commit(tx).await.map_err(|e| self.wrap(e))?;
            self.moved_to(0, true);
            let status = self.status().await.map_err(|e| self.wrap(e))?;
            tracing::info!(consumer = name, total = status.lag, "reset; replaying");
            Ok(Step::Reset(status.lag))
        }
        .instrument(span)
        .await
    }

    /// Reads one batch and applies it in one transaction.
    async fn batch(&mut self) -> Result<Step, ProjectionError> {
        let name = self.consumer.name();
        let from = self.position.max(self.scanned);
        let page = match self
            .backend
            .read_all(from, self.batch_size, self.consumer.event_types())
            .await
        {
            Ok(page) => page,
            Err(source) => {
                if let (Some(position), ErrorPolicy::DeadLetter) =
                    (source.unreadable_position(), self.policy)
                {
                    return self.dead_letter_unreadable(position, &source).await;
                }
                return Err(self.wrap(source));
            }
        };
        let scanned_to = page.scanned_to;
        let events = page.events;
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            if scanned_to > self.scanned {
                self.scanned = scanned_to;
                self.publish();
            }
            return Ok(Step::Handled(0));
        };
        self.events_read += events.len() as u64;
        let span = tracing::info_span!(
            "es.consumer.batch",
            consumer = name,
            first = first.global_position,
            last = last.global_position,
            events = events.len(),
        );
        let started = Instant::now();
        let step = self.apply_batch(&events, scanned_to).instrument(span).await;
        if let Ok(Step::Handled(n)) = step {
            metrics::counter!("es_consumer_events_total", "consumer" => name).increment(n as u64);
            metrics::histogram!("es_consumer_batch_seconds", "consumer" => name)
                .record(started.elapsed().as_secs_f64());
        }
        step
    }

    /// Records an event the store cannot read back as a dead letter and
    /// moves the checkpoint to it, in one transaction
    /// ([`ErrorPolicy::DeadLetter`]).
    async fn dead_letter_unreadable(
        &mut self,
        position: u64,
        error: &StoreError,
    ) -> Result<Step, ProjectionError> {
        let name = self.consumer.name();
        let mut tx = match self.begin_at_checkpoint().await? {
            Ok(tx) => tx,
            Err(step) => return Ok(step),
        };
        tracing::warn!(
            consumer = name,
            position,
            error = %error,
            "event cannot be read back; recording a dead letter"
        );
        let text = ErrorChain(error).to_string();
        self.backend
            .record_dead_letter(&mut tx, name, Failed::Unreadable(position), &text)
            .await
            .map_err(|e| self.wrap(e))?;
        metrics::counter!("es_consumer_dead_letters_total", "consumer" => name).increment(1);
        Ok(self.finish(tx, position).await?.unwrap_or(Step::Moved))
    }

    /// Applies one batch; whatever does not commit is discarded from the
    /// consumer's buffer (see [`Consumer::discard`]).
    async fn apply_batch(
        &mut self,
        events: &[RecordedEvent],
        scanned_to: u64,
    ) -> Result<Step, ProjectionError> {
        // Nothing of an abandoned attempt (say, a dropped `catch_up` future)
        // carries over into this one.
        self.consumer.discard();
        if !B::ROLLS_BACK {
            return self.apply_one_by_one(events, scanned_to).await;
        }
        let first = if self.policy != ErrorPolicy::Retry {
            Mode::Whole
        } else {
            Mode::PerEvent
        };
        let mut result = self.try_batch(events, scanned_to, first).await;
        if matches!(result, Ok(Step::Isolate)) {
            // DeadLetter: a handler or the flush failed, and what it
            // buffered cannot be told apart from the others'. Handle the
            // batch again one event at a time.
            self.consumer.discard();
            result = self.try_batch(events, scanned_to, Mode::PerEvent).await;
        }
        if !matches!(result, Ok(Step::Handled(_))) {
            self.consumer.discard();
        }
        result
    }

    /// A batch on a backend that cannot undo what the consumer did: each
    /// event in a transaction of its own, so the checkpoint moves right
    /// after the handler that changed the model. (A batch dropped halfway,
    /// say by a timeout around `catch_up`, then leaves no handled event
    /// behind an unmoved checkpoint to be handled again.)
    async fn apply_one_by_one(
        &mut self,
        events: &[RecordedEvent],
        scanned_to: u64,
    ) -> Result<Step, ProjectionError> {
        let mut handled = 0;
        for (i, e) in events.iter().enumerate() {
            let vouched = if i + 1 == events.len() { scanned_to } else { 0 };
            match self
                .try_batch(std::slice::from_ref(e), vouched, Mode::PerEvent)
                .await
            {
                Ok(Step::Handled(n)) => handled += n,
                other => {
                    self.consumer.discard();
                    return other;
                }
            }
        }
        Ok(Step::Handled(handled))
    }

    /// One attempt at a batch in one transaction.
    ///
    /// `Whole`: all handlers, one flush; under `DeadLetter` a failure that
    /// is not transient returns [`Step::Isolate`] with nothing committed.
    /// `PerEvent`: each event under a savepoint with its own flush; a
    /// failure undoes that event's writes and makes it a dead letter
    /// (`DeadLetter`), or commits the events before it and returns the
    /// error (`Stop`, `Retry`).
    async fn try_batch(
        &mut self,
        events: &[RecordedEvent],
        scanned_to: u64,
        mode: Mode,
    ) -> Result<Step, ProjectionError> {
        let name = self.consumer.name();
        let mut tx = match self.begin_at_checkpoint().await? {
            Ok(tx) => tx,
            Err(step) => return Ok(step),
        };
        let dead_letters = self.policy == ErrorPolicy::DeadLetter;
        if mode == Mode::Whole {
            for e in events {
                if let Err(err) = handle(&mut self.consumer, e, &mut tx).await {
                    if dead_letters && !B::is_transient(&err) {
                        tracing::debug!(
                            consumer = name,
                            position = e.global_position,
                            error = %ErrorChain(&err),
                            "handler failed; handling the batch again event by event"
                        );
                        return Ok(Step::Isolate);
                    }
                    return Err(err);
                }
            }
            if let Err(err) = guarded(self.consumer.flush(&mut tx), "the flush hook").await {
                let first = events.first().map_or(0, |e| e.global_position);
                let last = events.last().map_or(0, |e| e.global_position);
                let err = self.hook_error(
                    &format!("flushing the batch of positions {first}..={last}"),
                    err,
                );
                if dead_letters && !B::is_transient(&err) {
                    tracing::debug!(
                        consumer = name,
                        error = %ErrorChain(&err),
                        "flush failed; handling the batch again event by event"
                    );
                    return Ok(Step::Isolate);
                }
                return Err(err);
            }
        } else {
            let mut done = self.position;
            for e in events {
                self.backend
                    .savepoint(&mut tx, Savepoint::Begin)
                    .await
                    .map_err(|x| self.wrap(x))?;
                let mut r = handle(&mut self.consumer, e, &mut tx).await;
                if r.is_ok() {
                    r = guarded(self.consumer.flush(&mut tx), "the flush hook")
                        .await
                        .map_err(|err| ProjectionError::Handler {
                            projection: name,
                            event_type: e.event_type.clone(),
                            stream_id: e.stream_id.clone(),
                            version: e.stream_version,
                            position: e.global_position,
                            source: err,
                        });
                }
                match r {
                    Ok(()) => {
                        self.backend
                            .savepoint(&mut tx, Savepoint::Release)
                            .await
                            .map_err(|x| self.wrap(x))?;
                        done = e.global_position;
                    }
                    Err(err) if B::is_transient(&err) => return Err(err),
                    Err(err) => {
                        self.consumer.discard();
                        self.backend
                            .savepoint(&mut tx, Savepoint::Undo)
                            .await
                            .map_err(|x| self.wrap(x))?;
                        if !dead_letters {
                            // Keep what succeeded before it; the error
                            // stops (or retries) at this event.
                            if done > self.position
                                && let Some(step) = self.finish(tx, done).await?
                            {
                                return Ok(step);
                            }
                            return Err(err);
                        }
                        tracing::warn!(
                            consumer = name,
                            position = e.global_position,
                            error = %ErrorChain(&err),
                            "handler failed; recording a dead letter"
                        );
                        let text = ErrorChain(&err).to_string();
                        self.backend
                            .record_dead_letter(&mut tx, name, Failed::Event(e), &text)
                            .await
                            .map_err(|x| self.wrap(x))?;
                        metrics::counter!("es_consumer_dead_letters_total", "consumer" => name)
                            .increment(1);
                        done = e.global_position;
                    }
                }
            }
        }
        let last = events.last().map_or(self.position, |e| e.global_position);
        if let Some(step) = self.finish(tx, last).await? {
            return Ok(step);
        }
        // The stored checkpoint is the last event handled; what the read
        // vouched for beyond it (events of other types) moves the progress
        // without a write.
        if scanned_to > self.scanned {
            self.scanned = scanned_to;
            self.publish();
        }
        Ok(Step::Handled(events.len()))
    }
}

/// Runs one handler; a panic becomes a handler error (and the batch's
/// transaction is rolled back or the savepoint undone, like for an error).
async fn handle<Tx, C: Consumer<Tx>>(
    consumer: &mut C,
    event: &RecordedEvent,
    tx: &mut Tx,
) -> Result<(), ProjectionError> {
    let name = consumer.name();
    match AssertUnwindSafe(consumer.handle(event, tx))
        .catch_unwind()
        .await
    {
        Ok(r) => r,
        Err(panic) => Err(ProjectionError::Handler {
            projection: name,
            event_type: event.event_type.clone(),
            stream_id: event.stream_id.clone(),
            version: event.stream_version,
            position: event.global_position,
            source: format!("the handler panicked: {}", panic_message(&*panic)).into(),
        }),
    }
}

/// Runs a hook; a panic becomes an error.
async fn guarded<F>(hook: F, what: &str) -> Result<(), HandlerError>
where
    F: Future<Output = Result<(), HandlerError>> + Send,
{
    match AssertUnwindSafe(hook).catch_unwind().await {
        Ok(r) => r,
        Err(panic) => Err(format!("{what} panicked: {}", panic_message(&*panic)).into()),
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
