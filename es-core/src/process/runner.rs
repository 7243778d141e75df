//! [`ProcessRunner`]: a process manager on the consumer engine, with the
//! dispatcher that executes its commands and fires its deadlines.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::backend::{ProcessBackend, ProcessCounts};
use super::consumer::ProcessConsumer;
use super::dispatch::Dispatcher;
use super::error::ProcessError;
use super::manager::ProcessManager;
use crate::consumer::{ConsumerStatus, Engine, ErrorPolicy, Progress};
use crate::error::ErrorChain;
use crate::store::SnapshotStore;

const DEFAULT_RETRY: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(30));

/// What [`ProcessRunner::catch_up`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Settled {
    /// Events handled (the process's own rejections and deadlines among them).
    pub events: u64,
    /// Commands that went out (executed or rejected).
    pub commands: u64,
    /// Deadlines that fired.
    pub deadlines: u64,
}

/// Where a process manager stands: its consumer's checkpoint and lag, what
/// the store keeps for it, and the dispatcher's last failure (cleared by
/// the next round that succeeds).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessStatus {
    /// The checkpoint, head and lag of its events.
    pub consumer: ConsumerStatus,
    /// Instances, pending commands and deadlines.
    pub counts: ProcessCounts,
    /// Why the dispatcher's last round failed, if it did (it backs off and
    /// tries again).
    pub last_error: Option<String>,
}

/// Runs a [`ProcessManager`] on any store that implements
/// [`ProcessBackend`]: the in-memory store, PostgreSQL, SQLite.
///
/// Two loops make it up, each holding a lease so that one process runs
/// them however many are started:
///
/// - the **engine** (named [`ProcessManager::NAME`]) reads the events the
///   process reacts to after its checkpoint; per event it loads the
///   instance, runs the reaction, and stores the new state, the commands
///   (the outbox) and the deadlines on the batch's transaction, with the
///   checkpoint. A crash redelivers the batch: the same reactions produce
///   the same commands, with the same ids.
/// - the **dispatcher** (`{NAME}.dispatch`) executes the outbox in order
///   through a [`Repository`](crate::Repository) of each command's
///   aggregate, with a command id derived from (process, instance,
///   triggering event, index), so a command executed before a crash is
///   answered from the stream's record when tried again. A rejection is
///   appended to the instance's own stream `{NAME}-{key}` as a
///   [`ProcessCommandRejected`](super::ProcessCommandRejected) event, and a
///   due deadline as a [`ProcessDeadlineReached`](super::ProcessDeadlineReached):
///   both reach the engine in log order, exactly once, like any event. A
///   deadline cancelled or rescheduled after it fired is dropped there.
///
/// ```
/// use es_core::process::{ProcessError, ProcessManager, ProcessRunner};
/// use es_core::InMemoryEventStore;
///
/// // In a test or a demo: drive the process until nothing is left to do.
/// async fn settle<P: ProcessManager>(store: InMemoryEventStore) -> Result<u64, ProcessError> {
///     let mut runner = ProcessRunner::<P, _>::new(store).keep_completed(true);
///     let settled = runner.catch_up().await?;
///     Ok(settled.commands)
/// }
///
/// // In a service: run until shut down.
/// async fn serve<P: ProcessManager>(
///     store: InMemoryEventStore,
///     stop: tokio::sync::oneshot::Receiver<()>,
/// ) -> Result<(), ProcessError> {
///     ProcessRunner::<P, _>::new(store)
///         .run(async { stop.await.unwrap_or(()) })
///         .await
/// }
/// ```
pub struct ProcessRunner<P: ProcessManager, B: ProcessBackend + SnapshotStore> {
    engine: Engine<B, ProcessConsumer<P, B>>,
    dispatcher: Dispatcher<P, B>,
    backend: B,
    poll_interval: Duration,
    lease_retry: Duration,
    retry: (Duration, Duration),
    last_error: Arc<Mutex<Option<String>>>,
}

impl<P: ProcessManager, B: ProcessBackend + SnapshotStore> std::fmt::Debug for ProcessRunner<P, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessRunner")
            .field("process", &P::NAME)
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl<P, B> ProcessRunner<P, B>
where
    P: ProcessManager,
    B: ProcessBackend + SnapshotStore,
{
    /// A runner of `P` on `backend`: completed instances keep no state,
    /// a failing event stops it ([`ErrorPolicy::Stop`]), batches of 500.
    pub fn new(backend: B) -> Self {
        let poll_interval = backend.poll_interval();
        Self {
            engine: Engine::new(backend.clone(), ProcessConsumer::new(backend.clone())),
            dispatcher: Dispatcher::new(backend.clone()),
            backend,
            poll_interval,
            lease_retry: Duration::from_millis(500),
            retry: DEFAULT_RETRY,
            last_error: Arc::default(),
        }
    }

    /// Whether a completed instance keeps its last state (default `false`:
    /// it keeps only the mark that closes its key).
    pub fn keep_completed(mut self, keep: bool) -> Self {
        self.engine.consumer_mut().keep_completed = keep;
        self
    }

    /// Events per batch transaction (default 500).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.engine = self.engine.batch_size(n);
        self
    }

    /// What an event that cannot be handled does (default
    /// [`ErrorPolicy::Stop`]; [`ErrorPolicy::DeadLetter`] skips it, so its
    /// instance misses it).
    pub fn error_policy(mut self, policy: ErrorPolicy) -> Self {
        self.engine = self.engine.error_policy(policy);
        self
    }

    /// How often both loops look for work when nothing wakes them, and so
    /// how late a deadline may fire (default: the store's poll interval).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(1));
        self.engine = self.engine.poll_interval(self.poll_interval);
        self
    }

    /// How often a standby tries to take a lease (default 500 ms).
    pub fn lease_retry(mut self, interval: Duration) -> Self {
        self.lease_retry = interval.max(Duration::from_millis(1));
        self.engine = self.engine.lease_retry(self.lease_retry);
        self
    }

    /// The dispatcher's backoff after a failed command, doubling from
    /// `initial` up to `max` (default 100 ms to 30 s).
    pub fn retry_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.retry = (initial, max.max(initial));
        self
    }

    /// How far the engine has handled the log (read-your-writes for the
    /// process's state; see [`Progress::wait_for`]).
    pub fn progress(&self) -> Progress {
        self.engine.progress()
    }

    /// Its checkpoint and lag, what the store keeps for it, and the
    /// dispatcher's last failure.
    pub fn status(
        &self,
    ) -> impl Future<Output = Result<ProcessStatus, ProcessError>> + Send + 'static {
        let consumer = self.engine.status();
        let backend = self.backend.clone();
        let last_error = Arc::clone(&self.last_error);
        async move {
            Ok(ProcessStatus {
                consumer: consumer.await?,
                counts: backend.process_counts(P::NAME).await?,
                last_error: last_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            })
        }
    }

    /// Handles every event, sends every command and fires every deadline due
    /// now, over and over until a round finds nothing to do (the commands'
    /// events, rejections and deadlines are events too); then returns. For
    /// tests, demos and batch jobs; a service uses [`run`](Self::run). The
    /// engine's lease is kept until `run` or a drop; the dispatcher's work
    /// here takes no lease, so run it where no other runner of `P` runs.
    pub async fn catch_up(&mut self) -> Result<Settled, ProcessError> {
        let mut settled = Settled::default();
        loop {
            settled.events += self.engine.catch_up().await?;
            let sent = self.dispatcher.send_pending().await?;
            let fired = self.dispatcher.fire_due(chrono::Utc::now()).await?;
            settled.commands += sent;
            settled.deadlines += fired;
            if sent == 0 && fired == 0 {
                return Ok(settled);
            }
        }
    }

    /// Runs the engine and the dispatcher until `shutdown` completes (each
    /// waiting for its lease), then releases both leases. Returns `Ok(())`
    /// after a shutdown, or the error that stopped one of them (which stops
    /// the other): an event the engine cannot handle (under
    /// [`ErrorPolicy::Stop`]), an outbox entry this build cannot read, or a
    /// store failure that is not transient. A command that fails for another
    /// reason than a rejection is tried again with backoff, and shows in
    /// [`status`](Self::status) meanwhile.
    pub async fn run<F>(&mut self, shutdown: F) -> Result<(), ProcessError>
    where
        F: Future<Output = ()> + Send,
    {
        let (stop, stopped) = watch::channel(false);
        let until_stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let progress = self.engine.progress();
        let engine = &mut self.engine;
        let engine_run = async {
            let r = engine.run(until_stopped(stopped.clone())).await;
            let _ = stop.send(true);
            r.map_err(ProcessError::from)
        };
        let dispatch = DispatchLoop {
            dispatcher: &self.dispatcher,
            backend: &self.backend,
            poll_interval: self.poll_interval,
            lease_retry: self.lease_retry,
            retry: self.retry,
            last_error: &self.last_error,
        };
        let dispatch_run = async {
            let r = dispatch.run(progress, until_stopped(stopped.clone())).await;
            let _ = stop.send(true);
            r
        };
        let signal = async {
            tokio::select! {
                () = shutdown => {}
                () = until_stopped(stopped.clone()) => {}
            }
            let _ = stop.send(true);
        };
        let (engine_result, dispatch_result, ()) = tokio::join!(engine_run, dispatch_run, signal);
        engine_result.and(dispatch_result)
    }
}

/// The dispatcher's loop in [`ProcessRunner::run`].
struct DispatchLoop<'a, P, B> {
    dispatcher: &'a Dispatcher<P, B>,
    backend: &'a B,
    poll_interval: Duration,
    lease_retry: Duration,
    retry: (Duration, Duration),
    last_error: &'a Mutex<Option<String>>,
}

impl<P, B> DispatchLoop<'_, P, B>
where
    P: ProcessManager,
    B: ProcessBackend + SnapshotStore,
{
    async fn run(
        &self,
        mut progress: Progress,
        stop: impl Future<Output = ()> + Send,
    ) -> Result<(), ProcessError> {
        let mut stop = pin!(stop);
        let name = format!("{}.dispatch", P::NAME);
        let mut lease: Option<B::Lease> = None;
        let mut backoff = self.retry.0;
        let mut engine_alive = true;
        let result = loop {
            let wait = match &mut lease {
                None => match self.backend.try_lease(&name).await {
                    Ok(Some(l)) => {
                        lease = Some(l);
                        continue;
                    }
                    Ok(None) => self.lease_retry,
                    Err(e) if B::is_transient(&e) => self.lease_retry,
                    Err(e) => break Err(e.into()),
                },
                Some(l) => {
                    if !self.backend.lease_alive(l, None).await {
                        lease = None;
                        continue;
                    }
                    match self.round().await {
                        Ok(()) => {
                            backoff = self.retry.0;
                            self.set_error(None);
                            self.poll_interval
                        }
                        Err(e) if self.retryable(&e) => {
                            tracing::warn!(process = P::NAME, error = %ErrorChain(&e), retry_in = ?backoff, "dispatcher round failed");
                            self.set_error(Some(ErrorChain(&e).to_string()));
                            let wait = backoff;
                            backoff = (backoff * 2).min(self.retry.1);
                            wait
                        }
                        Err(e) => break Err(e),
                    }
                }
            };
            tokio::select! {
                () = &mut stop => break Ok(()),
                alive = progress.changed(), if engine_alive => engine_alive = alive,
                () = tokio::time::sleep(wait) => {}
            }
        };
        if let Some(l) = lease {
            self.backend.release_lease(l).await;
        }
        result
    }

    async fn round(&self) -> Result<(), ProcessError> {
        self.dispatcher.send_pending().await?;
        self.dispatcher.fire_due(chrono::Utc::now()).await?;
        Ok(())
    }

    fn retryable(&self, e: &ProcessError) -> bool {
        match e {
            ProcessError::Command { .. } => true,
            ProcessError::Store(s) => B::is_transient(s),
            _ => false,
        }
    }

    fn set_error(&self, e: Option<String>) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = e;
    }
}
