//! Process managers (sagas): durable, exactly-once coordination across
//! aggregates, with deadlines, on the consumer engine.
//!
//! | piece | what it is |
//! |---|---|
//! | [`ProcessManager`] | the user's state per instance, its events, commands and deadlines |
//! | [`React`] | one reaction per event type: change the state, fill a [`Then`] |
//! | [`Then`] | what a reaction decided: [`send`](Then::send), [`schedule`](Then::schedule), [`cancel`](Then::cancel), [`complete`](Then::complete) |
//! | [`ProcessCommand`] | the commands it sends, each to one aggregate type |
//! | [`ProcessRunner`] | runs it: the engine and the dispatcher |
//! | [`ProcessBackend`] | what a store keeps for it: instances, outbox, deadlines |
//!
//! Reactions are pure, so a test drives them with events alone; the
//! runner does the I/O, and its guarantees are argued on [`ProcessRunner`].

mod backend;
mod consumer;
mod dispatch;
mod error;
mod events;
mod manager;
pub(crate) mod memory;
mod runner;

pub use backend::{
    PendingCommand, ProcessBackend, ProcessCounts, ScheduledDeadline, StoredInstance,
};
pub use error::ProcessError;
pub use events::{ProcessCommandRejected, ProcessDeadlineReached};
pub use manager::{
    COMMAND_RETRIES, CommandFailure, NoDeadline, OnDeadline, OnRejected, ProcessCommand,
    ProcessManager, React, Received, Rejected, Sent, Then, outcome,
};
pub use runner::{ProcessRunner, ProcessStatus, Settled};

/// `#[derive(ProcessManager)]`, under the trait's name: writes
/// [`ProcessManager`] from the events it reacts to and the key that finds
/// an event's instance.
///
/// `#[process(commands = T, key = field, events(…), deadlines = T, name = "…")]`:
///
/// | key | meaning |
/// |---|---|
/// | `commands = T` | required: the enum of the commands it sends (`#[derive(ProcessCommand)]`) |
/// | `events(…)` | required, non-empty: the event types it reacts to, from any aggregates; each needs a [`React<E>`] impl |
/// | `key = field` | the field of the listed events that names the instance (an order id), read with `ToString` |
/// | `events(E(key = field))` | that event's own key field, instead of the default |
/// | `events(E(key_with = path))` | that event's key from a function `fn(&Recorded<E>) -> impl Into<String>` (from its stream id, say) |
/// | `deadlines = T` | its deadline type (serde, `Clone + PartialEq + Debug`); needs an [`OnDeadline`] impl. Without it: [`NoDeadline`] |
/// | `name = "…"` | the name its checkpoint, instances and own streams (`{name}-{key}`) are kept under; ASCII letters, digits, `_`, `.`; defaults to the type's name in snake_case |
///
/// Every process manager says what a rejected command does in an
/// [`OnRejected`] impl (the compensation; an empty body ignores them). The
/// type itself is the instance's state: `Default` (a new instance),
/// `Serialize + Deserialize` (stored after each event).
///
/// ```
/// use es_core::process::{OnRejected, ProcessCommand, ProcessManager, React, Rejected, Then};
/// use es_core::{Aggregate, Apply, Event, Handle, Recorded};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
/// struct OrderPlaced { order_id: String, sku: String }
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
/// struct StockReserved { order_id: String }
///
/// #[derive(Debug, Default, Serialize, Deserialize, Aggregate)]
/// #[aggregate(event = StockReserved)]
/// struct Stock;
/// impl Apply<StockReserved> for Stock { fn apply(&mut self, _: &StockReserved) {} }
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// struct Reserve { order_id: String }
/// impl Handle<Reserve> for Stock {
///     type Error = std::convert::Infallible;
///     fn handle(&self, c: Reserve) -> Result<Vec<StockReserved>, Self::Error> {
///         Ok(vec![StockReserved { order_id: c.order_id }])
///     }
/// }
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ProcessCommand)]
/// enum CheckoutCommand {
///     #[command(to = Stock)]
///     Reserve(Reserve),
/// }
///
/// #[derive(Debug, Default, Serialize, Deserialize, ProcessManager)]
/// #[process(commands = CheckoutCommand, key = order_id, events(OrderPlaced, StockReserved))]
/// struct Checkout { reserved: bool }
///
/// impl React<OrderPlaced> for Checkout {
///     fn react(&mut self, e: &Recorded<OrderPlaced>, then: &mut Then<Self>) {
///         then.send(&e.event.sku, Reserve { order_id: e.event.order_id.clone() });
///     }
/// }
/// impl React<StockReserved> for Checkout {
///     fn react(&mut self, _: &Recorded<StockReserved>, then: &mut Then<Self>) {
///         self.reserved = true;
///         then.complete();
///     }
/// }
/// impl OnRejected for Checkout {
///     fn rejected(&mut self, _: &Rejected<CheckoutCommand>, then: &mut Then<Self>) {
///         then.complete();
///     }
/// }
///
/// assert_eq!(Checkout::NAME, "checkout");
/// assert_eq!(Checkout::EVENT_TYPES, ["OrderPlaced", "StockReserved"]);
/// assert_eq!(CheckoutCommand::from(Reserve { order_id: "o-1".into() }).aggregate(), "Stock");
/// ```
#[cfg(feature = "derive")]
pub use es_derive::ProcessManager;

/// `#[derive(ProcessCommand)]`, under the trait's name: on an enum of the
/// commands a process manager sends, each variant wrapping one command type
/// and marked with the aggregate it goes to, `#[command(to = Aggregate)]`.
/// It writes [`ProcessCommand`] (each command is executed through a
/// [`Repository`](crate::Repository) of its aggregate, retried
/// [`COMMAND_RETRIES`] times on a version conflict) and `From` each wrapped
/// command, so a reaction sends `then.send(id, ReserveStock { … })`. The
/// aggregate must [`Handle`](crate::Handle) the command: a missing impl is a
/// compile error at the variant. See [`ProcessManager`](macro@ProcessManager)
/// for an example.
#[cfg(feature = "derive")]
pub use es_derive::ProcessCommand;
