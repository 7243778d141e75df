//! Listeners: side effects after commit, at least once, on the engine.

use std::future::Future;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::backend::{Backend, Consumer};
use super::engine::{Engine, ErrorPolicy};
use crate::envelope::RecordedEvent;
use crate::projection::{HandlerError, ProjectionError};

const BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(5));
const LEASE_RETRY: Duration = Duration::from_millis(500);
/// Events per transaction: the checkpoint moves after each batch.
const BATCH: usize = 100;

/// A running listener (see [`listen`]). Dropping it stops the
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

/// Runs `handler` in a task of its own for each committed event of `types`
/// (every type when `None`) in `backend`'s log, in global order, at least
/// once: an [`Engine`] with [`ErrorPolicy::Retry`] over a consumer that
/// calls the handler. The position is saved as checkpoint `name` after each
/// batch of up to 100 handled events, and before a failing event is
/// retried; a restart starts after the saved position, so an event whose
/// handler ran but whose checkpoint was not saved is delivered again. Make
/// the handler idempotent (use `event_id`).
///
/// A failing (or panicking) handler is retried with backoff (50 ms doubling
/// to 5 s) until it succeeds: a listener never skips an event. Like any
/// engine, the listener takes the lease of `name`, so of several processes
/// listening under one name one delivers (the others stand by and take
/// over when it ends). Needs a tokio runtime. The name and the type list
/// are kept for the life of the process (listeners are started a few
/// times, not per request).
///
/// The stores offer it as a method (`PgEventStore::listen`,
/// `SqliteEventStore::listen`, [`InMemoryEventStore::listen`](crate::InMemoryEventStore::listen)).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use es_core::{EventStore, ExpectedVersion, InMemoryEventStore, Metadata, NewEvent};
/// let store = InMemoryEventStore::new();
/// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
/// let listener = es_core::consumer::listen(store.clone(), "mailer", Some(&["Opened"]), move |e| {
///     let tx = tx.clone();
///     async move { tx.send(e.stream_id).map_err(|e| e.into()) }
/// });
/// let opened = NewEvent::from_raw("Opened", 1, b"{}".to_vec(), Metadata::new());
/// store.append("Account-1", ExpectedVersion::Any, vec![opened]).await?;
/// assert_eq!(rx.recv().await.as_deref(), Some("Account-1"));
/// listener.stop().await;
/// # Ok(()) }
/// ```
pub fn listen<B, F, Fut>(backend: B, name: &str, types: Option<&[&str]>, handler: F) -> Listener
where
    B: Backend,
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
    let task = tokio::spawn(listen_task(backend, name, types, handler, stop_rx));
    Listener {
        stop: Some(stop_tx),
        task: Some(task),
    }
}

async fn listen_task<B, F, Fut>(
    store: B,
    name: &'static str,
    types: Option<&'static [&'static str]>,
    handler: F,
    mut stop: oneshot::Receiver<()>,
) where
    B: Backend,
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
                tracing::warn!(listener = name, error = %crate::ErrorChain(&e), "listener failed; retrying");
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

impl<Tx, F, Fut> Consumer<Tx> for Listening<F>
where
    Tx: Send + 'static,
    F: FnMut(RecordedEvent) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    fn name(&self) -> &'static str {
        self.name
    }

    fn event_types(&self) -> Option<&'static [&'static str]> {
        self.types
    }

    async fn handle(&mut self, event: &RecordedEvent, _: &mut Tx) -> Result<(), ProjectionError> {
        (self.handler)(event.clone())
            .await
            .map_err(|source| ProjectionError::handler_of(self.name, event, source))
    }
}
