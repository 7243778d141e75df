//! Publishing committed events to NATS JetStream, and reading them back
//! in another service.
//!
//! | piece | what it is |
//! |---|---|
//! | [`Relay`] | a [`Consumer`](es_core::consumer::Consumer) of the framework's engine that publishes every committed event, in log order, to `{prefix}.{aggregate type}.{event type}` with the event's envelope in headers and `Nats-Msg-Id` = the event id; the checkpoint moves only past acknowledged publishes |
//! | [`Relay::engine`], [`RelayStore`] | the engine over any store (in-memory, PostgreSQL, SQLite); failed publishes are [`Transient`](es_core::consumer::Transient), retried with its backoff; the store reads the next batch while one is published |
//! | [`RelayMonitor`] | the relay's health (published, duplicates, failures in a row, last error) and its checkpoint and lag |
//! | [`ensure_stream`], [`stream_config`] | the JetStream stream for a prefix, with its duplicate window |
//! | [`JetStreamSubscriber`] | a durable JetStream consumer that feeds a projection's [`Dispatch`](es_core::Dispatch) handlers, in order, acknowledging after each |
//! | [`event_subject`], [`event_headers`], [`decode_event`], [`headers`] | the message format, for consumers written without this crate |
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use es_nats::Relay;
//!
//! let js = async_nats::jetstream::new(async_nats::connect("127.0.0.1:4222").await?);
//! es_nats::ensure_stream(&js, "SHOP", "shop.events", Duration::from_secs(600)).await?;
//!
//! let store = es_core::InMemoryEventStore::new(); // PgEventStore, SqliteEventStore alike
//! let mut engine = Relay::new(js, "shop.events")
//!     .consumer_name("shop_relay")
//!     .engine(store)
//!     .batch_size(2000)
//!     .retry_backoff(Duration::from_millis(100), Duration::from_secs(5));
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>(); // stop.send(()) ends it
//! engine.run(async { stopped.await.ok(); }).await?;
//! # Ok(()) }
//! ```

mod ack;
mod message;
mod monitor;
mod relay;
mod store;
mod stream;
mod subscriber;

pub use ack::PublishFailed;
pub use message::{
    NotAnEvent, UnsendableEvent, decode_event, event_headers, event_subject, headers, subject_token,
};
pub use monitor::{RelayHealth, RelayMonitor, RelayStatus};
pub use relay::{DEFAULT_MAX_IN_FLIGHT, DEFAULT_RELAY_NAME, Relay, RelayEngine};
pub use store::RelayStore;
pub use stream::{DEFAULT_DUPLICATE_WINDOW, StreamError, ensure_stream, stream_config};
pub use subscriber::{JetStreamSubscriber, SubscribeError};

/// async-nats, the client this crate speaks through (its `Client`,
/// `jetstream::Context`, …), re-exported so the versions match.
pub use async_nats;
