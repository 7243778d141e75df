//! What a user writes: a [`Document`] and its [`Evolve`] handlers.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::envelope::{Recorded, RecordedEvent};
use crate::event::DecodeError;

/// A read model made of one serde document per key, evolved by events.
///
/// The type itself is the document: `Default` (a new one, before its
/// first event), `Serialize + Deserialize` (stored as JSON). Each listed
/// event finds its document by a key: by default its stream's id (one
/// document per aggregate, see [`stream_key`]), or a key taken from the
/// event, so one document can gather the events of many streams.
///
/// ```
/// use es_core::document::{Document, DocumentState, Evolve, Routed, stream_key};
/// use es_core::{DecodeError, Event, Recorded, RecordedEvent};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Serialize, Deserialize, Event)]
/// struct Deposited { amount: i64 }
///
/// #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
/// struct Balance { balance: i64 }
///
/// impl Document for Balance {
///     const NAME: &'static str = "balances";
///     const EVENT_TYPES: &'static [&'static str] = &["Deposited"];
///     const INDEXES: &'static [&'static str] = &["balance"];
///     fn route(e: &RecordedEvent) -> Result<Option<Routed<Self>>, DecodeError> {
///         Ok(match e.event_type.as_str() {
///             "Deposited" => Some(Routed::new(stream_key(e), Recorded::<Deposited>::decode(e)?)),
///             _ => None,
///         })
///     }
/// }
///
/// impl Evolve<Deposited> for Balance {
///     fn evolve(&mut self, e: &Recorded<Deposited>, _: &mut DocumentState) {
///         self.balance += e.event.amount;
///     }
/// }
/// ```
pub trait Document: Default + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The name its documents and checkpoint are kept under.
    const NAME: &'static str;
    /// The stored type names (and aliases) of the events it reads.
    const EVENT_TYPES: &'static [&'static str];
    /// Top-level fields of the document that [`Documents::filter`](super::Documents::filter)
    /// may select on; a store indexes them.
    const INDEXES: &'static [&'static str];

    /// Decodes an event of a listed type and says which document it
    /// evolves; `None` for an event it does not read.
    fn route(event: &RecordedEvent) -> Result<Option<Routed<Self>>, DecodeError>;
}

/// The id part of an event's stream (`Account-acc-1` → `acc-1`): the
/// default key, one document per aggregate.
///
/// ```
/// # let e = es_core::RecordedEvent { event_id: es_core::Uuid::nil(), stream_id: "Account-acc-1".into(),
/// #   stream_version: 1, global_position: 1, event_type: "Opened".into(), schema_version: 1,
/// #   payload: b"{}".to_vec(), metadata: Default::default(), recorded_at: Default::default() };
/// assert_eq!(es_core::document::stream_key(&e), "acc-1");
/// ```
pub fn stream_key(event: &RecordedEvent) -> String {
    event
        .stream_id
        .split_once('-')
        .map_or(event.stream_id.as_str(), |(_, id)| id)
        .to_owned()
}

/// What a handler may say about its document besides changing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DocumentState {
    new: bool,
    deleted: bool,
}

impl DocumentState {
    /// The state of a document that was stored (`new`: it was not).
    pub fn new(new: bool) -> Self {
        Self {
            new,
            deleted: false,
        }
    }

    /// Whether the document did not exist before this event (the handler
    /// sees `Default::default()`).
    pub fn is_new(&self) -> bool {
        self.new
    }

    /// Deletes the document (after this event; a later event of its key
    /// starts a new one).
    pub fn delete(&mut self) {
        self.deleted = true;
    }

    /// Whether [`delete`](Self::delete) was called.
    pub fn is_deleted(&self) -> bool {
        self.deleted
    }
}

/// Evolves the document by one event type.
#[diagnostic::on_unimplemented(
    message = "document `{Self}` has no handler for `{E}`",
    label = "listed in `events(…)` but not handled",
    note = "implement `es_core::document::Evolve<{E}>` for `{Self}`: `fn evolve(&mut self, e: &Recorded<{E}>, doc: &mut DocumentState)`"
)]
pub trait Evolve<E>: Document {
    /// Applies `event` to the document (`doc` says whether it is new, and
    /// can delete it).
    fn evolve(&mut self, event: &Recorded<E>, doc: &mut DocumentState);
}

type Apply<D> = Box<dyn FnOnce(&mut D, &mut DocumentState) + Send + Sync>;

/// A decoded event, the key of the document it evolves, and the handler.
pub struct Routed<D: Document> {
    key: String,
    apply: Apply<D>,
}

impl<D: Document> Routed<D> {
    /// `event` for the document `key`, handled by `D`'s [`Evolve<E>`].
    pub fn new<E>(key: impl Into<String>, event: Recorded<E>) -> Self
    where
        D: Evolve<E>,
        E: Send + Sync + 'static,
    {
        Self {
            key: key.into(),
            apply: Box::new(move |doc: &mut D, state: &mut DocumentState| {
                doc.evolve(&event, state)
            }),
        }
    }

    /// The document's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Runs the handler on `doc`.
    pub fn apply(self, doc: &mut D, state: &mut DocumentState) {
        (self.apply)(doc, state);
    }
}

impl<D: Document> std::fmt::Debug for Routed<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routed").field("key", &self.key).finish()
    }
}
