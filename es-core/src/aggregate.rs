//! Aggregates: state rebuilt from events, and the commands they decide on.

use serde::{Serialize, de::DeserializeOwned};

use crate::event::Event;

/// A consistency boundary whose state is the fold of its events.
///
/// `#[derive(Aggregate)]` writes this impl and routes `apply_event` to the
/// [`Apply`] impls; by hand:
///
/// ```
/// # use es_core::{Aggregate, Apply, Event, EventTypeInfo, DecodeError, EncodeError};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Debug, Clone, Serialize, Deserialize)] pub struct Incremented;
/// # impl Event for Incremented {
/// #     const EVENT_TYPES: &'static [EventTypeInfo] = &[EventTypeInfo::new("Incremented", 1, &[])];
/// #     fn event_type(&self) -> &'static str { "Incremented" }
/// #     fn schema_version(&self) -> u32 { 1 }
/// #     fn encode(&self) -> Result<Vec<u8>, EncodeError> { es_core::__private::encode_json("Incremented", self) }
/// #     fn decode(t: &str, v: u32, p: &[u8]) -> Result<Self, DecodeError> {
/// #         es_core::__private::check_known::<Self>(t, v)?; es_core::__private::decode_json("Incremented", v, p) }
/// # }
/// #[derive(Debug, Default, Clone, Serialize, Deserialize)]
/// struct Counter { value: u64 }
///
/// impl Aggregate for Counter {
///     const NAME: &'static str = "Counter";
///     const SNAPSHOT_VERSION: u32 = 1;
///     type Event = Incremented;
///     fn apply_event(&mut self, event: &Incremented) { <Self as Apply<Incremented>>::apply(self, event) }
/// }
/// impl Apply<Incremented> for Counter {
///     fn apply(&mut self, _: &Incremented) { self.value += 1 }
/// }
/// ```
pub trait Aggregate: Default + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The aggregate type's name; its streams are named `{NAME}-{id}`.
    /// It must not contain `-`, so the stream's category is its aggregate type.
    const NAME: &'static str;
    /// The version of the snapshot encoding. Raise it when the state's shape
    /// changes: older snapshots are then ignored and the state rebuilt from events.
    const SNAPSHOT_VERSION: u32;
    /// The events this aggregate emits and applies.
    type Event: Event;
    /// Applies one event to the state. Never fails: the event already happened.
    fn apply_event(&mut self, event: &Self::Event);
}

/// How one event changes an aggregate's state.
///
/// ```
/// use es_core::Apply;
/// struct Deposited { amount: i64 }
/// #[derive(Default)] struct Account { balance: i64 }
/// impl Apply<Deposited> for Account {
///     fn apply(&mut self, e: &Deposited) { self.balance += e.amount }
/// }
/// let mut a = Account::default();
/// a.apply(&Deposited { amount: 5 });
/// assert_eq!(a.balance, 5);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not apply `{E}` events",
    label = "`{E}` is one of this aggregate's events",
    note = "implement `Apply<{E}>` for `{Self}`: `impl es_core::Apply<{E}> for {Self} {{ fn apply(&mut self, e: &{E}) {{ … }} }}`"
)]
pub trait Apply<E> {
    /// Mutates the state; must not fail.
    fn apply(&mut self, event: &E);
}

/// How an aggregate decides on one command: new events, or the domain's error.
///
/// `handle` decides and never mutates. See the crate docs for a full example.
pub trait Handle<C>: Aggregate {
    /// The domain's error when the command is rejected.
    type Error: std::error::Error + Send + Sync + 'static;
    /// Decides which events the command produces given the current state.
    fn handle(&self, command: C) -> Result<Vec<Self::Event>, Self::Error>;
}
