//! [`DcbStore`] on SQLite: tags in `event_tags`, reads by query, and
//! appends under a condition. SQLite runs one write transaction at a time
//! (`BEGIN IMMEDIATE`), and an append checks its condition, writes its
//! events and their tags in one: the condition holds as they commit. Every
//! append takes the same lock, so untagged appends (aggregates) are
//! counted by a condition too.

use es_core::dcb::{
    AppendCondition, DcbStore, Query, SequencedEvent, Tag, TaggedEvent, TaggedPage,
};
use es_core::{AppendResult, ExpectedVersion, StoreError};
use sqlx::Row;

use crate::projection::SqliteTx;
use crate::row::{corrupt, decode_event, to_i64};
use crate::store::SqliteEventStore;

fn backend(context: &str, e: sqlx::Error) -> StoreError {
    StoreError::backend(context, e)
}

/// A query's matching positions after `$1` as SQL, and the texts it binds
/// from `$2` on.
fn matching(query: &Query) -> (String, Vec<String>) {
    let mut binds: Vec<String> = Vec::new();
    let mut list = |values: &mut dyn Iterator<Item = String>| {
        let mut params = Vec::new();
        for v in values {
            binds.push(v);
            params.push(format!("${}", binds.len() + 1));
        }
        params.join(", ")
    };
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
                "SELECT global_position FROM events WHERE global_position > $1{type_filter}"
            ));
        } else {
            let count = tags.len();
            let params = list(&mut tags.iter().map(|t| t.as_str().to_owned()));
            parts.push(format!(
                "SELECT global_position FROM event_tags \
                 WHERE tag IN ({params}) AND global_position > $1{type_filter} \
                 GROUP BY global_position HAVING count(*) = {count}"
            ));
        }
    }
    if parts.is_empty() {
        parts.push("SELECT NULL WHERE 0".to_owned());
    }
    (parts.join(" UNION "), binds)
}

/// What an append under a condition does besides the append itself, in
/// its transaction.
pub(crate) struct DcbAppend<'a> {
    pub(crate) condition: Option<&'a AppendCondition>,
    /// Per event, its type and tags.
    pub(crate) tags: Vec<(String, Vec<Tag>)>,
}

impl DcbAppend<'_> {
    /// Fails when an event matching the condition is after its position.
    pub(crate) async fn check(&self, tx: &mut SqliteTx) -> Result<(), StoreError> {
        let Some(condition) = self.condition else {
            return Ok(());
        };
        let (sql, binds) = matching(&condition.fail_if_events_match);
        let statement = format!("SELECT min(global_position) FROM ({sql})");
        let mut q = sqlx::query_scalar::<_, Option<i64>>(&statement).bind(to_i64(condition.after));
        for b in &binds {
            q = q.bind(b);
        }
        let found = q
            .fetch_one(&mut **tx)
            .await
            .map_err(|e| backend("checking an append condition", e))?;
        match found {
            Some(position) => Err(StoreError::ConditionFailed {
                after: condition.after,
                position: u64::try_from(position).unwrap_or(0),
            }),
            None => Ok(()),
        }
    }

    /// Stores the tags of the events just written (the last at `last`;
    /// one writer at a time, so their positions are consecutive).
    pub(crate) async fn store_tags(&self, tx: &mut SqliteTx, last: u64) -> Result<(), StoreError> {
        let n = self.tags.len() as u64;
        for (i, (event_type, tags)) in self.tags.iter().enumerate() {
            let position = to_i64(last + 1 + i as u64 - n);
            for t in tags {
                sqlx::query(
                    "INSERT INTO event_tags (tag, global_position, event_type) VALUES ($1, $2, $3)",
                )
                .bind(t.as_str())
                .bind(position)
                .bind(event_type)
                .execute(&mut **tx)
                .await
                .map_err(|e| backend("storing the tags of an append", e))?;
            }
        }
        Ok(())
    }
}

impl DcbStore for SqliteEventStore {
    #[tracing::instrument(name = "es_sqlite.read_query", level = "debug", skip_all, fields(items = query.item_list().len(), after))]
    async fn read_query(
        &self,
        query: &Query,
        after: u64,
        limit: usize,
    ) -> Result<TaggedPage, StoreError> {
        let (sql, binds) = matching(query);
        let limit_param = binds.len() + 2;
        // One statement: the head and the page from one snapshot.
        let statement = format!(
            "WITH m AS (SELECT DISTINCT global_position AS p FROM ({sql}) ORDER BY 1 LIMIT ${limit_param}) \
             SELECT (SELECT COALESCE(max(global_position), 0) FROM events) AS head, e.*, \
                    (SELECT group_concat(t.tag, char(1)) FROM event_tags t \
                     WHERE t.global_position = e.global_position) AS tags \
             FROM (SELECT 1) LEFT JOIN events e ON e.global_position IN (SELECT p FROM m) \
             ORDER BY e.global_position"
        );
        let mut q = sqlx::query(&statement).bind(to_i64(after));
        for b in &binds {
            q = q.bind(b);
        }
        let rows = q
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(self.pool())
            .await
            .map_err(|e| backend("reading events by query", e))?;
        let mut head = after;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            let h: i64 = row
                .try_get("head")
                .map_err(|e| backend("reading events by query", e))?;
            head = head.max(u64::try_from(h).unwrap_or(0));
            if row
                .try_get::<Option<i64>, _>("global_position")
                .ok()
                .flatten()
                .is_none()
            {
                continue;
            }
            let event = decode_event(row, "?")?;
            let joined: Option<String> = row
                .try_get("tags")
                .map_err(|e| backend("reading the tags of an event", e))?;
            let mut tags = joined
                .unwrap_or_default()
                .split('\u{1}')
                .filter(|t| !t.is_empty())
                .map(|t| {
                    Tag::new(t).map_err(|e| {
                        StoreError::unreadable(
                            event.global_position,
                            event.stream_id.clone(),
                            corrupt(&event.stream_id, e.to_string()),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            tags.sort();
            events.push(SequencedEvent { event, tags });
        }
        let scanned_to = match events.last() {
            Some(last) if events.len() >= limit => last.event.global_position,
            _ if limit == 0 => after,
            _ => head,
        };
        Ok(TaggedPage { events, scanned_to })
    }

    async fn append_tagged(
        &self,
        stream_id: &str,
        events: Vec<TaggedEvent>,
        condition: Option<&AppendCondition>,
    ) -> Result<AppendResult, StoreError> {
        let dcb = DcbAppend {
            condition,
            tags: events
                .iter()
                .map(|e| (e.event.event_type.clone(), e.tags.clone()))
                .collect(),
        };
        let events = events.into_iter().map(|e| e.event).collect();
        self.append_batch(stream_id, ExpectedVersion::Any, events, Some(&dcb))
            .await
    }
}
