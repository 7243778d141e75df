//! [`DcbStore`]: reading by query and appending under a condition.

use std::future::Future;

use super::query::{Query, Tag};
use crate::envelope::{NewEvent, RecordedEvent};
use crate::store::{AppendResult, EventStore, StoreError};

/// An event to append with its tags.
#[derive(Debug, Clone)]
pub struct TaggedEvent {
    /// The event.
    pub event: NewEvent,
    /// What it is about (duplicates are stored once).
    pub tags: Vec<Tag>,
}

impl TaggedEvent {
    /// `event` with `tags`.
    pub fn new(event: NewEvent, tags: impl IntoIterator<Item = Tag>) -> Self {
        let mut list: Vec<Tag> = Vec::new();
        for t in tags {
            if !list.contains(&t) {
                list.push(t);
            }
        }
        Self { event, tags: list }
    }
}

/// A stored event with its tags.
#[derive(Debug, Clone, PartialEq)]
pub struct SequencedEvent {
    /// The event (its `global_position` is its place in the log).
    pub event: RecordedEvent,
    /// Its tags, sorted.
    pub tags: Vec<Tag>,
}

/// A page of [`DcbStore::read_query`].
#[derive(Debug, Clone, PartialEq)]
pub struct TaggedPage {
    /// The matching events after the read's start, in log order.
    pub events: Vec<SequencedEvent>,
    /// How far the read vouches for: every matching event at or below this
    /// position is in this page or before it, now and later (an event
    /// still being written will land above it). Read on from it; append
    /// after it ([`AppendCondition::new`]).
    pub scanned_to: u64,
}

/// The condition of an append: fail if any event matching the query was
/// appended after a position (the `scanned_to` of the read the decision
/// was made on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendCondition {
    /// The events that would make the decision stale.
    pub fail_if_events_match: Query,
    /// The position the decision read up to.
    pub after: u64,
}

impl AppendCondition {
    /// Fail if an event matching `query` is in the log after `after`.
    pub fn new(query: Query, after: u64) -> Self {
        Self {
            fail_if_events_match: query,
            after,
        }
    }
}

/// An event store that keeps tags: reads by [`Query`] and appends under an
/// [`AppendCondition`], atomically: the condition holds at the moment the
/// events commit, whatever other writers do (the store serializes the
/// appends whose conditions and events meet).
///
/// The stores' conformance cases are in `es_testing::dcb`.
pub trait DcbStore: EventStore {
    /// The events matching `query` after position `after`, at most `limit`,
    /// in log order, with how far the read vouches for.
    fn read_query(
        &self,
        query: &Query,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<TaggedPage, StoreError>> + Send;

    /// Appends `events` with their tags to `stream_id` (after its current
    /// version), all or nothing, unless an event matching `condition`'s
    /// query is in the log after its position: then nothing is stored and
    /// the error is [`StoreError::ConditionFailed`].
    fn append_tagged(
        &self,
        stream_id: &str,
        events: Vec<TaggedEvent>,
        condition: Option<&AppendCondition>,
    ) -> impl Future<Output = Result<AppendResult, StoreError>> + Send;
}
