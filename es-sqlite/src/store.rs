//! [`SqliteEventStore`]: the event store on one SQLite file. This module
//! holds the handle and how it opens; each step lives next to its SQL in
//! the module named after it (`append`, `read`, `watch`, `snapshots`,
//! `checkpoints`, `schema`, `integrity`), and `event_store` holds the
//! [`EventStore`](es_core::EventStore) impl that calls them.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use es_core::StoreError;
use es_core::consumer::InlineConsumers;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::watch;

use crate::projection::{SqliteConsumer, SqliteProjection, SqliteTx};

/// How long a connection waits for another writer's lock (in this process or
/// another) before an operation fails: [`SqliteEventStore::open`] sets it.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// How many connections [`SqliteEventStore::open`] pools. Readers run in
/// parallel (WAL); writers take turns on SQLite's single write lock.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 4;

/// How often a store that is being watched checks the file for commits made
/// by other processes (commits made through this store wake watchers at once).
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// The largest event (payload and metadata together) an append accepts
/// unless [`SqliteEventStore::with_max_payload_bytes`] says otherwise:
/// es-core's 8 MiB, as in the other stores. Well above any sane event (the
/// conformance suite stores one of just over 1 MiB), well below SQLite's own
/// ceiling (1 GB per value by default), which a runaway writer would reach
/// only after bloating the file.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = es_core::DEFAULT_MAX_PAYLOAD_BYTES;

/// An event store in one SQLite file (or in memory), with the semantics of the
/// in-memory and PostgreSQL stores.
///
/// Cheap to clone: clones share one connection pool and one commit channel.
///
/// - **Appends** run in one `BEGIN IMMEDIATE` transaction each: the write
///   lock is taken before the version check, so concurrent writers (tasks or
///   processes) queue on it (for up to the busy timeout) instead of failing on
///   a lock upgrade, and a batch is stored all or nothing. A unique key on
///   `(stream_id, stream_version)` backs the version check.
/// - **Positions** are the table's rowid. SQLite has one writer at a time, so
///   positions commit in order and [`EventStore::read_all`](es_core::EventStore::read_all) never skips.
/// - **Events are immutable**: triggers refuse `UPDATE` and `DELETE` on them.
/// - **Wake-ups**: every commit through this store announces its position at
///   once; while anyone watches, a task also polls the file every
///   [`POLL_INTERVAL`] so commits by other processes wake readers too.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), es_core::StoreError> {
/// use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent, StreamEnd};
/// use es_sqlite::SqliteEventStore;
///
/// let store = SqliteEventStore::in_memory().await?;
/// let e = NewEvent::from_raw("Pinged", 1, br#"{"n":1}"#.to_vec(), Metadata::new());
/// store.append("Pinger-1", ExpectedVersion::NoStream, vec![e]).await?;
/// let events = store.read_stream("Pinger-1", 1, StreamEnd::Head, 100).await?;
/// assert_eq!(events[0].stream_version, 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteEventStore {
    pub(crate) inner: Arc<Inner>,
    /// Payloads above this many bytes are refused before the transaction.
    pub(crate) max_payload_bytes: usize,
    /// Projections run inside each append's transaction (see
    /// [`SqliteEventStore::with_inline`]). Kept in the handle, not in
    /// `inner`: like the payload limit, they belong to this handle and the
    /// clones made from it afterwards.
    pub(crate) inline: InlineConsumers<SqliteTx>,
}

pub(crate) struct Inner {
    pub(crate) pool: SqlitePool,
    /// The highest committed position announced so far.
    pub(crate) commits: watch::Sender<u64>,
    /// Whether the polling task runs; the lock orders its start and stop
    /// against new watchers.
    pub(crate) polling: Mutex<bool>,
    /// Whether other processes may write the database (false in memory).
    pub(crate) poll: bool,
    /// The file (or `:memory:`), for messages.
    pub(crate) label: String,
    /// What SQLite said the first time it found the file corrupt: from
    /// then on this store refuses appends.
    pub(crate) corrupt: std::sync::OnceLock<String>,
}

impl fmt::Debug for SqliteEventStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteEventStore")
            .field("database", &self.inner.label)
            .field("pool_size", &self.inner.pool.size())
            .field("inline", &self.inline)
            .finish()
    }
}

impl SqliteEventStore {
    /// Opens (creating it if needed) the database file at `path` and brings
    /// its schema up to date.
    ///
    /// The connections use [`SqliteEventStore::connect_options`]: WAL journal,
    /// `synchronous = FULL`, a busy timeout of [`DEFAULT_BUSY_TIMEOUT`].
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let label = path.display().to_string();
        let options = Self::connect_options(path);
        // Two processes opening a new file at once both switch it to WAL; the
        // switch needs an exclusive lock and SQLite reports the loser's
        // `SQLITE_BUSY` at once instead of calling the busy handler, so retry.
        let deadline = Instant::now() + DEFAULT_BUSY_TIMEOUT;
        let mut delay = Duration::from_millis(5);
        let pool = loop {
            match Self::pool_options()
                .max_connections(DEFAULT_MAX_CONNECTIONS)
                .connect_with(options.clone())
                .await
            {
                Ok(pool) => break pool,
                Err(e) if is_busy(&e) && Instant::now() < deadline => {
                    tracing::debug!(database = %label, "database busy while opening; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_millis(200));
                }
                Err(e) => {
                    return Err(StoreError::backend(
                        format!("opening SQLite database {label}{}", open_hint(&e, path)),
                        e,
                    ));
                }
            }
        };
        let store = Self::build(pool, true, label);
        store.migrate().await?;
        Ok(store)
    }

    /// The pool options [`SqliteEventStore::open`] starts from, to adjust
    /// and build a pool of your own with (then
    /// [`SqliteEventStore::from_pool`]).
    ///
    /// They end, as a connection goes back to the pool, a transaction its
    /// user left open without a way to end it: a `BEGIN IMMEDIATE` whose
    /// future was dropped (a timeout, a `select!`, a cancelled task) after
    /// SQLite ran the statement but before sqlx handed out the transaction.
    /// Without that, the connection would come back inside the transaction
    /// and the next transaction on it would fail.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use es_sqlite::SqliteEventStore;
    /// let dir = std::env::temp_dir().join(format!("es-pool-options-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let pool = SqliteEventStore::pool_options()
    ///     .max_connections(4)
    ///     .connect_with(SqliteEventStore::connect_options(dir.join("app.db")))
    ///     .await?;
    /// let store = SqliteEventStore::from_pool(pool);
    /// store.migrate().await?;
    /// # store.close().await;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// ```
    pub fn pool_options() -> SqlitePoolOptions {
        SqlitePoolOptions::new().after_release(|conn, _| {
            Box::pin(async move {
                use sqlx::{Database, Sqlite, TransactionManager};
                type Manager = <Sqlite as Database>::TransactionManager;
                if Manager::get_transaction_depth(conn) > 0 {
                    // Queued behind whatever the connection's user sent last.
                    Manager::rollback(conn).await?;
                }
                Ok(true)
            })
        })
    }

    /// The connection options [`SqliteEventStore::open`] uses, to adjust and
    /// pass to a pool of your own (then [`SqliteEventStore::from_pool`]).
    ///
    /// - `journal_mode = WAL`: readers never block the writer nor the writer
    ///   the readers, and other processes can read and write the same file.
    /// - `synchronous = FULL`: each commit is on disk before the append
    ///   returns. An appended event is a fact others act on (a projection may
    ///   already have sent the e-mail), so losing the last commits to a power
    ///   cut costs more than the fsync per commit. `NORMAL` is faster and
    ///   still safe against application crashes and corruption; choose it with
    ///   `.synchronous(SqliteSynchronous::Normal)` if you can lose the last
    ///   moments before a power cut.
    /// - `busy_timeout` = [`DEFAULT_BUSY_TIMEOUT`]: a writer waits for another
    ///   process's write lock instead of failing with `SQLITE_BUSY`.
    /// - `create_if_missing`, `foreign_keys`.
    pub fn connect_options(path: impl AsRef<Path>) -> SqliteConnectOptions {
        SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(DEFAULT_BUSY_TIMEOUT)
            .foreign_keys(true)
    }

    /// A store in a private in-memory database, with its schema: for tests and
    /// demos. Every clone of the store sees the same data; it is gone when the
    /// last clone is dropped.
    ///
    /// The pool has one connection that it never closes (an in-memory
    /// database lives as long as a connection to it), so operations take turns.
    pub async fn in_memory() -> Result<Self, StoreError> {
        // `sqlite::memory:` names a fresh shared-cache database per call.
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(|e| StoreError::backend("configuring an in-memory SQLite database", e))?
            .busy_timeout(DEFAULT_BUSY_TIMEOUT);
        let pool = Self::pool_options()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::backend("opening an in-memory SQLite database", e))?;
        let store = Self::build(pool, false, ":memory:".to_owned());
        store.migrate().await?;
        Ok(store)
    }

    /// A store on a pool you configured (see
    /// [`SqliteEventStore::connect_options`]). Does not touch the schema: call
    /// [`SqliteEventStore::migrate`] once before use.
    pub fn from_pool(pool: SqlitePool) -> Self {
        let label = pool.connect_options().get_filename().display().to_string();
        Self::build(pool, true, label)
    }

    fn build(pool: SqlitePool, poll: bool, label: String) -> Self {
        Self {
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            inline: InlineConsumers::new(),
            inner: Arc::new(Inner {
                pool,
                commits: watch::Sender::new(0),
                polling: Mutex::new(false),
                poll,
                label,
                corrupt: std::sync::OnceLock::new(),
            }),
        }
    }

    /// This store (and its clones made afterwards) with another limit on one
    /// event's size, its payload and its encoded metadata together, in bytes
    /// (default [`DEFAULT_MAX_PAYLOAD_BYTES`], 8 MiB). An append with a
    /// bigger event fails with [`StoreError::PayloadTooLarge`] before its
    /// transaction begins, and writes none of its batch.
    pub fn with_max_payload_bytes(mut self, limit: usize) -> Self {
        self.max_payload_bytes = limit;
        self
    }

    /// This store (and its clones made afterwards) with `projection` run
    /// inline: inside each append's own `BEGIN IMMEDIATE` transaction, after
    /// the events are inserted (with their positions) and before `COMMIT`,
    /// for the appended events of its types, then its
    /// [`flush`](SqliteProjection::flush). Its read model is therefore never
    /// behind the events, and a failing handler or flush fails the append (a
    /// [`StoreError::Backend`] naming the stream and the projection, whose
    /// source is the [`ProjectionError`](es_core::projection::ProjectionError));
    /// nothing is stored, neither the events nor the model's changes.
    ///
    /// Each append runs a fresh clone of `projection`, so keep the model in
    /// the database and only configuration in the value. Inline projections
    /// run in the order they were added; the appended events are read back
    /// only when one of them reads one of their types. Clones of the store
    /// made before this call do not run it. [`SqliteEventStore::migrate`]
    /// runs its [`setup`](SqliteProjection::setup) hook: call it after
    /// adding inline projections ([`SqliteEventStore::open`] and
    /// [`SqliteEventStore::in_memory`] migrate before they are added).
    ///
    /// ```
    /// use es_core::projection::{Dispatch, HandlerError, Projection, ProjectionError};
    /// use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent, RecordedEvent};
    /// use es_sqlite::{SqliteEventStore, SqliteProjection};
    /// use sqlx::SqliteConnection;
    ///
    /// #[derive(Clone)]
    /// struct Opened;
    /// impl Projection for Opened {
    ///     const NAME: &'static str = "opened";
    ///     const EVENT_TYPES: &'static [&'static str] = &["AccountOpened"];
    /// }
    /// impl Dispatch<SqliteConnection> for Opened {
    ///     async fn dispatch(&mut self, e: &RecordedEvent, conn: &mut SqliteConnection)
    ///         -> Result<(), ProjectionError> {
    ///         sqlx::query("INSERT INTO opened (stream_id, position) VALUES (?, ?)")
    ///             .bind(&e.stream_id)
    ///             .bind(e.global_position as i64)
    ///             .execute(conn)
    ///             .await
    ///             .map_err(|err| ProjectionError::handler::<Self>(e, err.into()))?;
    ///         Ok(())
    ///     }
    /// }
    /// impl SqliteProjection for Opened {
    ///     async fn setup(&mut self, conn: &mut SqliteConnection) -> Result<(), HandlerError> {
    ///         sqlx::query("CREATE TABLE IF NOT EXISTS opened (stream_id TEXT PRIMARY KEY, position INTEGER)")
    ///             .execute(conn).await?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = SqliteEventStore::in_memory().await?.with_inline(Opened);
    /// assert_eq!(store.inline_projections(), ["opened"]);
    /// store.migrate().await?; // runs the inline projections' setup hooks
    ///
    /// let opened = NewEvent::from_raw("AccountOpened", 1, b"{}".to_vec(), Metadata::new());
    /// let r = store.append("BankAccount-1", ExpectedVersion::NoStream, vec![opened]).await?;
    /// // Written in the append's transaction: no runner, no waiting.
    /// let (stream, position): (String, i64) =
    ///     sqlx::query_as("SELECT stream_id, position FROM opened").fetch_one(store.pool()).await?;
    /// assert_eq!((stream.as_str(), Some(position as u64)), ("BankAccount-1", r.last_position));
    ///
    /// // Opened twice: the handler's INSERT fails, so does the append, and
    /// // nothing of it is stored.
    /// let again = NewEvent::from_raw("AccountOpened", 1, b"{}".to_vec(), Metadata::new());
    /// let err = store.append("BankAccount-1", ExpectedVersion::Any, vec![again]).await.unwrap_err();
    /// assert!(err.to_string().contains("inline projection `opened` failed; nothing was stored"));
    /// assert_eq!(store.stream_version("BankAccount-1").await?, 1);
    /// # Ok(()) }
    /// ```
    pub fn with_inline<P>(mut self, projection: P) -> Self
    where
        P: SqliteProjection + Clone + Sync,
    {
        self.inline.push(SqliteConsumer(projection));
        self
    }

    /// This store with the document projection `D` run inline: in each
    /// append's own `BEGIN IMMEDIATE` transaction, for the appended events
    /// of `D`'s types, so its documents are never behind the events and an
    /// append whose documents cannot be written stores nothing; as
    /// `es_postgres::PgEventStore::with_inline_document`. SQLite runs one
    /// write transaction at a time, so appends touching one document apply
    /// one after the other. [`SqliteEventStore::migrate`] creates its
    /// indexes. Run a document projection inline or on an
    /// [`Engine`](es_core::consumer::Engine), not both.
    ///
    /// ```
    /// # use es_core::document::{Document, DocumentState, Documents, Evolve};
    /// # use es_core::{Event, EventStore, ExpectedVersion, Metadata, NewEvent, Recorded};
    /// # use serde::{Deserialize, Serialize};
    /// #[derive(Debug, Serialize, Deserialize, Event)]
    /// struct Opened { owner: String }
    ///
    /// #[derive(Debug, Default, Serialize, Deserialize, Document)]
    /// #[document(events(Opened), index(owner))]
    /// struct Account { owner: String }
    /// impl Evolve<Opened> for Account {
    ///     fn evolve(&mut self, e: &Recorded<Opened>, _: &mut DocumentState) {
    ///         self.owner.clone_from(&e.event.owner);
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = es_sqlite::SqliteEventStore::in_memory().await?.with_inline_document::<Account>();
    /// store.migrate().await?;
    /// let opened = NewEvent::new(&Opened { owner: "ada".into() }, Metadata::new())?;
    /// store.append("Account-a1", ExpectedVersion::NoStream, vec![opened]).await?;
    /// // Written in the append's transaction: no runner, no waiting.
    /// let accounts = Documents::<Account, _>::new(store.clone());
    /// assert_eq!(accounts.get("a1").await?.unwrap().owner, "ada");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn with_inline_document<D: es_core::document::Document>(mut self) -> Self {
        // A clone made before the projection is added does not run it: the
        // store and its projection hold no cycle.
        let documents = self.clone();
        self.inline
            .push(es_core::document::DocumentProjection::<D, Self>::locking(
                documents,
            ));
        self
    }

    /// The names of the inline projections (see
    /// [`SqliteEventStore::with_inline`]), in the order they run.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), es_core::StoreError> {
    /// let store = es_sqlite::SqliteEventStore::in_memory().await?;
    /// assert!(store.inline_projections().is_empty());
    /// # Ok(()) }
    /// ```
    pub fn inline_projections(&self) -> Vec<&'static str> {
        self.inline.names()
    }

    /// The connection pool, for queries of your own (read models in the same
    /// file, say).
    pub fn pool(&self) -> &SqlitePool {
        &self.inner.pool
    }

    /// Closes the pool's connections (waiting for operations in flight); later
    /// operations fail. Dropping every clone also closes them.
    pub async fn close(&self) {
        self.inner.pool.close().await;
    }
}

/// Whether SQLite answered `SQLITE_BUSY` (any extended code of it).
/// What to say about a failed open: SQLite in WAL mode creates `-wal` and
/// `-shm` files next to the database, so a read-only (or missing)
/// directory fails even a read-only use.
pub(crate) fn open_hint(e: &sqlx::Error, path: &Path) -> String {
    let code = e
        .as_database_error()
        .and_then(|d| d.code())
        .and_then(|c| c.parse::<i32>().ok())
        .map(|c| c & 0xff);
    if !matches!(code, Some(8 | 14)) {
        return String::new();
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.display().to_string(),
        _ => ".".to_owned(),
    };
    format!(
        " (its directory {dir} must exist and be writable by this process, even to read: \
         the store keeps SQLite's write-ahead log, {name}-wal and {name}-shm, next to the file)",
        name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    )
}

pub(crate) fn is_busy(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == 5)
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded values stay consistent whatever a panicking holder did.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use es_core::{EventStore, Uuid};

    /// for the next one.
    #[tokio::test]
    async fn the_polling_task_runs_only_while_watched() {
        let path = std::env::temp_dir().join(format!(
            "es-sqlite-poller-{}-{}.db",
            std::process::id(),
            Uuid::now_v7().simple()
        ));
        let store = SqliteEventStore::open(&path).await.unwrap();
        let polling = |store: &SqliteEventStore| *lock(&store.inner.polling);
        assert!(!polling(&store));
        let watch = store.watch_commits().await.unwrap();
        let second = watch.clone();
        assert!(polling(&store));
        drop(watch);
        tokio::time::sleep(POLL_INTERVAL * 3).await;
        assert!(polling(&store), "one watcher is left");
        drop(second);
        tokio::time::sleep(POLL_INTERVAL * 3).await;
        assert!(!polling(&store), "no watcher is left");
        let _again = store.watch_commits().await.unwrap();
        assert!(polling(&store));
        store.close().await;
        drop(store);
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}
