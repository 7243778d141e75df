//! Projection checkpoints: where each projection has read to, saved in the
//! same file (and, through the `_with` forms, in a read model's own
//! transaction).

use crate::row::{format_time, to_i64};
use chrono::{SubsecRound, Utc};
use es_core::StoreError;
use sqlx::SqliteExecutor;

use crate::store::SqliteEventStore;
use es_core::consumer::ConsumerStatus as ProjectionStatus;
use sqlx::Row;

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

impl SqliteEventStore {
    /// A projection's checkpoint, head and lag (see [`ProjectionStatus`]),
    /// for a name and its event types (a projection's `NAME` and
    /// `EVENT_TYPES`), read in one statement.
    pub async fn projection_status(
        &self,
        projection: &str,
        types: &[&str],
    ) -> Result<ProjectionStatus, StoreError> {
        self.consumer_status_of(projection, Some(types)).await
    }

    /// [`projection_status`](Self::projection_status) over every type
    /// (`None`) or some.
    pub(crate) async fn consumer_status_of(
        &self,
        projection: &str,
        types: Option<&[&str]>,
    ) -> Result<ProjectionStatus, StoreError> {
        // ?1 is the name, ?2… the types (bound once, used twice).
        let filter = match types {
            None => "1 = 1".to_owned(),
            Some([]) => "event_type IN (NULL)".to_owned(),
            Some(types) => format!(
                "event_type IN ({})",
                (2..types.len() + 2)
                    .map(|i| format!("?{i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let sql = format!(
            "SELECT c.position AS position, \
             COALESCE((SELECT MAX(global_position) FROM events \
                       WHERE {filter}), 0) AS head, \
             (SELECT COUNT(*) FROM events \
              WHERE global_position > c.position AND {filter}) AS lag \
             FROM (SELECT COALESCE((SELECT position FROM checkpoints WHERE projection = ?1), 0) \
                   AS position) AS c"
        );
        let mut query = sqlx::query(&sql).bind(projection);
        for t in types.unwrap_or_default() {
            query = query.bind(*t);
        }
        let ctx = || format!("reading the status of projection `{projection}`");
        let row = query
            .fetch_one(self.pool())
            .await
            .map_err(|e| StoreError::backend(ctx(), e))?;
        let get = |name: &str| -> Result<u64, StoreError> {
            let v: i64 = row
                .try_get(name)
                .map_err(|e| StoreError::backend(ctx(), e))?;
            Ok(u64::try_from(v).unwrap_or(0))
        };
        Ok(ProjectionStatus {
            position: get("position")?,
            head: get("head")?,
            lag: get("lag")?,
        })
    }
}
