//! [`DcbStore`] for the in-memory store: the condition is checked under
//! the store's lock, so appends are serial and a condition holds as the
//! events land.

use super::{InMemoryEventStore, State};
use crate::dcb::{AppendCondition, DcbStore, Query, SequencedEvent, Tag, TaggedEvent, TaggedPage};
use crate::store::{AppendResult, ExpectedVersion, StoreError};

/// The tags of the event at `position` (none for an untagged one).
fn tags_at(state: &State, position: u64) -> &[Tag] {
    state.tags.get(&position).map_or(&[], Vec::as_slice)
}

/// Fails when an event matching the condition is after its position.
pub(super) fn check(state: &State, c: &AppendCondition) -> Result<(), StoreError> {
    let start = usize::try_from(c.after).unwrap_or(usize::MAX);
    let query = &c.fail_if_events_match;
    match state
        .log
        .iter()
        .skip(start)
        .find(|e| query.matches(&e.event_type, tags_at(state, e.global_position)))
    {
        Some(e) => Err(StoreError::ConditionFailed {
            after: c.after,
            position: e.global_position,
        }),
        None => Ok(()),
    }
}

impl DcbStore for InMemoryEventStore {
    async fn read_query(
        &self,
        query: &Query,
        after: u64,
        limit: usize,
    ) -> Result<TaggedPage, StoreError> {
        let state = self.lock();
        let start = usize::try_from(after).unwrap_or(usize::MAX);
        let events: Vec<SequencedEvent> = state
            .log
            .iter()
            .skip(start)
            .filter(|e| query.matches(&e.event_type, tags_at(&state, e.global_position)))
            .take(limit)
            .map(|e| SequencedEvent {
                event: e.as_ref().clone(),
                tags: tags_at(&state, e.global_position).to_vec(),
            })
            .collect();
        // Under the lock the whole log is settled.
        let scanned_to = match events.last() {
            Some(last) if events.len() >= limit => last.event.global_position,
            _ if limit == 0 => after,
            _ => (state.log.len() as u64).max(after),
        };
        Ok(TaggedPage { events, scanned_to })
    }

    async fn append_tagged(
        &self,
        stream_id: &str,
        events: Vec<TaggedEvent>,
        condition: Option<&AppendCondition>,
    ) -> Result<AppendResult, StoreError> {
        let (events, tags) = events.into_iter().map(|t| (t.event, t.tags)).unzip();
        self.append_checked(stream_id, ExpectedVersion::Any, events, tags, condition)
    }
}
