//! Appends: the checked entry ([`SqliteEventStore::append_batch`]) and one
//! `BEGIN IMMEDIATE` transaction that checks the version and command id and
//! inserts the batch ([`append_once`]), then runs the store's inline
//! projections on it (`run_inline`) before `COMMIT`.

use chrono::{SubsecRound, Utc};
use es_core::{
    AppendResult, CommandRecord, ExpectedVersion, NewEvent, StoreError, check_append,
    stream_category,
};
use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Row, Sqlite};

use crate::dcb::DcbAppend;
use crate::projection::SqliteTx;
use crate::read::{find_command_with, stream_range_with, stream_version_with};
use crate::row::{format_time, parse_time, to_i64};
use crate::store::SqliteEventStore;

/// Rows per INSERT statement: 9 bound values each, well under SQLite's limit
/// of 32,766 variables per statement.
const INSERT_CHUNK: usize = 1000;

/// What an append's transaction decided.
pub(crate) enum Outcome {
    /// Events were written: commit.
    Written(AppendResult),
    /// Nothing to write (empty batch, repeated command): roll back.
    Nothing(AppendResult),
}

impl SqliteEventStore {
    #[tracing::instrument(
        name = "es_sqlite.append",
        level = "debug",
        skip_all,
        fields(
            stream_id = %stream_id,
            expected = %expected,
            events = events.len(),
            first_version = tracing::field::Empty,
            last_version = tracing::field::Empty,
            duplicate = tracing::field::Empty,
        )
    )]
    pub(crate) async fn append_batch(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        dcb: Option<&DcbAppend<'_>>,
    ) -> Result<AppendResult, StoreError> {
        // Before the transaction: the whole batch or nothing.
        check_append(stream_id, &events, self.max_payload_bytes)?;
        let context = |what: &str| format!("{what} on stream `{stream_id}`");
        // BEGIN IMMEDIATE takes the write lock now, so the version read below
        // stays true until the commit, and two writers queue on the lock
        // (busy timeout) instead of both reading and then failing to upgrade.
        // The transaction rolls back if dropped before commit.
        let mut tx = self
            .inner
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| StoreError::backend(context("beginning an append"), e))?;
        // Inline projections run only when one reads a type of the batch.
        let inline = events.iter().any(|e| self.inline.reads(&e.event_type));
        let outcome = async {
            // A condition is checked under the write lock, before the write.
            if let Some(dcb) = dcb {
                dcb.check(&mut tx).await?;
            }
            let outcome = append_once(&mut tx, stream_id, expected, events).await?;
            if let Outcome::Written(result) = &outcome {
                if let Some(dcb) = dcb {
                    let last = result.last_position.unwrap_or(0);
                    dcb.store_tags(&mut tx, last).await?;
                }
                if inline {
                    self.run_inline(&mut tx, stream_id, result).await?;
                }
            }
            Ok(outcome)
        }
        .await;
        let result = match outcome {
            Ok(Outcome::Written(result)) => {
                tx.commit()
                    .await
                    .map_err(|e| StoreError::backend(context("committing an append"), e))?;
                if let Some(position) = result.last_position {
                    self.announce(position);
                }
                result
            }
            Ok(Outcome::Nothing(result)) => {
                rollback(tx, stream_id).await;
                result
            }
            Err(e) => {
                rollback(tx, stream_id).await;
                tracing::debug!(error = %es_core::ErrorChain(&e), "append refused");
                return Err(e);
            }
        };
        let span = tracing::Span::current();
        span.record("first_version", result.first_version);
        span.record("last_version", result.last_version);
        span.record("duplicate", result.duplicate);
        Ok(result)
    }

    /// Runs the inline projections over the events an append just inserted
    /// (read back in its transaction, with their positions), then their
    /// flushes. An error leaves the caller to roll everything back.
    async fn run_inline(
        &self,
        tx: &mut SqliteTx,
        stream_id: &str,
        written: &AppendResult,
    ) -> Result<(), StoreError> {
        let events =
            stream_range_with(tx, stream_id, written.first_version, written.last_version).await?;
        self.inline
            .apply(&events, tx)
            .await
            .map_err(|failure| failure.into_append_error(stream_id))
    }
}

/// The body of an append, inside its `BEGIN IMMEDIATE` transaction.
pub(crate) async fn append_once(
    conn: &mut sqlx::SqliteConnection,
    stream_id: &str,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
) -> Result<Outcome, StoreError> {
    let context = |what: &str| format!("{what} on stream `{stream_id}`");

    let command_id = events.first().and_then(|e| e.metadata.command_id);
    if let Some(command_id) = command_id
        && let Some(record) = find_command_with(&mut *conn, stream_id, command_id).await?
    {
        return Ok(Outcome::Nothing(AppendResult::duplicate(record)));
    }

    let actual = stream_version_with(&mut *conn, stream_id).await?;
    if !expected.admits(actual) {
        return Err(StoreError::VersionConflict {
            stream_id: stream_id.to_owned(),
            expected,
            actual,
        });
    }
    if events.is_empty() {
        return Ok(Outcome::Nothing(AppendResult::unchanged(actual)));
    }

    // Recorded times never go backwards (even if the clock does, or another
    // process's clock is ahead), so a time bound cuts a stream at one place.
    // The newest event is the one with the highest position.
    let last: Option<String> =
        sqlx::query_scalar("SELECT recorded_at FROM events ORDER BY global_position DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| StoreError::backend(context("reading the last recorded time"), e))?;
    let now = Utc::now().trunc_subsecs(6);
    let recorded_at = match last.as_deref().map(parse_time) {
        Some(Ok(last)) if last > now => last,
        _ => now,
    };
    let recorded_at_text = format_time(recorded_at);
    let category = stream_category(stream_id);

    let count = events.len() as u64;
    let mut last_position = 0u64;
    let mut version = actual;
    let mut events = events.into_iter().peekable();
    while events.peek().is_some() {
        let chunk: Vec<NewEvent> = events.by_ref().take(INSERT_CHUNK).collect();
        let mut sql = String::from(
            "INSERT INTO events (event_id, stream_id, stream_version, aggregate_type, event_type, \
             schema_version, payload, metadata, recorded_at) VALUES ",
        );
        sql.push_str(&vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", "));
        sql.push_str(" RETURNING global_position");
        let persistent = chunk.len() <= 16;
        let mut query = sqlx::query(&sql).persistent(persistent);
        for e in chunk {
            version += 1;
            let metadata = serde_json::to_string(&e.metadata)
                .map_err(|err| StoreError::backend(context("encoding metadata"), err))?;
            query = query
                .bind(e.event_id.hyphenated().to_string())
                .bind(stream_id)
                .bind(to_i64(version))
                .bind(category)
                .bind(e.event_type)
                .bind(i64::from(e.schema_version));
            query = bind_json(query, e.payload)
                .bind(metadata)
                .bind(recorded_at_text.clone());
        }
        let positions: Vec<i64> = match query.fetch_all(&mut *conn).await {
            Ok(rows) => rows
                .iter()
                .map(|r| r.try_get::<i64, _>(0))
                .collect::<Result<_, _>>()
                .map_err(|e| StoreError::backend(context("reading appended positions"), e))?,
            Err(e) => return Err(insert_error(conn, stream_id, expected, e).await),
        };
        if let Some(max) = positions.into_iter().max() {
            last_position = last_position.max(max as u64);
        }
    }

    let record = CommandRecord {
        first_version: actual + 1,
        last_version: actual + count,
    };
    if let Some(command_id) = command_id {
        sqlx::query(
            "INSERT INTO commands (stream_id, command_id, first_version, last_version, recorded_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(stream_id)
        .bind(command_id.hyphenated().to_string())
        .bind(to_i64(record.first_version))
        .bind(to_i64(record.last_version))
        .bind(&recorded_at_text)
        .execute(&mut *conn)
        .await
        .map_err(|e| StoreError::backend(context("recording the command id"), e))?;
    }

    Ok(Outcome::Written(AppendResult {
        first_version: record.first_version,
        last_version: record.last_version,
        last_position: Some(last_position),
        duplicate: false,
    }))
}

/// Maps a failed INSERT: a taken stream version is a version conflict (the
/// write lock makes that unexpected, but the unique key is the last word).
pub(crate) async fn insert_error(
    conn: &mut sqlx::SqliteConnection,
    stream_id: &str,
    expected: ExpectedVersion,
    e: sqlx::Error,
) -> StoreError {
    let version_taken = e
        .as_database_error()
        .is_some_and(|d| d.is_unique_violation() && d.message().contains("events.stream_version"));
    if version_taken {
        // A failed statement leaves SQLite's transaction open: read the
        // version the stream actually has.
        if let Ok(actual) = stream_version_with(&mut *conn, stream_id).await {
            return StoreError::VersionConflict {
                stream_id: stream_id.to_owned(),
                expected,
                actual,
            };
        }
    }
    StoreError::backend(format!("appending to stream `{stream_id}`"), e)
}

pub(crate) async fn rollback(tx: sqlx::Transaction<'_, Sqlite>, stream_id: &str) {
    if let Err(e) = tx.rollback().await {
        // The connection is closed rather than reused when this fails.
        tracing::warn!(stream_id, error = %e, "rolling back an append failed");
    }
}

/// Binds a JSON payload as TEXT (so SQLite's JSON functions read it), or as
/// a BLOB when the bytes are not UTF-8; either reads back byte for byte.
pub(crate) fn bind_json<'q>(
    query: Query<'q, Sqlite, SqliteArguments<'q>>,
    bytes: Vec<u8>,
) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    match String::from_utf8(bytes) {
        Ok(text) => query.bind(text),
        Err(e) => query.bind(e.into_bytes()),
    }
}
