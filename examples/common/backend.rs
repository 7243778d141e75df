//! The examples' stores: the embedded SQLite file by default, PostgreSQL when
//! `DATABASE_URL` is set; and a small in-process projector that runs a
//! projection's handlers in a transaction of the same database, advancing
//! the projection's checkpoint in that transaction.
//!
//! Shared by the `bank` and `orders` examples (included with `#[path]`).

use std::future::Future;
use std::ops::DerefMut;
use std::path::Path;

use anyhow::Context as _;
use es_core::projection::Dispatch;
use es_core::{EventStore, SnapshotStore};
use es_postgres::PgEventStore;
use es_sqlite::SqliteEventStore;
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, Postgres, Sqlite, SqliteConnection};

/// How many events one projector transaction handles.
pub const PROJECTION_BATCH: usize = 500;

/// A store whose database also holds the read models: the projector runs
/// handlers on its connections.
pub trait ProjectingStore: EventStore + SnapshotStore {
    /// The connection handlers write through (an open transaction).
    type Conn: Send + 'static;
    /// A pooled connection for queries of the read models.
    type Pooled: DerefMut<Target = Self::Conn> + Send;

    /// Where the events are, for the output.
    fn describe(&self) -> String;

    /// A connection from the store's pool.
    fn connection(&self) -> impl Future<Output = anyhow::Result<Self::Pooled>> + Send;

    /// Runs `projection` over the events after its checkpoint, one
    /// transaction per batch that writes the read model and the checkpoint
    /// together; returns the new checkpoint. Projectors of one name in
    /// several processes take turns (a lock per batch).
    fn catch_up<P>(&self, projection: &mut P) -> impl Future<Output = anyhow::Result<u64>> + Send
    where
        P: Dispatch<Self::Conn> + Send;
}

impl ProjectingStore for SqliteEventStore {
    type Conn = SqliteConnection;
    type Pooled = PoolConnection<Sqlite>;

    fn describe(&self) -> String {
        "SQLite".to_owned()
    }

    async fn connection(&self) -> anyhow::Result<Self::Pooled> {
        Ok(self.pool().acquire().await?)
    }

    async fn catch_up<P>(&self, projection: &mut P) -> anyhow::Result<u64>
    where
        P: Dispatch<SqliteConnection> + Send,
    {
        let name = P::NAME;
        loop {
            // BEGIN IMMEDIATE takes the file's write lock first, so the
            // checkpoint read below is the latest and no other process
            // projects the same events meanwhile.
            let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
            let checkpoint = es_sqlite::load_checkpoint_with(&mut *tx, name)
                .await?
                .unwrap_or(0);
            let batch = self
                .read_all(checkpoint, PROJECTION_BATCH, Some(P::EVENT_TYPES))
                .await?;
            let Some(last) = batch.last().map(|e| e.global_position) else {
                tx.rollback().await?;
                return Ok(checkpoint);
            };
            for event in &batch {
                projection.dispatch(event, &mut tx).await?;
            }
            es_sqlite::save_checkpoint_with(&mut *tx, name, last).await?;
            tx.commit()
                .await
                .with_context(|| format!("committing projection `{name}`"))?;
            if batch.len() < PROJECTION_BATCH {
                return Ok(last);
            }
        }
    }
}

impl ProjectingStore for PgEventStore {
    type Conn = PgConnection;
    type Pooled = PoolConnection<Postgres>;

    fn describe(&self) -> String {
        "PostgreSQL".to_owned()
    }

    async fn connection(&self) -> anyhow::Result<Self::Pooled> {
        Ok(self.pool().acquire().await?)
    }

    async fn catch_up<P>(&self, projection: &mut P) -> anyhow::Result<u64>
    where
        P: Dispatch<PgConnection> + Send,
    {
        let name = P::NAME;
        loop {
            let mut tx = self.pool().begin().await?;
            // One projector of this name at a time: after the lock, the
            // checkpoint read is the one the previous holder committed.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind(format!("example-projection:{name}"))
                .execute(&mut *tx)
                .await?;
            let checkpoint = self.load_checkpoint(name).await?;
            let batch = self
                .read_all(checkpoint, PROJECTION_BATCH, Some(P::EVENT_TYPES))
                .await?;
            let Some(last) = batch.last().map(|e| e.global_position) else {
                tx.rollback().await?;
                return Ok(checkpoint);
            };
            for event in &batch {
                projection.dispatch(event, &mut tx).await?;
            }
            self.save_checkpoint(&mut *tx, name, last).await?;
            tx.commit()
                .await
                .with_context(|| format!("committing projection `{name}`"))?;
            if batch.len() < PROJECTION_BATCH {
                return Ok(last);
            }
        }
    }
}

/// Opens the PostgreSQL store at `url` and creates its schema if needed.
pub async fn open_postgres(url: &str) -> anyhow::Result<PgEventStore> {
    let store = PgEventStore::connect(url)
        .await
        .context("cannot connect to the PostgreSQL server in DATABASE_URL")?;
    store.migrate().await?;
    Ok(store)
}

/// Opens (creating it if needed) the SQLite store in the file at `path`.
pub async fn open_sqlite(path: &Path) -> anyhow::Result<SqliteEventStore> {
    SqliteEventStore::open(path)
        .await
        .with_context(|| format!("cannot open the SQLite store {}", path.display()))
}

/// `DATABASE_URL`, when it is set and not empty.
pub fn database_url() -> Option<String> {
    std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty())
}
