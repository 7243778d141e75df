//! `es migrate`: create the schema (PostgreSQL) or the file (SQLite), or
//! apply the migrations it lacks.

use crate::backend;
use crate::db::Store;
use crate::error::CliError;
use crate::out;

pub(crate) async fn run(store: &Store) -> Result<(), CliError> {
    let place = store.place();
    let existed = backend::place_existed(store).await?;
    let before = backend::applied_migrations(store).await?;
    backend::migrate(store)
        .await
        .map_err(|e| e.context("migration failed"))?;
    let after = backend::applied_migrations(store).await?;
    if !existed {
        out::line(format!("created {place}"));
    }
    let mut new = 0;
    for m in store
        .migrator()
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
            "{place} is up to date ({} migration{} applied)",
            after.len(),
            if after.len() == 1 { "" } else { "s" }
        ));
    } else {
        out::line(format!(
            "{place} migrated: {new} migration{} applied, {} in all",
            if new == 1 { "" } else { "s" },
            after.len()
        ));
    }
    Ok(())
}
