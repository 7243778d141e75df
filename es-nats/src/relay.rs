//! [`Relay`]: the consumer that publishes committed events to JetStream.

use std::future::IntoFuture;
use std::sync::{Arc, Mutex, PoisonError};

use async_nats::jetstream::Context;
use async_nats::jetstream::context::{PublishError, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use es_core::consumer::{Backend, Consumer, ConsumerStatus, Engine};
use es_core::projection::{HandlerError, ProjectionError};
use es_core::{ErrorChain, RecordedEvent, StoreError, Timestamp};
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use tracing::Instrument;

use crate::message::Outgoing;
use crate::store::RelayStore;

/// The checkpoint name of a relay that was not given one.
pub const DEFAULT_RELAY_NAME: &str = "es_nats_relay";

/// How many publishes wait for their acknowledgement at once, by default.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;

/// The engine a relay runs on (see [`Relay::engine`]).
pub type RelayEngine<B> = Engine<RelayStore<B>, Relay>;

/// Publishes committed events to NATS JetStream, in log order, as a
/// [`Consumer`] of the framework's consumer engine.
///
/// Each event goes to `{prefix}.{aggregate type}.{event type}`
/// ([`event_subject`](crate::event_subject)) with the headers of
/// [`headers`](crate::headers) and `Nats-Msg-Id` = the event id. The
/// handler only buffers; at the end of each batch the relay publishes the
/// batch asynchronously, at most [`max_in_flight`](Relay::max_in_flight)
/// unacknowledged at once, and returns only when JetStream has acknowledged
/// every one. The engine moves the checkpoint after that, in the batch's
/// transaction, so the checkpoint never passes an unacknowledged event.
///
/// # Exactly once inside the duplicate window
///
/// A crash between the acknowledgements and the checkpoint's commit
/// republishes the batch; JetStream drops each republished message whose
/// id it has seen within the stream's duplicate window (see
/// [`ensure_stream`](crate::ensure_stream)), and the acknowledgement says
/// so ([`RelayHealth::duplicates`]).
///
/// # Order
///
/// Messages are stored in the order of the log. Pipelined publishes could
/// otherwise be stored out of order when a connection drops: the ones in
/// the dead socket are lost while later ones, still queued, go out on the
/// new connection. So each publish of a batch but the first expects the
/// one before it to be the stream's last (`Nats-Expected-Last-Msg-Id`):
/// after a gap, JetStream refuses every later message of the batch, and
/// the retry fills the gap first. The JetStream stream is therefore the
/// relay's own: nothing else may publish to it.
///
/// # Failures
///
/// A publish that fails (NATS down, no acknowledgement within the
/// context's timeout, 5 s by default) fails the batch; the engine rolls it
/// back and retries after its backoff ([`Engine::retry_backoff`]), for as
/// long as it runs, when the relay runs on [`Relay::engine`] (which tells
/// the engine these errors are transient). [`RelayMonitor::health`] shows
/// the failures in a row and the last error meanwhile; a message larger
/// than the server's `max_payload` is not retried (the engine stops, or
/// dead-letters it under [`ErrorPolicy::DeadLetter`](es_core::consumer::ErrorPolicy::DeadLetter)).
///
/// A `tracing` span `es.nats.publish` covers each batch's publish (fields
/// `relay`, `events`, `first`, `last`, and once acknowledged `published`
/// and `duplicates`).
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use es_nats::Relay;
///
/// let js = async_nats::jetstream::new(async_nats::connect("127.0.0.1:4222").await?);
/// es_nats::ensure_stream(&js, "SHOP", "shop.events", std::time::Duration::from_secs(120)).await?;
///
/// let store = es_core::InMemoryEventStore::new(); // or a PostgreSQL or SQLite store
/// let relay = Relay::new(js, "shop.events").consumer_name("shop_relay");
/// let monitor = relay.monitor();
/// let mut engine = relay.engine(store.clone()).batch_size(1000);
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let running = tokio::spawn(async move { engine.run(async { stopped.await.ok(); }).await });
/// // … later:
/// println!("{:?}", monitor.status(&store).await?);
/// stop.send(()).ok();
/// running.await??;
/// # Ok(()) }
/// ```
pub struct Relay {
    js: Context,
    name: &'static str,
    prefix: String,
    types: Option<&'static [&'static str]>,
    max_in_flight: usize,
    buffer: Vec<Outgoing>,
    monitor: RelayMonitor,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .field("types", &self.types)
            .field("max_in_flight", &self.max_in_flight)
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// A relay publishing through `js` under `prefix` (a subject prefix,
    /// dots allowed): every event type, checkpoint name
    /// [`DEFAULT_RELAY_NAME`], [`DEFAULT_MAX_IN_FLIGHT`] publishes in flight.
    ///
    /// ```no_run
    /// # async fn f(js: async_nats::jetstream::Context) {
    /// let relay = es_nats::Relay::new(js, "shop.events");
    /// assert_eq!(relay.prefix(), "shop.events");
    /// # }
    /// ```
    pub fn new(js: Context, prefix: impl Into<String>) -> Self {
        let monitor = RelayMonitor::new(DEFAULT_RELAY_NAME, None);
        Self {
            js,
            name: DEFAULT_RELAY_NAME,
            prefix: prefix.into(),
            types: None,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            buffer: Vec::new(),
            monitor,
        }
    }

    /// The name its checkpoint and lease are kept under (one per relay
    /// that should publish on its own).
    ///
    /// ```no_run
    /// # async fn f(js: async_nats::jetstream::Context) {
    /// let relay = es_nats::Relay::new(js, "shop.events").consumer_name("shop_relay");
    /// # }
    /// ```
    pub fn consumer_name(mut self, name: &'static str) -> Self {
        self.name = name;
        self.monitor = RelayMonitor::new(name, self.types);
        self
    }

    /// Publishes only these stored event types (default: all).
    ///
    /// ```no_run
    /// # async fn f(js: async_nats::jetstream::Context) {
    /// let relay = es_nats::Relay::new(js, "shop.events").event_types(&["OrderPlaced"]);
    /// # }
    /// ```
    pub fn event_types(mut self, types: &'static [&'static str]) -> Self {
        self.types = Some(types);
        self.monitor = RelayMonitor::new(self.name, self.types);
        self
    }

    /// How many publishes may await their acknowledgement at once (at
    /// least 1; default [`DEFAULT_MAX_IN_FLIGHT`]). The JetStream context
    /// has a bound of its own (5,000 by default in async-nats).
    ///
    /// ```no_run
    /// # async fn f(js: async_nats::jetstream::Context) {
    /// let relay = es_nats::Relay::new(js, "shop.events").max_in_flight(256);
    /// # }
    /// ```
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// The subject prefix.
    ///
    /// ```no_run
    /// # async fn f(js: async_nats::jetstream::Context) {
    /// assert_eq!(es_nats::Relay::new(js, "a.b").prefix(), "a.b");
    /// # }
    /// ```
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A handle on the relay's health and status, usable while the engine
    /// runs elsewhere.
    ///
    /// ```no_run
    /// # async fn f(js: async_nats::jetstream::Context) {
    /// let relay = es_nats::Relay::new(js, "shop.events");
    /// let monitor = relay.monitor();
    /// assert_eq!(monitor.health().failures, 0);
    /// # }
    /// ```
    pub fn monitor(&self) -> RelayMonitor {
        self.monitor.clone()
    }

    /// The engine that runs this relay over `store` (any
    /// [`Backend`]: the in-memory, PostgreSQL or SQLite store), through a
    /// [`RelayStore`] that retries failed publishes with the engine's
    /// backoff. Configure it like any engine (`batch_size`,
    /// `retry_backoff`, `poll_interval`), then `run` it.
    ///
    /// ```no_run
    /// # async fn f(js: async_nats::jetstream::Context) {
    /// let store = es_core::InMemoryEventStore::new();
    /// let engine = es_nats::Relay::new(js, "shop.events").engine(store).batch_size(2000);
    /// # }
    /// ```
    pub fn engine<B: Backend>(self, store: B) -> RelayEngine<B> {
        Engine::new(RelayStore::new(store), self)
    }

    /// Publishes the buffered batch and waits for every acknowledgement.
    async fn publish_buffer(&mut self) -> Result<Acked, PublishFailed> {
        let batch = std::mem::take(&mut self.buffer);
        let mut acked = Acked::default();
        let mut pending = FuturesOrdered::new();
        let mut previous: Option<String> = None;
        for out in batch {
            while pending.len() >= self.max_in_flight {
                if let Some(r) = pending.next().await {
                    acked.add(r)?;
                }
            }
            let Outgoing {
                subject,
                headers,
                payload,
                event_id,
                position,
            } = out;
            let mut message = PublishMessage::build().payload(payload).headers(headers);
            if let Some(p) = previous.as_deref() {
                message = message.expected_last_message_id(p);
            }
            let ack = self
                .js
                .send_publish(subject, message)
                .await
                .map_err(|source| PublishFailed::new(position, &event_id, source))?;
            previous = Some(event_id.clone());
            pending.push_back(async move {
                let r = ack.into_future().await;
                (position, r.map_err(|source| (event_id, source)))
            });
        }
        while let Some(r) = pending.next().await {
            acked.add(r)?;
        }
        Ok(acked)
    }
}

/// What one batch's acknowledgements said.
#[derive(Default)]
struct Acked {
    published: u64,
    duplicates: u64,
    last: u64,
}

type AckResult = (
    u64,
    Result<async_nats::jetstream::publish::PublishAck, (String, PublishError)>,
);

impl Acked {
    fn add(&mut self, (position, r): AckResult) -> Result<(), PublishFailed> {
        let ack = r.map_err(|(id, source)| PublishFailed::new(position, &id, source))?;
        if ack.duplicate {
            self.duplicates += 1;
        } else {
            self.published += 1;
        }
        self.last = position;
        Ok(())
    }
}

impl<Tx: Send + 'static> Consumer<Tx> for Relay {
    fn name(&self) -> &'static str {
        self.name
    }

    fn event_types(&self) -> Option<&'static [&'static str]> {
        self.types
    }

    async fn handle(&mut self, event: &RecordedEvent, _: &mut Tx) -> Result<(), ProjectionError> {
        let out = Outgoing::new(&self.prefix, event)
            .map_err(|e| ProjectionError::handler_of(self.name, event, Box::new(e)))?;
        self.buffer.push(out);
        Ok(())
    }

    /// A rebuild republishes every event from the start; JetStream drops
    /// those still inside its duplicate window.
    async fn reset(&mut self, _: &mut Tx) -> Result<(), HandlerError> {
        Ok(())
    }

    async fn flush(&mut self, _: &mut Tx) -> Result<(), HandlerError> {
        let (Some(first), Some(last)) = (self.buffer.first(), self.buffer.last()) else {
            return Ok(());
        };
        let span = tracing::info_span!(
            "es.nats.publish",
            relay = self.name,
            events = self.buffer.len(),
            first = first.position,
            last = last.position,
            published = tracing::field::Empty,
            duplicates = tracing::field::Empty,
        );
        let result = self.publish_buffer().instrument(span.clone()).await;
        match result {
            Ok(acked) => {
                span.record("published", acked.published);
                span.record("duplicates", acked.duplicates);
                self.monitor.succeeded(&acked);
                Ok(())
            }
            Err(e) => {
                let failures = self.monitor.failed(&e);
                tracing::warn!(
                    parent: &span,
                    relay = self.name,
                    failures,
                    error = %ErrorChain(&e),
                    "publishing a batch to JetStream failed"
                );
                Err(Box::new(e))
            }
        }
    }

    fn discard(&mut self) {
        self.buffer.clear();
    }
}

/// A publish JetStream did not acknowledge.
#[derive(Debug, thiserror::Error)]
#[error("publishing the event {event_id} (position {position}) to JetStream failed")]
pub struct PublishFailed {
    /// The event's global position.
    pub position: u64,
    /// The event's id.
    pub event_id: String,
    #[source]
    source: PublishError,
}

impl PublishFailed {
    fn new(position: u64, event_id: &str, source: PublishError) -> Self {
        Self {
            position,
            event_id: event_id.to_owned(),
            source,
        }
    }

    /// Whether trying again may succeed: everything but a message larger
    /// than the server accepts.
    ///
    /// ```
    /// fn retry(e: &es_nats::PublishFailed) -> bool { e.is_transient() }
    /// ```
    pub fn is_transient(&self) -> bool {
        !matches!(self.source.kind(), PublishErrorKind::MaxPayloadExceeded)
    }
}

/// How the relay has fared, as of its last batch.
///
/// ```
/// let h = es_nats::RelayHealth::default();
/// assert!(h.last_error.is_none() && h.failures == 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayHealth {
    /// Events JetStream acknowledged as stored, since the relay started.
    pub published: u64,
    /// Events JetStream acknowledged as duplicates (inside its window:
    /// republished after a crash or a failed batch) and dropped.
    pub duplicates: u64,
    /// The position of the last acknowledged event (0: none yet).
    pub last_position: u64,
    /// Batches that failed in a row (0 after a success): the engine is
    /// backing off while this is above 0.
    pub failures: u64,
    /// Batches that failed since the relay started.
    pub total_failures: u64,
    /// The last failure, with its causes.
    pub last_error: Option<String>,
    /// When it happened.
    pub last_error_at: Option<Timestamp>,
}

/// The relay's health and its checkpoint in one (see [`RelayMonitor::status`]).
///
/// ```
/// let s = es_nats::RelayStatus::default();
/// assert!(s.checkpoint.caught_up());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayStatus {
    /// The checkpoint, head and lag (events not yet acknowledged).
    pub checkpoint: ConsumerStatus,
    /// Counts and the last failure.
    pub health: RelayHealth,
}

/// A cloneable handle on a [`Relay`]'s health (see [`Relay::monitor`]).
///
/// ```no_run
/// # async fn f(js: async_nats::jetstream::Context) -> Result<(), es_core::StoreError> {
/// let store = es_core::InMemoryEventStore::new();
/// let monitor = es_nats::Relay::new(js, "shop.events").monitor();
/// let status = monitor.status(&store).await?;
/// if status.health.failures > 0 {
///     eprintln!("relay failing: {:?}, {} events behind", status.health.last_error, status.checkpoint.lag);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RelayMonitor {
    name: &'static str,
    types: Option<&'static [&'static str]>,
    health: Arc<Mutex<RelayHealth>>,
}

impl RelayMonitor {
    fn new(name: &'static str, types: Option<&'static [&'static str]>) -> Self {
        Self {
            name,
            types,
            health: Arc::default(),
        }
    }

    fn update<R>(&self, f: impl FnOnce(&mut RelayHealth) -> R) -> R {
        f(&mut self.health.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn succeeded(&self, acked: &Acked) {
        self.update(|h| {
            h.published += acked.published;
            h.duplicates += acked.duplicates;
            h.last_position = h.last_position.max(acked.last);
            h.failures = 0;
        });
    }

    fn failed(&self, e: &PublishFailed) -> u64 {
        let text = ErrorChain(e).to_string();
        self.update(|h| {
            h.failures += 1;
            h.total_failures += 1;
            h.last_error = Some(text);
            h.last_error_at = Some(chrono::Utc::now());
            h.failures
        })
    }

    /// The relay's counts and last failure, now.
    ///
    /// ```no_run
    /// # fn f(m: es_nats::RelayMonitor) {
    /// let h = m.health();
    /// println!("{} published, {} duplicates, {} failures in a row", h.published, h.duplicates, h.failures);
    /// # }
    /// ```
    pub fn health(&self) -> RelayHealth {
        self.update(|h| h.clone())
    }

    /// The health with the relay's checkpoint, head and lag, read from
    /// `store` (the store the relay's engine runs on).
    ///
    /// ```no_run
    /// # async fn f(m: es_nats::RelayMonitor, store: es_core::InMemoryEventStore) -> Result<(), es_core::StoreError> {
    /// let s = m.status(&store).await?;
    /// println!("checkpoint {}, {} behind", s.checkpoint.position, s.checkpoint.lag);
    /// # Ok(()) }
    /// ```
    pub async fn status<B: Backend>(&self, store: &B) -> Result<RelayStatus, StoreError> {
        let checkpoint = store.consumer_status(self.name, self.types).await?;
        Ok(RelayStatus {
            checkpoint,
            health: self.health(),
        })
    }
}
