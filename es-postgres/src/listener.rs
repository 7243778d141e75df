//! In-process listeners: side effects after commit, at least once.

use std::future::Future;
use std::time::Duration;

use es_core::RecordedEvent;
use es_core::projection::HandlerError;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::lease::Lease;
use crate::store::PgEventStore;

const BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(5));
const LEASE_RETRY: Duration = Duration::from_millis(500);

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
    /// `types` (every type when `None`), in global order, at least once:
    /// the position is saved as checkpoint `name` (in the `checkpoints`
    /// table, next to the projections') after the handler succeeds, and a
    /// restart starts after the saved position, so an event whose handler
    /// ran but whose checkpoint was not saved is delivered again. Make the
    /// handler idempotent (use `event_id`).
    ///
    /// A failing handler is retried with backoff (50 ms doubling to 5 s)
    /// until it succeeds: a listener never skips an event. For side effects
    /// that need their own transaction with the read model, use a
    /// [`ProjectionRunner`](crate::ProjectionRunner) instead.
    ///
    /// Like a runner, the listener takes the lease of `name`, so of several
    /// processes listening under one name one delivers (the others stand by
    /// and take over when it ends). Needs a tokio runtime.
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
        let types = types.map(|t| t.iter().map(|s| (*s).to_owned()).collect());
        let task = tokio::spawn(listen_task(
            self.clone(),
            name.to_owned(),
            types,
            handler,
            stop_rx,
        ));
        Listener {
            stop: Some(stop_tx),
            task: Some(task),
        }
    }
}

async fn listen_task<F, Fut>(
    store: PgEventStore,
    name: String,
    types: Option<Vec<String>>,
    mut handler: F,
    mut stop: oneshot::Receiver<()>,
) where
    F: FnMut(RecordedEvent) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    let mut backoff = BACKOFF.0;
    // Sleeps unless told to stop; false when stopped.
    macro_rules! pause {
        ($d:expr) => {
            tokio::select! {
                biased;
                _ = &mut stop => return,
                () = tokio::time::sleep($d) => {}
            }
        };
    }
    'lease: loop {
        let mut lease = loop {
            let r = tokio::select! {
                biased;
                _ = &mut stop => return,
                r = Lease::try_acquire(&store, &name) => r,
            };
            match r {
                Ok(Some(lease)) => break lease,
                Ok(None) => pause!(LEASE_RETRY),
                Err(e) => {
                    tracing::warn!(listener = %name, error = %es_core::ErrorChain(&e), "cannot take the lease; retrying");
                    pause!(backoff);
                    backoff = (backoff * 2).min(BACKOFF.1);
                }
            }
        };
        let after = loop {
            match store.load_checkpoint(&name).await {
                Ok(p) => break p.unwrap_or(0),
                Err(e) => {
                    tracing::warn!(listener = %name, error = %es_core::ErrorChain(&e), "cannot load the checkpoint; retrying");
                    pause!(backoff);
                    backoff = (backoff * 2).min(BACKOFF.1);
                }
            }
        };
        tracing::info!(listener = %name, after, "listener is active");
        let mut sub = store.subscribe(after, types.clone());
        loop {
            let next = tokio::select! {
                biased;
                _ = &mut stop => { lease.close().await; return; }
                n = sub.next() => n,
            };
            let event = match next {
                Some(Ok(e)) => e,
                Some(Err(e)) => {
                    tracing::warn!(listener = %name, error = %es_core::ErrorChain(&e), "cannot read events; retrying");
                    pause!(backoff);
                    backoff = (backoff * 2).min(BACKOFF.1);
                    if !lease.alive().await {
                        continue 'lease;
                    }
                    continue;
                }
                None => {
                    pause!(backoff);
                    continue 'lease;
                }
            };
            let position = event.global_position;
            let mut delay = BACKOFF.0;
            loop {
                match handler(event.clone()).await {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!(
                            listener = %name,
                            position,
                            stream = %event.stream_id,
                            event_type = %event.event_type,
                            error = %e,
                            "listener handler failed; retrying"
                        );
                        pause!(delay);
                        delay = (delay * 2).min(BACKOFF.1);
                    }
                }
            }
            backoff = BACKOFF.0;
            if let Err(e) = store.save_checkpoint(store.pool(), &name, position).await {
                // Not fatal: at worst the event is delivered again after a restart.
                tracing::warn!(listener = %name, position, error = %es_core::ErrorChain(&e), "cannot save the checkpoint");
            }
            if stop_requested(&mut stop) {
                lease.close().await;
                return;
            }
        }
    }
}

fn stop_requested(stop: &mut oneshot::Receiver<()>) -> bool {
    !matches!(stop.try_recv(), Err(oneshot::error::TryRecvError::Empty))
}
