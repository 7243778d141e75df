//! [`DcbStore`] on PostgreSQL: tags in `event_tags`, reads by query, and
//! appends under a condition that holds under concurrent writers.
//!
//! # Why a condition holds
//!
//! An append under a condition is one statement, in a transaction of its
//! own (one round trip). Before it inserts anything, its version check
//! calls the function `dcb_lock_and_check_items` (migration
//! `20250101000007_lean_reads_and_checks.sql`), which takes transaction-scoped
//! advisory locks, then checks the condition; the statement inserts the
//! events and their tags only if it holds, then commits (which releases
//! the locks). The check of items with tags is written out in the
//! function, so the server plans it once per session; items without tags
//! are checked by SQL the store builds for the query.
//!
//! An event's tags are kept twice: in `event_tags`, the index that reads
//! and checks search (by tag, in log order), and on the event's row
//! (`events.tags`), which a read returns with the event.
//!
//! - The locks. The condition's query locks, exclusively, the first tag of
//!   each item with tags ([`Query::lock_keys`]). Each appended event
//!   locks, shared, its tags ([`Query::event_keys`]). An event matching an
//!   item carries the item's first tag, so a writer checking a condition
//!   and a writer appending an event that matches it always lock one key
//!   in common, in conflicting modes: one waits until the other commits.
//!   Writers whose keys do not meet (other tags) never wait for each
//!   other. All keys are taken in one statement, in one order (by their
//!   hash), so no two writers wait in a circle. (The keys `Query` gives
//!   items without tags and every event's type and `*` are not taken here:
//!   such items lock the whole log, below.)
//! - The check runs after the locks, in a statement of its own inside the
//!   function: under READ COMMITTED each statement a VOLATILE function runs
//!   takes a fresh snapshot, so it sees everything committed before it,
//!   every matching event of a writer that held a common key first among
//!   them. (A check in the append statement itself would use the snapshot
//!   taken when the statement started, before its locks waited:
//!   `racers_on_one_tag_set_commit_exactly_one` fails with the function
//!   made STABLE, which runs it in that snapshot.)
//! - Items without tags. Appends without a condition and without tags
//!   (aggregates through `EventStore::append`) take no advisory locks, and
//!   an item with types only (or none) matches their events. Such a
//!   condition first locks the events table in `SHARE ROW EXCLUSIVE` mode
//!   (the function `dcb_lock_log`, which has the rights that mode needs),
//!   in a statement of its own in the append's transaction: it waits for
//!   every append in flight and holds off new ones until it commits, so its
//!   check counts them all, tagged or not, and no other such condition
//!   runs beside it (the mode conflicts with itself). Conditions whose
//!   items all have tags never take it.
//! - The positions. A global position is `transaction id << 20 | n`, and a
//!   read returns only events below the oldest transaction still running
//!   (`settled_bound`, as `read_all`), vouching for them with `scanned_to`.
//!   A writer that had not committed when the decision read has a
//!   transaction id at or above that bound, so its events land after
//!   `scanned_to`: the check counts them. No matching event is missed by
//!   both the read and the check.
//!
//! Tagged and untagged events share one log and one global order.

use es_core::dcb::{
    AppendCondition, DcbStore, Query, SequencedEvent, Tag, TaggedEvent, TaggedPage,
};
use es_core::{AppendResult, StoreError, validate_stream_id};
use sqlx::Row;
use tracing::Instrument;

use crate::read::settled_bound;
use crate::row::{COLUMNS, decode_event_at, limit_i64, to_i64, to_u64};
use crate::schema::quote_ident;
use crate::store::PgEventStore;

pub(crate) mod condition;

use condition::{DcbAppend, Texts, matching};

fn backend(context: impl Into<String>, e: sqlx::Error) -> StoreError {
    StoreError::backend(context, e)
}

impl DcbStore for PgEventStore {
    async fn read_query(
        &self,
        query: &Query,
        after: u64,
        limit: usize,
    ) -> Result<TaggedPage, StoreError> {
        let span = tracing::debug_span!(
            "es_postgres.read_query",
            items = query.item_list().len(),
            after,
        );
        self.read_query_page(query, after, limit)
            .instrument(span)
            .await
    }

    async fn append_tagged(
        &self,
        stream_id: &str,
        events: Vec<TaggedEvent>,
        condition: Option<&AppendCondition>,
    ) -> Result<AppendResult, StoreError> {
        validate_stream_id(stream_id)?;
        let span = tracing::debug_span!(
            "es_postgres.append_tagged",
            stream = %stream_id,
            events = events.len(),
            conditional = condition.is_some(),
        );
        let dcb = DcbAppend::new(self.schema(), &events, condition);
        let events: Vec<_> = events.into_iter().map(|e| e.event).collect();
        self.append_dcb(stream_id, events, &dcb)
            .instrument(span)
            .await
    }
}

impl PgEventStore {
    /// One page of a read by query. Like `read_all`, it returns only what
    /// lies below the settled bound, and waits (up to the settle timeout)
    /// while matching events committed before the call are still above it,
    /// so a read after an append sees it; other events held back above the
    /// bound do not make it wait.
    async fn read_query_page(
        &self,
        query: &Query,
        after: u64,
        limit: usize,
    ) -> Result<TaggedPage, StoreError> {
        let s = quote_ident(self.schema());
        let (sql, binds) = matching(&s, query, Some("(SELECT bound FROM b)"), Texts::Params);
        // The same query without the bound (the same parameters): the
        // newest matching event committed, settled or not.
        let (unbounded, _) = matching(&s, query, None, Texts::Params);
        let limit_param = binds.len() + 2;
        let statement = format!(
            "WITH b AS MATERIALIZED (SELECT {bound} AS bound), \
             m AS (SELECT DISTINCT global_position FROM ({sql}) AS q(global_position) \
                   ORDER BY 1 LIMIT ${limit_param}) \
             SELECT (SELECT COALESCE(max(global_position), 0) FROM {s}.events \
                     WHERE global_position < (SELECT bound FROM b)) AS head, \
                    (SELECT COALESCE(max(global_position), 0) FROM ({unbounded}) AS v(global_position)) AS visible, \
                    (SELECT bound FROM b) AS bound, e.* \
             FROM (SELECT 1) AS one LEFT JOIN LATERAL ( \
                 SELECT {COLUMNS}, ev.tags \
                 FROM {s}.events ev WHERE ev.global_position IN (SELECT global_position FROM m) \
             ) AS e ON true ORDER BY e.global_position",
            bound = settled_bound(&s),
        );
        let fail = |e| backend("reading events by query", e);
        let deadline = tokio::time::Instant::now() + self.settle_timeout();
        let mut target: Option<i64> = None;
        let mut delay = std::time::Duration::from_millis(1);
        loop {
            let mut q = sqlx::query(&statement).bind(to_i64(after));
            for b in &binds {
                q = q.bind(b);
            }
            let rows = q
                .bind(limit_i64(limit))
                .fetch_all(self.pool())
                .await
                .map_err(fail)?;
            let (mut head, mut visible, mut bound) = (0, 0, 0);
            let mut events = Vec::with_capacity(rows.len());
            for row in &rows {
                head = row.try_get::<i64, _>(0).map_err(fail)?;
                visible = row.try_get::<i64, _>(1).map_err(fail)?;
                bound = row.try_get::<i64, _>(2).map_err(fail)?;
                if row.try_get::<Option<i64>, _>(3).ok().flatten().is_none() {
                    continue;
                }
                events.push(sequenced(row)?);
            }
            let target = *target.get_or_insert(visible);
            let settled = target < bound || target <= to_i64(after);
            if events.len() >= limit || settled || tokio::time::Instant::now() >= deadline {
                let scanned_to = match events.last() {
                    Some(last) if events.len() >= limit => last.event.global_position,
                    _ if limit == 0 => after,
                    last => to_u64(head)
                        .max(after)
                        .max(last.map_or(0, |e| e.event.global_position)),
                };
                return Ok(TaggedPage { events, scanned_to });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(std::time::Duration::from_millis(50));
        }
    }
}

/// An event and its tags from a row of the read (its columns from 3).
fn sequenced(row: &sqlx::postgres::PgRow) -> Result<SequencedEvent, StoreError> {
    let event = decode_event_at(row, 3)?;
    let tags: Option<Vec<String>> = row
        .try_get(3 + 9)
        .map_err(|e| backend("reading the tags of an event", e))?;
    let tags = tags
        .unwrap_or_default()
        .into_iter()
        .map(|t| {
            Tag::new(t).map_err(|e| {
                StoreError::unreadable(
                    event.global_position,
                    event.stream_id.clone(),
                    StoreError::Corrupt {
                        stream_id: event.stream_id.clone(),
                        message: e.to_string(),
                    },
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SequencedEvent { event, tags })
}
