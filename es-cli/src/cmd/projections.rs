//! `es projections list|reset`: the checkpoints of projection runners.

use chrono::{DateTime, SecondsFormat, Utc};
use es_postgres::PgEventStore;
use serde::Serialize;

use crate::db::quote_ident;
use crate::error::CliError;
use crate::out;

#[derive(Debug, Serialize, sqlx::FromRow)]
struct Checkpoint {
    name: String,
    position: i64,
    /// Events stored after the checkpoint (all types: an upper bound for a
    /// projection that handles only some).
    lag: i64,
    updated_at: DateTime<Utc>,
    /// Events its runner skipped (`dead_letters` table; 0 when the schema has none).
    dead_letters: i64,
    /// Whether a runner holds the projection's lease right now.
    active: bool,
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

pub(crate) async fn list(store: &PgEventStore, json: bool) -> Result<(), CliError> {
    let s = quote_ident(store.schema());
    // Lag is a count of events, not a position difference: positions are
    // `tx_id << 20 | n` and have large gaps.
    let dead = if has_dead_letters(store).await? {
        format!("(SELECT count(*) FROM {s}.dead_letters AS d WHERE d.projection = c.projection)")
    } else {
        "0::bigint".to_owned()
    };
    let rows: Vec<Checkpoint> = sqlx::query_as(&format!(
        "SELECT c.projection AS name, c.position, c.updated_at, \
                (SELECT count(*) FROM {s}.events AS e \
                 WHERE e.global_position > c.position) AS lag, \
                {dead} AS dead_letters, {LEASE_HELD} AS active \
         FROM {s}.checkpoints AS c ORDER BY c.projection"
    ))
    .bind(store.schema())
    .fetch_all(store.pool())
    .await?;
    if json {
        out::json_pretty(&rows);
        return Ok(());
    }
    if rows.is_empty() {
        out::line(format!(
            "no projection checkpoints in schema `{}`",
            store.schema()
        ));
        return Ok(());
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.position.to_string(),
                out::count(c.lag),
                out::count(c.dead_letters),
                if c.active { "running" } else { "stopped" }.to_owned(),
                c.updated_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            ]
        })
        .collect();
    out::table(
        &[
            "projection",
            "position",
            "lag (events)",
            "dead letters",
            "runner",
            "updated at",
        ],
        &[1, 2, 3],
        &table,
    );
    Ok(())
}

pub(crate) async fn reset(store: &PgEventStore, name: &str) -> Result<(), CliError> {
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
        return Err(CliError::other(format!(
            "projection `{name}` has a running runner (it holds the projection's lease); \
             stop it first, or use the runner's rebuild"
        )));
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
        let known: Vec<String> = known.into_iter().map(|(n,)| n).collect();
        let hint = if known.is_empty() {
            "there are no checkpoints".to_owned()
        } else {
            format!("known: {}", known.join(", "))
        };
        return Err(CliError::not_found(format!(
            "no projection `{name}` in schema `{}` ({hint})",
            store.schema()
        )));
    };
    // As the runner's own rebuild does: the replay records again what still fails.
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
    out::line(format!(
        "reset projection `{name}`: checkpoint at position {position} deleted{}",
        if cleared > 0 {
            format!(", {cleared} dead letter(s) cleared")
        } else {
            String::new()
        }
    ));
    out::line(
        "its runner replays every event from the start when it next starts; \
         es does not clear the read model's tables (its handlers must tolerate the replay, \
         or clear them first)",
    );
    Ok(())
}
