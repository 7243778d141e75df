//! Reads: a stream page, a replay that lends rows as they arrive, a page of
//! the global log that says how far it scanned, and the small lookups
//! (version, head, command). Each with its SQL.

use std::ops::ControlFlow;

use es_core::{
    CommandRecord, ReadAllPage, RecordedEvent, ReplayedEvent, StoreError, StreamEnd, Uuid,
    validate_stream_id,
};
use futures::TryStreamExt;
use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Row, Sqlite, SqliteExecutor};

use crate::row::{corrupt, decode_event, time_bound, to_i64, to_u64};
use crate::store::SqliteEventStore;

/// The columns an event is read from, in a macro so `concat!` can build
/// whole statements at compile time.
macro_rules! event_columns {
    () => {
        "global_position, event_id, stream_id, stream_version, event_type, schema_version, \
         payload, metadata, recorded_at"
    };
}

/// The columns a replay reads (see `EventStore::replay_stream`).
macro_rules! replay_columns {
    () => {
        "stream_version, event_type, schema_version, payload"
    };
}

/// A stream read's `FROM … LIMIT` for each kind of end, after its columns:
/// binds the stream id, the first version, the end (none, a version or a
/// time) and the limit, in that order (see `stream_query`).
macro_rules! stream_read_sql {
    ($columns:expr) => {
        [
            concat!(
                "SELECT ",
                $columns,
                " FROM events WHERE stream_id = ? AND stream_version >= ? \
                 ORDER BY stream_version LIMIT ?"
            ),
            concat!(
                "SELECT ",
                $columns,
                " FROM events WHERE stream_id = ? AND stream_version >= ? \
                 AND stream_version <= ? ORDER BY stream_version LIMIT ?"
            ),
            concat!(
                "SELECT ",
                $columns,
                " FROM events WHERE stream_id = ? AND stream_version >= ? \
                 AND recorded_at <= ? ORDER BY stream_version LIMIT ?"
            ),
        ]
    };
}

/// The query of a stream read: one of `stream_read_sql!`'s three statements
/// (to the head, to a version, to a time) with its values bound.
fn stream_query<'q>(
    sql: [&'static str; 3],
    stream_id: &'q str,
    from_version: u64,
    to: StreamEnd,
    limit: usize,
) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    let from = to_i64(from_version.max(1));
    let limit = to_i64(limit as u64);
    match to {
        StreamEnd::Head => sqlx::query(sql[0]).bind(stream_id).bind(from).bind(limit),
        StreamEnd::Version(v) => sqlx::query(sql[1])
            .bind(stream_id)
            .bind(from)
            .bind(to_i64(v))
            .bind(limit),
        StreamEnd::Time(t) => sqlx::query(sql[2])
            .bind(stream_id)
            .bind(from)
            .bind(time_bound(t))
            .bind(limit),
    }
}

impl SqliteEventStore {
    #[tracing::instrument(
        name = "es_sqlite.read_stream",
        level = "debug",
        skip_all,
        fields(
            stream_id = %stream_id,
            from_version = from_version,
            to = ?to,
            limit = limit,
            events = tracing::field::Empty,
        )
    )]
    pub(crate) async fn read_stream_page(
        &self,
        stream_id: &str,
        from_version: u64,
        to: StreamEnd,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        validate_stream_id(stream_id)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let query = stream_query(
            stream_read_sql!(event_columns!()),
            stream_id,
            from_version,
            to,
            limit,
        );
        let rows = query
            .fetch_all(&self.inner.pool)
            .await
            .map_err(|e| StoreError::backend(format!("reading stream `{stream_id}`"), e))?;
        let events = rows
            .iter()
            .map(|row| decode_event(row, stream_id))
            .collect::<Result<Vec<_>, _>>()?;
        tracing::Span::current().record("events", events.len());
        Ok(events)
    }

    /// A replay: only the four columns it reads, each row lent to `visit`
    /// as it arrives, without copying type names or payloads.
    pub(crate) async fn replay_rows<F>(
        &self,
        stream_id: &str,
        from_version: u64,
        to: StreamEnd,
        limit: usize,
        mut visit: F,
    ) -> Result<usize, StoreError>
    where
        F: FnMut(ReplayedEvent<'_>) -> ControlFlow<()> + Send,
    {
        validate_stream_id(stream_id)?;
        if limit == 0 {
            return Ok(0);
        }
        let query = stream_query(
            stream_read_sql!(replay_columns!()),
            stream_id,
            from_version,
            to,
            limit,
        );
        let mut rows = query.fetch(&self.inner.pool);
        let mut visited = 0;
        while let Some(row) = rows
            .try_next()
            .await
            .map_err(|e| self.observe_sqlx(format!("reading stream `{stream_id}`"), e))?
        {
            let column = |e: sqlx::Error| corrupt(stream_id, format!("event row: {e}"));
            let version: i64 = row.try_get(0).map_err(column)?;
            let event_type: &str = row.try_get(1).map_err(column)?;
            let schema_version: i64 = row.try_get(2).map_err(column)?;
            let payload: &[u8] = row.try_get(3).map_err(column)?;
            let stream_version = to_u64(version, stream_id, "stream version")?;
            let schema_version = u32::try_from(schema_version).map_err(|_| {
                corrupt(
                    stream_id,
                    format!("schema version {schema_version} of event {stream_version}"),
                )
            })?;
            visited += 1;
            let flow = visit(ReplayedEvent {
                stream_version,
                event_type,
                schema_version,
                payload,
            });
            if flow.is_break() {
                break;
            }
        }
        Ok(visited)
    }

    #[tracing::instrument(
        name = "es_sqlite.read_all",
        level = "debug",
        skip_all,
        fields(
            after_position = after_position,
            limit = limit,
            types = ?types,
            events = tracing::field::Empty,
            scanned_to = tracing::field::Empty,
        )
    )]
    pub(crate) async fn read_all_page(
        &self,
        after_position: u64,
        limit: usize,
        types: Option<&[&str]>,
    ) -> Result<ReadAllPage, StoreError> {
        if limit == 0 {
            return Ok(ReadAllPage::new(Vec::new(), after_position));
        }
        let fail =
            |e| StoreError::backend(format!("reading all streams after {after_position}"), e);
        // Writers hold the write lock from their first position to their
        // commit, so positions commit in order: the newest position seen in
        // the snapshot of the events' own statement is how far a short page
        // has scanned.
        let mut sql = String::from(concat!(
            "SELECT ",
            event_columns!(),
            ", (SELECT COALESCE(MAX(global_position), 0) FROM events) AS head",
            " FROM events WHERE global_position > ?"
        ));
        if let Some(types) = types {
            if types.is_empty() {
                sql.push_str(" AND 0");
            } else {
                // Placeholders only; the names are bound below.
                sql.push_str(" AND event_type IN (");
                sql.push_str(&vec!["?"; types.len()].join(", "));
                sql.push(')');
            }
        }
        sql.push_str(" ORDER BY global_position LIMIT ?");
        let read = || {
            let mut query = sqlx::query(&sql).bind(to_i64(after_position));
            for t in types.unwrap_or_default() {
                query = query.bind(*t);
            }
            query.bind(to_i64(limit as u64))
        };
        // An empty read cannot tell how far it scanned: read the head, then
        // read again. Events at or below that head committed before the
        // second read began, so if it still finds nothing, the head is safe.
        let mut head_before: Option<u64> = None;
        let page = loop {
            let rows = read().fetch_all(&self.inner.pool).await.map_err(fail)?;
            let Some(first) = rows.first() else {
                match head_before {
                    Some(head) => break ReadAllPage::new(Vec::new(), head.max(after_position)),
                    None => {
                        head_before =
                            Some(head_position_with(&self.inner.pool).await.map_err(fail)?);
                        continue;
                    }
                }
            };
            let head: i64 = first
                .try_get("head")
                .map_err(|e| corrupt("?", format!("event row: {e}")))?;
            let mut events = Vec::with_capacity(rows.len());
            let mut cut = false;
            for row in &rows {
                match decode_event(row, "?") {
                    Ok(event) => events.push(event),
                    // One bad row is its own error: the events before it go
                    // out first (the page ends there), and a read that
                    // starts at it reports it with its position.
                    Err(e) if !events.is_empty() => {
                        tracing::debug!(error = %e, "read_all stops before an unreadable event");
                        cut = true;
                        break;
                    }
                    Err(e) => {
                        let position: i64 = row.try_get("global_position").unwrap_or(0);
                        let stream: String =
                            row.try_get("stream_id").unwrap_or_else(|_| "?".to_owned());
                        return Err(StoreError::unreadable(
                            u64::try_from(position).unwrap_or(0),
                            stream,
                            e,
                        ));
                    }
                }
            }
            let last = events.last().map_or(after_position, |e| e.global_position);
            let scanned_to = if events.len() >= limit || cut {
                last
            } else {
                last.max(u64::try_from(head).unwrap_or(0))
            };
            break ReadAllPage::new(events, scanned_to);
        };
        let span = tracing::Span::current();
        span.record("events", page.len());
        span.record("scanned_to", page.scanned_to);
        Ok(page)
    }
}

/// The events of `stream_id` from version `first` to `last`, read through
/// `conn`: an append's transaction reads back what it just inserted, with
/// the positions SQLite gave it, for its inline projections.
pub(crate) async fn stream_range_with(
    conn: &mut sqlx::SqliteConnection,
    stream_id: &str,
    first: u64,
    last: u64,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let count = usize::try_from(last.saturating_sub(first) + 1).unwrap_or(usize::MAX);
    let rows = stream_query(
        stream_read_sql!(event_columns!()),
        stream_id,
        first,
        StreamEnd::Version(last),
        count,
    )
    .fetch_all(conn)
    .await
    .map_err(|e| {
        StoreError::backend(
            format!("reading back the events appended to stream `{stream_id}`"),
            e,
        )
    })?;
    rows.iter()
        .map(|row| decode_event(row, stream_id))
        .collect()
}

pub(crate) async fn stream_version_with<'e>(
    executor: impl SqliteExecutor<'e>,
    stream_id: &str,
) -> Result<u64, StoreError> {
    let version: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(stream_version), 0) FROM events WHERE stream_id = ?",
    )
    .bind(stream_id)
    .fetch_one(executor)
    .await
    .map_err(|e| StoreError::backend(format!("reading the version of stream `{stream_id}`"), e))?;
    to_u64(version, stream_id, "stream version")
}

pub(crate) async fn head_position_with<'e>(
    executor: impl SqliteExecutor<'e>,
) -> Result<u64, sqlx::Error> {
    let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(global_position), 0) FROM events")
        .fetch_one(executor)
        .await?;
    Ok(u64::try_from(head).unwrap_or(0))
}

pub(crate) async fn find_command_with<'e>(
    executor: impl SqliteExecutor<'e>,
    stream_id: &str,
    command_id: Uuid,
) -> Result<Option<CommandRecord>, StoreError> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT first_version, last_version FROM commands WHERE stream_id = ? AND command_id = ?",
    )
    .bind(stream_id)
    .bind(command_id.hyphenated().to_string())
    .fetch_optional(executor)
    .await
    .map_err(|e| {
        StoreError::backend(
            format!("looking up command {command_id} on stream `{stream_id}`"),
            e,
        )
    })?;
    row.map(|(first, last)| {
        Ok(CommandRecord {
            first_version: to_u64(first, stream_id, "command's first version")?,
            last_version: to_u64(last, stream_id, "command's last version")?,
        })
    })
    .transpose()
}
