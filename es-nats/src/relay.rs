//! [`Relay`]: the consumer that publishes committed events to JetStream.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use async_nats::jetstream::Context;
use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::message::PublishMessage;
use es_core::consumer::{Backend, Consumer, Engine, Transient};
use es_core::projection::{HandlerError, ProjectionError};
use es_core::{ErrorChain, RecordedEvent, Uuid};
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use tracing::Instrument;

use crate::ack::{AckResult, Acked, PublishFailed};
use crate::message::Outgoing;
use crate::monitor::RelayMonitor;
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
/// handler publishes each event as the engine hands it over, asynchronously,
/// with at most [`max_in_flight`](Relay::max_in_flight) unacknowledged at
/// once; at the end of each batch the flush returns only when JetStream has
/// acknowledged every one. The engine moves the checkpoint after that, in
/// the batch's transaction, so the checkpoint never passes an
/// unacknowledged event.
///
/// # Exactly once inside the duplicate window
///
/// A crash between the acknowledgements and the checkpoint's commit
/// republishes the batch; JetStream drops each republished message whose
/// id it has seen within the stream's duplicate window (see
/// [`ensure_stream`](crate::ensure_stream)), and the acknowledgement says
/// so ([`RelayHealth::duplicates`](crate::RelayHealth::duplicates)).
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
/// context's timeout, 5 s by default) fails the batch, as a
/// [`Transient`] error: the engine rolls it back and retries after its
/// backoff ([`Engine::retry_backoff`]), for as long as it runs, whatever
/// its error policy. (The failure surfaces in the handler of a later event
/// of the batch, or in the flush; [`PublishFailed`] names the event.)
/// [`RelayMonitor::health`] shows the failures in a row and the last error
/// meanwhile; a message larger than the server's `max_payload` is not
/// retried (the engine stops, or dead-letters it under
/// [`ErrorPolicy::DeadLetter`](es_core::consumer::ErrorPolicy::DeadLetter)).
///
/// A `tracing` span `es.nats.publish` covers each batch's publishes (fields
/// `relay`, `first`, and once acknowledged `events`, `last`, `published`
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
    batch: InFlight,
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
            batch: InFlight::default(),
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
    /// [`RelayStore`], which reads the next batch while this one is
    /// published and lets the in-memory store run whole batches. Configure
    /// it like any engine (`batch_size`,
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

    /// Publishes `out`, the message of `event`, after waiting for the
    /// oldest acknowledgement when `max_in_flight` are outstanding.
    async fn publish(&mut self, event: &RecordedEvent, out: Outgoing) -> Result<(), PublishFailed> {
        while self.batch.pending.len() >= self.max_in_flight {
            if let Some(r) = self.batch.pending.next().await {
                self.batch.acked.add(r)?;
            }
        }
        let Outgoing {
            subject,
            headers,
            payload,
        } = out;
        let message = PublishMessage::build().payload(payload).headers(headers);
        let ack = self
            .js
            .send_publish(subject, message)
            .await
            .map_err(|source| PublishFailed::new(event.global_position, event.event_id, source))?;
        self.batch.previous = Some(event.event_id);
        self.batch.pending.push_back(Ack {
            position: event.global_position,
            event_id: event.event_id,
            ack: ack.into_future(),
        });
        Ok(())
    }

    /// Waits for the batch's outstanding acknowledgements.
    async fn drain(&mut self) -> Result<(), PublishFailed> {
        while let Some(r) = self.batch.pending.next().await {
            self.batch.acked.add(r)?;
        }
        Ok(())
    }

    /// Records a failed publish; the error the engine sees (transient unless
    /// the message can never be sent).
    fn failed(&mut self, e: PublishFailed) -> HandlerError {
        let failures = self.monitor.failed(&e);
        let span = self.batch.span.clone().unwrap_or_else(tracing::Span::none);
        tracing::warn!(
            parent: &span,
            relay = self.name,
            failures,
            error = %ErrorChain(&e),
            "publishing a batch to JetStream failed"
        );
        // What was published stays published; the retry republishes it and
        // JetStream's duplicate window drops it.
        self.batch = InFlight::default();
        if e.is_transient() {
            Box::new(Transient::new(e))
        } else {
            Box::new(e)
        }
    }
}

/// The batch being published: acknowledgements outstanding and received.
#[derive(Default)]
struct InFlight {
    pending: FuturesOrdered<Ack>,
    /// The last event published in this batch: the next one expects it.
    previous: Option<Uuid>,
    acked: Acked,
    first: Option<u64>,
    events: usize,
    span: Option<tracing::Span>,
}

/// One publish's acknowledgement, with the event it is for.
struct Ack {
    position: u64,
    event_id: Uuid,
    ack: <PublishAckFuture as IntoFuture>::IntoFuture,
}

impl Future for Ack {
    type Output = AckResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<AckResult> {
        let r = ready!(self.ack.as_mut().poll(cx));
        Poll::Ready((self.position, self.event_id, r))
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
        let out = Outgoing::new(&self.prefix, event, self.batch.previous)
            .map_err(|e| ProjectionError::handler_of(self.name, event, Box::new(e)))?;
        let span = self
            .batch
            .span
            .get_or_insert_with(|| {
                tracing::info_span!(
                    "es.nats.publish",
                    relay = self.name,
                    first = event.global_position,
                    events = tracing::field::Empty,
                    last = tracing::field::Empty,
                    published = tracing::field::Empty,
                    duplicates = tracing::field::Empty,
                )
            })
            .clone();
        self.batch.first.get_or_insert(event.global_position);
        self.batch.events += 1;
        let result = self.publish(event, out).instrument(span).await;
        result.map_err(|e| {
            let err = self.failed(e);
            ProjectionError::handler_of(self.name, event, err)
        })
    }

    /// A rebuild republishes every event from the start; JetStream drops
    /// those still inside its duplicate window.
    async fn reset(&mut self, _: &mut Tx) -> Result<(), HandlerError> {
        Ok(())
    }

    async fn flush(&mut self, _: &mut Tx) -> Result<(), HandlerError> {
        let Some(span) = self.batch.span.clone() else {
            return Ok(());
        };
        let result = self.drain().instrument(span.clone()).await;
        match result {
            Ok(()) => {
                let batch = std::mem::take(&mut self.batch);
                span.record("events", batch.events);
                span.record("last", batch.acked.last);
                span.record("published", batch.acked.published);
                span.record("duplicates", batch.acked.duplicates);
                self.monitor.succeeded(&batch.acked);
                Ok(())
            }
            Err(e) => Err(self.failed(e)),
        }
    }

    fn discard(&mut self) {
        self.batch = InFlight::default();
    }
}
