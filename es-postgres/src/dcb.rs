//! [`DcbStore`] on PostgreSQL: tags in `event_tags`, reads by query, and
//! appends under a condition that holds under concurrent writers.
//!
//! # Why a condition holds
//!
//! An append under a condition runs in one transaction: it takes
//! transaction-scoped advisory locks, checks the condition, inserts the
//! events and their tags, and commits (which releases the locks).
//!
//! - The locks. The condition's query locks, exclusively, one key per item
//!   (its first tag; its types when it has no tag; `*` when it matches
//!   everything: [`Query::lock_keys`]). Each appended event locks, shared,
//!   its tags, its type and `*` ([`Query::event_keys`]). An event matching
//!   an item carries the item's first tag (or has one of its types), so a
//!   writer checking a condition and a writer appending an event that
//!   matches it always lock one key in common, in conflicting modes: one
//!   waits until the other commits. Writers whose keys do not meet (other
//!   tags) never wait for each other. All keys are taken in one statement,
//!   in one order (by their number), so no two writers wait in a circle.
//! - The check runs after the locks, as a statement of its own: under READ
//!   COMMITTED it sees everything committed before it, so every matching
//!   event of a writer that held a common key first.
//! - The positions. A global position is `transaction id << 20 | n`, and a
//!   read returns only events below the oldest transaction still running
//!   (`settled_bound`, as `read_all`), vouching for them with `scanned_to`.
//!   A writer that had not committed when the decision read has a
//!   transaction id at or above that bound, so its events land after
//!   `scanned_to`: the check counts them. No matching event is missed by
//!   both the read and the check.
//!
//! Appends without a condition (aggregates through `EventStore::append`)
//! take no locks: a condition guards against other tagged appends and
//! against untagged appends committed before its check. Tagged and
//! untagged events share one log and one global order.

use es_core::dcb::{
    AppendCondition, DcbStore, Query, SequencedEvent, Tag, TaggedEvent, TaggedPage,
};
use es_core::{AppendResult, StoreError, validate_stream_id};
use sqlx::Row;
use tracing::Instrument;

use crate::inline::PgTx;
use crate::read::settled_bound;
use crate::row::{COLUMNS, decode_event_at, limit_i64, to_i64, to_u64};
use crate::schema::quote_ident;
use crate::store::PgEventStore;

fn backend(context: impl Into<String>, e: sqlx::Error) -> StoreError {
    StoreError::backend(context, e)
}

/// A query's matching positions after `$1` as SQL, with the texts it binds
/// from `$2` on, one parameter each (`tag IN ($2, $3)`): a generic plan of a
/// prepared statement then estimates a tag's rows from its statistics and
/// reads the tag's index, where an array parameter (`tag = ANY($2)`) was
/// estimated so that a range scan of the position index won, reading every
/// tag row in the range (5.6 ms against 0.4 ms for 30,000 rows). `bound`: an
/// extra condition on `global_position` (the read's settled bound), or none.
fn matching(s: &str, query: &Query, bound: Option<&str>) -> (String, Vec<String>) {
    let mut binds: Vec<String> = Vec::new();
    let mut list = |values: &mut dyn Iterator<Item = String>| {
        let mut params = Vec::new();
        for v in values {
            binds.push(v);
            params.push(format!("${}", binds.len() + 1));
        }
        params.join(", ")
    };
    let below = bound.map_or(String::new(), |b| format!(" AND global_position < {b}"));
    let mut parts = Vec::new();
    for item in query.item_list() {
        let types = item.event_types();
        let tags = item.tag_list();
        let type_filter = if types.is_empty() {
            String::new()
        } else {
            format!(" AND event_type IN ({})", list(&mut types.iter().cloned()))
        };
        if tags.is_empty() {
            parts.push(format!(
                "SELECT global_position FROM {s}.events WHERE global_position > $1{below}{type_filter}"
            ));
        } else {
            let count = tags.len();
            let params = list(&mut tags.iter().map(|t| t.as_str().to_owned()));
            parts.push(format!(
                "SELECT global_position FROM {s}.event_tags \
                 WHERE tag IN ({params}) AND global_position > $1{below}{type_filter} \
                 GROUP BY global_position HAVING count(*) = {count}"
            ));
        }
    }
    if parts.is_empty() {
        parts.push("SELECT NULL::bigint WHERE false".to_owned());
    }
    (parts.join(" UNION "), binds)
}

/// What an append under a condition does besides the append itself.
pub(crate) struct DcbAppend {
    schema: String,
    /// Lock keys and whether each is exclusive.
    keys: Vec<(String, bool)>,
    condition: Option<AppendCondition>,
    /// Per event, its type and tags.
    tags: Vec<(String, Vec<Tag>)>,
}

impl DcbAppend {
    fn new(schema: &str, events: &[TaggedEvent], condition: Option<&AppendCondition>) -> Self {
        let mut keys: Vec<(String, bool)> = condition
            .map(|c| c.fail_if_events_match.lock_keys())
            .unwrap_or_default()
            .into_iter()
            .map(|k| (k, true))
            .collect();
        for e in events {
            for k in Query::event_keys(&e.event.event_type, &e.tags) {
                if !keys.iter().any(|(have, _)| *have == k) {
                    keys.push((k, false));
                }
            }
        }
        Self {
            schema: schema.to_owned(),
            keys,
            condition: condition.cloned(),
            tags: events
                .iter()
                .map(|e| (e.event.event_type.clone(), e.tags.clone()))
                .collect(),
        }
    }

    /// Takes the locks and checks the condition, in the append's
    /// transaction, before it writes anything (so its transaction id, and
    /// with it its events' positions, comes after every writer it waited
    /// for).
    pub(crate) async fn before(&self, tx: &mut PgTx) -> Result<(), StoreError> {
        let s = quote_ident(&self.schema);
        let (names, exclusive): (Vec<String>, Vec<bool>) = self
            .keys
            .iter()
            .map(|(k, x)| (format!("{}/{k}", self.schema), *x))
            .unzip();
        sqlx::query(
            "SELECT CASE WHEN x THEN pg_advisory_xact_lock(h) ELSE pg_advisory_xact_lock_shared(h) END \
             FROM (SELECT hashtextextended(k, 0) AS h, bool_or(x) AS x \
                   FROM unnest($1::text[], $2::bool[]) AS u(k, x) GROUP BY 1 ORDER BY 1) AS locks",
        )
        .bind(&names)
        .bind(&exclusive)
        .execute(&mut **tx)
        .await
        .map_err(|e| backend("taking the locks of a tagged append", e))?;
        let Some(condition) = &self.condition else {
            return Ok(());
        };
        let (sql, binds) = matching(&s, &condition.fail_if_events_match, None);
        let statement = format!("SELECT min(global_position) FROM ({sql}) AS m(global_position)");
        let mut check =
            sqlx::query_scalar::<_, Option<i64>>(&statement).bind(to_i64(condition.after));
        for b in &binds {
            check = check.bind(b);
        }
        let found = check
            .fetch_one(&mut **tx)
            .await
            .map_err(|e| backend("checking an append condition", e))?;
        match found {
            Some(position) => Err(StoreError::ConditionFailed {
                after: condition.after,
                position: to_u64(position),
            }),
            None => Ok(()),
        }
    }

    /// Stores the tags of the events just inserted (the last at `last`).
    pub(crate) async fn after(&self, tx: &mut PgTx, last: i64) -> Result<(), StoreError> {
        let n = self.tags.len() as i64;
        let mut positions = Vec::new();
        let mut tags = Vec::new();
        let mut types = Vec::new();
        for (i, (event_type, event_tags)) in self.tags.iter().enumerate() {
            for t in event_tags {
                positions.push(last - n + 1 + i as i64);
                tags.push(t.as_str().to_owned());
                types.push(event_type.clone());
            }
        }
        if tags.is_empty() {
            return Ok(());
        }
        let s = quote_ident(&self.schema);
        sqlx::query(&format!(
            "INSERT INTO {s}.event_tags (tag, global_position, event_type) \
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])"
        ))
        .bind(&tags)
        .bind(&positions)
        .bind(&types)
        .execute(&mut **tx)
        .await
        .map_err(|e| backend("storing the tags of an append", e))?;
        Ok(())
    }
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
    async fn read_query_page(
        &self,
        query: &Query,
        after: u64,
        limit: usize,
    ) -> Result<TaggedPage, StoreError> {
        let s = quote_ident(self.schema());
        let (sql, binds) = matching(&s, query, Some("(SELECT bound FROM b)"));
        let limit_param = binds.len() + 2;
        let statement = format!(
            "WITH b AS MATERIALIZED (SELECT {bound} AS bound), \
             m AS (SELECT DISTINCT global_position FROM ({sql}) AS q(global_position) \
                   ORDER BY 1 LIMIT ${limit_param}) \
             SELECT (SELECT COALESCE(max(global_position), 0) FROM {s}.events \
                     WHERE global_position < (SELECT bound FROM b)) AS head, e.* \
             FROM (SELECT 1) AS one LEFT JOIN LATERAL ( \
                 SELECT {COLUMNS}, (SELECT array_agg(t.tag ORDER BY t.tag) FROM {s}.event_tags t \
                                    WHERE t.global_position = ev.global_position) AS tags \
                 FROM {s}.events ev WHERE ev.global_position IN (SELECT global_position FROM m) \
             ) AS e ON true ORDER BY e.global_position",
            bound = settled_bound(),
        );
        let mut q = sqlx::query(&statement).bind(to_i64(after));
        for b in &binds {
            q = q.bind(b);
        }
        let rows = q
            .bind(limit_i64(limit))
            .fetch_all(self.pool())
            .await
            .map_err(|e| backend("reading events by query", e))?;
        let mut head = after;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            head = head.max(to_u64(
                row.try_get::<i64, _>(0)
                    .map_err(|e| backend("reading events by query", e))?,
            ));
            if row.try_get::<Option<i64>, _>(1).ok().flatten().is_none() {
                continue;
            }
            let event = decode_event_at(row, 1)?;
            let tags: Option<Vec<String>> = row
                .try_get(1 + 9)
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
            events.push(SequencedEvent { event, tags });
        }
        let scanned_to = match events.last() {
            Some(last) if events.len() >= limit => last.event.global_position,
            _ if limit == 0 => after,
            _ => head,
        };
        Ok(TaggedPage { events, scanned_to })
    }
}
