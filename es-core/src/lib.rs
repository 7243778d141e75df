//! The core of the event-sourcing framework: events, aggregates, the
//! repository and the in-memory store. It holds no database code; the
//! PostgreSQL and SQLite stores implement its [`EventStore`] trait.
//!
//! # Where things are
//!
//! | concern | module |
//! |---|---|
//! | what an event is, how it is encoded and decoded, and its errors | [`event`], [`registry`], [`upcast`] |
//! | envelopes: new and recorded events, metadata | [`envelope`] |
//! | aggregates and commands | [`aggregate`] |
//! | store traits, expected versions, snapshots, the store's errors | [`store`] |
//! | the in-memory store | [`memory`] |
//! | load, decide, append, and the repository's error | [`repository`] |
//! | read models: handlers, dispatch, catch-up | [`projection`] |
//! | what all errors share: a boxed cause, a one-line chain | [`error`] |
//!
//! # Quickstart
//!
//! The derives (feature `derive`, on by default) write the `Event`,
//! `Aggregate` and `Projection` impls; this example writes them by hand so
//! it shows every moving part.
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
//!         es_core::event::json::encode_json("Deposited", self)
//!     }
//!     fn decode(t: &str, v: u32, payload: &[u8]) -> Result<Self, DecodeError> {
//!         es_core::event::json::check_known::<Self>(t, v)?;
//!         es_core::event::json::decode_json(t, v, payload)
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
pub mod consumer;
pub mod dcb;
pub mod document;
pub mod envelope;
pub mod error;
pub mod event;
pub mod memory;
pub mod process;
pub mod projection;
pub mod registry;
pub mod repository;
#[cfg(feature = "schema")]
pub mod schema;
pub mod store;
pub mod upcast;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// Without the feature `schema`, the derives' `event_schemas` hook expands
/// to nothing. Not public API.
#[cfg(not(feature = "schema"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __event_schemas {
    ($($tokens:tt)*) => {};
}

/// schemars, whose `Schema` [`schema::EventSchema`] holds (feature `schema`).
#[cfg(feature = "schema")]
pub use schemars;

pub use aggregate::{Aggregate, Apply, Handle, snapshot_key};
pub use envelope::{
    Metadata, NewEvent, Recorded, RecordedEvent, ReplayedEvent, Timestamp, stream_category,
};
pub use error::{BoxError, ErrorChain};
pub use event::{DecodeError, EncodeError, Event, EventTypeInfo, UpcastError};
pub use memory::InMemoryEventStore;
pub use projection::{Dispatch, On, Projection};
pub use registry::EventRegistry;
pub use repository::{At, Executed, Loaded, Repository, RepositoryError};
pub use store::{
    AppendResult, CommandRecord, CommitWatch, DEFAULT_MAX_PAYLOAD_BYTES, EventStore,
    ExpectedVersion, InvalidStreamId, MAX_STREAM_ID_LEN, ReadAllPage, Snapshot, SnapshotStore,
    StoreError, StreamEnd, check_append, retry_delay, validate_stream_id,
};

/// `#[derive(Event)]`, under the trait's name (`use es_core::Event;` brings
/// both).
///
/// On a struct, every key is optional:
///
/// | key | meaning |
/// |---|---|
/// | `name = "…"` | the stored name; defaults to the type's name |
/// | `version = N` | the schema version written; defaults to 1 |
/// | `alias = "…"` | a former name that still decodes (repeatable) |
/// | `upcast(from = K, with = path)` | a JSON step `fn(serde_json::Value) -> Result<serde_json::Value, UpcastError>` from version K to K+1; steps chain |
/// | `upcast(from = K, via = Type)` | decode version K as `Type`, then `Into<Self>` |
///
/// A stored version with no declared path decodes directly as the current
/// type; the current version decodes straight from the bytes.
///
/// On an enum, a variant wrapping one type (`Opened(AccountOpened)`) is that
/// type's events and gets `From<AccountOpened>`; a variant with inline fields
/// is an event of its own, named after the variant, and takes the same keys
/// in `#[event(…)]` on the variant. Two variants decoding one name is a
/// compile error.
///
/// ```
/// use es_core::{Event, UpcastError};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, PartialEq, Serialize, Deserialize, Event)]
/// #[event(name = "MoneyDeposited", version = 2, alias = "Deposited",
///         upcast(from = 1, with = deposited_v1_to_v2))]
/// struct MoneyDeposited { amount: i64, category: String }
///
/// fn deposited_v1_to_v2(mut v: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
///     v["category"] = "general".into();
///     Ok(v)
/// }
///
/// #[derive(Debug, PartialEq, Event)]
/// enum AccountEvent {
///     Deposited(MoneyDeposited),
///     #[event(name = "AccountFrozen")]
///     Frozen { reason: String },
/// }
///
/// let e = AccountEvent::decode("Deposited", 1, br#"{"amount": 5}"#).unwrap();
/// assert_eq!(e, MoneyDeposited { amount: 5, category: "general".into() }.into());
/// let frozen = AccountEvent::Frozen { reason: "audit".into() };
/// assert_eq!(frozen.event_type(), "AccountFrozen");
/// assert_eq!(AccountEvent::decode("AccountFrozen", 1, &frozen.encode().unwrap()).unwrap(), frozen);
/// ```
#[cfg(feature = "derive")]
pub use es_derive::Event;

/// `#[derive(Aggregate)]`, under the trait's name.
///
/// `#[aggregate(name = "…", event = Type, snapshot_version = N)]`: `event`
/// is required; `name` defaults to the type's name and must not contain `-`
/// (streams are `{name}-{id}`); `snapshot_version` defaults to 1.
/// `apply_event` calls `Apply<Inner>` for each wrapping variant of the event
/// enum and `Apply<EventEnum>` for its inline variants; a missing `Apply`
/// impl is a compile error naming the event.
///
/// The derive also sets [`Aggregate::STATE_FINGERPRINT`]: a stable hash of
/// the type's own definition (field names and order, field types as written,
/// `#[serde(…)]` and other attributes on the type, its variants and fields;
/// not doc comments, lint attributes, visibility or formatting). It goes into
/// the snapshot key ([`snapshot_key`]), so adding a `#[serde(default)]` field
/// or renaming one makes older snapshots be ignored and the state rebuilt from
/// events. A change *inside* a field's type (a nested struct, a `with =`
/// module) is not part of the hash: raise `snapshot_version` for that.
///
/// ```
/// use es_core::{Aggregate, Apply, Event};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, Serialize, Deserialize, Event)]
/// struct Deposited { amount: i64 }
///
/// #[derive(Debug, Clone, Event)]
/// enum WalletEvent {
///     Deposited(Deposited),
///     Emptied {},
/// }
///
/// #[derive(Debug, Default, Serialize, Deserialize, Aggregate)]
/// #[aggregate(name = "Wallet", event = WalletEvent, snapshot_version = 1)]
/// struct Wallet { balance: i64 }
///
/// impl Apply<Deposited> for Wallet {
///     fn apply(&mut self, e: &Deposited) { self.balance += e.amount }
/// }
/// impl Apply<WalletEvent> for Wallet {
///     fn apply(&mut self, e: &WalletEvent) {
///         if let WalletEvent::Emptied {} = e { self.balance = 0 }
///     }
/// }
///
/// let mut w = Wallet::default();
/// w.apply_event(&Deposited { amount: 3 }.into());
/// assert_eq!((Wallet::NAME, w.balance), ("Wallet", 3));
/// assert_ne!(Wallet::STATE_FINGERPRINT, 0);
/// assert_ne!(es_core::snapshot_key::<Wallet>(), Wallet::SNAPSHOT_VERSION);
/// ```
#[cfg(feature = "derive")]
pub use es_derive::Aggregate;

/// `#[derive(Projection)]`, under the trait's name: writes [`Projection`] and
/// [`Dispatch`].
///
/// `#[projection(name = "…", events(TypeA, TypeB, …))]`:
///
/// | key | meaning |
/// |---|---|
/// | `events(…)` | required, non-empty: the event types read, each an [`Event`] (a struct event or an event enum), from any aggregates |
/// | `name = "…"` | the name checkpoints are kept under; ASCII letters, digits, `_`, `-`, `.`; defaults to the type's name in snake_case (`OrderDetails` -> `order_details`) |
///
/// The default name follows the type: renaming the type renames the
/// projection, and its runner starts over from an empty checkpoint. Give
/// `name` once a projection is deployed.
///
/// `EVENT_TYPES` holds every name and alias of the listed types, so a store
/// reads only those events; `dispatch` decodes each (upcasting older
/// versions through [`Event::decode`]) and calls the listed type's
/// [`On<E, Ctx>`](On) handler. A recorded event of no listed type is ignored.
/// Two listed types reading one stored name (an enum and a type it wraps) is
/// a compile error.
///
/// `Dispatch<Ctx>` is implemented for every context in which the projection
/// has a handler for each listed type: `()` for a projection that keeps its
/// model in itself, a transaction for a database runner. So a missing
/// handler is reported where the projection is run (`catch_up`, a runner) as
/// "projection `P` has no handler for `E`", not at the derive, which cannot
/// know the context.
///
/// A generic projection is supported when the listed types do not use its
/// parameters; it is a projection for the parameters that make it
/// `Send + 'static`.
///
/// ```
/// use es_core::projection::{HandlerError, catch_up};
/// use es_core::{Event, ExpectedVersion, EventStore, InMemoryEventStore, Metadata, NewEvent,
///               On, Projection, Recorded};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Serialize, Deserialize, Event)]
/// struct AccountOpened { owner: String }
///
/// #[derive(Debug, Serialize, Deserialize, Event)]
/// struct OrderPlaced { owner: String, total: i64 }
///
/// #[derive(Debug, Serialize, Deserialize, Event)]
/// struct OrderCancelled {}
///
/// #[derive(Default, Projection)]
/// #[projection(events(AccountOpened, OrderPlaced))]
/// struct CustomerSpend { customers: u32, spent: i64 }
///
/// impl On<AccountOpened> for CustomerSpend {
///     async fn on(&mut self, _: Recorded<AccountOpened>, _: &mut ()) -> Result<(), HandlerError> {
///         self.customers += 1;
///         Ok(())
///     }
/// }
/// impl On<OrderPlaced> for CustomerSpend {
///     async fn on(&mut self, e: Recorded<OrderPlaced>, _: &mut ()) -> Result<(), HandlerError> {
///         self.spent += e.event.total;
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = InMemoryEventStore::new();
/// let opened = NewEvent::new(&AccountOpened { owner: "ada".into() }, Metadata::new())?;
/// store.append("Account-1", ExpectedVersion::Any, vec![opened]).await?;
/// let placed = NewEvent::new(&OrderPlaced { owner: "ada".into(), total: 40 }, Metadata::new())?;
/// let cancelled = NewEvent::new(&OrderCancelled {}, Metadata::new())?;
/// store.append("Order-1", ExpectedVersion::Any, vec![placed, cancelled]).await?;
///
/// assert_eq!(CustomerSpend::NAME, "customer_spend");
/// assert_eq!(CustomerSpend::EVENT_TYPES, ["AccountOpened", "OrderPlaced"]);
/// let mut spend = CustomerSpend::default();
/// let checkpoint = catch_up(&store, &mut spend, 0, 100).await?;
/// assert_eq!((spend.customers, spend.spent, checkpoint), (1, 40, 3));
/// # Ok(()) }
/// ```
#[cfg(feature = "derive")]
pub use es_derive::Projection;

pub use chrono;
pub use uuid::Uuid;
