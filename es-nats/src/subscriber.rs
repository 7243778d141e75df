//! [`JetStreamSubscriber`]: the other side of the relay, a JetStream
//! durable consumer feeding a projection's [`Dispatch`] handlers.

use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::time::Duration;

use async_nats::jetstream::consumer::pull::Config;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::{AckKind, Context, Message};
use es_core::ErrorChain;
use es_core::projection::{Dispatch, ProjectionError};
use futures::{FutureExt, StreamExt};
use tracing::Instrument;

use crate::message::{decode_event, subject_token};

/// How long a catch-up's pull waits for messages before it asks whether
/// any are left.
const CATCH_UP_WAIT: Duration = Duration::from_millis(200);

/// A JetStream request of the subscriber failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// Creating or reading the durable consumer, pulling or acknowledging.
    #[error("{context} (JetStream consumer `{durable}`)")]
    Nats {
        /// What was being done.
        context: &'static str,
        /// The durable consumer.
        durable: String,
        /// The client's error.
        #[source]
        source: async_nats::Error,
    },
    /// The projection's handler failed (returned by
    /// [`JetStreamSubscriber::catch_up`]; the message is left for
    /// redelivery).
    #[error(transparent)]
    Handler(#[from] ProjectionError),
}

/// A JetStream durable pull consumer that hands each event the
/// [`Relay`](crate::Relay) published to a projection's [`Dispatch`]
/// handlers (a projection or process handler in another service, so read
/// models can live far from the event store).
///
/// Each message becomes the [`RecordedEvent`](es_core::RecordedEvent) it
/// was published from ([`decode_event`]), goes to
/// [`Dispatch::dispatch`], and is acknowledged once the handler returns
/// `Ok`. A failing (or panicking) handler's message is not acknowledged: it
/// is redelivered after a backoff, and nothing after it is handled first.
///
/// # Order and delivery
///
/// The durable consumer is created with `max_ack_pending = 1`: JetStream
/// hands out the next message only once the one before is acknowledged, so
/// events arrive in the stream's order (the store's order, per stream
/// too), even across redeliveries, restarts and several processes sharing
/// the durable name. Delivery is at least once: a process that dies after
/// the handler but before the acknowledgement reaches the server gets that
/// event again (its `stream_version` lets a handler drop it).
///
/// A message that is not a published event (a header missing) is
/// terminated (never redelivered) with a warning; the handler never sees
/// it.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use es_core::projection::{Dispatch, Projection, ProjectionError};
/// use es_core::RecordedEvent;
/// use es_nats::JetStreamSubscriber;
///
/// #[derive(Default)]
/// struct Placed(u64);
/// impl Projection for Placed {
///     const NAME: &'static str = "placed_orders";
///     const EVENT_TYPES: &'static [&'static str] = &["OrderPlaced"];
/// }
/// impl Dispatch for Placed {
///     async fn dispatch(&mut self, e: &RecordedEvent, _: &mut ()) -> Result<(), ProjectionError> {
///         if e.event_type == "OrderPlaced" { self.0 += 1 }
///         Ok(())
///     }
/// }
///
/// let js = async_nats::jetstream::new(async_nats::connect("127.0.0.1:4222").await?);
/// let mut sub = JetStreamSubscriber::bind(&js, "SHOP", "shop.events", Placed::default()).await?;
/// sub.catch_up().await?;
/// println!("{} orders placed", sub.projection().0);
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>(); // stop.send(()) ends it
/// sub.run(async { stopped.await.ok(); }).await?;
/// # Ok(()) }
/// ```
pub struct JetStreamSubscriber<P> {
    projection: P,
    consumer: PullConsumer,
    durable: String,
    backoff: (Duration, Duration),
    wait: Duration,
    failures: u32,
    handled: u64,
}

impl<P> std::fmt::Debug for JetStreamSubscriber<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamSubscriber")
            .field("durable", &self.durable)
            .field("handled", &self.handled)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

/// What handling one message did.
enum Outcome {
    Handled,
    Skipped,
    Failed(ProjectionError),
}

impl<P: Dispatch<()>> JetStreamSubscriber<P> {
    /// Binds `projection` to the durable consumer named after it
    /// ([`Projection::NAME`](es_core::projection::Projection::NAME), made a
    /// valid name) on the JetStream stream `stream`, reading the subjects
    /// `{prefix}.>`; creates the consumer, from the stream's first message,
    /// unless it exists.
    ///
    /// ```no_run
    /// # async fn f<P: es_core::Dispatch>(js: async_nats::jetstream::Context, p: P) -> Result<(), es_nats::SubscribeError> {
    /// let sub = es_nats::JetStreamSubscriber::bind(&js, "SHOP", "shop.events", p).await?;
    /// # Ok(()) }
    /// ```
    pub async fn bind(
        js: &Context,
        stream: &str,
        prefix: &str,
        projection: P,
    ) -> Result<Self, SubscribeError> {
        let durable = subject_token(P::NAME).into_owned();
        Self::bind_named(js, stream, prefix, &durable, projection).await
    }

    /// [`bind`](Self::bind) with a durable name of your own (one per
    /// service that should see every event).
    ///
    /// ```no_run
    /// # async fn f<P: es_core::Dispatch>(js: async_nats::jetstream::Context, p: P) -> Result<(), es_nats::SubscribeError> {
    /// let sub = es_nats::JetStreamSubscriber::bind_named(&js, "SHOP", "shop.events", "billing", p).await?;
    /// # Ok(()) }
    /// ```
    pub async fn bind_named(
        js: &Context,
        stream: &str,
        prefix: &str,
        durable: &str,
        projection: P,
    ) -> Result<Self, SubscribeError> {
        let fail = |context, source: async_nats::Error| SubscribeError::Nats {
            context,
            durable: durable.to_owned(),
            source,
        };
        let stream = js
            .get_stream(stream)
            .await
            .map_err(|e| fail("finding the stream", e.into()))?;
        let consumer: PullConsumer = stream
            .get_or_create_consumer(
                durable,
                Config {
                    durable_name: Some(durable.to_owned()),
                    filter_subject: format!("{prefix}.>"),
                    ack_policy: AckPolicy::Explicit,
                    deliver_policy: DeliverPolicy::All,
                    max_ack_pending: 1,
                    ack_wait: Duration::from_secs(30),
                    ..Config::default()
                },
            )
            .await
            .map_err(|e| fail("creating the durable consumer", e.into()))?;
        Ok(Self {
            projection,
            consumer,
            durable: durable.to_owned(),
            backoff: (Duration::from_millis(100), Duration::from_secs(10)),
            wait: Duration::from_secs(1),
            failures: 0,
            handled: 0,
        })
    }

    /// The redelivery delay after a failing handler: `initial`, doubling
    /// with each failure in a row up to `max` (defaults 100 ms and 10 s).
    ///
    /// ```no_run
    /// # fn f<P: es_core::Dispatch>(s: es_nats::JetStreamSubscriber<P>) {
    /// use std::time::Duration;
    /// let s = s.retry_backoff(Duration::from_millis(10), Duration::from_secs(1));
    /// # }
    /// ```
    pub fn retry_backoff(mut self, initial: Duration, max: Duration) -> Self {
        let initial = initial.max(Duration::from_millis(1));
        self.backoff = (initial, max.max(initial));
        self
    }

    /// The projection.
    ///
    /// ```no_run
    /// # fn f<P: es_core::Dispatch>(s: es_nats::JetStreamSubscriber<P>) {
    /// let p: &P = s.projection();
    /// # }
    /// ```
    pub fn projection(&self) -> &P {
        &self.projection
    }

    /// The projection, mutably.
    ///
    /// ```no_run
    /// # fn f<P: es_core::Dispatch>(mut s: es_nats::JetStreamSubscriber<P>) {
    /// let p: &mut P = s.projection_mut();
    /// # }
    /// ```
    pub fn projection_mut(&mut self) -> &mut P {
        &mut self.projection
    }

    /// Events handled (and acknowledged) since it was bound.
    ///
    /// ```no_run
    /// # fn f<P: es_core::Dispatch>(s: es_nats::JetStreamSubscriber<P>) {
    /// println!("{} handled", s.handled());
    /// # }
    /// ```
    pub fn handled(&self) -> u64 {
        self.handled
    }

    /// Handler failures in a row (0 after a success).
    ///
    /// ```no_run
    /// # fn f<P: es_core::Dispatch>(s: es_nats::JetStreamSubscriber<P>) {
    /// if s.failures() > 0 { eprintln!("the handler is failing") }
    /// # }
    /// ```
    pub fn failures(&self) -> u32 {
        self.failures
    }

    fn nats(&self, context: &'static str, source: async_nats::Error) -> SubscribeError {
        SubscribeError::Nats {
            context,
            durable: self.durable.clone(),
            source,
        }
    }

    fn delay(&self) -> Duration {
        let doublings = self.failures.saturating_sub(1).min(20);
        (self.backoff.0 * 2u32.pow(doublings)).min(self.backoff.1)
    }

    /// Handles one message and acknowledges it, or asks for its
    /// redelivery after the backoff.
    async fn handle(&mut self, msg: Message) -> Result<Outcome, SubscribeError> {
        let event = match decode_event(&msg.subject, msg.headers.as_ref(), &msg.payload) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(durable = %self.durable, error = %e, "terminating a message that is not an event");
                msg.ack_with(AckKind::Term)
                    .await
                    .map_err(|e| self.nats("terminating a foreign message", e))?;
                return Ok(Outcome::Skipped);
            }
        };
        let span = tracing::debug_span!(
            "es.nats.handle",
            durable = %self.durable,
            stream = %event.stream_id,
            version = event.stream_version,
            position = event.global_position,
        );
        let handled = AssertUnwindSafe(self.projection.dispatch(&event, &mut ()))
            .catch_unwind()
            .instrument(span)
            .await
            .unwrap_or_else(|_| {
                Err(ProjectionError::handler_of(
                    P::NAME,
                    &event,
                    "the handler panicked".into(),
                ))
            });
        match handled {
            Ok(()) => {
                msg.ack()
                    .await
                    .map_err(|e| self.nats("acknowledging a message", e))?;
                self.failures = 0;
                self.handled += 1;
                Ok(Outcome::Handled)
            }
            Err(e) => {
                self.failures = self.failures.saturating_add(1);
                let delay = self.delay();
                tracing::warn!(
                    durable = %self.durable,
                    failures = self.failures,
                    retry_in_ms = delay.as_millis() as u64,
                    error = %ErrorChain(&e),
                    "handler failed; the message will be redelivered"
                );
                msg.ack_with(AckKind::Nak(Some(delay)))
                    .await
                    .map_err(|e| self.nats("asking for a redelivery", e))?;
                Ok(Outcome::Failed(e))
            }
        }
    }

    /// Pulls for up to `wait` and handles what arrives; stops at the first
    /// handler failure when `stop_on_failure`.
    async fn pull(&mut self, wait: Duration, stop_on_failure: bool) -> Result<u64, SubscribeError> {
        let mut messages = self
            .consumer
            .batch()
            .max_messages(256)
            .expires(wait)
            .messages()
            .await
            .map_err(|e| self.nats("pulling messages", e.into()))?;
        let mut seen = 0;
        while let Some(msg) = messages.next().await {
            let msg = msg.map_err(|e| self.nats("receiving a message", e))?;
            seen += 1;
            match self.handle(msg).await? {
                Outcome::Handled | Outcome::Skipped => {}
                Outcome::Failed(e) if stop_on_failure => return Err(e.into()),
                Outcome::Failed(_) => {}
            }
        }
        Ok(seen)
    }

    /// Handles every message the durable consumer has not acknowledged yet,
    /// then returns how many it handled. A failing handler stops it with
    /// the error (the message is redelivered later).
    ///
    /// ```no_run
    /// # async fn f<P: es_core::Dispatch>(mut s: es_nats::JetStreamSubscriber<P>) -> Result<(), es_nats::SubscribeError> {
    /// let n = s.catch_up().await?;
    /// # Ok(()) }
    /// ```
    pub async fn catch_up(&mut self) -> Result<u64, SubscribeError> {
        let before = self.handled;
        loop {
            let seen = self.pull(CATCH_UP_WAIT, true).await?;
            if seen > 0 {
                continue;
            }
            let info = self
                .consumer
                .info()
                .await
                .map(|i| (i.num_pending, i.num_ack_pending));
            let (pending, ack_pending) =
                info.map_err(|e| self.nats("reading the consumer", e.into()))?;
            if pending == 0 && ack_pending == 0 {
                return Ok(self.handled - before);
            }
        }
    }

    /// Handles messages as they arrive until `shutdown` completes. A
    /// failing handler's message is redelivered after the backoff (see
    /// [`failures`](Self::failures)); a lost connection is retried with the
    /// same backoff. `shutdown` is checked between pulls, at least every
    /// second; the messages of a pull are finished first.
    ///
    /// ```no_run
    /// # async fn f<P: es_core::Dispatch>(mut s: es_nats::JetStreamSubscriber<P>) -> Result<(), es_nats::SubscribeError> {
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// s.run(async { stopped.await.ok(); }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn run<F>(&mut self, shutdown: F) -> Result<(), SubscribeError>
    where
        F: Future<Output = ()> + Send,
    {
        let mut shutdown = pin!(shutdown);
        let mut errors = 0u32;
        loop {
            if shutdown.as_mut().now_or_never().is_some() {
                return Ok(());
            }
            match self.pull(self.wait, false).await {
                Ok(_) => errors = 0,
                Err(e) => {
                    errors = errors.saturating_add(1);
                    let delay = (self.backoff.0 * 2u32.pow(errors.min(20) - 1)).min(self.backoff.1);
                    tracing::warn!(
                        durable = %self.durable,
                        error = %ErrorChain(&e),
                        retry_in_ms = delay.as_millis() as u64,
                        "pulling from JetStream failed; retrying"
                    );
                    tokio::select! {
                        biased;
                        () = shutdown.as_mut() => return Ok(()),
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }
}
