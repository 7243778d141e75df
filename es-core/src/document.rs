//! Document projections: read models that are a serde document per key,
//! evolved by events, stored by the framework on every store (no SQL
//! written by the user), queried by key, by page, and by declared indexed
//! fields.
//!
//! | piece | what it is |
//! |---|---|
//! | [`Document`] | the document type: its name, its events, its indexed fields, and how an event finds its document |
//! | [`Evolve`] | one handler per event type: `&mut self`, the recorded event, and [`DocumentState`] (is it new; delete it) |
//! | [`DocumentProjection`] | the [`Consumer`](crate::consumer::Consumer) the engine runs: per batch, one read of the documents it touches, the handlers in memory, one write back, with the checkpoint |
//! | [`DocumentBackend`] | what a store keeps: documents per projection, read and written in the batch's transaction, and the queries |
//! | [`Documents`] | the query handle: [`get`](Documents::get), [`get_many`](Documents::get_many), [`page`](Documents::page), [`filter`](Documents::filter) |

mod backend;
mod condition;
pub(crate) mod memory_store;
mod model;
mod projection;
mod query;

pub use backend::{DocumentBackend, DocumentQuery, NetWrites, StoredDocument, Write};
pub use condition::{Condition, Op};
pub use model::{Document, DocumentState, Evolve, Routed, stream_key};
pub use projection::DocumentProjection;
pub use query::{DocumentError, Documents, Filter};

/// `#[derive(Document)]`, under the trait's name: writes [`Document`] from
/// the events the document reads, how each finds its document, and the
/// fields to index.
///
/// `#[document(events(…), key = field, index(a, b), name = "…")]`, on a
/// struct with named fields (the document, `Default + Serialize +
/// Deserialize`):
///
/// | key | meaning |
/// |---|---|
/// | `events(…)` | required, non-empty: the event types it reads, from any aggregates; each needs an [`Evolve<E>`] impl |
/// | (no key) | an event's document is its stream's: one per aggregate ([`stream_key`]) |
/// | `key = field` | the field of the listed events that names the document (an owner id), read with `ToString` |
/// | `events(E(key = field))`, `events(E(key_with = path))` | that event's own key: a field, or a function `fn(&Recorded<E>) -> impl Into<String>` |
/// | `index(a, b)` | fields [`Documents::filter`] may select on (top-level, under their own names in the JSON); a store indexes them |
/// | `name = "…"` | the name its documents and checkpoint are kept under; defaults to the type's name in snake_case |
///
/// ```
/// use es_core::consumer::Engine;
/// use es_core::document::{Document, DocumentProjection, DocumentState, Documents, Evolve, Filter};
/// use es_core::{Event, EventStore, ExpectedVersion, InMemoryEventStore, Metadata, NewEvent, Recorded};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Serialize, Deserialize, Event)]
/// struct AccountOpened { owner_id: String }
/// #[derive(Debug, Serialize, Deserialize, Event)]
/// struct MoneyDeposited { amount: i64 }
///
/// #[derive(Debug, Default, PartialEq, Serialize, Deserialize, Document)]
/// #[document(events(AccountOpened, MoneyDeposited), index(owner_id, balance))]
/// struct AccountSummary { owner_id: String, balance: i64 }
///
/// impl Evolve<AccountOpened> for AccountSummary {
///     fn evolve(&mut self, e: &Recorded<AccountOpened>, _: &mut DocumentState) {
///         self.owner_id.clone_from(&e.event.owner_id);
///     }
/// }
/// impl Evolve<MoneyDeposited> for AccountSummary {
///     fn evolve(&mut self, e: &Recorded<MoneyDeposited>, _: &mut DocumentState) {
///         self.balance += e.event.amount;
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = InMemoryEventStore::new();
/// let opened = NewEvent::new(&AccountOpened { owner_id: "ada".into() }, Metadata::new())?;
/// let deposited = NewEvent::new(&MoneyDeposited { amount: 40 }, Metadata::new())?;
/// store.append("BankAccount-acc-1", ExpectedVersion::Any, vec![opened, deposited]).await?;
///
/// let mut engine = Engine::new(store.clone(), DocumentProjection::<AccountSummary, _>::new(store.clone()));
/// engine.catch_up().await?;
/// let summaries = Documents::<AccountSummary, _>::new(store.clone());
/// assert_eq!(summaries.get("acc-1").await?.map(|s| s.balance), Some(40));
/// let adas = summaries.filter(&Filter::new().eq("owner_id", "ada")).await?;
/// assert_eq!(adas.len(), 1);
/// assert_eq!(AccountSummary::NAME, "account_summary");
/// # Ok(()) }
/// ```
#[cfg(feature = "derive")]
pub use es_derive::Document;
