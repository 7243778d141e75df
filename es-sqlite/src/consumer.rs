//! SQLite under the consumer engine: [`SqliteEventStore`] as an
//! [`es_core::consumer::Backend`], [`SqliteLease`], dead letters and
//! listeners.
//!
//! A batch transaction is `BEGIN IMMEDIATE` on a pooled connection: it
//! takes the file's write lock at once, so from the checkpoint check to
//! `COMMIT` no other transaction writes (no append, no batch of another
//! engine of the name, in this process or any other). That lock is what
//! the engine's checkpoint lock asks for. Dead letters are rows of
//! `dead_letters`; the lease is a row of `leases` that expires unless its
//! owner renews it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{SubsecRound, Utc};
use es_core::consumer::{Backend, ConsumerStatus, DeadLetter, Failed, Savepoint};
use es_core::projection::HandlerError;
use es_core::{RecordedEvent, StoreError};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, Row, SqliteConnection};

use crate::checkpoints::{load_checkpoint_with, save_checkpoint_with};
use crate::projection::SqliteTx;
use crate::row::{format_time, parse_time, to_i64};
use crate::store::{POLL_INTERVAL, SqliteEventStore};

/// How long a lease holds without renewal: the bound on a takeover after
/// the active engine's process dies (plus the standby's retry interval).
pub const LEASE_TTL: Duration = Duration::from_secs(5);

fn backend(context: impl Into<String>, e: sqlx::Error) -> StoreError {
    StoreError::backend(context.into(), e)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The lease of a consumer name on an SQLite file: a row of `leases`
/// owned by this engine (a random id) until it expires, [`LEASE_TTL`] after
/// its last renewal. The engine renews it in each batch's transaction and
/// every lease retry interval while idle; a process that dies stops
/// renewing, and a standby takes the lease once it has expired.
///
/// A lease dropped without being released (a runner dropped as its process
/// ends) deletes its row on the way out, on a connection of its own, so the
/// next process need not wait for it to expire.
#[derive(Debug)]
pub struct SqliteLease {
    name: String,
    owner: String,
    /// How to reach the file when dropped unreleased (`None`: not held, or
    /// released).
    held: Option<SqliteConnectOptions>,
}

impl Drop for SqliteLease {
    fn drop(&mut self) {
        let Some(options) = self.held.take() else {
            return;
        };
        let (name, owner) = (
            std::mem::take(&mut self.name),
            std::mem::take(&mut self.owner),
        );
        // Drop cannot await, and may run inside a runtime that is shutting
        // down: a thread of its own with a runtime of its own.
        let released = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut conn = SqliteConnection::connect_with(&options).await?;
                sqlx::query("DELETE FROM leases WHERE name = ? AND owner = ?")
                    .bind(&name)
                    .bind(&owner)
                    .execute(&mut conn)
                    .await?;
                conn.close().await?;
                Ok::<_, es_core::BoxError>(())
            })
        });
        if let Ok(Err(e)) = released.join() {
            // It expires on its own.
            tracing::debug!(error = %e, "cannot release a dropped lease");
        }
    }
}

impl SqliteEventStore {
    /// The events a runner with
    /// [`ErrorPolicy::DeadLetter`](es_core::consumer::ErrorPolicy::DeadLetter)
    /// skipped for `projection`, in global order.
    pub async fn dead_letters(&self, projection: &str) -> Result<Vec<DeadLetter>, StoreError> {
        let ctx = || format!("reading the dead letters of `{projection}`");
        let rows = sqlx::query(
            "SELECT projection, global_position, event_id, stream_id, stream_version, \
               event_type, schema_version, error, failed_at \
             FROM dead_letters WHERE projection = ? ORDER BY global_position",
        )
        .bind(projection)
        .fetch_all(self.pool())
        .await
        .map_err(|e| backend(ctx(), e))?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("event_id")?;
                let at: String = r.try_get("failed_at")?;
                let num = |c: &str| -> Result<u64, sqlx::Error> {
                    Ok(u64::try_from(r.try_get::<i64, _>(c)?).unwrap_or(0))
                };
                Ok(DeadLetter {
                    projection: r.try_get("projection")?,
                    global_position: num("global_position")?,
                    event_id: uuid::Uuid::parse_str(&id).unwrap_or_default(),
                    stream_id: r.try_get("stream_id")?,
                    stream_version: num("stream_version")?,
                    event_type: r.try_get("event_type")?,
                    schema_version: u32::try_from(num("schema_version")?).unwrap_or(0),
                    error: r.try_get("error")?,
                    failed_at: parse_time(&at).unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(|e| backend(ctx(), e))
    }
}

/// Renews `lease` through `conn`; whether it is still this engine's.
async fn renew(conn: &mut SqliteConnection, lease: &SqliteLease) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE leases SET expires_at = ? WHERE name = ? AND owner = ?")
        .bind(now_ms() + LEASE_TTL.as_millis() as i64)
        .bind(&lease.name)
        .bind(&lease.owner)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

impl Backend for SqliteEventStore {
    type Tx = SqliteTx;
    type Lease = SqliteLease;

    async fn begin(&self) -> Result<SqliteTx, StoreError> {
        self.pool()
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| backend("beginning a batch", e))
    }

    async fn commit(&self, tx: SqliteTx) -> Result<(), StoreError> {
        tx.commit()
            .await
            .map_err(|e| backend("committing a batch", e))
    }

    async fn init_checkpoint(&self, tx: &mut SqliteTx, name: &str) -> Result<u64, StoreError> {
        match load_checkpoint_with(&mut **tx, name).await? {
            Some(p) => Ok(p),
            None => {
                save_checkpoint_with(&mut **tx, name, 0).await?;
                Ok(0)
            }
        }
    }

    async fn lock_checkpoint(
        &self,
        tx: &mut SqliteTx,
        name: &str,
    ) -> Result<Option<u64>, StoreError> {
        // The transaction holds the write lock: reading is locking.
        load_checkpoint_with(&mut **tx, name).await
    }

    async fn save_checkpoint(
        &self,
        tx: &mut SqliteTx,
        name: &str,
        position: u64,
    ) -> Result<(), StoreError> {
        save_checkpoint_with(&mut **tx, name, position).await
    }

    async fn savepoint(&self, tx: &mut SqliteTx, step: Savepoint) -> Result<(), StoreError> {
        let statements: &[&str] = match step {
            Savepoint::Begin => &["SAVEPOINT es_event"],
            Savepoint::Release => &["RELEASE SAVEPOINT es_event"],
            Savepoint::Undo => &[
                "ROLLBACK TO SAVEPOINT es_event",
                "RELEASE SAVEPOINT es_event",
            ],
        };
        for s in statements {
            sqlx::query(s)
                .execute(&mut **tx)
                .await
                .map_err(|e| backend("handling a savepoint", e))?;
        }
        Ok(())
    }

    async fn record_dead_letter(
        &self,
        tx: &mut SqliteTx,
        name: &str,
        failed: Failed<'_>,
        error: &str,
    ) -> Result<(), StoreError> {
        let at = format_time(Utc::now().trunc_subsecs(6));
        let r =
            match failed {
                Failed::Event(e) => sqlx::query(
                    "INSERT INTO dead_letters (projection, global_position, event_id, stream_id, \
                       stream_version, event_type, schema_version, error, failed_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
                     ON CONFLICT (projection, global_position) DO UPDATE \
                     SET error = excluded.error, failed_at = excluded.failed_at",
                )
                .bind(name)
                .bind(to_i64(e.global_position))
                .bind(e.event_id.hyphenated().to_string())
                .bind(&e.stream_id)
                .bind(to_i64(e.stream_version))
                .bind(&e.event_type)
                .bind(i64::from(e.schema_version))
                .bind(error)
                .bind(&at)
                .execute(&mut **tx)
                .await,
                // Its identity copied from its row, which cannot be decoded.
                Failed::Unreadable(p) => sqlx::query(
                    "INSERT INTO dead_letters (projection, global_position, event_id, stream_id, \
                       stream_version, event_type, schema_version, error, failed_at) \
                     SELECT ?, global_position, CAST(event_id AS TEXT), CAST(stream_id AS TEXT), \
                       stream_version, CAST(event_type AS TEXT), schema_version, ?, ? \
                     FROM events WHERE global_position = ? \
                     ON CONFLICT (projection, global_position) DO UPDATE \
                     SET error = excluded.error, failed_at = excluded.failed_at",
                )
                .bind(name)
                .bind(error)
                .bind(&at)
                .bind(to_i64(p))
                .execute(&mut **tx)
                .await,
                _ => return Ok(()),
            };
        r.map(|_| ())
            .map_err(|e| backend(format!("recording a dead letter of `{name}`"), e))
    }

    async fn dead_letters(&self, name: &str) -> Result<Vec<DeadLetter>, StoreError> {
        SqliteEventStore::dead_letters(self, name).await
    }

    async fn clear_dead_letters(&self, tx: &mut SqliteTx, name: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM dead_letters WHERE projection = ?")
            .bind(name)
            .execute(&mut **tx)
            .await
            .map(|_| ())
            .map_err(|e| backend(format!("clearing the dead letters of `{name}`"), e))
    }

    async fn try_lease(&self, name: &str) -> Result<Option<SqliteLease>, StoreError> {
        // Held from before the statement: a caller dropped while it runs
        // (a cancelled catch-up) drops the lease, which deletes a row it
        // may have taken, rather than leave it to expire.
        let mut lease = SqliteLease {
            name: name.to_owned(),
            owner: uuid::Uuid::now_v7().hyphenated().to_string(),
            held: Some((*self.pool().connect_options()).clone()),
        };
        let now = now_ms();
        // Taken when free or expired; one statement under the write lock.
        let done = sqlx::query(
            "INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, \
               expires_at = excluded.expires_at \
             WHERE leases.expires_at < ?",
        )
        .bind(&lease.name)
        .bind(&lease.owner)
        .bind(now + LEASE_TTL.as_millis() as i64)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(|e| {
            lease.held = None;
            backend(format!("taking the lease of `{name}`"), e)
        })?;
        if done.rows_affected() != 1 {
            // Another engine's: nothing of ours to delete.
            lease.held = None;
            return Ok(None);
        }
        Ok(Some(lease))
    }

    async fn lease_alive(&self, lease: &mut SqliteLease, tx: Option<&mut SqliteTx>) -> bool {
        let r = match tx {
            Some(tx) => renew(tx, lease).await,
            None => match self.pool().acquire().await {
                Ok(mut conn) => renew(&mut conn, lease).await,
                Err(e) => Err(e),
            },
        };
        r.unwrap_or_else(|e| {
            tracing::warn!(lease = %lease.name, error = %es_core::ErrorChain(&e), "cannot renew the lease");
            false
        })
    }

    async fn release_lease(&self, mut lease: SqliteLease) {
        lease.held = None;
        let r = sqlx::query("DELETE FROM leases WHERE name = ? AND owner = ?")
            .bind(&lease.name)
            .bind(&lease.owner)
            .execute(self.pool())
            .await;
        if let Err(e) = r {
            // It expires on its own.
            tracing::warn!(lease = %lease.name, error = %es_core::ErrorChain(&e), "cannot release the lease");
        }
    }

    async fn consumer_status(
        &self,
        name: &str,
        types: Option<&[&str]>,
    ) -> Result<ConsumerStatus, StoreError> {
        self.consumer_status_of(name, types).await
    }

    fn is_transient(err: &(dyn std::error::Error + 'static)) -> bool {
        is_transient(err)
    }

    fn poll_interval(&self) -> Duration {
        POLL_INTERVAL
    }
}

/// Whether an error (or one of its causes) is a database failure worth
/// retrying: `SQLITE_BUSY` or `SQLITE_LOCKED` (any extended code), a pool
/// timeout, an I/O error, a crashed connection worker.
pub(crate) fn is_transient(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(sql) = e.downcast_ref::<sqlx::Error>() {
            return match sql {
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed => true,
                sqlx::Error::Database(db) => db
                    .code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .is_some_and(|c| matches!(c & 0xff, 5 | 6)),
                _ => false,
            };
        }
        cur = e.source();
    }
    false
}

impl SqliteEventStore {
    /// Runs `handler` in a task of its own for each committed event of
    /// `types` (every type when `None`), in global order, at least once:
    /// the engine's [`listen`](es_core::consumer::listen) over this store,
    /// with its checkpoint `name` in the `checkpoints` table and its lease
    /// in `leases`, so of several processes on one file listening under one
    /// name one delivers. A failing handler is retried with backoff until
    /// it succeeds. Make the handler idempotent (use `event_id`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent};
    /// let store = es_sqlite::SqliteEventStore::in_memory().await?;
    /// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    /// let listener = store.listen("welcome_mail", Some(&["Opened"]), move |e| {
    ///     let tx = tx.clone();
    ///     async move { tx.send(e.event_id).map_err(|e| e.into()) }
    /// });
    /// let opened = NewEvent::from_raw("Opened", 1, b"{}".to_vec(), Metadata::new());
    /// store.append("Account-1", ExpectedVersion::Any, vec![opened]).await?;
    /// assert!(rx.recv().await.is_some());
    /// listener.stop().await;
    /// # Ok(()) }
    /// ```
    pub fn listen<F, Fut>(
        &self,
        name: &str,
        types: Option<&[&str]>,
        handler: F,
    ) -> es_core::consumer::Listener
    where
        F: FnMut(RecordedEvent) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        es_core::consumer::listen(self.clone(), name, types, handler)
    }
}
