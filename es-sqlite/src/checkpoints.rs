//! Projection checkpoints: where each projection has read to, saved in the
//! same file (and, through the `_with` forms, in a read model's own
//! transaction).

use crate::row::{format_time, to_i64};
use chrono::{SubsecRound, Utc};
use es_core::StoreError;
use sqlx::SqliteExecutor;

use crate::store::SqliteEventStore;

impl SqliteEventStore {
    /// The position a projection's checkpoint records, if it saved one.
    pub async fn load_checkpoint(&self, projection: &str) -> Result<Option<u64>, StoreError> {
        load_checkpoint_with(&self.inner.pool, projection).await
    }

    /// Records how far a projection has read (replacing its previous
    /// checkpoint). To save it in the same transaction as a read model, use
    /// [`save_checkpoint_with`] on the transaction.
    pub async fn save_checkpoint(&self, projection: &str, position: u64) -> Result<(), StoreError> {
        save_checkpoint_with(&self.inner.pool, projection, position).await
    }
}

/// Reads a projection's checkpoint through any executor (the pool, a
/// connection, a transaction).
pub async fn load_checkpoint_with<'e>(
    executor: impl SqliteExecutor<'e>,
    projection: &str,
) -> Result<Option<u64>, StoreError> {
    let position: Option<i64> =
        sqlx::query_scalar("SELECT position FROM checkpoints WHERE projection = ?")
            .bind(projection)
            .fetch_optional(executor)
            .await
            .map_err(|e| {
                StoreError::backend(
                    format!("loading the checkpoint of projection `{projection}`"),
                    e,
                )
            })?;
    position
        .map(|p| {
            u64::try_from(p).map_err(|_| StoreError::Corrupt {
                stream_id: format!("checkpoint `{projection}`"),
                message: format!("negative position {p}"),
            })
        })
        .transpose()
}

/// Saves a projection's checkpoint through any executor: pass the
/// transaction that writes the read model, so both commit together.
pub async fn save_checkpoint_with<'e>(
    executor: impl SqliteExecutor<'e>,
    projection: &str,
    position: u64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO checkpoints (projection, position, updated_at) VALUES (?, ?, ?) \
         ON CONFLICT (projection) DO UPDATE \
         SET position = excluded.position, updated_at = excluded.updated_at",
    )
    .bind(projection)
    .bind(to_i64(position))
    .bind(format_time(Utc::now().trunc_subsecs(6)))
    .execute(executor)
    .await
    .map_err(|e| {
        StoreError::backend(
            format!("saving the checkpoint of projection `{projection}`"),
            e,
        )
    })?;
    Ok(())
}
