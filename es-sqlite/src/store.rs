//! [`SqliteEventStore`]: the event store on one SQLite file.

use std::fmt;
use std::ops::ControlFlow;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, SecondsFormat, SubsecRound, Utc};
use es_core::{
    AppendResult, CommandRecord, CommitWatch, EventStore, ExpectedVersion, Metadata, NewEvent,
    ReadAllPage, RecordedEvent, ReplayedEvent, Snapshot, SnapshotStore, StoreError, StreamEnd,
    Timestamp, Uuid, check_append, stream_category, validate_stream_id,
};
use futures::TryStreamExt;
use sqlx::migrate::Migrator;
use sqlx::query::Query;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, SqliteExecutor};
use tokio::sync::watch;

use crate::subscription::Subscription;

/// The store's schema migrations, embedded at build time from `migrations/`.
///
/// [`SqliteEventStore::migrate`] runs them; use this directly only to run them
/// on a pool of your own.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How long a connection waits for another writer's lock (in this process or
/// another) before an operation fails: [`SqliteEventStore::open`] sets it.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// How many connections [`SqliteEventStore::open`] pools. Readers run in
/// parallel (WAL); writers take turns on SQLite's single write lock.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 4;

/// How often a store that is being watched checks the file for commits made
/// by other processes (commits made through this store wake watchers at once).
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Rows per INSERT statement: 9 bound values each, well under SQLite's limit
/// of 32,766 variables per statement.
const INSERT_CHUNK: usize = 1000;

/// The largest event (payload and metadata together) an append accepts
/// unless [`SqliteEventStore::with_max_payload_bytes`] says otherwise:
/// es-core's 8 MiB, as in the other stores. Well above any sane event (the
/// conformance suite stores one of just over 1 MiB), well below SQLite's own
/// ceiling (1 GB per value by default), which a runaway writer would reach
/// only after bloating the file.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = es_core::DEFAULT_MAX_PAYLOAD_BYTES;

/// The columns an event is read from, in a macro so `concat!` can build
/// whole statements at compile time.
macro_rules! event_columns {
    () => {
        "global_position, event_id, stream_id, stream_version, event_type, schema_version, \
         payload, metadata, recorded_at"
    };
}

/// The columns a replay reads (see `EventStore::replay_stream`).
macro_rules! replay_columns {
    () => {
        "stream_version, event_type, schema_version, payload"
    };
}

/// A stream read's `FROM … LIMIT` for each kind of end, after its columns:
/// binds the stream id, the first version, the end (none, a version or a
/// time) and the limit, in that order (see `stream_query`).
macro_rules! stream_read_sql {
    ($columns:expr) => {
        [
            concat!(
                "SELECT ",
                $columns,
                " FROM events WHERE stream_id = ? AND stream_version >= ? \
                 ORDER BY stream_version LIMIT ?"
            ),
            concat!(
                "SELECT ",
                $columns,
                " FROM events WHERE stream_id = ? AND stream_version >= ? \
                 AND stream_version <= ? ORDER BY stream_version LIMIT ?"
            ),
            concat!(
                "SELECT ",
                $columns,
                " FROM events WHERE stream_id = ? AND stream_version >= ? \
                 AND recorded_at <= ? ORDER BY stream_version LIMIT ?"
            ),
        ]
    };
}

/// The query of a stream read: one of `stream_read_sql!`'s three statements
/// (to the head, to a version, to a time) with its values bound.
fn stream_query<'q>(
    sql: [&'static str; 3],
    stream_id: &'q str,
    from_version: u64,
    to: StreamEnd,
    limit: usize,
) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    let from = to_i64(from_version.max(1));
    let limit = to_i64(limit as u64);
    match to {
        StreamEnd::Head => sqlx::query(sql[0]).bind(stream_id).bind(from).bind(limit),
        StreamEnd::Version(v) => sqlx::query(sql[1])
            .bind(stream_id)
            .bind(from)
            .bind(to_i64(v))
            .bind(limit),
        StreamEnd::Time(t) => sqlx::query(sql[2])
            .bind(stream_id)
            .bind(from)
            .bind(time_bound(t))
            .bind(limit),
    }
}

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
///   positions commit in order and [`EventStore::read_all`] never skips.
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
    inner: Arc<Inner>,
    /// Payloads above this many bytes are refused before the transaction.
    max_payload_bytes: usize,
}

struct Inner {
    pool: SqlitePool,
    /// The highest committed position announced so far.
    commits: watch::Sender<u64>,
    /// Whether the polling task runs; the lock orders its start and stop
    /// against new watchers.
    polling: Mutex<bool>,
    /// Whether other processes may write the database (false in memory).
    poll: bool,
    /// The file (or `:memory:`), for messages.
    label: String,
    /// What SQLite said the first time it found the file corrupt: from
    /// then on this store refuses appends.
    corrupt: std::sync::OnceLock<String>,
}

impl fmt::Debug for SqliteEventStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteEventStore")
            .field("database", &self.inner.label)
            .field("pool_size", &self.inner.pool.size())
            .finish()
    }
}

/// What an append's transaction decided.
enum Outcome {
    /// Events were written: commit.
    Written(AppendResult),
    /// Nothing to write (empty batch, repeated command): roll back.
    Nothing(AppendResult),
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
            match SqlitePoolOptions::new()
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
        let pool = SqlitePoolOptions::new()
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

    /// Creates or updates the schema. Idempotent, and safe when several
    /// processes open a new file at once (it runs under the write lock).
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
        Ok(())
    }

    /// Runs SQLite's `PRAGMA quick_check` over the whole file: an `Err`
    /// ([`StoreError::Corrupt`]) when it finds damage, after which this
    /// store refuses appends. Without it, damage shows when a read reaches
    /// it (any read that meets `SQLITE_CORRUPT` has the same effect).
    ///
    /// It reads every page, so its cost grows with the file (see
    /// [`SqliteEventStore::open_checked`] for figures); run it at start-up
    /// where that is affordable.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), es_core::StoreError> {
    /// let store = es_sqlite::SqliteEventStore::in_memory().await?;
    /// store.check_integrity().await?;
    /// # Ok(()) }
    /// ```
    pub async fn check_integrity(&self) -> Result<(), StoreError> {
        let label = &self.inner.label;
        let found = match sqlx::query_scalar::<_, String>("PRAGMA quick_check")
            .fetch_all(&self.inner.pool)
            .await
        {
            Ok(rows) if rows.len() == 1 && rows[0] == "ok" => return Ok(()),
            Ok(rows) => rows.iter().take(5).cloned().collect::<Vec<_>>().join("; "),
            // The check itself can stop at the damage.
            Err(e) => {
                let e = self.observe_sqlx(format!("checking {label}"), e);
                match corruption_in(&e) {
                    Some(cause) => cause,
                    None => return Err(e),
                }
            }
        };
        let _ = self.inner.corrupt.set(format!("quick_check: {found}"));
        Err(StoreError::Corrupt {
            stream_id: "*".to_owned(),
            message: format!(
                "the database file {label} is corrupt (quick_check: {found}); \
                 appends are refused; restore it from a backup"
            ),
        })
    }

    /// [`SqliteEventStore::open`], then [`SqliteEventStore::check_integrity`]:
    /// a damaged file is refused at start-up instead of when a read reaches
    /// the damage. Measured on a 2-core machine (release build, small
    /// payloads, the file in the page cache): 4.5 ms for 10,000 events
    /// (2 MB), 48–63 ms for 100,000 (21 MB), 0.70–0.74 s for 1,000,000
    /// (215 MB), against 2–4 ms for the open itself. It grows with the
    /// file (about 3.4 ms per MB), so it is opt-in rather than the default.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), es_core::StoreError> {
    /// let store = es_sqlite::SqliteEventStore::open_checked("bank.db").await?;
    /// # Ok(()) }
    /// ```
    pub async fn open_checked(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let store = Self::open(path).await?;
        store.check_integrity().await?;
        Ok(store)
    }

    /// Whether this store has seen its file corrupt (and so refuses
    /// appends).
    pub fn has_seen_corruption(&self) -> bool {
        self.inner.corrupt.get().is_some()
    }

    /// Notes a corruption that `result`'s error reports (`SQLITE_CORRUPT`,
    /// `SQLITE_NOTADB`), so later appends are refused.
    fn observe<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(e) = &result
            && let Some(cause) = corruption_in(e)
            && self.inner.corrupt.set(cause.clone()).is_ok()
        {
            tracing::error!(
                database = %self.inner.label,
                cause = %cause,
                "the database file is corrupt; appends are refused from now on"
            );
        }
        result
    }

    /// A backend error from sqlx, noting a corruption it reports.
    fn observe_sqlx(&self, context: impl Into<String>, e: sqlx::Error) -> StoreError {
        match self.observe::<()>(Err(StoreError::backend(context, e))) {
            Err(e) => e,
            Ok(()) => unreachable!("observe returns what it is given"),
        }
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

    /// Follows the global log from after `after_position`: catches up with
    /// [`EventStore::read_all`], then waits for commits. See [`Subscription`].
    pub fn subscribe(&self, after_position: u64) -> Subscription {
        Subscription::new(self.clone(), after_position)
    }

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

    /// Raises the announced position (never lowers it).
    fn announce(&self, position: u64) {
        announce(&self.inner.commits, position);
    }

    #[tracing::instrument(
        name = "es_sqlite.append",
        level = "debug",
        skip_all,
        fields(
            stream_id = %stream_id,
            expected = %expected,
            events = events.len(),
            first_version = tracing::field::Empty,
            last_version = tracing::field::Empty,
            duplicate = tracing::field::Empty,
        )
    )]
    async fn append_impl(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        // Before the transaction: the whole batch or nothing.
        check_append(stream_id, &events, self.max_payload_bytes)?;
        let context = |what: &str| format!("{what} on stream `{stream_id}`");
        // BEGIN IMMEDIATE takes the write lock now, so the version read below
        // stays true until the commit, and two writers queue on the lock
        // (busy timeout) instead of both reading and then failing to upgrade.
        // The transaction rolls back if dropped before commit.
        let mut tx = self
            .inner
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| StoreError::backend(context("beginning an append"), e))?;
        let outcome = append_in(&mut tx, stream_id, expected, events).await;
        let result = match outcome {
            Ok(Outcome::Written(result)) => {
                tx.commit()
                    .await
                    .map_err(|e| StoreError::backend(context("committing an append"), e))?;
                if let Some(position) = result.last_position {
                    self.announce(position);
                }
                result
            }
            Ok(Outcome::Nothing(result)) => {
                rollback(tx, stream_id).await;
                result
            }
            Err(e) => {
                rollback(tx, stream_id).await;
                tracing::debug!(error = %es_core::ErrorChain(&e), "append refused");
                return Err(e);
            }
        };
        let span = tracing::Span::current();
        span.record("first_version", result.first_version);
        span.record("last_version", result.last_version);
        span.record("duplicate", result.duplicate);
        Ok(result)
    }

    #[tracing::instrument(
        name = "es_sqlite.read_stream",
        level = "debug",
        skip_all,
        fields(
            stream_id = %stream_id,
            from_version = from_version,
            to = ?to,
            limit = limit,
            events = tracing::field::Empty,
        )
    )]
    async fn read_stream_impl(
        &self,
        stream_id: &str,
        from_version: u64,
        to: StreamEnd,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        validate_stream_id(stream_id)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let query = stream_query(
            stream_read_sql!(event_columns!()),
            stream_id,
            from_version,
            to,
            limit,
        );
        let rows = query
            .fetch_all(&self.inner.pool)
            .await
            .map_err(|e| StoreError::backend(format!("reading stream `{stream_id}`"), e))?;
        let events = rows
            .iter()
            .map(|row| decode_event(row, stream_id))
            .collect::<Result<Vec<_>, _>>()?;
        tracing::Span::current().record("events", events.len());
        Ok(events)
    }

    #[tracing::instrument(
        name = "es_sqlite.read_all",
        level = "debug",
        skip_all,
        fields(
            after_position = after_position,
            limit = limit,
            types = ?types,
            events = tracing::field::Empty,
            scanned_to = tracing::field::Empty,
        )
    )]
    async fn read_all_impl(
        &self,
        after_position: u64,
        limit: usize,
        types: Option<&[&str]>,
    ) -> Result<ReadAllPage, StoreError> {
        if limit == 0 {
            return Ok(ReadAllPage::new(Vec::new(), after_position));
        }
        let fail =
            |e| StoreError::backend(format!("reading all streams after {after_position}"), e);
        // Writers hold the write lock from their first position to their
        // commit, so positions commit in order: the newest position seen in
        // the snapshot of the events' own statement is how far a short page
        // has scanned.
        let mut sql = String::from(concat!(
            "SELECT ",
            event_columns!(),
            ", (SELECT COALESCE(MAX(global_position), 0) FROM events) AS head",
            " FROM events WHERE global_position > ?"
        ));
        if let Some(types) = types {
            if types.is_empty() {
                sql.push_str(" AND 0");
            } else {
                // Placeholders only; the names are bound below.
                sql.push_str(" AND event_type IN (");
                sql.push_str(&vec!["?"; types.len()].join(", "));
                sql.push(')');
            }
        }
        sql.push_str(" ORDER BY global_position LIMIT ?");
        let read = || {
            let mut query = sqlx::query(&sql).bind(to_i64(after_position));
            for t in types.unwrap_or_default() {
                query = query.bind(*t);
            }
            query.bind(to_i64(limit as u64))
        };
        // An empty read cannot tell how far it scanned: read the head, then
        // read again. Events at or below that head committed before the
        // second read began, so if it still finds nothing, the head is safe.
        let mut head_before: Option<u64> = None;
        let page = loop {
            let rows = read().fetch_all(&self.inner.pool).await.map_err(fail)?;
            let Some(first) = rows.first() else {
                match head_before {
                    Some(head) => break ReadAllPage::new(Vec::new(), head.max(after_position)),
                    None => {
                        head_before =
                            Some(head_position_with(&self.inner.pool).await.map_err(fail)?);
                        continue;
                    }
                }
            };
            let head: i64 = first
                .try_get("head")
                .map_err(|e| corrupt("?", format!("event row: {e}")))?;
            let mut events = Vec::with_capacity(rows.len());
            let mut cut = false;
            for row in &rows {
                match decode_event(row, "?") {
                    Ok(event) => events.push(event),
                    // One bad row is its own error: the events before it go
                    // out first (the page ends there), and a read that
                    // starts at it reports it with its position.
                    Err(e) if !events.is_empty() => {
                        tracing::debug!(error = %e, "read_all stops before an unreadable event");
                        cut = true;
                        break;
                    }
                    Err(e) => {
                        let position: i64 = row.try_get("global_position").unwrap_or(0);
                        let stream: String =
                            row.try_get("stream_id").unwrap_or_else(|_| "?".to_owned());
                        return Err(StoreError::unreadable(
                            u64::try_from(position).unwrap_or(0),
                            stream,
                            e,
                        ));
                    }
                }
            }
            let last = events.last().map_or(after_position, |e| e.global_position);
            let scanned_to = if events.len() >= limit || cut {
                last
            } else {
                last.max(u64::try_from(head).unwrap_or(0))
            };
            break ReadAllPage::new(events, scanned_to);
        };
        let span = tracing::Span::current();
        span.record("events", page.len());
        span.record("scanned_to", page.scanned_to);
        Ok(page)
    }
}

/// The body of an append, inside its `BEGIN IMMEDIATE` transaction.
async fn append_in(
    conn: &mut sqlx::SqliteConnection,
    stream_id: &str,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
) -> Result<Outcome, StoreError> {
    let context = |what: &str| format!("{what} on stream `{stream_id}`");

    let command_id = events.first().and_then(|e| e.metadata.command_id);
    if let Some(command_id) = command_id
        && let Some(record) = find_command_with(&mut *conn, stream_id, command_id).await?
    {
        return Ok(Outcome::Nothing(AppendResult::duplicate(record)));
    }

    let actual = stream_version_with(&mut *conn, stream_id).await?;
    if !expected.admits(actual) {
        return Err(StoreError::VersionConflict {
            stream_id: stream_id.to_owned(),
            expected,
            actual,
        });
    }
    if events.is_empty() {
        return Ok(Outcome::Nothing(AppendResult::unchanged(actual)));
    }

    // Recorded times never go backwards (even if the clock does, or another
    // process's clock is ahead), so a time bound cuts a stream at one place.
    // The newest event is the one with the highest position.
    let last: Option<String> =
        sqlx::query_scalar("SELECT recorded_at FROM events ORDER BY global_position DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| StoreError::backend(context("reading the last recorded time"), e))?;
    let now = Utc::now().trunc_subsecs(6);
    let recorded_at = match last.as_deref().map(parse_time) {
        Some(Ok(last)) if last > now => last,
        _ => now,
    };
    let recorded_at_text = format_time(recorded_at);
    let category = stream_category(stream_id);

    let count = events.len() as u64;
    let mut last_position = 0u64;
    let mut version = actual;
    let mut events = events.into_iter().peekable();
    while events.peek().is_some() {
        let chunk: Vec<NewEvent> = events.by_ref().take(INSERT_CHUNK).collect();
        let mut sql = String::from(
            "INSERT INTO events (event_id, stream_id, stream_version, aggregate_type, event_type, \
             schema_version, payload, metadata, recorded_at) VALUES ",
        );
        sql.push_str(&vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", "));
        sql.push_str(" RETURNING global_position");
        let persistent = chunk.len() <= 16;
        let mut query = sqlx::query(&sql).persistent(persistent);
        for e in chunk {
            version += 1;
            let metadata = serde_json::to_string(&e.metadata)
                .map_err(|err| StoreError::backend(context("encoding metadata"), err))?;
            query = query
                .bind(e.event_id.hyphenated().to_string())
                .bind(stream_id)
                .bind(to_i64(version))
                .bind(category)
                .bind(e.event_type)
                .bind(i64::from(e.schema_version));
            query = bind_json(query, e.payload)
                .bind(metadata)
                .bind(recorded_at_text.clone());
        }
        let positions: Vec<i64> = match query.fetch_all(&mut *conn).await {
            Ok(rows) => rows
                .iter()
                .map(|r| r.try_get::<i64, _>(0))
                .collect::<Result<_, _>>()
                .map_err(|e| StoreError::backend(context("reading appended positions"), e))?,
            Err(e) => return Err(insert_error(conn, stream_id, expected, e).await),
        };
        if let Some(max) = positions.into_iter().max() {
            last_position = last_position.max(max as u64);
        }
    }

    let record = CommandRecord {
        first_version: actual + 1,
        last_version: actual + count,
    };
    if let Some(command_id) = command_id {
        sqlx::query(
            "INSERT INTO commands (stream_id, command_id, first_version, last_version, recorded_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(stream_id)
        .bind(command_id.hyphenated().to_string())
        .bind(to_i64(record.first_version))
        .bind(to_i64(record.last_version))
        .bind(&recorded_at_text)
        .execute(&mut *conn)
        .await
        .map_err(|e| StoreError::backend(context("recording the command id"), e))?;
    }

    Ok(Outcome::Written(AppendResult {
        first_version: record.first_version,
        last_version: record.last_version,
        last_position: Some(last_position),
        duplicate: false,
    }))
}

/// Maps a failed INSERT: a taken stream version is a version conflict (the
/// write lock makes that unexpected, but the unique key is the last word).
async fn insert_error(
    conn: &mut sqlx::SqliteConnection,
    stream_id: &str,
    expected: ExpectedVersion,
    e: sqlx::Error,
) -> StoreError {
    let version_taken = e
        .as_database_error()
        .is_some_and(|d| d.is_unique_violation() && d.message().contains("events.stream_version"));
    if version_taken {
        // A failed statement leaves SQLite's transaction open: read the
        // version the stream actually has.
        if let Ok(actual) = stream_version_with(&mut *conn, stream_id).await {
            return StoreError::VersionConflict {
                stream_id: stream_id.to_owned(),
                expected,
                actual,
            };
        }
    }
    StoreError::backend(format!("appending to stream `{stream_id}`"), e)
}

async fn rollback(tx: sqlx::Transaction<'_, Sqlite>, stream_id: &str) {
    if let Err(e) = tx.rollback().await {
        // The connection is closed rather than reused when this fails.
        tracing::warn!(stream_id, error = %e, "rolling back an append failed");
    }
}

async fn stream_version_with<'e>(
    executor: impl SqliteExecutor<'e>,
    stream_id: &str,
) -> Result<u64, StoreError> {
    let version: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(stream_version), 0) FROM events WHERE stream_id = ?",
    )
    .bind(stream_id)
    .fetch_one(executor)
    .await
    .map_err(|e| StoreError::backend(format!("reading the version of stream `{stream_id}`"), e))?;
    to_u64(version, stream_id, "stream version")
}

async fn head_position_with<'e>(executor: impl SqliteExecutor<'e>) -> Result<u64, sqlx::Error> {
    let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(global_position), 0) FROM events")
        .fetch_one(executor)
        .await?;
    Ok(u64::try_from(head).unwrap_or(0))
}

async fn find_command_with<'e>(
    executor: impl SqliteExecutor<'e>,
    stream_id: &str,
    command_id: Uuid,
) -> Result<Option<CommandRecord>, StoreError> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT first_version, last_version FROM commands WHERE stream_id = ? AND command_id = ?",
    )
    .bind(stream_id)
    .bind(command_id.hyphenated().to_string())
    .fetch_optional(executor)
    .await
    .map_err(|e| {
        StoreError::backend(
            format!("looking up command {command_id} on stream `{stream_id}`"),
            e,
        )
    })?;
    row.map(|(first, last)| {
        Ok(CommandRecord {
            first_version: to_u64(first, stream_id, "command's first version")?,
            last_version: to_u64(last, stream_id, "command's last version")?,
        })
    })
    .transpose()
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

impl EventStore for SqliteEventStore {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        if let Some(cause) = self.inner.corrupt.get() {
            return Err(StoreError::Corrupt {
                stream_id: stream_id.to_owned(),
                message: format!(
                    "appends are refused: the database file {} is corrupt ({cause}); \
                     check it with `PRAGMA integrity_check` and restore it from a backup",
                    self.inner.label
                ),
            });
        }
        self.observe(self.append_impl(stream_id, expected, events).await)
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        to: StreamEnd,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.observe(
            self.read_stream_impl(stream_id, from_version, to, limit)
                .await,
        )
    }

    /// Selects only the four columns a replay reads and lends each row to
    /// `visit` as it arrives, without copying type names or payloads.
    async fn replay_stream<F>(
        &self,
        stream_id: &str,
        from_version: u64,
        to: StreamEnd,
        limit: usize,
        mut visit: F,
    ) -> Result<usize, StoreError>
    where
        F: FnMut(ReplayedEvent<'_>) -> ControlFlow<()> + Send,
    {
        validate_stream_id(stream_id)?;
        if limit == 0 {
            return Ok(0);
        }
        let query = stream_query(
            stream_read_sql!(replay_columns!()),
            stream_id,
            from_version,
            to,
            limit,
        );
        let mut rows = query.fetch(&self.inner.pool);
        let mut visited = 0;
        while let Some(row) = rows
            .try_next()
            .await
            .map_err(|e| self.observe_sqlx(format!("reading stream `{stream_id}`"), e))?
        {
            let column = |e: sqlx::Error| corrupt(stream_id, format!("event row: {e}"));
            let version: i64 = row.try_get(0).map_err(column)?;
            let event_type: &str = row.try_get(1).map_err(column)?;
            let schema_version: i64 = row.try_get(2).map_err(column)?;
            let payload: &[u8] = row.try_get(3).map_err(column)?;
            let stream_version = to_u64(version, stream_id, "stream version")?;
            let schema_version = u32::try_from(schema_version).map_err(|_| {
                corrupt(
                    stream_id,
                    format!("schema version {schema_version} of event {stream_version}"),
                )
            })?;
            visited += 1;
            let flow = visit(ReplayedEvent {
                stream_version,
                event_type,
                schema_version,
                payload,
            });
            if flow.is_break() {
                break;
            }
        }
        Ok(visited)
    }

    async fn read_all(
        &self,
        after_position: u64,
        limit: usize,
        types: Option<&[&str]>,
    ) -> Result<ReadAllPage, StoreError> {
        self.observe(self.read_all_impl(after_position, limit, types).await)
    }

    async fn stream_version(&self, stream_id: &str) -> Result<u64, StoreError> {
        validate_stream_id(stream_id)?;
        self.observe(stream_version_with(&self.inner.pool, stream_id).await)
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        head_position_with(&self.inner.pool)
            .await
            .map_err(|e| self.observe_sqlx("reading the head position", e))
    }

    async fn find_command(
        &self,
        stream_id: &str,
        command_id: Uuid,
    ) -> Result<Option<CommandRecord>, StoreError> {
        validate_stream_id(stream_id)?;
        self.observe(find_command_with(&self.inner.pool, stream_id, command_id).await)
    }

    async fn watch_commits(&self) -> Result<CommitWatch, StoreError> {
        // Start from the current head, so the first wake-up is a new commit.
        let head = self.head_position().await?;
        self.announce(head);
        let mut polling = lock(&self.inner.polling);
        let rx = self.inner.commits.subscribe();
        if self.inner.poll && !*polling {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    *polling = true;
                    runtime.spawn(poll_commits(Arc::downgrade(&self.inner)));
                }
                Err(_) => tracing::warn!(
                    "no tokio runtime: commits by other processes will not wake this watcher"
                ),
            }
        }
        Ok(CommitWatch::new(rx))
    }
}

/// The polling backstop: while the store lives and anyone watches, checks the
/// head position every [`POLL_INTERVAL`] and announces it, so commits made by
/// other processes wake this process's readers. Holds only a weak reference
/// between ticks: it ends when the store is dropped or the last watcher goes.
async fn poll_commits(inner: Weak<Inner>) {
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        {
            let mut polling = lock(&inner.polling);
            if inner.commits.receiver_count() == 0 {
                *polling = false;
                return;
            }
        }
        match head_position_with(&inner.pool).await {
            Ok(head) => announce(&inner.commits, head),
            Err(e) => {
                tracing::debug!(error = %es_core::ErrorChain(&e), "polling the head position failed")
            }
        }
    }
}

fn announce(commits: &watch::Sender<u64>, position: u64) {
    commits.send_if_modified(|announced| {
        if position > *announced {
            *announced = position;
            true
        } else {
            false
        }
    });
}

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

/// Binds a JSON payload as TEXT (so SQLite's JSON functions read it), or as
/// a BLOB when the bytes are not UTF-8; either reads back byte for byte.
fn bind_json<'q>(
    query: Query<'q, Sqlite, SqliteArguments<'q>>,
    bytes: Vec<u8>,
) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    match String::from_utf8(bytes) {
        Ok(text) => query.bind(text),
        Err(e) => query.bind(e.into_bytes()),
    }
}

fn decode_event(row: &SqliteRow, stream_hint: &str) -> Result<RecordedEvent, StoreError> {
    let stream_id: String = row
        .try_get("stream_id")
        .map_err(|e| corrupt(stream_hint, format!("event row: {e}")))?;
    let s = stream_id.as_str();
    let column = |e: sqlx::Error| corrupt(s, format!("event row: {e}"));
    let position: i64 = row.try_get("global_position").map_err(column)?;
    let event_id: String = row.try_get("event_id").map_err(column)?;
    let version: i64 = row.try_get("stream_version").map_err(column)?;
    let event_type: String = row.try_get("event_type").map_err(column)?;
    let schema_version: i64 = row.try_get("schema_version").map_err(column)?;
    let payload: Vec<u8> = row.try_get("payload").map_err(column)?;
    let metadata: String = row.try_get("metadata").map_err(column)?;
    let recorded_at: String = row.try_get("recorded_at").map_err(column)?;
    let at = |what: &str| format!("{what} of event at position {position}");
    Ok(RecordedEvent {
        event_id: Uuid::parse_str(&event_id)
            .map_err(|e| corrupt(s, format!("{} {event_id:?}: {e}", at("event id"))))?,
        stream_version: to_u64(version, s, "stream version")?,
        global_position: to_u64(position, s, "global position")?,
        event_type,
        schema_version: u32::try_from(schema_version)
            .map_err(|_| corrupt(s, format!("{} {schema_version}", at("schema version"))))?,
        payload,
        metadata: serde_json::from_str::<Metadata>(&metadata)
            .map_err(|e| corrupt(s, format!("{}: {e}", at("metadata"))))?,
        recorded_at: parse_time(&recorded_at)
            .map_err(|e| corrupt(s, format!("{} {recorded_at:?}: {e}", at("recorded_at"))))?,
        stream_id,
    })
}

fn corrupt(stream_id: &str, message: String) -> StoreError {
    StoreError::Corrupt {
        stream_id: stream_id.to_owned(),
        message,
    }
}

/// Recorded times are stored as RFC 3339 UTC with exactly six fractional
/// digits, so text order is time order.
fn format_time(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_time(s: &str) -> Result<Timestamp, chrono::ParseError> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc))
}

/// A time bound as stored text. Stored times have whole microseconds, so
/// truncating the bound keeps `recorded_at <= bound` exact; bounds outside
/// years 0..=9999 (which RFC 3339 text cannot order) are clamped.
fn time_bound(t: Timestamp) -> String {
    let year = t.year();
    if year > 9999 {
        return "9999-12-31T23:59:59.999999Z".to_owned();
    }
    if year < 0 {
        // Before every stored time ('-' sorts before every digit).
        return "-".to_owned();
    }
    format_time(t)
}

/// Whether SQLite answered `SQLITE_BUSY` (any extended code of it).
/// What to say about a failed open: SQLite in WAL mode creates `-wal` and
/// `-shm` files next to the database, so a read-only (or missing)
/// directory fails even a read-only use.
fn open_hint(e: &sqlx::Error, path: &Path) -> String {
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

/// SQLite's words when an error in `e`'s chain says the file is damaged
/// (`SQLITE_CORRUPT`, `SQLITE_NOTADB`).
fn corruption_in(e: &StoreError) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(sqlx::Error::Database(db)) = err.downcast_ref::<sqlx::Error>()
            && let Some(code) = db.code().and_then(|c| c.parse::<i32>().ok())
            && matches!(code & 0xff, 11 | 26)
        {
            return Some(db.message().to_owned());
        }
        cur = err.source();
    }
    None
}

fn is_busy(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == 5)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64, stream_id: &str, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| corrupt(stream_id, format!("negative {what} {v}")))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded values stay consistent whatever a panicking holder did.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn stored_times_sort_as_text() {
        let a = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        let b = a + chrono::Duration::microseconds(1);
        assert!(format_time(a) < format_time(b));
        assert_eq!(format_time(a), "2024-01-02T03:04:05.000000Z");
        assert_eq!(parse_time(&format_time(b)).unwrap(), b);
    }

    /// The polling task stops when the last watcher goes, and starts again
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

    #[test]
    fn time_bounds_are_clamped() {
        assert_eq!(
            time_bound(DateTime::<Utc>::MAX_UTC),
            "9999-12-31T23:59:59.999999Z"
        );
        assert!(time_bound(DateTime::<Utc>::MIN_UTC) < format_time(Utc::now()));
        let t = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap()
            + chrono::Duration::nanoseconds(1_500);
        assert_eq!(time_bound(t), "2024-01-02T03:04:05.000001Z");
    }
}
