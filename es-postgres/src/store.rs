//! [`PgEventStore`]: the handle, how it is configured and connected, its
//! public methods, and the [`EventStore`] and [`SnapshotStore`] impls. Each
//! step lives next to its SQL in the module named after its role
//! (`append`, `read`, `snapshots`, `checkpoints`, `schema`, `watch`); the
//! store holds one small struct of statements per role, built from the
//! schema name once, and hands each call to it.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use es_core::{
    AppendResult, CommandRecord, CommitWatch, EventStore, ExpectedVersion, NewEvent, ReadAllPage,
    RecordedEvent, ReplayedEvent, Snapshot, SnapshotStore, StoreError, StreamEnd,
    validate_stream_id,
};
use sqlx::postgres::PgPool;
use tracing::Instrument;
use uuid::Uuid;

use crate::append::Appends;
use crate::checkpoints::{Checkpoints, DeadLetter, ProjectionStatus};
use crate::document::sql::DocumentSql;
use crate::error::{InvalidSchemaName, tls_as_tls};
use crate::inline::PgProjection;
use crate::process::sql::Processes;
use crate::read::Reads;
use crate::schema::{self, DEFAULT_SCHEMA};
use crate::snapshots::Snapshots;
use crate::watch::Watcher;

/// How often a follower polls when no notification arrives.
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// The least time between two commit announcements of one store (see
/// [`PgEventStoreBuilder::notify_interval`]).
const DEFAULT_NOTIFY_INTERVAL: Duration = Duration::from_millis(5);

/// How long `read_all` and `head_position` wait for transactions that
/// committed before the call but are held back by an older running one.
const DEFAULT_SETTLE_TIMEOUT: Duration = Duration::from_secs(1);

/// The largest event (payload and metadata together) an append accepts
/// unless [`PgEventStoreBuilder::max_payload_bytes`] says otherwise:
/// es-core's 8 MiB. Far above any sane event (the conformance suite stores
/// one of just over 1 MiB) and far below what hurts: PostgreSQL's own
/// ceilings (1 GB per field, 255 MB per jsonb value) would let one runaway
/// writer fill the server's memory and WAL long before it was refused.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = es_core::DEFAULT_MAX_PAYLOAD_BYTES;

/// Configures a [`PgEventStore`]: schema name, poll interval, settle timeout.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = es_postgres::PgEventStore::builder()
///     .schema("billing_events")?
///     .connect("postgres://postgres@127.0.0.1:5432/app")
///     .await?;
/// store.migrate().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PgEventStoreBuilder {
    schema: String,
    poll_interval: Duration,
    settle_timeout: Duration,
    max_payload_bytes: usize,
    notify_interval: Duration,
}

impl Default for PgEventStoreBuilder {
    fn default() -> Self {
        Self {
            schema: DEFAULT_SCHEMA.to_owned(),
            poll_interval: DEFAULT_POLL_INTERVAL,
            settle_timeout: DEFAULT_SETTLE_TIMEOUT,
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            notify_interval: DEFAULT_NOTIFY_INTERVAL,
        }
    }
}

impl PgEventStoreBuilder {
    /// The schema the tables live in (default `es`): ASCII letters, digits
    /// and `_`, not starting with a digit, at most 48 bytes (the
    /// notification channel `{schema}_events` must fit PostgreSQL's 63).
    pub fn schema(mut self, schema: &str) -> Result<Self, InvalidSchemaName> {
        if !schema::is_valid_name(schema) {
            return Err(InvalidSchemaName(schema.to_owned()));
        }
        self.schema = schema.to_owned();
        Ok(self)
    }

    /// How often subscriptions and commit watches poll when no notification
    /// arrives (default 500 ms): the backstop for a lost `NOTIFY`.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// How long `read_all` and `head_position` wait for events that
    /// committed before the call but are held back by an older transaction
    /// that is still running (default 1 s). See [`EventStore::read_all`] on
    /// [`PgEventStore`].
    pub fn settle_timeout(mut self, timeout: Duration) -> Self {
        self.settle_timeout = timeout;
        self
    }

    /// The largest size (in bytes) one event may have, its payload and its
    /// encoded metadata together (default [`DEFAULT_MAX_PAYLOAD_BYTES`],
    /// 8 MiB). An append with a bigger one fails with
    /// [`StoreError::PayloadTooLarge`] before anything is sent to the server,
    /// and writes none of its batch.
    pub fn max_payload_bytes(mut self, limit: usize) -> Self {
        self.max_payload_bytes = limit;
        self
    }

    /// The least time between two commit announcements (`NOTIFY`) this
    /// store sends (default 5 ms). After each append the store announces
    /// the new head to subscriptions and commit watches, in this and other
    /// processes. An append after a quiet spell is announced at once; under
    /// a steady stream of appends, those that commit within the interval
    /// after an announcement are announced together when it ends. Each
    /// announcement is a transaction on the server, so at a thousand appends
    /// a second this sends about two hundred instead of a thousand, and a
    /// listener wakes at most this much later. `Duration::ZERO` announces
    /// every append (still coalescing while one announcement is in flight).
    pub fn notify_interval(mut self, interval: Duration) -> Self {
        self.notify_interval = interval;
        self
    }

    /// Connects a pool (sqlx's default settings) and builds the store.
    ///
    /// The URL's `sslmode` (`prefer` by default, `require`, `verify-full`
    /// with `sslrootcert=…`) decides on TLS; a TLS failure comes back as
    /// `StoreError::Backend` with a `sqlx::Error::Tls` source
    /// ([`is_tls_error`](crate::is_tls_error)).
    pub async fn connect(self, url: &str) -> Result<PgEventStore, StoreError> {
        let pool = PgPool::connect(url)
            .await
            .map_err(|e| StoreError::backend("connecting to PostgreSQL", tls_as_tls(e)))?;
        Ok(self.build(pool))
    }

    /// Builds the store over an existing pool.
    pub fn build(self, pool: PgPool) -> PgEventStore {
        let channel = format!("{}_events", self.schema);
        let reads = Arc::new(Reads::new(&self.schema, self.settle_timeout));
        PgEventStore {
            shared: Arc::new(Shared {
                appends: Appends::new(
                    &self.schema,
                    &channel,
                    self.max_payload_bytes,
                    self.notify_interval,
                ),
                snapshots: Snapshots::new(&self.schema),
                checkpoints: Checkpoints::new(&self.schema),
                processes: Processes::new(&self.schema),
                documents: DocumentSql::new(&self.schema),
                watcher: Watcher::new(pool.clone(), &channel, self.poll_interval, reads.clone()),
                reads,
                channel,
                schema: self.schema,
                pool,
                poll_interval: self.poll_interval,
            }),
        }
    }
}

/// The PostgreSQL event store. Cheap to clone (clones share the pool).
#[derive(Clone)]
pub struct PgEventStore {
    shared: Arc<Shared>,
}

/// What the clones of a store share: the pool, the names, and each role's
/// statements (see the module docs).
#[derive(Clone)]
struct Shared {
    pool: PgPool,
    schema: String,
    channel: String,
    poll_interval: Duration,
    reads: Arc<Reads>,
    appends: Appends,
    snapshots: Snapshots,
    checkpoints: Checkpoints,
    processes: Processes,
    documents: DocumentSql,
    watcher: Watcher,
}

impl std::fmt::Debug for PgEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgEventStore")
            .field("schema", &self.shared.schema)
            .finish_non_exhaustive()
    }
}

impl PgEventStore {
    /// Connects a pool to `url` (sqlx's default pool settings) with the
    /// default schema `es`. Call [`PgEventStore::migrate`] before first use.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder().connect(url).await
    }

    /// A store over an existing pool, with the default schema `es`.
    pub fn from_pool(pool: PgPool) -> Self {
        Self::builder().build(pool)
    }

    /// A builder for a store with another schema, poll interval or settle timeout.
    pub fn builder() -> PgEventStoreBuilder {
        PgEventStoreBuilder::default()
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.shared.pool
    }

    /// The schema the tables live in.
    pub fn schema(&self) -> &str {
        &self.shared.schema
    }

    /// The `LISTEN`/`NOTIFY` channel appends announce their last position on.
    pub fn channel(&self) -> &str {
        &self.shared.channel
    }

    /// Creates the schema if needed and runs the embedded migrations in it.
    ///
    /// Safe to run twice and from several processes at once: the schema is
    /// created under an advisory lock (two concurrent `CREATE SCHEMA IF NOT
    /// EXISTS` can otherwise fail), and sqlx's migrator takes its own
    /// advisory lock and skips applied migrations.
    ///
    /// The migrations are plain SQL with unqualified names; they run on a
    /// connection of their own whose `search_path` is the store's schema
    /// alone, so they work for any schema name without templating, and the
    /// migration history (`_sqlx_migrations`) is kept per schema. That
    /// connection is closed afterwards, so no pooled connection keeps the
    /// changed `search_path`. (The store's own statements name the schema
    /// explicitly and do not depend on `search_path`.)
    ///
    /// Then runs the [`PgProjection::setup`] hook of every inline projection
    /// (see [`PgEventStore::with_inline`]), on a pooled connection.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let schema = &self.shared.schema;
        schema::migrate(&self.shared.pool, schema)
            .await
            .map_err(|e| StoreError::backend(format!("migrating schema `{schema}`"), e))?;
        self.shared.appends.setup_inline(&self.shared.pool).await
    }

    /// This store with `projection` run inline: inside each append's own
    /// transaction, after the events are inserted and before `COMMIT`, for
    /// the appended events of its types. Its read model is therefore never
    /// behind the events, and a failing handler fails the append (a
    /// [`StoreError::Backend`] naming the projection whose source is the
    /// [`ProjectionError`](es_core::projection::ProjectionError); nothing is stored).
    ///
    /// Each append runs a fresh clone of `projection`, so keep the model in
    /// the database and only configuration in the value. Appends of a store
    /// with no inline projection stay one statement; with one, they are
    /// `BEGIN`, the same statement, a read-back of the inserted rows (only
    /// when some inline projection reads one of their types), the
    /// handlers, `COMMIT`. Clones of the store made before this call do not
    /// run it. [`PgEventStore::migrate`] runs its [`PgProjection::setup`].
    ///
    /// ```no_run
    /// # use es_core::projection::*; use es_core::RecordedEvent; use sqlx::PgConnection;
    /// # #[derive(Clone)] struct Balances;
    /// # impl Projection for Balances { const NAME: &'static str = "b"; const EVENT_TYPES: &'static [&'static str] = &[]; }
    /// # impl Dispatch<PgConnection> for Balances {
    /// #     async fn dispatch(&mut self, _: &RecordedEvent, _: &mut PgConnection) -> Result<(), ProjectionError> { Ok(()) } }
    /// # impl es_postgres::PgProjection for Balances {}
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = es_postgres::PgEventStore::connect("postgres://postgres@127.0.0.1:5432/app")
    ///     .await?
    ///     .with_inline(Balances);
    /// store.migrate().await?; // also creates the inline projections' tables
    /// # Ok(()) }
    /// ```
    pub fn with_inline<P>(mut self, projection: P) -> Self
    where
        P: PgProjection + Clone + Sync,
    {
        Arc::make_mut(&mut self.shared)
            .appends
            .add_inline(projection);
        self
    }

    /// Adds `consumer` to the inline projections of this handle (and the
    /// clones made from it afterwards).
    pub(crate) fn add_inline_consumer<C>(&mut self, consumer: C)
    where
        C: es_core::consumer::Consumer<crate::inline::PgTx> + Clone + Sync,
    {
        Arc::make_mut(&mut self.shared)
            .appends
            .add_inline_consumer(consumer);
    }

    /// The names of the inline projections, in the order they run.
    pub fn inline_projections(&self) -> Vec<&'static str> {
        self.shared.appends.inline_names()
    }

    /// The position a projection last stored with [`PgEventStore::save_checkpoint`]
    /// (`None`: it never stored one; a runner stores 0 when it first starts).
    /// A negative stored position is [`StoreError::Corrupt`], as on SQLite.
    pub async fn load_checkpoint(&self, projection: &str) -> Result<Option<u64>, StoreError> {
        self.shared
            .checkpoints
            .load(&self.shared.pool, projection)
            .await
    }

    /// Stores a projection's position. Pass a transaction (`&mut *tx`) to
    /// store it together with the read model's changes.
    pub async fn save_checkpoint<'c, E>(
        &self,
        executor: E,
        projection: &str,
        position: u64,
    ) -> Result<(), StoreError>
    where
        E: sqlx::Executor<'c, Database = sqlx::Postgres>,
    {
        self.shared
            .checkpoints
            .save(executor, projection, position)
            .await
    }

    /// A projection's checkpoint, head and lag (see [`ProjectionStatus`]),
    /// for a name and its event types (a projection's `NAME` and
    /// `EVENT_TYPES`). Does not wait for held-back commits.
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
        name: &str,
        types: Option<&[&str]>,
    ) -> Result<ProjectionStatus, StoreError> {
        self.shared
            .checkpoints
            .status(&self.shared.pool, name, types)
            .await
    }

    /// The events a runner with [`ErrorPolicy::DeadLetter`](crate::ErrorPolicy::DeadLetter) skipped for
    /// `projection`, in global order.
    pub async fn dead_letters(&self, projection: &str) -> Result<Vec<DeadLetter>, StoreError> {
        self.shared
            .checkpoints
            .dead_letters(&self.shared.pool, projection)
            .await
    }

    /// How often followers poll when no notification arrives.
    pub(crate) fn poll_interval(&self) -> Duration {
        self.shared.poll_interval
    }

    /// The checkpoint and dead-letter statements (the runner's batch
    /// transaction runs them).
    pub(crate) fn checkpoints(&self) -> &Checkpoints {
        &self.shared.checkpoints
    }

    /// The read statements (the partitioned reads run them).
    pub(crate) fn reads(&self) -> &crate::read::Reads {
        &self.shared.reads
    }

    /// The process managers' statements (see the `process` module).
    pub(crate) fn processes(&self) -> &Processes {
        &self.shared.processes
    }

    /// An append under a DCB condition, with tags (see the `dcb` module).
    pub(crate) async fn append_dcb(
        &self,
        stream_id: &str,
        events: Vec<NewEvent>,
        dcb: &crate::dcb::condition::DcbAppend,
    ) -> Result<AppendResult, StoreError> {
        self.shared
            .appends
            .append_batch(
                &self.shared.pool,
                &self.shared.reads,
                stream_id,
                ExpectedVersion::Any,
                events,
                Some(dcb),
            )
            .await
    }

    /// How long a read of the global log waits for held-back commits.
    pub(crate) fn settle_timeout(&self) -> std::time::Duration {
        self.shared.reads.settle_timeout()
    }

    /// The document projections' statements (see the `document` module).
    pub(crate) fn documents(&self) -> &DocumentSql {
        &self.shared.documents
    }
}

impl EventStore for PgEventStore {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        let span = tracing::debug_span!(
            "es_postgres.append",
            stream = %stream_id,
            expected = %expected,
            events = events.len(),
            version = tracing::field::Empty,
        );
        self.shared
            .appends
            .append_batch(
                &self.shared.pool,
                &self.shared.reads,
                stream_id,
                expected,
                events,
                None,
            )
            .instrument(span)
            .await
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        to: StreamEnd,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        validate_stream_id(stream_id)?;
        let span = tracing::debug_span!(
            "es_postgres.read_stream",
            stream = %stream_id,
            from_version,
            limit,
            events = tracing::field::Empty,
        );
        async {
            let events = self
                .shared
                .reads
                .read_stream_page(&self.shared.pool, stream_id, from_version, to, limit)
                .await?;
            tracing::Span::current().record("events", events.len());
            Ok(events)
        }
        .instrument(span)
        .await
    }

    /// Selects only `stream_version, event_type, schema_version, payload`
    /// and lends each row to `visit` as it arrives: a replay needs no more,
    /// and the full row costs about twice the time to fetch and decode
    /// (es-bench, 10,000-event load). Nothing is copied out of the rows, and
    /// at most one row is held at a time.
    async fn replay_stream<F>(
        &self,
        stream_id: &str,
        from_version: u64,
        to: StreamEnd,
        limit: usize,
        visit: F,
    ) -> Result<usize, StoreError>
    where
        F: FnMut(ReplayedEvent<'_>) -> ControlFlow<()> + Send,
    {
        validate_stream_id(stream_id)?;
        self.shared
            .reads
            .replay_rows(&self.shared.pool, stream_id, from_version, to, limit, visit)
            .await
    }

    /// Reads in global order, only events whose transaction id is below the
    /// oldest running transaction's (`pg_snapshot_xmin`): those transactions
    /// have all finished, and since positions follow transaction ids (see the
    /// crate docs) no event can later appear below a position returned here.
    ///
    /// Events that committed before the call but sit above a still-running
    /// older transaction are waited for (up to the settle timeout, 1 s by
    /// default), so a writer reads its own appends; a long-running writing
    /// transaction anywhere in the cluster holds readers back for its
    /// duration.
    async fn read_all(
        &self,
        after_position: u64,
        limit: usize,
        types: Option<&[&str]>,
    ) -> Result<ReadAllPage, StoreError> {
        let span = tracing::debug_span!(
            "es_postgres.read_all",
            after_position,
            limit,
            events = tracing::field::Empty,
            scanned_to = tracing::field::Empty,
        );
        async {
            let page = self
                .shared
                .reads
                .read_all_page(&self.shared.pool, after_position, limit, types, None)
                .await?;
            let span = tracing::Span::current();
            span.record("events", page.len());
            span.record("scanned_to", page.scanned_to);
            Ok(page)
        }
        .instrument(span)
        .await
    }

    async fn stream_version(&self, stream_id: &str) -> Result<u64, StoreError> {
        validate_stream_id(stream_id)?;
        self.shared
            .reads
            .stream_version(&self.shared.pool, stream_id)
            .await
    }

    /// The newest position [`EventStore::read_all`] would return, waiting
    /// like it does for events committed before the call.
    async fn head_position(&self) -> Result<u64, StoreError> {
        self.shared.reads.head_position(&self.shared.pool).await
    }

    async fn find_command(
        &self,
        stream_id: &str,
        command_id: Uuid,
    ) -> Result<Option<CommandRecord>, StoreError> {
        validate_stream_id(stream_id)?;
        self.shared
            .reads
            .find_command(&self.shared.pool, stream_id, command_id)
            .await
    }

    async fn watch_commits(&self) -> Result<CommitWatch, StoreError> {
        Ok(self.shared.watcher.watch())
    }
}

impl SnapshotStore for PgEventStore {
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        validate_stream_id(&snapshot.stream_id)?;
        self.shared
            .snapshots
            .save(&self.shared.pool, snapshot)
            .await
    }

    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        validate_stream_id(stream_id)?;
        self.shared
            .snapshots
            .load(&self.shared.pool, stream_id)
            .await
    }
}
