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
pub(crate) mod memory_store;
mod model;
mod projection;
mod query;

pub use backend::{DocumentBackend, DocumentQuery, NetWrites, StoredDocument, Write};
pub use model::{Document, DocumentState, Evolve, Routed, stream_key};
pub use projection::DocumentProjection;
pub use query::{Condition, DocumentError, Documents, Filter, Op};
