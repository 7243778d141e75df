//! The PostgreSQL store's SQL (the tables of `es-postgres`, in a schema).

use chrono::{DateTime, Utc};
use es_postgres::PgEventStore;

use super::rows::{
    AggregateType, Checkpoint, EventType, LargePayload, LongStream, ResetOutcome, StatsData,
    VersionGap,
};
use crate::db::quote_ident;
use crate::error::CliError;

/// Whether the schema has the `events` table and a migration history.
pub(crate) async fn has_tables(store: &PgEventStore) -> Result<(bool, bool), CliError> {
    let found: (bool, bool) = sqlx::query_as(
        "SELECT to_regclass(format('%I.events', $1::text)) IS NOT NULL, \
                to_regclass(format('%I._sqlx_migrations', $1::text)) IS NOT NULL",
    )
    .bind(store.schema())
    .fetch_one(store.pool())
    .await?;
    Ok(found)
}

pub(crate) async fn schema_exists(store: &PgEventStore) -> Result<bool, CliError> {
    let (exists,): (bool,) =
        sqlx::query_as("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(store.schema())
            .fetch_one(store.pool())
            .await?;
    Ok(exists)
}

/// The versions of the successfully applied migrations, empty when the
/// schema or its history table does not exist.
pub(crate) async fn applied_migrations(store: &PgEventStore) -> Result<Vec<i64>, CliError> {
    let (exists,): (bool,) =
        sqlx::query_as("SELECT to_regclass(format('%I._sqlx_migrations', $1::text)) IS NOT NULL")
            .bind(store.schema())
            .fetch_one(store.pool())
            .await?;
    if !exists {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64,)> = sqlx::query_as(&format!(
        "SELECT version FROM {}._sqlx_migrations WHERE success ORDER BY version",
        quote_ident(store.schema())
    ))
    .fetch_all(store.pool())
    .await?;
    Ok(rows.into_iter().map(|(v,)| v).collect())
}

pub(crate) async fn stats(store: &PgEventStore, longest: i64) -> Result<StatsData, CliError> {
    let s = quote_ident(store.schema());
    let pool = store.pool();
    let (events, streams, payload_bytes, oldest, newest): (
        i64,
        i64,
        i64,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
    ) = sqlx::query_as(&format!(
        "SELECT count(*), count(DISTINCT stream_id), \
                COALESCE(sum(octet_length(payload::text)), 0)::bigint, \
                min(recorded_at), max(recorded_at) \
         FROM {s}.events"
    ))
    .fetch_one(pool)
    .await?;
    let event_types: Vec<EventType> = sqlx::query_as(&format!(
        "SELECT event_type, count(*) AS events, \
                COALESCE(sum(octet_length(payload::text)), 0)::bigint AS payload_bytes \
         FROM {s}.events GROUP BY event_type ORDER BY events DESC, event_type"
    ))
    .fetch_all(pool)
    .await?;
    let aggregate_types: Vec<AggregateType> = sqlx::query_as(&format!(
        "SELECT aggregate_type, count(*) AS events, count(DISTINCT stream_id) AS streams \
         FROM {s}.events GROUP BY aggregate_type ORDER BY events DESC, aggregate_type"
    ))
    .fetch_all(pool)
    .await?;
    let longest_streams: Vec<LongStream> = sqlx::query_as(&format!(
        "SELECT stream_id, count(*) AS events, max(stream_version) AS version \
         FROM {s}.events GROUP BY stream_id ORDER BY events DESC, stream_id LIMIT {longest}"
    ))
    .fetch_all(pool)
    .await?;
    Ok(StatsData {
        events,
        streams,
        payload_bytes,
        oldest,
        newest,
        event_types,
        aggregate_types,
        longest_streams,
    })
}

pub(crate) async fn event_type_counts(
    store: &PgEventStore,
) -> Result<Vec<(String, i64)>, CliError> {
    let s = quote_ident(store.schema());
    Ok(sqlx::query_as(&format!(
        "SELECT event_type, count(*) FROM {s}.events GROUP BY event_type ORDER BY event_type"
    ))
    .fetch_all(store.pool())
    .await?)
}

pub(crate) async fn large_payloads(
    store: &PgEventStore,
    limit: i64,
    list: i64,
) -> Result<(i64, Vec<LargePayload>), CliError> {
    let s = quote_ident(store.schema());
    let pool = store.pool();
    let (total,): (i64,) = sqlx::query_as(&format!(
        "SELECT count(*) FROM {s}.events WHERE octet_length(payload::text) > $1"
    ))
    .bind(limit)
    .fetch_one(pool)
    .await?;
    if total == 0 {
        return Ok((0, Vec::new()));
    }
    let rows = sqlx::query_as(&format!(
        "SELECT stream_id, stream_version, event_type, \
                octet_length(payload::text)::bigint AS bytes \
         FROM {s}.events WHERE octet_length(payload::text) > $1 \
         ORDER BY bytes DESC, stream_id, stream_version LIMIT {list}"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok((total, rows))
}

pub(crate) async fn version_gaps(
    store: &PgEventStore,
    list: i64,
) -> Result<Vec<VersionGap>, CliError> {
    let s = quote_ident(store.schema());
    Ok(sqlx::query_as(&format!(
        "SELECT stream_id, after_version, next_version, \
                next_version - after_version - 1 AS missing \
         FROM (SELECT stream_id, stream_version AS next_version, \
                      lag(stream_version, 1, 0::bigint) \
                          OVER (PARTITION BY stream_id ORDER BY stream_version) AS after_version \
               FROM {s}.events) AS v \
         WHERE next_version <> after_version + 1 \
         ORDER BY stream_id, next_version LIMIT {list}"
    ))
    .fetch_all(store.pool())
    .await?)
}

pub(crate) async fn mixed_schema_versions(
    store: &PgEventStore,
) -> Result<Vec<(String, i32, i64)>, CliError> {
    let s = quote_ident(store.schema());
    Ok(sqlx::query_as(&format!(
        "SELECT event_type, schema_version, count(*) FROM {s}.events \
         WHERE event_type IN (SELECT event_type FROM {s}.events GROUP BY event_type \
                              HAVING count(DISTINCT schema_version) > 1) \
         GROUP BY event_type, schema_version ORDER BY event_type, schema_version"
    ))
    .fetch_all(store.pool())
    .await?)
}

/// Whether the schema has the `dead_letters` table (a later migration).
async fn has_dead_letters(store: &PgEventStore) -> Result<bool, CliError> {
    let (exists,): (bool,) =
        sqlx::query_as("SELECT to_regclass(format('%I.dead_letters', $1::text)) IS NOT NULL")
            .bind(store.schema())
            .fetch_one(store.pool())
            .await?;
    Ok(exists)
}

/// The runner's lease: `pg_try_advisory_lock(hashtext(schema), hashtext(name))`
/// held by a session of this database (see es-postgres's runner).
const LEASE_HELD: &str = "EXISTS (SELECT 1 FROM pg_locks AS l \
     WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 \
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
       AND l.classid = hashtext($1)::oid AND l.objid = hashtext(c.projection)::oid)";

pub(crate) async fn checkpoints(store: &PgEventStore) -> Result<Vec<Checkpoint>, CliError> {
    let s = quote_ident(store.schema());
    // Lag is a count of events, not a position difference: positions are
    // `tx_id << 20 | n` and have large gaps.
    let dead = if has_dead_letters(store).await? {
        format!("(SELECT count(*) FROM {s}.dead_letters AS d WHERE d.projection = c.projection)")
    } else {
        "0::bigint".to_owned()
    };
    Ok(sqlx::query_as(&format!(
        "SELECT c.projection AS name, c.position, c.updated_at, \
                (SELECT count(*) FROM {s}.events AS e \
                 WHERE e.global_position > c.position) AS lag, \
                {dead} AS dead_letters, {LEASE_HELD} AS active \
         FROM {s}.checkpoints AS c ORDER BY c.projection"
    ))
    .bind(store.schema())
    .fetch_all(store.pool())
    .await?)
}

pub(crate) async fn reset(store: &PgEventStore, name: &str) -> Result<ResetOutcome, CliError> {
    let s = quote_ident(store.schema());
    let dead_letters = has_dead_letters(store).await?;
    let mut tx = store.pool().begin().await?;
    let (active,): (bool,) = sqlx::query_as(&format!(
        "SELECT {LEASE_HELD} FROM (SELECT $2::text AS projection) AS c"
    ))
    .bind(store.schema())
    .bind(name)
    .fetch_one(&mut *tx)
    .await?;
    if active {
        return Ok(ResetOutcome::Running);
    }
    let deleted: Option<(i64,)> = sqlx::query_as(&format!(
        "DELETE FROM {s}.checkpoints WHERE projection = $1 RETURNING position"
    ))
    .bind(name)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((position,)) = deleted else {
        drop(tx);
        let known: Vec<(String,)> = sqlx::query_as(&format!(
            "SELECT projection FROM {s}.checkpoints ORDER BY projection LIMIT 20"
        ))
        .fetch_all(store.pool())
        .await?;
        return Ok(ResetOutcome::NotFound {
            known: known.into_iter().map(|(n,)| n).collect(),
        });
    };
    let cleared = if dead_letters {
        sqlx::query(&format!(
            "DELETE FROM {s}.dead_letters WHERE projection = $1"
        ))
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
