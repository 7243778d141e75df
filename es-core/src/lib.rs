//! The core of the event-sourcing framework: events, aggregates, the
//! repository and the in-memory store. It holds no database code; the
//! PostgreSQL and SQLite stores implement its [`EventStore`] trait.
//!
//! # Where things are
//!
//! | concern | module |
//! |---|---|
//! | what an event is, how it is encoded and decoded | [`event`], [`registry`], [`upcast`] |
//! | envelopes: new and recorded events, metadata | [`envelope`] |
//! | aggregates and commands | [`aggregate`] |
//! | store traits, expected versions, snapshots | [`store`] |
//! | the in-memory store | [`memory`] |
//! | load, decide, append | [`repository`] |
//! | read models: handlers, dispatch, catch-up | [`projection`] |
//! | errors of each layer | [`error`] |
//!
//! # Quickstart
//!
//! The derives (feature `derive`, on by default) write the `Event` and
//! `Aggregate` impls; this example writes them by hand so it shows every
//! moving part.
//!
//! ```
//! use es_core::{Aggregate, Apply, DecodeError, EncodeError, Event, EventTypeInfo, Handle,
//!               InMemoryEventStore, Repository};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
//! pub struct Deposited { pub amount: i64 }
//!
//! impl Event for Deposited {
//!     const EVENT_TYPES: &'static [EventTypeInfo] = &[EventTypeInfo::new("Deposited", 1, &[])];
//!     fn event_type(&self) -> &'static str { "Deposited" }
//!     fn schema_version(&self) -> u32 { 1 }
//!     fn encode(&self) -> Result<Vec<u8>, EncodeError> {
//!         es_core::__private::encode_json("Deposited", self)
//!     }
//!     fn decode(t: &str, v: u32, payload: &[u8]) -> Result<Self, DecodeError> {
//!         es_core::__private::check_known::<Self>(t, v)?;
//!         es_core::__private::decode_json(t, v, payload)
//!     }
//! }
//!
//! #[derive(Debug, Default, Clone, Serialize, Deserialize)]
//! pub struct Wallet { balance: i64 }
//!
//! impl Aggregate for Wallet {
//!     const NAME: &'static str = "Wallet";
//!     const SNAPSHOT_VERSION: u32 = 1;
//!     type Event = Deposited;
//!     fn apply_event(&mut self, e: &Deposited) { <Self as Apply<Deposited>>::apply(self, e) }
//! }
//!
//! impl Apply<Deposited> for Wallet {
//!     fn apply(&mut self, e: &Deposited) { self.balance += e.amount }
//! }
//!
//! #[derive(Clone)]
//! pub struct Deposit { pub amount: i64 }
//!
//! #[derive(Debug, PartialEq, thiserror::Error)]
//! pub enum WalletError { #[error("amount must be positive, got {0}")] NotPositive(i64) }
//!
//! impl Handle<Deposit> for Wallet {
//!     type Error = WalletError;
//!     fn handle(&self, cmd: Deposit) -> Result<Vec<Deposited>, WalletError> {
//!         if cmd.amount <= 0 { return Err(WalletError::NotPositive(cmd.amount)); }
//!         Ok(vec![Deposited { amount: cmd.amount }])
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let wallets = Repository::<Wallet, _>::new(InMemoryEventStore::new());
//! wallets.execute("w-1", Deposit { amount: 30 }).await?;
//! let err = wallets.execute("w-1", Deposit { amount: -5 }).await.unwrap_err();
//! assert_eq!(err.rejection(), Some(&WalletError::NotPositive(-5)));
//! let now = wallets.load("w-1").await?.expect("the wallet exists");
//! assert_eq!((now.state.balance, now.version), (30, 1));
//! # Ok(()) }
//! ```

pub mod aggregate;
pub mod envelope;
pub mod error;
pub mod event;
pub mod memory;
pub mod projection;
pub mod registry;
pub mod repository;
pub mod store;
pub mod upcast;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use aggregate::{Aggregate, Apply, Handle};
pub use envelope::{Metadata, NewEvent, Recorded, RecordedEvent, Timestamp, stream_category};
pub use error::{
    BoxError, DecodeError, EncodeError, InvalidStreamId, RepositoryError, StoreError, UpcastError,
};
pub use event::{Event, EventTypeInfo};
pub use memory::InMemoryEventStore;
pub use projection::{Dispatch, On, Projection};
pub use registry::EventRegistry;
pub use repository::{At, Executed, Loaded, Repository};
pub use store::{
    AppendResult, CommandRecord, CommitWatch, EventStore, ExpectedVersion, MAX_STREAM_ID_LEN,
    Snapshot, SnapshotStore, StreamEnd, validate_stream_id,
};

/// The derives, under their traits' names (`use es_core::Event;` brings both).
#[cfg(feature = "derive")]
#[allow(unused_imports, unreachable_pub)] // until the derives land
pub use es_derive::*;

pub use chrono;
pub use uuid::Uuid;
