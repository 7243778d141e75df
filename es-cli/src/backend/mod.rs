//! The SQL `es` runs of its own, one module per store; the commands call
//! these functions and do all formatting and reporting themselves, once for
//! both stores.
//!
//! Each function answers the same question on either store, in the same
//! types (the commands' row types).

use crate::db::Store;
use crate::error::CliError;
use rows::{Checkpoint, LargePayload, ResetOutcome, StatsData, VersionGap};

pub(crate) mod pg;
pub(crate) mod rows;
pub(crate) mod sqlite;

/// The versions of the successfully applied migrations, in order; empty
/// when the store has no migration history.
pub(crate) async fn applied_migrations(store: &Store) -> Result<Vec<i64>, CliError> {
    match store {
        Store::Postgres(s) => pg::applied_migrations(s).await,
        Store::Sqlite(s) => sqlite::applied_migrations(s).await,
    }
}

/// Whether the place to migrate existed before: the schema, or the file.
pub(crate) async fn place_existed(store: &Store) -> Result<bool, CliError> {
    match store {
        Store::Postgres(s) => pg::schema_exists(s).await,
        Store::Sqlite(s) => Ok(s.existed),
    }
}

/// Runs the store's own migrations.
pub(crate) async fn migrate(store: &Store) -> Result<(), CliError> {
    match store {
        Store::Postgres(s) => s.migrate().await?,
        Store::Sqlite(s) => s.store.migrate().await?,
    }
    Ok(())
}

/// The counts of `es stats`.
pub(crate) async fn stats(store: &Store, longest: i64) -> Result<StatsData, CliError> {
    match store {
        Store::Postgres(s) => pg::stats(s, longest).await,
        Store::Sqlite(s) => sqlite::stats(s, longest).await,
    }
}

/// Each event type and its number of events, by name.
pub(crate) async fn event_type_counts(store: &Store) -> Result<Vec<(String, i64)>, CliError> {
    match store {
        Store::Postgres(s) => pg::event_type_counts(s).await,
        Store::Sqlite(s) => sqlite::event_type_counts(s).await,
    }
}

/// How many payloads are over `limit` bytes, and the largest `list` of them.
pub(crate) async fn large_payloads(
    store: &Store,
    limit: i64,
    list: i64,
) -> Result<(i64, Vec<LargePayload>), CliError> {
    match store {
        Store::Postgres(s) => pg::large_payloads(s, limit, list).await,
        Store::Sqlite(s) => sqlite::large_payloads(s, limit, list).await,
    }
}

/// The first `list` version gaps, by stream.
pub(crate) async fn version_gaps(store: &Store, list: i64) -> Result<Vec<VersionGap>, CliError> {
    match store {
        Store::Postgres(s) => pg::version_gaps(s, list).await,
        Store::Sqlite(s) => sqlite::version_gaps(s, list).await,
    }
}

/// `(event type, schema version, events)` of the event types stored at
/// several schema versions.
pub(crate) async fn mixed_schema_versions(
    store: &Store,
) -> Result<Vec<(String, i32, i64)>, CliError> {
    match store {
        Store::Postgres(s) => pg::mixed_schema_versions(s).await,
        Store::Sqlite(s) => sqlite::mixed_schema_versions(s).await,
    }
}

/// Whether the server's statistics of the log are missing or stale
/// (PostgreSQL; `None` on SQLite, whose reads do not depend on them).
pub(crate) async fn statistics_stale(store: &Store) -> Result<Option<bool>, CliError> {
    match store {
        Store::Postgres(s) => Ok(Some(s.statistics_stale().await?)),
        Store::Sqlite(_) => Ok(None),
    }
}

/// Every projection checkpoint, by name.
pub(crate) async fn checkpoints(store: &Store) -> Result<Vec<Checkpoint>, CliError> {
    match store {
        Store::Postgres(s) => pg::checkpoints(s).await,
        Store::Sqlite(s) => sqlite::checkpoints(s).await,
    }
}

/// Deletes a projection's checkpoint and dead letters in one transaction,
/// unless a runner holds its lease.
pub(crate) async fn reset(store: &Store, name: &str) -> Result<ResetOutcome, CliError> {
    match store {
        Store::Postgres(s) => pg::reset(s, name).await,
        Store::Sqlite(s) => sqlite::reset(s, name).await,
    }
}

/// Fails with "run `es migrate`" when the store has no event store tables,
/// and warns when it lacks migrations this build knows.
pub(crate) async fn require_migrated(store: &Store) -> Result<(), CliError> {
    let (events, history) = match store {
        Store::Postgres(s) => pg::has_tables(s).await?,
        Store::Sqlite(s) => sqlite::has_tables(s).await?,
    };
    let place = store.place();
    if !events {
        let hint = match store {
            Store::Postgres(_) => " (or pass --schema NAME for another schema)".to_owned(),
            Store::Sqlite(s) => format!(
                " (`es --database-url {} migrate`), or pass the file your application writes",
                s.target.url()
            ),
        };
        return Err(CliError::config(format!(
            "{place} has no event store (it was never migrated); run `es migrate`{hint}"
        )));
    }
    if history {
        let applied = applied_migrations(store).await?;
        let missing = store
            .migrator()
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .filter(|m| !applied.contains(&m.version))
            .count();
        if missing > 0 {
            crate::out::warn(format!(
                "{place} lacks {missing} migration(s) this version of es knows; run `es migrate`"
            ));
        }
    }
    Ok(())
}
