//! The SQLite store's SQL (the tables of `es-sqlite`, in one file).
//!
//! Times are RFC 3339 text in the file; sizes are `length(CAST(payload AS
//! BLOB))`, the bytes as stored (PostgreSQL's are those of the `jsonb`'s
//! text form).

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use super::rows::{
    AggregateType, Checkpoint, EventType, LargePayload, LongStream, ResetOutcome, StatsData,
    VersionGap,
};
use crate::db::SqliteStore;
use crate::error::CliError;

/// A payload's size in bytes (a TEXT column's `length` counts characters).
const PAYLOAD_BYTES: &str = "length(CAST(payload AS BLOB))";

fn pool(store: &SqliteStore) -> &SqlitePool {
    store.store.pool()
}

fn parse_time(column: &str, text: &str) -> Result<DateTime<Utc>, CliError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| CliError::other(format!("unreadable time in {column}: `{text}` ({e})")))
}

fn parse_opt_time(column: &str, text: Option<String>) -> Result<Option<DateTime<Utc>>, CliError> {
    text.map(|t| parse_time(column, &t)).transpose()
}

async fn has_table(store: &SqliteStore, name: &str) -> Result<bool, CliError> {
    let (exists,): (bool,) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?)",
    )
    .bind(name)
    .fetch_one(pool(store))
    .await?;
    Ok(exists)
}

/// Whether the file has the `events` table and a migration history.
pub(crate) async fn has_tables(store: &SqliteStore) -> Result<(bool, bool), CliError> {
    Ok((
        has_table(store, "events").await?,
        has_table(store, "_sqlx_migrations").await?,
    ))
}

pub(crate) async fn applied_migrations(store: &SqliteStore) -> Result<Vec<i64>, CliError> {
    if !has_table(store, "_sqlx_migrations").await? {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64,)> =
        sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool(store))
            .await?;
    Ok(rows.into_iter().map(|(v,)| v).collect())
}

pub(crate) async fn stats(store: &SqliteStore, longest: i64) -> Result<StatsData, CliError> {
    let pool = pool(store);
    let (events, streams, payload_bytes, oldest, newest): (
        i64,
        i64,
        i64,
        Option<String>,
        Option<String>,
    ) = sqlx::query_as(&format!(
        "SELECT count(*), count(DISTINCT stream_id), COALESCE(sum({PAYLOAD_BYTES}), 0), \
                min(recorded_at), max(recorded_at) \
         FROM events"
    ))
    .fetch_one(pool)
    .await?;
    let event_types: Vec<EventType> = sqlx::query_as(&format!(
        "SELECT event_type, count(*) AS events, COALESCE(sum({PAYLOAD_BYTES}), 0) AS payload_bytes \
         FROM events GROUP BY event_type ORDER BY events DESC, event_type"
    ))
    .fetch_all(pool)
    .await?;
    let aggregate_types: Vec<AggregateType> = sqlx::query_as(
        "SELECT aggregate_type, count(*) AS events, count(DISTINCT stream_id) AS streams \
         FROM events GROUP BY aggregate_type ORDER BY events DESC, aggregate_type",
    )
    .fetch_all(pool)
    .await?;
    let longest_streams: Vec<LongStream> = sqlx::query_as(&format!(
        "SELECT stream_id, count(*) AS events, max(stream_version) AS version \
         FROM events GROUP BY stream_id ORDER BY events DESC, stream_id LIMIT {longest}"
    ))
    .fetch_all(pool)
    .await?;
    Ok(StatsData {
        events,
        streams,
        payload_bytes,
        oldest: parse_opt_time("events.recorded_at", oldest)?,
        newest: parse_opt_time("events.recorded_at", newest)?,
        event_types,
        aggregate_types,
        longest_streams,
    })
}

pub(crate) async fn event_type_counts(store: &SqliteStore) -> Result<Vec<(String, i64)>, CliError> {
    Ok(sqlx::query_as(
        "SELECT event_type, count(*) FROM events GROUP BY event_type ORDER BY event_type",
    )
    .fetch_all(pool(store))
    .await?)
}

pub(crate) async fn large_payloads(
    store: &SqliteStore,
    limit: i64,
    list: i64,
) -> Result<(i64, Vec<LargePayload>), CliError> {
    let pool = pool(store);
    let (total,): (i64,) = sqlx::query_as(&format!(
        "SELECT count(*) FROM events WHERE {PAYLOAD_BYTES} > ?"
    ))
    .bind(limit)
    .fetch_one(pool)
    .await?;
    if total == 0 {
        return Ok((0, Vec::new()));
    }
    let rows = sqlx::query_as(&format!(
        "SELECT stream_id, stream_version, event_type, {PAYLOAD_BYTES} AS bytes \
         FROM events WHERE {PAYLOAD_BYTES} > ? \
         ORDER BY bytes DESC, stream_id, stream_version LIMIT {list}"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok((total, rows))
}

pub(crate) async fn version_gaps(
    store: &SqliteStore,
    list: i64,
) -> Result<Vec<VersionGap>, CliError> {
    Ok(sqlx::query_as(&format!(
        "SELECT stream_id, after_version, next_version, \
                next_version - after_version - 1 AS missing \
         FROM (SELECT stream_id, stream_version AS next_version, \
                      lag(stream_version, 1, 0) \
                          OVER (PARTITION BY stream_id ORDER BY stream_version) AS after_version \
               FROM events) AS v \
         WHERE next_version <> after_version + 1 \
         ORDER BY stream_id, next_version LIMIT {list}"
    ))
    .fetch_all(pool(store))
    .await?)
}

pub(crate) async fn mixed_schema_versions(
    store: &SqliteStore,
) -> Result<Vec<(String, i32, i64)>, CliError> {
    Ok(sqlx::query_as(
        "SELECT event_type, schema_version, count(*) FROM events \
         WHERE event_type IN (SELECT event_type FROM events GROUP BY event_type \
                              HAVING count(DISTINCT schema_version) > 1) \
         GROUP BY event_type, schema_version ORDER BY event_type, schema_version",
    )
    .fetch_all(pool(store))
    .await?)
}

/// A runner holds the lease: a row of `leases` for the name that has not
/// expired (`expires_at` in milliseconds since the epoch; see
/// `es_sqlite::SqliteLease`). `?1` is the time now; `c.projection` the name.
const LEASE_HELD: &str =
    "EXISTS (SELECT 1 FROM leases AS l WHERE l.name = c.projection AND l.expires_at > ?1)";

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub(crate) async fn checkpoints(store: &SqliteStore) -> Result<Vec<Checkpoint>, CliError> {
    // A file migrated before the consumer tables has neither.
    let consumers = has_table(store, "dead_letters").await? && has_table(store, "leases").await?;
    let (dead, active) = if consumers {
        (
            "(SELECT count(*) FROM dead_letters AS d WHERE d.projection = c.projection)",
            LEASE_HELD,
        )
    } else {
        ("0", "0 AND ?1 IS NOT NULL")
    };
    let rows: Vec<(String, i64, String, i64, i64, bool)> = sqlx::query_as(&format!(
        "SELECT c.projection, c.position, c.updated_at, \
                (SELECT count(*) FROM events AS e WHERE e.global_position > c.position), \
                {dead}, {active} \
         FROM checkpoints AS c ORDER BY c.projection"
    ))
    .bind(now_ms())
    .fetch_all(pool(store))
    .await?;
    rows.into_iter()
        .map(
            |(name, position, updated_at, lag, dead_letters, active)| -> Result<_, CliError> {
                Ok(Checkpoint {
                    updated_at: parse_time("checkpoints.updated_at", &updated_at)?,
                    name,
                    position,
                    lag,
                    dead_letters,
                    active,
                })
            },
        )
        .collect()
}

pub(crate) async fn reset(store: &SqliteStore, name: &str) -> Result<ResetOutcome, CliError> {
    let consumers = has_table(store, "dead_letters").await? && has_table(store, "leases").await?;
    // Under the write lock: a runner cannot take the lease or move the
    // checkpoint between the check and the delete.
    let mut tx = pool(store).begin_with("BEGIN IMMEDIATE").await?;
    if consumers {
        let (active,): (bool,) = sqlx::query_as(&format!(
            "SELECT {LEASE_HELD} FROM (SELECT ?2 AS projection) AS c"
        ))
        .bind(now_ms())
        .bind(name)
        .fetch_one(&mut *tx)
        .await?;
        if active {
            return Ok(ResetOutcome::Running);
        }
    }
    let deleted: Option<(i64,)> =
        sqlx::query_as("DELETE FROM checkpoints WHERE projection = ? RETURNING position")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((position,)) = deleted else {
        drop(tx);
        let known: Vec<(String,)> =
            sqlx::query_as("SELECT projection FROM checkpoints ORDER BY projection LIMIT 20")
                .fetch_all(pool(store))
                .await?;
        return Ok(ResetOutcome::NotFound {
            known: known.into_iter().map(|(n,)| n).collect(),
        });
    };
    let cleared = if consumers {
        sqlx::query("DELETE FROM dead_letters WHERE projection = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected()
    } else {
        0
    };
    tx.commit().await?;
    Ok(ResetOutcome::Reset { position, cleared })
}
