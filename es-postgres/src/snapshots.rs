//! Snapshots, with their SQL: one row per stream in `snapshots`, replaced
//! by each save.

use es_core::{Snapshot, StoreError};
use sqlx::postgres::PgPool;

use crate::error::InvalidPayload;
use crate::row::{to_i64, to_u64};
use crate::schema::quote_ident;

/// The snapshot statements, with the schema name filled in once.
#[derive(Clone)]
pub(crate) struct Snapshots {
    save: String,
    load: String,
}

impl Snapshots {
    pub(crate) fn new(schema: &str) -> Self {
        let s = quote_ident(schema);
        Self {
            save: format!(
                "INSERT INTO {s}.snapshots (stream_id, version, snapshot_version, payload, taken_at) \
                 VALUES ($1, $2, $3, $4::jsonb, $5) \
                 ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version, \
                   snapshot_version = EXCLUDED.snapshot_version, payload = EXCLUDED.payload, \
                   taken_at = EXCLUDED.taken_at"
            ),
            load: format!(
                "SELECT stream_id, version, snapshot_version, payload::text AS payload, taken_at \
                 FROM {s}.snapshots WHERE stream_id = $1"
            ),
        }
    }

    pub(crate) async fn save(&self, pool: &PgPool, snapshot: Snapshot) -> Result<(), StoreError> {
        let Snapshot {
            stream_id,
            version,
            snapshot_version,
            payload,
            taken_at,
        } = snapshot;
        let ctx = || format!("saving a snapshot of stream `{stream_id}`");
        let payload = String::from_utf8(payload).map_err(|e| {
            StoreError::backend(
                ctx(),
                InvalidPayload {
                    event_type: "snapshot".to_owned(),
                    reason: format!("payload is not UTF-8: {e}"),
                },
            )
        })?;
        sqlx::query(&self.save)
            .bind(&stream_id)
            .bind(to_i64(version))
            // The `integer` column holds the key's 32 bits; a key above
            // i32::MAX (most keys with a state fingerprint) reads as negative
            // in SQL and comes back unchanged.
            .bind(snapshot_version.cast_signed())
            .bind(payload)
            .bind(taken_at)
            .execute(pool)
            .await
            .map_err(|e| StoreError::backend(ctx(), e))?;
        Ok(())
    }

    pub(crate) async fn load(
        &self,
        pool: &PgPool,
        stream_id: &str,
    ) -> Result<Option<Snapshot>, StoreError> {
        let row: Option<(String, i64, i32, String, es_core::Timestamp)> =
            sqlx::query_as(&self.load)
                .bind(stream_id)
                .fetch_optional(pool)
                .await
                .map_err(|e| {
                    StoreError::backend(format!("loading the snapshot of stream `{stream_id}`"), e)
                })?;
        Ok(
            row.map(|(stream_id, version, sv, payload, taken_at)| Snapshot {
                stream_id,
                version: to_u64(version),
                snapshot_version: sv.cast_unsigned(),
                payload: payload.into_bytes(),
                taken_at,
            }),
        )
    }
}
