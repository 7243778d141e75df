//! Listeners on PostgreSQL: [`PgEventStore::listen`], the engine's
//! [`es_core::consumer::listen`] over this store.

use std::future::Future;

use es_core::RecordedEvent;
use es_core::consumer::Listener;
use es_core::projection::HandlerError;

use crate::store::PgEventStore;

impl PgEventStore {
    /// Runs `handler` in a task of its own for each committed event of
    /// `types` (every type when `None`), in global order, at least once.
    /// It runs on the consumer engine ([`es_core::consumer::Engine`]) with
    /// [`ErrorPolicy::Retry`](es_core::consumer::ErrorPolicy::Retry): the position is saved as checkpoint `name`
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
        es_core::consumer::listen(self.clone(), name, types, handler)
    }
}
