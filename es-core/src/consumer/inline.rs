//! Inline consumers: [`Consumer`]s a store runs inside each append's own
//! transaction, so what they write commits with the events or not at all.
//!
//! This module holds the part every store shares (which consumers read
//! which appended events, a fresh clone per append, `flush` after the
//! handlers, `discard` on failure, the error naming the consumer); the
//! store brings the transaction, inserts the events, reads them back with
//! their positions, hands them to [`InlineConsumers::apply`] and commits
//! (`es_postgres::PgEventStore::with_inline`,
//! `es_sqlite::SqliteEventStore::with_inline`).

use std::fmt;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;

use super::backend::Consumer;
use crate::envelope::RecordedEvent;
use crate::projection::{HandlerError, ProjectionError};
use crate::store::StoreError;

/// The object-safe face of a [`Consumer`] run inline.
trait Erased<Tx>: Send + Sync {
    fn name(&self) -> &'static str;
    fn reads(&self, event_type: &str) -> bool;
    fn apply<'a>(
        &'a self,
        events: &'a [RecordedEvent],
        tx: &'a mut Tx,
    ) -> BoxFuture<'a, Result<(), ProjectionError>>;
    fn setup<'a>(&'a self, tx: &'a mut Tx) -> BoxFuture<'a, Result<(), HandlerError>>;
}

/// A consumer as its store holds it: the value each append clones.
struct Erase<C>(C);

impl<Tx, C> Erased<Tx> for Erase<C>
where
    Tx: Send + 'static,
    C: Consumer<Tx> + Clone + Sync,
{
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn reads(&self, event_type: &str) -> bool {
        self.0
            .event_types()
            .is_none_or(|types| types.contains(&event_type))
    }

    fn apply<'a>(
        &'a self,
        events: &'a [RecordedEvent],
        tx: &'a mut Tx,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        async move {
            let mut consumer = self.0.clone();
            let name = consumer.name();
            let result = async {
                for e in events {
                    if self.reads(&e.event_type) {
                        consumer.handle(e, tx).await?;
                    }
                }
                consumer
                    .flush(tx)
                    .await
                    .map_err(|e| ProjectionError::Store {
                        projection: name,
                        source: StoreError::backend(
                            format!("flushing inline projection `{name}`"),
                            e,
                        ),
                    })
            }
            .await;
            if result.is_err() {
                // The append rolls back; drop what was buffered (the clone
                // goes too, but the buffer may be shared with the original).
                consumer.discard();
            }
            result
        }
        .boxed()
    }

    fn setup<'a>(&'a self, tx: &'a mut Tx) -> BoxFuture<'a, Result<(), HandlerError>> {
        async move { self.0.clone().setup(tx).await }.boxed()
    }
}

/// One inline consumer of a store (see [`InlineConsumers`]), its type
/// erased so a store can hold several of different types.
pub struct InlineConsumer<Tx>(Arc<dyn Erased<Tx>>);

impl<Tx> Clone for InlineConsumer<Tx> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<Tx> fmt::Debug for InlineConsumer<Tx> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("InlineConsumer")
            .field(&self.0.name())
            .finish()
    }
}

impl<Tx: Send + 'static> InlineConsumer<Tx> {
    /// `consumer` as an inline consumer. Each append runs a fresh clone of
    /// it, so it keeps its model behind `Tx` and only configuration in
    /// itself.
    pub fn new<C>(consumer: C) -> Self
    where
        C: Consumer<Tx> + Clone + Sync,
    {
        Self(Arc::new(Erase(consumer)))
    }

    /// Its name ([`Consumer::name`]).
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// Whether it reads events of this stored type
    /// ([`Consumer::event_types`]; `None` reads every type).
    pub fn reads(&self, event_type: &str) -> bool {
        self.0.reads(event_type)
    }

    /// Runs a fresh clone of the consumer over the `events` of its types, in
    /// order, on `tx`, then [`flush`](Consumer::flush)es it. On failure the
    /// clone is [`discard`](Consumer::discard)ed and the error returned: a
    /// handler's as it is, a flush's as a [`ProjectionError::Store`]
    /// naming the consumer. The caller rolls `tx` back.
    pub async fn apply(
        &self,
        events: &[RecordedEvent],
        tx: &mut Tx,
    ) -> Result<(), ProjectionError> {
        self.0.apply(events, tx).await
    }

    /// Runs a fresh clone's [`setup`](Consumer::setup) hook on `tx`.
    pub async fn setup(&self, tx: &mut Tx) -> Result<(), HandlerError> {
        self.0.setup(tx).await
    }
}

/// The inline consumers of a store, in the order they run: each append
/// runs every one of them (those that read one of its events' types) on the
/// append's own transaction, after inserting the events and before
/// committing.
///
/// `Tx` is the transaction type the store's consumers write through (the
/// one its runners' batches use too, `es_postgres::PgTx` or
/// `es_sqlite::SqliteTx`), so the consumer a runner runs can run inline as
/// it is. The store owns the transaction: it begins it, inserts the events,
/// reads them back with their positions, calls [`apply`](Self::apply), and
/// commits, or rolls back and reports the [`InlineFailure`].
///
/// ```
/// use es_core::consumer::{Consumer, InlineConsumers};
/// use es_core::projection::ProjectionError;
/// use es_core::{Metadata, RecordedEvent};
///
/// /// Counts `Pinged` events into the transaction (a `u64` stands in for one).
/// #[derive(Clone)]
/// struct Pings;
/// impl Consumer<u64> for Pings {
///     fn name(&self) -> &'static str { "pings" }
///     fn event_types(&self) -> Option<&'static [&'static str]> { Some(&["Pinged"]) }
///     async fn handle(&mut self, _: &RecordedEvent, tx: &mut u64) -> Result<(), ProjectionError> {
///         *tx += 1;
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let mut inline = InlineConsumers::new();
/// inline.push(Pings);
/// assert_eq!(inline.names(), ["pings"]);
/// assert!(inline.reads("Pinged") && !inline.reads("Ponged"));
///
/// let event = |t: &str, p: u64| RecordedEvent {
///     event_id: es_core::Uuid::now_v7(), stream_id: "Pinger-1".into(), stream_version: p,
///     global_position: p, event_type: t.into(), schema_version: 1, payload: b"{}".to_vec(),
///     metadata: Metadata::new(), recorded_at: chrono::Utc::now(),
/// };
/// let mut tx = 0u64;
/// inline.apply(&[event("Pinged", 1), event("Ponged", 2), event("Pinged", 3)], &mut tx).await.unwrap();
/// assert_eq!(tx, 2);
/// # }
/// ```
pub struct InlineConsumers<Tx> {
    consumers: Vec<InlineConsumer<Tx>>,
}

impl<Tx> Clone for InlineConsumers<Tx> {
    fn clone(&self) -> Self {
        Self {
            consumers: self.consumers.clone(),
        }
    }
}

impl<Tx> Default for InlineConsumers<Tx> {
    fn default() -> Self {
        Self {
            consumers: Vec::new(),
        }
    }
}

impl<Tx> fmt::Debug for InlineConsumers<Tx> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.consumers).finish()
    }
}

impl<Tx: Send + 'static> InlineConsumers<Tx> {
    /// None yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `consumer`, to run after the others.
    pub fn push<C>(&mut self, consumer: C)
    where
        C: Consumer<Tx> + Clone + Sync,
    {
        self.consumers.push(InlineConsumer::new(consumer));
    }

    /// Whether there are none (a store then keeps its plain append).
    pub fn is_empty(&self) -> bool {
        self.consumers.is_empty()
    }

    /// Their names, in the order they run.
    pub fn names(&self) -> Vec<&'static str> {
        self.consumers.iter().map(InlineConsumer::name).collect()
    }

    /// Each of them, in the order they run (say, to run each one's
    /// [`setup`](InlineConsumer::setup) in a transaction of its own).
    pub fn iter(&self) -> impl Iterator<Item = &InlineConsumer<Tx>> {
        self.consumers.iter()
    }

    /// Whether any of them reads events of this stored type: a store reads
    /// the appended events back only when one does.
    pub fn reads(&self, event_type: &str) -> bool {
        self.consumers.iter().any(|c| c.reads(event_type))
    }

    /// Runs each of them over the `events` of its types on `tx`, in order
    /// (see [`InlineConsumer::apply`]); stops at the first that fails and
    /// names it. The caller then rolls `tx` back.
    pub async fn apply(&self, events: &[RecordedEvent], tx: &mut Tx) -> Result<(), InlineFailure> {
        for consumer in &self.consumers {
            if let Err(error) = consumer.apply(events, tx).await {
                return Err(InlineFailure {
                    consumer: consumer.name(),
                    error: Box::new(error),
                });
            }
        }
        Ok(())
    }
}

/// An inline consumer failed (a handler, or its flush): the append it ran
/// in must roll back.
#[derive(Debug)]
#[non_exhaustive]
pub struct InlineFailure {
    /// The consumer that failed.
    pub consumer: &'static str,
    /// Its error.
    pub error: Box<ProjectionError>,
}

impl InlineFailure {
    /// The append's error, once its transaction has rolled back: a
    /// [`StoreError::Backend`] saying which inline projection failed on
    /// which stream and that nothing was stored, whose source is the
    /// [`ProjectionError`].
    ///
    /// ```
    /// # use es_core::consumer::InlineFailure;
    /// # fn show(failure: InlineFailure) {
    /// let err = failure.into_append_error("Account-1");
    /// // "appending to stream `Account-1`: inline projection `balances` failed; nothing was stored"
    /// # let _ = err; }
    /// ```
    pub fn into_append_error(self, stream_id: &str) -> StoreError {
        StoreError::backend(
            format!(
                "appending to stream `{stream_id}`: inline projection `{}` failed; nothing was stored",
                self.consumer
            ),
            *self.error,
        )
    }
}

impl fmt::Display for InlineFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "inline projection `{}` failed", self.consumer)
    }
}

impl std::error::Error for InlineFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.error)
    }
}
