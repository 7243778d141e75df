//! Consistency boundaries by query (Dynamic Consistency Boundary, the
//! specification at dcb.events): events carry [`Tag`]s; a decision reads
//! the events matching a [`Query`] (event types × tags), decides, and
//! appends with an [`AppendCondition`]: "fail if any event matching this
//! query was appended after position P".
//!
//! Aggregates draw the consistency boundary around one stream; many rules
//! span several (a course's capacity and a student's limit of courses, a
//! unique user name). Here the boundary is drawn per decision. Both styles
//! share one store and one global log: a tagged event is also an event of
//! a stream, projections see it, and a query item with types and no tags
//! matches the events of aggregates too.
//!
//! A store implements [`DcbStore`]:
//!
//! ```
//! use es_core::dcb::{AppendCondition, DcbStore, Query, QueryItem, Tag, TaggedEvent};
//! use es_core::{InMemoryEventStore, Metadata, NewEvent, StoreError};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = InMemoryEventStore::new();
//! let course = Tag::new("course:c1")?;
//! let subscribed = |student: &str| -> Result<TaggedEvent, Box<dyn std::error::Error>> {
//!     let e = NewEvent::from_raw("StudentSubscribed", 1, br#"{}"#.to_vec(), Metadata::new());
//!     Ok(TaggedEvent::new(e, [course.clone(), Tag::new(format!("student:{student}"))?]))
//! };
//!
//! // Decide on what the query finds ...
//! let query = Query::item(QueryItem::new().types(["StudentSubscribed"]).tags([course.clone()]));
//! let read = store.read_query(&query, 0, 1000).await?;
//! assert!(read.events.is_empty());
//! // ... and append only if nothing matching it came in since.
//! let condition = AppendCondition::new(query.clone(), read.scanned_to);
//! store.append_tagged("Course-c1", vec![subscribed("s1")?], Some(&condition)).await?;
//!
//! // A second decision on the same (now stale) read is refused.
//! let again = store.append_tagged("Course-c1", vec![subscribed("s2")?], Some(&condition)).await;
//! assert!(matches!(again, Err(StoreError::ConditionFailed { .. })));
//! # Ok(()) }
//! ```

mod decision;
mod query;
mod store;

pub use decision::{Decided, DecisionError, DecisionModel, Decisions};
/// Derives [`DecisionModel`] (see there).
#[cfg(feature = "derive")]
pub use es_derive::DecisionModel;
pub use query::{InvalidTag, MAX_TAG_BYTES, Query, QueryItem, Tag};
pub use store::{AppendCondition, DcbStore, SequencedEvent, TaggedEvent, TaggedPage};
