//! Snapshots: the latest one per stream.

use crate::append::bind_json;
use chrono::SecondsFormat;
use es_core::{Snapshot, SnapshotStore, StoreError, validate_stream_id};
use sqlx::Row;

use crate::row::{parse_time, to_i64, to_u64};
use crate::store::SqliteEventStore;

impl SnapshotStore for SqliteEventStore {
    #[tracing::instrument(
        name = "es_sqlite.save_snapshot",
        level = "debug",
        skip_all,
        fields(stream_id = %snapshot.stream_id, version = snapshot.version)
    )]
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        validate_stream_id(&snapshot.stream_id)?;
        let query = sqlx::query(
            "INSERT INTO snapshots (stream_id, version, snapshot_version, payload, taken_at) \
             VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, \
             snapshot_version = excluded.snapshot_version, payload = excluded.payload, \
             taken_at = excluded.taken_at",
        )
        .bind(snapshot.stream_id.as_str())
        .bind(to_i64(snapshot.version))
        .bind(i64::from(snapshot.snapshot_version));
        bind_json(query, snapshot.payload)
            // Nanoseconds: a snapshot reads back exactly as saved.
            .bind(
                snapshot
                    .taken_at
                    .to_rfc3339_opts(SecondsFormat::Nanos, true),
            )
            .execute(&self.inner.pool)
            .await
            .map_err(|e| {
                StoreError::backend(
                    format!("saving the snapshot of stream `{}`", snapshot.stream_id),
                    e,
                )
            })?;
        Ok(())
    }

    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        validate_stream_id(stream_id)?;
        let row = sqlx::query(
            "SELECT version, snapshot_version, payload, taken_at FROM snapshots WHERE stream_id = ?",
        )
        .bind(stream_id)
        .fetch_optional(&self.inner.pool)
        .await
        .map_err(|e| {
            StoreError::backend(format!("loading the snapshot of stream `{stream_id}`"), e)
        })?;
        let Some(row) = row else {
            return Ok(None);
        };
        let corrupt = |message: String| StoreError::Corrupt {
            stream_id: stream_id.to_owned(),
            message,
        };
        let column = |e: sqlx::Error| corrupt(format!("snapshot row: {e}"));
        let version: i64 = row.try_get("version").map_err(column)?;
        let snapshot_version: i64 = row.try_get("snapshot_version").map_err(column)?;
        let payload: Vec<u8> = row.try_get("payload").map_err(column)?;
        let taken_at: String = row.try_get("taken_at").map_err(column)?;
        Ok(Some(Snapshot {
            stream_id: stream_id.to_owned(),
            version: to_u64(version, stream_id, "snapshot version")?,
            snapshot_version: u32::try_from(snapshot_version)
                .map_err(|_| corrupt(format!("snapshot_version {snapshot_version}")))?,
            payload,
            taken_at: parse_time(&taken_at)
                .map_err(|e| corrupt(format!("taken_at {taken_at:?}: {e}")))?,
        }))
    }
}
