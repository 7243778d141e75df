//! Reads, each with its SQL: a stream page, a replay that lends rows as
//! they arrive, a page of the global log that waits for held-back commits
//! and says how far it scanned, the head, and the small lookups (a stream's
//! version, a recorded command).

use std::ops::ControlFlow;
use std::time::Duration;

use es_core::consumer::Partition;
use es_core::{CommandRecord, ReadAllPage, RecordedEvent, ReplayedEvent, StoreError, StreamEnd};
use futures::TryStreamExt;
use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};
use uuid::Uuid;

use crate::row::{
    COLUMNS, decode_event, decode_event_at, limit_i64, stream_window, to_i64, to_u64,
};
use crate::schema::quote_ident;
use crate::statistics::StatisticsWatch;

/// The bound below which every transaction has finished (committed or
/// rolled back), as a global position: an SQL expression, the call of the
/// schema's `settled_bound()` (migration
/// `20250101000007_lean_reads_and_checks.sql`).
///
/// It is `pg_snapshot_xmin` of the statement's snapshot, except that
/// transactions known to run in another database are left out: they
/// cannot write this database's events, and a long one (a CREATE
/// DATABASE, another application's batch job) would otherwise hold
/// every reader back. A transaction is left out only when
/// pg_stat_activity shows it in another database; one that is not
/// found (it ended since the snapshot, or its backend is not visible
/// to this role) still counts, so the bound is never too high. The
/// function is STABLE, so it runs in the snapshot of the statement that
/// calls it.
pub(crate) fn settled_bound(s: &str) -> String {
    format!("{s}.settled_bound()")
}

/// The partition of a row's stream among `$n` partitions, in SQL: the
/// same value as `es_core::consumer::partition_hash(stream_id) % n` (the
/// first 4 bytes of the MD5 of the stream id, big-endian).
pub(crate) fn partition_of(n: &str) -> String {
    format!("((('x' || substr(md5(stream_id), 1, 8))::bit(32)::bigint % {n}::bigint))")
}

/// The read statements, with the (validated, quoted) schema name filled in
/// once, how long a read of the global log waits for held-back commits,
/// and the last look at the log's statistics.
pub(crate) struct Reads {
    settle_timeout: Duration,
    read_stream: String,
    /// `read_stream` with only the columns a replay reads.
    replay_stream: String,
    /// `replay_stream` without a time bound.
    replay_stream_to_version: String,
    /// `read_all` of every type.
    read_all: String,
    /// `read_all` of some types, written in at [`TYPES_SLOT`] (see
    /// [`Reads::read_all_page`]).
    read_all_types: String,
    /// `read_all` of one partition (`$3` its index, `$4` the count).
    read_partition: String,
    /// The same of some types (written in at [`TYPES_SLOT`]).
    read_partition_types: String,
    /// Any of the four above, in index order whatever the statistics
    /// (`$3` the types or NULL, `$4` and `$5` the partition or NULL), for
    /// while the statistics are missing or stale.
    read_all_in_index_order: String,
    statistics: StatisticsWatch,
    head: String,
    stream_version: String,
    find_command: String,
}

/// Where a type-filtered `read_all` statement takes its list of types,
/// written into the statement per call ([`types_literal`]).
const TYPES_SLOT: &str = "/* types */";

/// The type filter of `read_all`.
const TYPES: &str = "AND event_type = ANY(/* types */)";

impl Reads {
    pub(crate) fn new(schema: &str, settle_timeout: Duration) -> Self {
        let s = quote_ident(schema);
        let bound = settled_bound(&s);
        // What a replay reads: only the columns it decodes.
        let replay = format!(
            "SELECT stream_version, event_type, schema_version, payload::text AS payload \
             FROM {s}.events \
             WHERE stream_id = $1 AND stream_version >= $2 AND stream_version <= $3"
        );
        Self {
            settle_timeout,
            read_stream: format!(
                "SELECT {COLUMNS} FROM {s}.events \
                 WHERE stream_id = $1 AND stream_version >= $2 AND stream_version <= $3 \
                   AND ($4::timestamptz IS NULL OR recorded_at <= $4::timestamptz) \
                 ORDER BY stream_version LIMIT $5"
            ),
            replay_stream: format!(
                "{replay} AND ($4::timestamptz IS NULL OR recorded_at <= $4::timestamptz) \
                 ORDER BY stream_version LIMIT $5"
            ),
            // The common replay (to the head or a version) without the time
            // test: a prepared statement's generic plan would evaluate
            // `$4 IS NULL OR …` on every row.
            replay_stream_to_version: format!("{replay} ORDER BY stream_version LIMIT $4"),
            read_all: Self::read_all_sql(&bound, &Self::page_sql(&s, ""), &s),
            read_all_types: Self::read_all_sql(&bound, &Self::page_sql(&s, TYPES), &s),
            read_partition: Self::read_all_sql(
                &bound,
                &Self::page_sql(&s, &format!("AND {} = $3::bigint", partition_of("$4"))),
                &s,
            ),
            read_partition_types: Self::read_all_sql(
                &bound,
                &Self::page_sql(
                    &s,
                    &format!("{TYPES} AND {} = $3::bigint", partition_of("$4")),
                ),
                &s,
            ),
            read_all_in_index_order: Self::read_all_sql(
                &bound,
                &format!(
                    "SELECT NULL, NULL, NULL, g.* FROM {s}.read_all_in_index_order(\
                     $1, (SELECT bound FROM s), $3::text[], $2, $4::bigint, $5::bigint) AS g"
                ),
                &s,
            ),
            statistics: StatisticsWatch::new(schema),
            head: format!(
                r#"
WITH s AS MATERIALIZED (SELECT {bound} AS bound)
SELECT s.bound,
       (SELECT COALESCE(max(global_position), 0) FROM {s}.events) AS visible,
       (SELECT COALESCE(max(global_position), 0) FROM {s}.events
        WHERE global_position < s.bound) AS head
FROM s"#
            ),
            stream_version: format!(
                "SELECT COALESCE(max(stream_version), 0) FROM {s}.events WHERE stream_id = $1"
            ),
            find_command: format!(
                "SELECT first_version, last_version FROM {s}.commands \
                 WHERE stream_id = $1 AND command_id = $2"
            ),
        }
    }

    /// A `read_all` statement, `page` its events' branch (`$1` the
    /// position after which it reads, `$2` the page's size, `bound` the
    /// settled bound).
    ///
    /// One row of header values (the bound, the newest visible position,
    /// the head below the bound; its event columns NULL), then the page's
    /// rows (their header columns NULL). The header once, instead of on
    /// every row of a lateral join, cut the server's work per page (about
    /// 0.1 ms of 1.6 per page of 1,000, and 4% of a catch-up's batch).
    /// There is no ORDER BY over the whole: the page's branch comes in
    /// position order. A Sort there copied each page's rows once more on
    /// the server (about a third of a page's execution time, from `EXPLAIN
    /// ANALYZE`); `fetched_page` takes the header from whichever row has
    /// it, checks the events' order and sorts only if a plan ever did not
    /// keep it, so the page never depends on the plan.
    fn read_all_sql(bound: &str, page: &str, s: &str) -> String {
        format!(
            r#"
WITH b AS MATERIALIZED (SELECT {bound} AS bound),
s AS MATERIALIZED (
    SELECT b.bound,
           (SELECT COALESCE(max(global_position), 0) FROM {s}.events) AS visible,
           (SELECT COALESCE(max(global_position), 0) FROM {s}.events
            WHERE global_position < b.bound) AS head
    FROM b
)
(SELECT s.bound, s.visible, s.head, NULL::bigint, NULL::uuid, NULL::text, NULL::bigint,
        NULL::text, NULL::integer, NULL::text, NULL::text, NULL::timestamptz FROM s)
UNION ALL
({page})"#
        )
    }

    /// The usual events' branch of a `read_all` statement, with `extra`
    /// added to its filter.
    fn page_sql(s: &str, extra: &str) -> String {
        format!(
            "SELECT NULL, NULL, NULL, {COLUMNS} FROM {s}.events \
             WHERE global_position > $1 AND global_position < (SELECT bound FROM s) {extra} \
             ORDER BY global_position LIMIT $2"
        )
    }

    /// One `read_stream`: at most `limit` events of `stream_id` from
    /// `from_version` to `to`.
    pub(crate) async fn read_stream_page(
        &self,
        pool: &PgPool,
        stream_id: &str,
        from_version: u64,
        to: StreamEnd,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (from, to_version, to_time) = stream_window(from_version, to, limit);
        let rows = sqlx::query(&self.read_stream)
            .bind(stream_id)
            .bind(from)
            .bind(to_version)
            .bind(to_time)
            .bind(limit_i64(limit))
            .fetch_all(pool)
            .await
            .map_err(|e| StoreError::backend(format!("reading stream `{stream_id}`"), e))?;
        rows.iter().map(decode_event).collect()
    }

    /// The rows of versions `first..=last` of `stream_id`, read on `conn`
    /// (an append's transaction reads back what it inserted).
    pub(crate) async fn stream_rows<'c, E>(
        &self,
        conn: E,
        stream_id: &str,
        first: i64,
        last: i64,
    ) -> Result<Vec<PgRow>, sqlx::Error>
    where
        E: sqlx::Executor<'c, Database = sqlx::Postgres>,
    {
        sqlx::query(&self.read_stream)
            .bind(stream_id)
            .bind(first)
            .bind(last)
            .bind(None::<es_core::Timestamp>)
            .bind(last - first + 1)
            .fetch_all(conn)
            .await
    }

    /// One `replay_stream`: selects only the four columns a replay reads
    /// and lends each row to `visit` as it arrives.
    pub(crate) async fn replay_rows<F>(
        &self,
        pool: &PgPool,
        stream_id: &str,
        from_version: u64,
        to: StreamEnd,
        limit: usize,
        mut visit: F,
    ) -> Result<usize, StoreError>
    where
        F: FnMut(ReplayedEvent<'_>) -> ControlFlow<()> + Send,
    {
        if limit == 0 {
            return Ok(0);
        }
        let (from, to_version, to_time) = stream_window(from_version, to, limit);
        let backend = |e| StoreError::backend(format!("reading stream `{stream_id}`"), e);
        let query = match to_time {
            None => sqlx::query(&self.replay_stream_to_version)
                .bind(stream_id)
                .bind(from)
                .bind(to_version)
                .bind(limit_i64(limit)),
            Some(t) => sqlx::query(&self.replay_stream)
                .bind(stream_id)
                .bind(from)
                .bind(to_version)
                .bind(Some(t))
                .bind(limit_i64(limit)),
        };
        let mut rows = query.fetch(pool);
        let mut visited = 0;
        while let Some(row) = rows.try_next().await.map_err(backend)? {
            let stream_version: i64 = row.try_get(0).map_err(backend)?;
            let event_type: &str = row.try_get(1).map_err(backend)?;
            let schema_version: i32 = row.try_get(2).map_err(backend)?;
            let payload: &str = row.try_get(3).map_err(backend)?;
            visited += 1;
            let flow = visit(ReplayedEvent {
                stream_version: to_u64(stream_version),
                event_type,
                schema_version: u32::try_from(schema_version).unwrap_or(0),
                payload: payload.as_bytes(),
            });
            if flow.is_break() {
                break;
            }
        }
        Ok(visited)
    }

    /// One `read_all`: runs its statement until every event that was visible when
    /// the call started is below the bound, or the settle timeout passes.
    pub(crate) async fn read_all_page(
        &self,
        pool: &PgPool,
        after_position: u64,
        limit: usize,
        types: Option<&[&str]>,
        partition: Option<Partition>,
    ) -> Result<ReadAllPage, StoreError> {
        if limit == 0 {
            return Ok(ReadAllPage::new(Vec::new(), after_position));
        }
        let in_index_order = self.statistics.stale(pool).await;
        let typed;
        let sql = match (in_index_order, partition.is_some(), types) {
            (true, ..) => &self.read_all_in_index_order,
            (false, false, None) => &self.read_all,
            (false, true, None) => &self.read_partition,
            (false, p, Some(types)) => {
                let template = if p {
                    &self.read_partition_types
                } else {
                    &self.read_all_types
                };
                typed = template.replace(TYPES_SLOT, &types_literal(types));
                &typed
            }
        };
        // The types as the index-order statement's parameter; a type with a
        // NUL cannot be stored (see `types_literal`).
        let types: Option<Vec<&str>> = types
            .filter(|_| in_index_order)
            .map(|t| t.iter().copied().filter(|t| !t.contains('\0')).collect());
        let deadline = tokio::time::Instant::now() + self.settle_timeout;
        let mut target: Option<i64> = None;
        let mut delay = Duration::from_millis(1);
        loop {
            let mut query = sqlx::query(sql)
                .bind(to_i64(after_position))
                .bind(limit_i64(limit));
            if in_index_order {
                query = query
                    .bind(types.as_deref())
                    .bind(partition.map(|p| i64::from(p.index())))
                    .bind(partition.map(|p| i64::from(p.count())));
            } else if let Some(p) = partition {
                query = query.bind(i64::from(p.index())).bind(i64::from(p.count()));
            }
            let Some(page) = fetched_page(query.fetch(pool), after_position).await? else {
                return Ok(ReadAllPage::new(Vec::new(), after_position));
            };
            let FetchedPage {
                bound,
                visible,
                head,
                events,
                stopped,
            } = page;
            if let Some(scanned_to) = stopped {
                return Ok(ReadAllPage::new(events, scanned_to));
            }
            let target = *target.get_or_insert(visible);
            let settled = target < bound || target <= to_i64(after_position);
            if events.len() >= limit || settled || tokio::time::Instant::now() >= deadline {
                let scanned_to = match events.last() {
                    Some(last) if events.len() >= limit => last.global_position,
                    last => to_u64(head)
                        .max(after_position)
                        .max(last.map_or(0, |e| e.global_position)),
                };
                return Ok(ReadAllPage::new(events, scanned_to));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(50));
        }
    }

    /// The last look at the log's statistics.
    pub(crate) fn statistics(&self) -> &StatisticsWatch {
        &self.statistics
    }

    /// How long a read of the global log waits for held-back commits.
    pub(crate) fn settle_timeout(&self) -> Duration {
        self.settle_timeout
    }

    /// The head below the settled bound, without waiting: the bound, the
    /// newest visible position and the newest position below the bound.
    pub(crate) async fn head_now(&self, pool: &PgPool) -> Result<(u64, u64, u64), StoreError> {
        let (bound, visible, head): (i64, i64, i64) = sqlx::query_as(&self.head)
            .fetch_one(pool)
            .await
            .map_err(|e| StoreError::backend("reading the head position", e))?;
        Ok((to_u64(bound), to_u64(visible), to_u64(head)))
    }

    /// The newest position `read_all` would return, waiting like it does
    /// for events committed before the call.
    pub(crate) async fn head_position(&self, pool: &PgPool) -> Result<u64, StoreError> {
        let deadline = tokio::time::Instant::now() + self.settle_timeout;
        let mut delay = Duration::from_millis(1);
        let (mut bound, target, mut head) = self.head_now(pool).await?;
        while target >= bound && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(50));
            (bound, _, head) = self.head_now(pool).await?;
        }
        Ok(head)
    }

    pub(crate) async fn stream_version(
        &self,
        pool: &PgPool,
        stream_id: &str,
    ) -> Result<u64, StoreError> {
        let (v,): (i64,) = sqlx::query_as(&self.stream_version)
            .bind(stream_id)
            .fetch_one(pool)
            .await
            .map_err(|e| {
                StoreError::backend(format!("reading the version of stream `{stream_id}`"), e)
            })?;
        Ok(to_u64(v))
    }

    pub(crate) async fn find_command(
        &self,
        pool: &PgPool,
        stream_id: &str,
        command_id: Uuid,
    ) -> Result<Option<CommandRecord>, StoreError> {
        let row: Option<(i64, i64)> = sqlx::query_as(&self.find_command)
            .bind(stream_id)
            .bind(command_id)
            .fetch_optional(pool)
            .await
            .map_err(|e| {
                StoreError::backend(format!("looking up a command of stream `{stream_id}`"), e)
            })?;
        Ok(row.map(|(f, l)| CommandRecord {
            first_version: to_u64(f),
            last_version: to_u64(l),
        }))
    }
}

/// A list of event types as an SQL array literal, written into a
/// type-filtered `read_all` statement instead of bound as a parameter.
///
/// With the types in its text, the statement is prepared once per list of
/// types (a consumer reads one list) and every plan PostgreSQL makes for
/// it, generic plans included, knows how common each type is. Bound as
/// `ANY($3)`, a prepared statement's generic plan, which PostgreSQL
/// switches to after five executions, could not: it walked the position
/// index through every event after the checkpoint for a rare type (15-48
/// times the raw read in es-bench growth). Planning such a statement per
/// call instead cost an extra round trip (parse and describe) and the
/// planning on every page.
///
/// Each type is an escape string (`E'…'`, whose reading does not depend on
/// `standard_conforming_strings`) with `\` and `'` escaped, so no type
/// can end its literal.
///
/// A type with a NUL character is left out: PostgreSQL's text cannot hold
/// one, so no stored event has that type, and a NUL in a statement's text
/// is a protocol error that ends the connection.
fn types_literal(types: &[&str]) -> String {
    let mut sql = String::from("ARRAY[");
    for (i, t) in types.iter().filter(|t| !t.contains('\0')).enumerate() {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str("E'");
        for c in t.chars() {
            match c {
                '\\' => sql.push_str("\\\\"),
                '\'' => sql.push_str("\\'"),
                c => sql.push(c),
            }
        }
        sql.push('\'');
    }
    sql.push_str("]::text[]");
    sql
}

/// A `read_all` page as its statement returned it: the header values of
/// its first row and the events decoded, in position order. `stopped`:
/// the page ends before an event that cannot be decoded, at this position
/// (the last event's).
struct FetchedPage {
    bound: i64,
    visible: i64,
    head: i64,
    events: Vec<RecordedEvent>,
    stopped: Option<u64>,
}

/// Decodes a `read_all` page's rows (`bound, visible, head, COLUMNS…`: the
/// header row with its event columns NULL, the event rows with their
/// header columns NULL) as they arrive, so the client's decoding overlaps
/// the server sending the rest of the page (decoding after a `fetch_all`
/// added it to every page's time). `None`: no header row.
///
/// The page comes in position order (the statement's page branch keeps
/// it); the events are sorted all the same if a plan ever did not keep
/// it, so the page's order never depends on the plan. An event that cannot
/// be decoded ends the page before it: the events below it go out first,
/// and a read that starts at it reports it with its position
/// ([`StoreError::unreadable`]).
async fn fetched_page<'a>(
    mut rows: impl futures::Stream<Item = Result<PgRow, sqlx::Error>> + Unpin + 'a,
    after_position: u64,
) -> Result<Option<FetchedPage>, StoreError> {
    let fail = |e| StoreError::backend("reading all streams", e);
    let mut header = None;
    let mut events: Vec<RecordedEvent> = Vec::new();
    // The lowest position that failed to decode, its stream and error.
    let mut bad: Option<(i64, String, StoreError)> = None;
    while let Some(row) = rows.try_next().await.map_err(fail)? {
        if header.is_none()
            && let Some(bound) = row.try_get::<Option<i64>, _>(0).map_err(fail)?
        {
            let visible: i64 = row.try_get(1).map_err(fail)?;
            let head: i64 = row.try_get(2).map_err(fail)?;
            header = Some((bound, visible, head));
        }
        let Some(pos) = row.try_get::<Option<i64>, _>(3).map_err(fail)? else {
            continue;
        };
        if bad.as_ref().is_some_and(|(b, ..)| pos > *b) {
            continue;
        }
        match decode_event_at(&row, 3) {
            Ok(event) => events.push(event),
            Err(e) => {
                let stream: String = row.try_get(3 + 2).unwrap_or_else(|_| "?".to_owned());
                bad = Some((pos, stream, e));
            }
        }
    }
    let Some((bound, visible, head)) = header else {
        return Ok(None);
    };
    if !events.is_sorted_by_key(|e| e.global_position) {
        events.sort_by_key(|e| e.global_position);
    }
    let mut stopped = None;
    if let Some((pos, stream, e)) = bad {
        events.retain(|e| e.global_position < to_u64(pos));
        let Some(last) = events.last() else {
            return Err(StoreError::unreadable(to_u64(pos), stream, e));
        };
        tracing::debug!(position = pos, error = %e, "read_all stops before an unreadable event");
        stopped = Some(last.global_position.max(after_position));
    }
    Ok(Some(FetchedPage {
        bound,
        visible,
        head,
        events,
        stopped,
    }))
}
