//! The examples' stores: the embedded SQLite file by default, PostgreSQL when
//! `DATABASE_URL` is set; and the little glue that lets one generic app run
//! its read models with the store's own projection runner
//! (`es_sqlite::ProjectionRunner` or `es_postgres::ProjectionRunner`).
//!
//! Shared by the `bank` and `orders` examples (included with `#[path]`).

use std::future::Future;
use std::ops::DerefMut;
use std::path::Path;

use anyhow::Context as _;
use es_core::{EventStore, SnapshotStore};
use es_postgres::{PgEventStore, PgProjection};
use es_sqlite::{SqliteEventStore, SqliteProjection};
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, Postgres, Sqlite, SqliteConnection};

/// A store whose database also holds the read models.
pub trait ExampleStore: EventStore + SnapshotStore {
    /// The connection the read models are queried (and written) through.
    type Conn: Send + 'static;
    /// A pooled connection for queries of the read models.
    type Pooled: DerefMut<Target = Self::Conn> + Send;

    /// Where the events are, for the output.
    fn describe(&self) -> String;

    /// A connection from the store's pool.
    fn connection(&self) -> impl Future<Output = anyhow::Result<Self::Pooled>> + Send;
}

/// A store that runs projection `P` with its framework runner.
pub trait RunsProjection<P>: ExampleStore {
    /// `es_postgres::ProjectionRunner<P>` or `es_sqlite::ProjectionRunner<P>`.
    type Runner: CatchUp;

    /// A runner of `projection` on this store.
    fn runner(&self, projection: P) -> Self::Runner;
}

/// What the examples ask of a runner.
pub trait CatchUp: Send {
    /// Handles every event up to the head (one transaction per batch writes
    /// the read model and the checkpoint); returns the checkpoint.
    fn catch_up(&mut self) -> impl Future<Output = anyhow::Result<u64>> + Send;
}

impl ExampleStore for SqliteEventStore {
    type Conn = SqliteConnection;
    type Pooled = PoolConnection<Sqlite>;

    fn describe(&self) -> String {
        "SQLite".to_owned()
    }

    async fn connection(&self) -> anyhow::Result<Self::Pooled> {
        Ok(self.pool().acquire().await?)
    }
}

impl<P: SqliteProjection> RunsProjection<P> for SqliteEventStore {
    type Runner = es_sqlite::ProjectionRunner<P>;

    fn runner(&self, projection: P) -> Self::Runner {
        es_sqlite::ProjectionRunner::new(self.clone(), projection)
    }
}

impl<P: SqliteProjection> CatchUp for es_sqlite::ProjectionRunner<P> {
    async fn catch_up(&mut self) -> anyhow::Result<u64> {
        es_sqlite::ProjectionRunner::catch_up(self).await?;
        Ok(self.status().await?.position)
    }
}

impl ExampleStore for PgEventStore {
    type Conn = PgConnection;
    type Pooled = PoolConnection<Postgres>;

    fn describe(&self) -> String {
        "PostgreSQL".to_owned()
    }

    async fn connection(&self) -> anyhow::Result<Self::Pooled> {
        Ok(self.pool().acquire().await?)
    }
}

impl<P: PgProjection + Sync> RunsProjection<P> for PgEventStore {
    type Runner = es_postgres::ProjectionRunner<P>;

    fn runner(&self, projection: P) -> Self::Runner {
        es_postgres::ProjectionRunner::new(self.clone(), projection)
    }
}

// `Sync`: the PostgreSQL runner's `status` borrows it across an await.
impl<P: PgProjection + Sync> CatchUp for es_postgres::ProjectionRunner<P> {
    async fn catch_up(&mut self) -> anyhow::Result<u64> {
        es_postgres::ProjectionRunner::catch_up(self).await?;
        Ok(self.status().await?.position)
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
