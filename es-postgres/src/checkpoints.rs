//! Where consumers are, with the SQL: projection and listener checkpoints
//! (load, save, and the runner's create, lock and move inside its batch
//! transaction), a projection's status (checkpoint, head, lag), and the
//! dead letters a runner records.

use es_core::consumer::Partition;
use es_core::{RecordedEvent, StoreError};
use sqlx::Row;
use sqlx::postgres::{PgConnection, PgPool};

use crate::read::partition_of;
use crate::row::{to_i64, to_u64};
use crate::schema::quote_ident;

pub use es_core::consumer::{ConsumerStatus as ProjectionStatus, DeadLetter};

/// The checkpoint, status and dead-letter statements, with the schema name
/// filled in once.
#[derive(Clone)]
pub(crate) struct Checkpoints {
    load: String,
    save: String,
    /// Creates a projection's checkpoint row at 0 if it has none.
    init: String,
    /// Locks a projection's checkpoint row for the batch transaction.
    lock: String,
    /// Moves a locked checkpoint row.
    update: String,
    /// Position, head and lag of a projection ($1 name, $2 types).
    status: String,
    /// `status` of one partition ($3 its index, $4 the count).
    partition_status: String,
    record_dead_letter: String,
    record_unreadable: String,
    clear_dead_letters: String,
    dead_letters: String,
}

/// The status statement, with `extra` added to its events' filter.
///
/// Head and lag count every committed event the statement sees, not only
/// those below the settled bound that reads stop at: an event committed
/// while an older transaction is still open is not yet readable, but it is
/// not handled either, so it counts as lag. A consumer is caught up
/// (`lag == 0`) only once it has handled every event committed before the
/// status was read.
fn status_sql(s: &str, extra: &str) -> String {
    format!(
        r#"
WITH c AS MATERIALIZED (
    SELECT COALESCE((SELECT position FROM {s}.checkpoints WHERE projection = $1), 0) AS position
)
SELECT c.position,
       (SELECT COALESCE(max(global_position), 0) FROM {s}.events
        WHERE ($2::text[] IS NULL OR event_type = ANY($2::text[])) {extra}) AS head,
       (SELECT count(*) FROM {s}.events
        WHERE ($2::text[] IS NULL OR event_type = ANY($2::text[])) {extra}
          AND global_position > c.position) AS lag
FROM c"#
    )
}

impl Checkpoints {
    pub(crate) fn new(schema: &str) -> Self {
        let s = quote_ident(schema);
        Self {
            load: format!("SELECT position FROM {s}.checkpoints WHERE projection = $1"),
            save: format!(
                "INSERT INTO {s}.checkpoints (projection, position, updated_at) VALUES ($1, $2, now()) \
                 ON CONFLICT (projection) DO UPDATE SET position = EXCLUDED.position, \
                   updated_at = EXCLUDED.updated_at"
            ),
            init: format!(
                "INSERT INTO {s}.checkpoints (projection, position) VALUES ($1, 0) \
                 ON CONFLICT (projection) DO NOTHING"
            ),
            lock: format!("SELECT position FROM {s}.checkpoints WHERE projection = $1 FOR UPDATE"),
            update: format!(
                "UPDATE {s}.checkpoints SET position = $2, updated_at = now() WHERE projection = $1"
            ),
            status: status_sql(&s, ""),
            partition_status: status_sql(&s, &format!("AND {} = $3::bigint", partition_of("$4"))),
            record_dead_letter: format!(
                "INSERT INTO {s}.dead_letters (projection, global_position, event_id, stream_id, \
                   stream_version, event_type, schema_version, error) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (projection, global_position) DO UPDATE SET error = EXCLUDED.error, \
                   failed_at = now()"
            ),
            // An event that cannot be read back: its identity copied from
            // its row, which the store cannot decode.
            record_unreadable: format!(
                "INSERT INTO {s}.dead_letters (projection, global_position, event_id, stream_id, \
                   stream_version, event_type, schema_version, error) \
                 SELECT $1, global_position, event_id, stream_id, stream_version, event_type, \
                   schema_version, $3 FROM {s}.events WHERE global_position = $2 \
                 ON CONFLICT (projection, global_position) DO UPDATE SET error = EXCLUDED.error, \
                   failed_at = now()"
            ),
            clear_dead_letters: format!("DELETE FROM {s}.dead_letters WHERE projection = $1"),
            dead_letters: format!(
                "SELECT projection, global_position, event_id, stream_id, stream_version, \
                   event_type, schema_version, error, failed_at \
                 FROM {s}.dead_letters WHERE projection = $1 ORDER BY global_position"
            ),
        }
    }

    /// The stored position of `projection` (`None`: it has none); a
    /// negative one is [`StoreError::Corrupt`].
    pub(crate) async fn load(
        &self,
        pool: &PgPool,
        projection: &str,
    ) -> Result<Option<u64>, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as(&self.load)
            .bind(projection)
            .fetch_optional(pool)
            .await
            .map_err(|e| {
                StoreError::backend(format!("loading the checkpoint of `{projection}`"), e)
            })?;
        row.map(|(p,)| {
            u64::try_from(p).map_err(|_| StoreError::Corrupt {
                stream_id: format!("checkpoint `{projection}`"),
                message: format!("negative position {p}"),
            })
        })
        .transpose()
    }

    /// Stores `projection`'s position through `executor` (a pool, or a
    /// transaction that also writes the read model).
    pub(crate) async fn save<'c, E>(
        &self,
        executor: E,
        projection: &str,
        position: u64,
    ) -> Result<(), StoreError>
    where
        E: sqlx::Executor<'c, Database = sqlx::Postgres>,
    {
        sqlx::query(&self.save)
            .bind(projection)
            .bind(to_i64(position))
            .execute(executor)
            .await
            .map_err(|e| {
                StoreError::backend(format!("saving the checkpoint of `{projection}`"), e)
            })?;
        Ok(())
    }

    /// Creates `projection`'s checkpoint row at 0 unless it has one.
    pub(crate) async fn init(
        &self,
        conn: &mut PgConnection,
        projection: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(&self.init)
            .bind(projection)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Locks `projection`'s checkpoint row in the transaction on `conn`;
    /// the stored position (`None`: the row is gone).
    pub(crate) async fn lock(
        &self,
        conn: &mut PgConnection,
        projection: &str,
    ) -> Result<Option<u64>, sqlx::Error> {
        let row: Option<(i64,)> = sqlx::query_as(&self.lock)
            .bind(projection)
            .fetch_optional(conn)
            .await?;
        Ok(row.map(|(p,)| to_u64(p)))
    }

    /// Moves `projection`'s (locked) checkpoint row to `position`.
    pub(crate) async fn update(
        &self,
        conn: &mut PgConnection,
        projection: &str,
        position: u64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(&self.update)
            .bind(projection)
            .bind(to_i64(position))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Records `event` as a dead letter of `projection`, failed with `error`.
    pub(crate) async fn record_dead_letter(
        &self,
        conn: &mut PgConnection,
        projection: &str,
        event: &RecordedEvent,
        error: String,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(&self.record_dead_letter)
            .bind(projection)
            .bind(to_i64(event.global_position))
            .bind(event.event_id)
            .bind(&event.stream_id)
            .bind(to_i64(event.stream_version))
            .bind(&event.event_type)
            .bind(i32::try_from(event.schema_version).unwrap_or(i32::MAX))
            .bind(error)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Records the event at `position`, which cannot be read back, as a
    /// dead letter of `projection`: its identity copied from its row.
    pub(crate) async fn record_unreadable(
        &self,
        conn: &mut PgConnection,
        projection: &str,
        position: u64,
        error: String,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(&self.record_unreadable)
            .bind(projection)
            .bind(to_i64(position))
            .bind(error)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Deletes every dead letter of `projection`.
    pub(crate) async fn clear_dead_letters(
        &self,
        conn: &mut PgConnection,
        projection: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(&self.clear_dead_letters)
            .bind(projection)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// A consumer's checkpoint, head and lag, for a name and its event
    /// types (`None`: every type).
    pub(crate) async fn status(
        &self,
        pool: &PgPool,
        projection: &str,
        types: Option<&[&str]>,
    ) -> Result<ProjectionStatus, StoreError> {
        self.status_of(pool, projection, types, None).await
    }

    /// [`status`](Self::status) of `projection`'s `partition` (its
    /// checkpoint under the partition's key; head and lag over its events).
    pub(crate) async fn status_of(
        &self,
        pool: &PgPool,
        projection: &str,
        types: Option<&[&str]>,
        partition: Option<Partition>,
    ) -> Result<ProjectionStatus, StoreError> {
        let key = partition.map_or_else(|| projection.to_owned(), |p| p.key(projection));
        let projection = key.as_str();
        let mut query = match partition {
            None => sqlx::query(&self.status),
            Some(_) => sqlx::query(&self.partition_status),
        }
        .bind(projection)
        .bind(types);
        if let Some(p) = partition {
            query = query.bind(i64::from(p.index())).bind(i64::from(p.count()));
        }
        let row = query
            .fetch_one(pool)
            .await
            .map_err(|e| StoreError::backend(format!("reading the status of `{projection}`"), e))?;
        let get = |name: &str| -> Result<i64, StoreError> {
            row.try_get(name).map_err(|e| {
                StoreError::backend(format!("reading the status of `{projection}`"), e)
            })
        };
        Ok(ProjectionStatus {
            position: to_u64(get("position")?),
            head: to_u64(get("head")?),
            lag: to_u64(get("lag")?),
        })
    }

    /// The dead letters of `projection`, in global order.
    pub(crate) async fn dead_letters(
        &self,
        pool: &PgPool,
        projection: &str,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let ctx = || format!("reading the dead letters of `{projection}`");
        let rows = sqlx::query(&self.dead_letters)
            .bind(projection)
            .fetch_all(pool)
            .await
            .map_err(|e| StoreError::backend(ctx(), e))?;
        rows.iter()
            .map(|r| {
                let sv: i32 = r.try_get("schema_version")?;
                Ok(DeadLetter {
                    projection: r.try_get("projection")?,
                    global_position: to_u64(r.try_get("global_position")?),
                    event_id: r.try_get("event_id")?,
                    stream_id: r.try_get("stream_id")?,
                    stream_version: to_u64(r.try_get("stream_version")?),
                    event_type: r.try_get("event_type")?,
                    schema_version: u32::try_from(sv).unwrap_or(0),
                    error: r.try_get("error")?,
                    failed_at: r.try_get("failed_at")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(|e| StoreError::backend(ctx(), e))
    }
}
