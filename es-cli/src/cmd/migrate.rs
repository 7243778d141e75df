//! `es migrate`: create the schema or apply the migrations it lacks.

use es_postgres::PgEventStore;

use crate::db::quote_ident;
use crate::error::CliError;
use crate::out;

/// The versions of the successfully applied migrations, empty when the
/// schema or its history table does not exist.
async fn applied(store: &PgEventStore) -> Result<Vec<i64>, CliError> {
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

pub(crate) async fn run(store: &PgEventStore) -> Result<(), CliError> {
    let schema = store.schema();
    let (schema_existed,): (bool,) =
        sqlx::query_as("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(schema)
            .fetch_one(store.pool())
            .await?;
    let before = applied(store).await?;
    store
        .migrate()
        .await
        .map_err(|e| CliError::from(e).context("migration failed"))?;
    let after = applied(store).await?;
    if !schema_existed {
        out::line(format!("created schema `{schema}`"));
    }
    let mut new = 0;
    for m in es_postgres::MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
    {
        if after.contains(&m.version) && !before.contains(&m.version) {
            out::line(format!("applied {} {}", m.version, m.description));
            new += 1;
        }
    }
    if new == 0 {
        out::line(format!(
            "schema `{schema}` is up to date ({} migration{} applied)",
            after.len(),
            if after.len() == 1 { "" } else { "s" }
        ));
    } else {
        out::line(format!(
            "schema `{schema}` migrated: {new} migration{} applied, {} in all",
            if new == 1 { "" } else { "s" },
            after.len()
        ));
    }
    Ok(())
}
