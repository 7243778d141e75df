//! Testing support for the event-sourcing framework: given/when/then
//! fixtures, the store conformance suite, and (feature `postgres`) a
//! per-test PostgreSQL database.
//!
//! # Given / when / then
//!
//! An [`AggregateFixture`] states a test the way the domain is thought
//! about: *given* these past events, *when* this command, *then* these new
//! events (or this error, or this state).
//!
//! ```
//! use es_core::{Aggregate, Apply, DecodeError, EncodeError, Event, EventTypeInfo, Handle};
//! use es_testing::AggregateFixture;
//! use serde::{Deserialize, Serialize};
//!
//! // The domain (the derives write the `Event` and `Aggregate` impls; here
//! // they are written by hand).
//! #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
//! pub enum WalletEvent {
//!     Deposited { amount: i64 },
//!     Withdrawn { amount: i64 },
//! }
//!
//! impl Event for WalletEvent {
//!     const EVENT_TYPES: &'static [EventTypeInfo] = &[
//!         EventTypeInfo::new("Deposited", 1, &[]),
//!         EventTypeInfo::new("Withdrawn", 1, &[]),
//!     ];
//!     fn event_type(&self) -> &'static str {
//!         match self { Self::Deposited { .. } => "Deposited", Self::Withdrawn { .. } => "Withdrawn" }
//!     }
//!     fn schema_version(&self) -> u32 { 1 }
//!     fn encode(&self) -> Result<Vec<u8>, EncodeError> {
//!         let (Self::Deposited { amount } | Self::Withdrawn { amount }) = self;
//!         es_core::event::json::encode_json(self.event_type(), &serde_json::json!({ "amount": amount }))
//!     }
//!     fn decode(t: &str, v: u32, payload: &[u8]) -> Result<Self, DecodeError> {
//!         #[derive(Deserialize)]
//!         struct Amount { amount: i64 }
//!         let info = es_core::event::json::check_known::<Self>(t, v)?;
//!         let Amount { amount } = es_core::event::json::decode_json(t, v, payload)?;
//!         Ok(if info.name == "Deposited" { Self::Deposited { amount } } else { Self::Withdrawn { amount } })
//!     }
//! }
//!
//! #[derive(Debug, Default, Serialize, Deserialize)]
//! pub struct Wallet { balance: i64 }
//!
//! impl Aggregate for Wallet {
//!     const NAME: &'static str = "Wallet";
//!     const SNAPSHOT_VERSION: u32 = 1;
//!     type Event = WalletEvent;
//!     fn apply_event(&mut self, e: &WalletEvent) { self.apply(e) }
//! }
//!
//! impl Apply<WalletEvent> for Wallet {
//!     fn apply(&mut self, e: &WalletEvent) {
//!         match e {
//!             WalletEvent::Deposited { amount } => self.balance += amount,
//!             WalletEvent::Withdrawn { amount } => self.balance -= amount,
//!         }
//!     }
//! }
//!
//! pub struct Withdraw { pub amount: i64 }
//!
//! #[derive(Debug, PartialEq, thiserror::Error)]
//! pub enum WalletError {
//!     #[error("insufficient funds: balance {balance}, requested {requested}")]
//!     InsufficientFunds { balance: i64, requested: i64 },
//! }
//!
//! impl Handle<Withdraw> for Wallet {
//!     type Error = WalletError;
//!     fn handle(&self, cmd: Withdraw) -> Result<Vec<WalletEvent>, WalletError> {
//!         if cmd.amount > self.balance {
//!             return Err(WalletError::InsufficientFunds { balance: self.balance, requested: cmd.amount });
//!         }
//!         Ok(vec![WalletEvent::Withdrawn { amount: cmd.amount }])
//!     }
//! }
//!
//! // The tests.
//! AggregateFixture::<Wallet>::new()
//!     .given([WalletEvent::Deposited { amount: 100 }])
//!     .when(Withdraw { amount: 30 })
//!     .then_expect_events([WalletEvent::Withdrawn { amount: 30 }])
//!     .then_expect_state(|w| w.balance == 70);
//!
//! AggregateFixture::<Wallet>::new()
//!     .given([WalletEvent::Deposited { amount: 100 }])
//!     .and([WalletEvent::Withdrawn { amount: 80 }])
//!     .when(Withdraw { amount: 50 })
//!     .then_expect_error(WalletError::InsufficientFunds { balance: 20, requested: 50 })
//!     .then_expect_state(|w| assert_eq!(w.balance, 20));
//! ```
//!
//! `given`, `and` and `then_expect_events` take anything iterable of the
//! aggregate's event type; for an event enum with wrapping variants write
//! `AccountOpened { … }.into()`.
//!
//! A failed expectation panics with the expected and actual events side by
//! side (type names, the differing fields marked, a line diff of the JSON
//! payloads) and the `given` history. Every given and produced event is
//! encoded and decoded through the aggregate's event type first: an event
//! whose serde round trip loses or changes a field fails the test, naming
//! the event and the field.
//!
//! With the `insta` feature, `Then::then_snapshot_events` records the
//! produced events as a YAML snapshot.
//!
//! # The store conformance suite
//!
//! [`store_conformance_tests!`] expands into one test per case of
//! [`conformance`], run against a fresh store from a factory:
//!
//! ```
//! es_testing::store_conformance_tests!(async { es_core::InMemoryEventStore::new() });
//! # fn main() {}
//! ```
//!
//! # The consumer engine conformance suite
//!
//! [`engine_conformance_tests!`] expands into one test per case of
//! [`engine`]: what `es_core::consumer::Engine` promises (exactly once
//! across failures and takeovers, dead letters, rebuild, retry,
//! read-your-writes), run on a store's [`engine::EngineHarness`]:
//!
//! ```
//! es_testing::engine_conformance_tests!(async { es_testing::engine::MemoryHarness::new() });
//! # fn main() {}
//! ```
//!
//! # The process store conformance suite
//!
//! [`process_store_conformance_tests!`] expands into one test per case of
//! [`process_store`]: what a store that keeps process managers' instances,
//! outbox and deadlines ([`ProcessBackend`](es_core::process::ProcessBackend))
//! must do, run on a fresh store from a factory:
//!
//! ```
//! es_testing::process_store_conformance_tests!(async { es_core::InMemoryEventStore::new() });
//! # fn main() {}
//! ```
//!
//! # The document store conformance suite
//!
//! [`document_store_conformance_tests!`] expands into one test per case of
//! [`document_store`]: what a store that keeps document projections
//! ([`DocumentBackend`](es_core::document::DocumentBackend)) must do, through
//! a [`DocumentProjection`](es_core::document::DocumentProjection) on an
//! engine and the [`Documents`](es_core::document::Documents) queries:
//!
//! ```
//! es_testing::document_store_conformance_tests!(async { es_core::InMemoryEventStore::new() });
//! # fn main() {}
//! ```

mod decision_fixture;
mod document_fixture;
mod fixture;
mod process_fixture;
mod projection;
mod render;

pub mod conformance;
pub mod consumers;
pub mod dcb;
pub mod document_store;
pub mod engine;
pub mod process;
pub mod process_store;

pub use decision_fixture::{DecisionFixture, DecisionThen};
pub use document_fixture::DocumentFixture;
pub use fixture::{AggregateFixture, StateCheck, Then};
pub use process_fixture::{ProcessFixture, ProcessThen};
pub use projection::ProjectionFixture;

#[cfg(feature = "postgres")]
pub mod postgres;
