//! The store's schema: its embedded migrations and how they run.

use es_core::StoreError;
use sqlx::migrate::Migrator;

use crate::store::SqliteEventStore;

/// The store's schema migrations, embedded at build time from `migrations/`.
///
/// [`SqliteEventStore::migrate`] runs them; use this directly only to run them
/// on a pool of your own.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

impl SqliteEventStore {
    /// Creates or updates the schema. Idempotent, and safe when several
    /// processes open a new file at once (it runs under the write lock).
    ///
    /// Then runs the [`setup`](crate::SqliteProjection::setup) hook of every
    /// inline projection (see [`SqliteEventStore::with_inline`]), each in a
    /// `BEGIN IMMEDIATE` transaction of its own.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let context = || format!("migrating SQLite database {}", self.inner.label);
        let mut tx = self
            .inner
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| StoreError::backend(context(), e))?;
        MIGRATOR
            .run(&mut *tx)
            .await
            .map_err(|e| StoreError::backend(context(), e))?;
        tx.commit()
            .await
            .map_err(|e| StoreError::backend(context(), e))?;
        self.setup_inline().await
    }

    /// Runs each inline projection's setup hook in a transaction of its own.
    async fn setup_inline(&self) -> Result<(), StoreError> {
        for projection in self.inline.iter() {
            let ctx = || format!("setting up inline projection `{}`", projection.name());
            let mut tx = self
                .inner
                .pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(|e| StoreError::backend(ctx(), e))?;
            projection
                .setup(&mut tx)
                .await
                .map_err(|e| StoreError::backend(ctx(), e))?;
            tx.commit()
                .await
                .map_err(|e| StoreError::backend(ctx(), e))?;
        }
        Ok(())
    }
}
