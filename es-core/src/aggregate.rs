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
/// #     fn encode(&self) -> Result<Vec<u8>, EncodeError> { es_core::event::json::encode_json("Incremented", self) }
/// #     fn decode(t: &str, v: u32, p: &[u8]) -> Result<Self, DecodeError> {
/// #         es_core::event::json::check_known::<Self>(t, v)?; es_core::event::json::decode_json("Incremented", v, p) }
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
    /// A fingerprint of the state type's definition, folded with
    /// [`SNAPSHOT_VERSION`](Self::SNAPSHOT_VERSION) into the key a snapshot is
    /// stored under ([`snapshot_key`]), so a snapshot taken by another shape of
    /// the state is ignored even when nobody raised `SNAPSHOT_VERSION`.
    ///
    /// `#[derive(Aggregate)]` computes it from the type's own definition
    /// (field names and order, field types as written, `#[serde(…)]` and
    /// other attributes except doc comments and lint levels). It cannot see
    /// inside the field types: a change in a nested type still needs a
    /// `SNAPSHOT_VERSION` bump. `0`, the default for
    /// hand-written impls, means "no fingerprint": the key is
    /// `SNAPSHOT_VERSION` alone.
    const STATE_FINGERPRINT: u64 = 0;
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
    label = "`{E}` is one of the events `{Self}` reads",
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

/// The key an aggregate's snapshots are stored under
/// ([`Snapshot::snapshot_version`](crate::Snapshot::snapshot_version)): a
/// snapshot whose key differs is ignored and the state rebuilt from events.
///
/// It is [`Aggregate::SNAPSHOT_VERSION`] when
/// [`Aggregate::STATE_FINGERPRINT`] is `0` (hand-written impls), and
/// otherwise a 32-bit mix of both, the same on every build and platform.
///
/// ```
/// # use es_core::{Aggregate, Apply, Event, EventTypeInfo, DecodeError, EncodeError};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Debug, Clone, Serialize, Deserialize)] pub struct Incremented;
/// # impl Event for Incremented {
/// #     const EVENT_TYPES: &'static [EventTypeInfo] = &[EventTypeInfo::new("Incremented", 1, &[])];
/// #     fn event_type(&self) -> &'static str { "Incremented" }
/// #     fn schema_version(&self) -> u32 { 1 }
/// #     fn encode(&self) -> Result<Vec<u8>, EncodeError> { es_core::event::json::encode_json("Incremented", self) }
/// #     fn decode(t: &str, v: u32, p: &[u8]) -> Result<Self, DecodeError> {
/// #         es_core::event::json::check_known::<Self>(t, v)?; es_core::event::json::decode_json("Incremented", v, p) }
/// # }
/// #[derive(Debug, Default, Serialize, Deserialize)]
/// struct Counter { value: u64 }
/// impl Aggregate for Counter {
///     const NAME: &'static str = "Counter";
///     const SNAPSHOT_VERSION: u32 = 3;
///     type Event = Incremented;
///     fn apply_event(&mut self, _: &Incremented) { self.value += 1 }
/// }
/// assert_eq!(es_core::snapshot_key::<Counter>(), 3);
/// ```
pub const fn snapshot_key<A: Aggregate>() -> u32 {
    combine_snapshot_key(A::SNAPSHOT_VERSION, A::STATE_FINGERPRINT)
}

/// `version` alone without a fingerprint; otherwise splitmix64's finalizer
/// over both, folded to 32 bits (a change of either changes the key with
/// near certainty, and the result is fixed by this code, not the compiler).
const fn combine_snapshot_key(version: u32, fingerprint: u64) -> u32 {
    if fingerprint == 0 {
        return version;
    }
    let mut x = fingerprint ^ (version as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    (x ^ (x >> 32)) as u32
}

#[cfg(test)]
mod tests {
    use super::combine_snapshot_key;

    #[test]
    fn without_a_fingerprint_the_key_is_the_version() {
        assert_eq!(combine_snapshot_key(7, 0), 7);
    }

    #[test]
    fn the_key_depends_on_both_and_is_fixed() {
        let k = combine_snapshot_key(1, 0x1234_5678_9abc_def0);
        assert_ne!(k, combine_snapshot_key(2, 0x1234_5678_9abc_def0));
        assert_ne!(k, combine_snapshot_key(1, 0x1234_5678_9abc_def1));
        // Stored keys must not change between releases.
        assert_eq!(k, 0xdc11_16a0, "{k:#x}");
    }
}
