//! In-process listeners: side effects after commit, at least once.

use std::future::Future;
use std::time::Duration;

use es_core::RecordedEvent;
use es_core::consumer::{Consumer, Engine, ErrorPolicy};
use es_core::projection::{HandlerError, ProjectionError};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::consumer::PgTx;
use crate::store::PgEventStore;

const BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(5));
const LEASE_RETRY: Duration = Duration::from_millis(500);
/// Events per transaction: the checkpoint moves after each batch.
const BATCH: usize = 100;

/// A running listener (see [`PgEventStore::listen`]). Dropping it stops the
/// task after the event in hand; [`Listener::stop`] also waits for that.
#[derive(Debug)]
pub struct Listener {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Listener {
    /// Stops the listener after the event in hand (its handler finishes and
    /// its checkpoint is saved) and waits for the task to end.
    pub async fn stop(mut self) {
        self.stop.take();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Whether the task has ended (it ends only when stopped, or if a
    /// handler panicked).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // Dropping the sender tells the task to stop.
        self.stop.take();
    }
}

impl PgEventStore {
    /// Runs `handler` in a task of its own for each committed event of
    /// `types` (every type when `None`), in global order, at least once.
    /// It runs on the consumer engine ([`es_core::consumer::Engine`]) with
    /// [`ErrorPolicy::Retry`]: the position is saved as checkpoint `name`
    /// (in the `checkpoints` table, next to the projections') after each
    /// batch of up to 100 handled events, and before a failing event is
    /// retried; a restart starts after the saved position, so an event whose
    /// handler ran but whose checkpoint was not saved is delivered again.
    /// Make the handler idempotent (use `event_id`).
    ///
    /// A failing (or panicking) handler is retried with backoff (50 ms
    /// doubling to 5 s) until it succeeds: a listener never skips an event.
    /// For side effects that need their own transaction with the read
    /// model, use a [`ProjectionRunner`](crate::ProjectionRunner) instead.
    ///
    /// Like a runner, the listener takes the lease of `name`, so of several
    /// processes listening under one name one delivers (the others stand by
    /// and take over when it ends). Needs a tokio runtime. The name and the
    /// type list are kept for the life of the process (listeners are
    /// started a few times, not per request).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = es_postgres::PgEventStore::connect("postgres://postgres@127.0.0.1:5432/app").await?;
    /// let listener = store.listen("welcome_mail", Some(&["AccountOpened"]), |event| async move {
    ///     // send the mail, keyed by event.event_id
    ///     # let _ = event;
    ///     Ok(())
    /// });
    /// // … later
    /// listener.stop().await;
    /// # Ok(()) }
    /// ```
    pub fn listen<F, Fut>(&self, name: &str, types: Option<&[&str]>, handler: F) -> Listener
    where
        F: FnMut(RecordedEvent) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let (stop_tx, stop_rx) = oneshot::channel();
        let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
        let types: Option<&'static [&'static str]> = types.map(|t| {
            let owned: Vec<&'static str> = t
                .iter()
                .map(|s| &*Box::leak((*s).to_owned().into_boxed_str()))
                .collect();
            &*Box::leak(owned.into_boxed_slice())
        });
        let task = tokio::spawn(listen_task(self.clone(), name, types, handler, stop_rx));
        Listener {
            stop: Some(stop_tx),
            task: Some(task),
        }
    }
}

async fn listen_task<F, Fut>(
    store: PgEventStore,
    name: &'static str,
    types: Option<&'static [&'static str]>,
    handler: F,
    mut stop: oneshot::Receiver<()>,
) where
    F: FnMut(RecordedEvent) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    let mut engine = Engine::new(
        store,
        Listening {
            name,
            types,
            handler,
        },
    )
    .batch_size(BATCH)
    .error_policy(ErrorPolicy::Retry)
    .retry_backoff(BACKOFF.0, BACKOFF.1)
    .lease_retry(LEASE_RETRY);
    let mut backoff = BACKOFF.0;
    loop {
        let stopped = async {
            let _ = (&mut stop).await;
        };
        match engine.run(stopped).await {
            Ok(()) => return,
            Err(e) => {
                // Not transient by the store's measure, but a listener
                // never gives up: try again after a pause.
                tracing::warn!(listener = name, error = %es_core::ErrorChain(&e), "listener failed; retrying");
                tokio::select! {
                    biased;
                    _ = &mut stop => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF.1);
            }
        }
    }
}

/// A listener's handler as the engine's consumer: it writes nothing
/// through the transaction (its effects are its own), so the engine's
/// checkpoint after it makes delivery at least once.
struct Listening<F> {
    name: &'static str,
    types: Option<&'static [&'static str]>,
    handler: F,
}

impl<F, Fut> Consumer<PgTx> for Listening<F>
where
    F: FnMut(RecordedEvent) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    fn name(&self) -> &'static str {
        self.name
    }

    fn event_types(&self) -> Option<&'static [&'static str]> {
        self.types
    }

    async fn handle(&mut self, event: &RecordedEvent, _: &mut PgTx) -> Result<(), ProjectionError> {
        (self.handler)(event.clone())
            .await
            .map_err(|source| ProjectionError::Handler {
                projection: self.name,
                event_type: event.event_type.clone(),
                stream_id: event.stream_id.clone(),
                version: event.stream_version,
                position: event.global_position,
                source,
            })
    }
}
