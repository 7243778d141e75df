//! The PostgreSQL event store of the event-sourcing framework: [`PgEventStore`]
//! implements `es_core`'s [`EventStore`] and [`SnapshotStore`] on sqlx and
//! tokio, with embedded migrations, a subscription API ([`Subscription`]) woken
//! by `LISTEN`/`NOTIFY`, and projection checkpoints.
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent, StreamEnd};
//! use es_postgres::PgEventStore;
//!
//! let store = PgEventStore::connect("postgres://postgres@127.0.0.1:5432/app").await?;
//! store.migrate().await?; // safe to run on every start, from every process
//! let e = NewEvent::from_raw("Pinged", 1, br#"{"n":1}"#.to_vec(), Metadata::new());
//! store.append("Pinger-1", ExpectedVersion::NoStream, vec![e]).await?;
//! let events = store.read_stream("Pinger-1", 1, StreamEnd::Head, 100).await?;
//! assert_eq!(events.len(), 1);
//! # Ok(()) }
//! ```
//!
//! # Global order
//!
//! An event's `global_position` is `tx_id << 20 | n`: the id of the
//! transaction that wrote it, then its index within that transaction. A
//! sequence would not do: its values are taken before their transactions
//! commit, in an order unrelated to commit order, so a reader paging by
//! position can pass position 7 (committed) while position 5 (its transaction
//! still running) becomes visible later, and is skipped for ever. Reading
//! only rows whose `tx_id` is below `pg_snapshot_xmin(pg_current_snapshot())`
//! fixes that only when position order follows transaction-id order, which a
//! sequence does not guarantee either (transaction A takes its id, B takes its
//! id and its position, A takes a later position and commits while B still
//! runs). Deriving the position from the transaction id makes both orders
//! the same, with no lock and no extra round trip, so [`EventStore::read_all`]
//! returns only positions below `xmin << 20`: every transaction there has
//! finished, so nothing can appear below a position a reader has passed.
//! (Transactions that pg_stat_activity shows in another database are left
//! out of that `xmin`: they cannot write this database's events.)
//! Positions therefore have gaps (they grow by 2^20 per transaction); they
//! are ordered and unique, which is all the contract asks.

mod error;
mod inline;
mod listener;
mod notify;
mod runner;
mod subscription;

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use es_core::{
    AppendResult, CommandRecord, CommitWatch, EventStore, ExpectedVersion, Metadata, NewEvent,
    ReadAllPage, RecordedEvent, ReplayedEvent, Snapshot, SnapshotStore, StoreError, StreamEnd,
    check_append, stream_category, validate_stream_id,
};
use futures::TryStreamExt;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{Connection, Row};
use tracing::Instrument;
use uuid::Uuid;

pub use error::{InvalidPayload, InvalidSchemaName, is_tls_error};
pub use inline::PgProjection;
pub use listener::Listener;
pub use runner::{DeadLetter, ErrorPolicy, ProjectionRunner, ProjectionStatus};
pub use subscription::Subscription;

/// The embedded migrations (`es-postgres/migrations`). [`PgEventStore::migrate`]
/// runs them in the store's schema.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The schema the tables live in unless [`PgEventStoreBuilder::schema`] says otherwise.
pub const DEFAULT_SCHEMA: &str = "es";

/// How many events one transaction may write: the low 20 bits of a global
/// position number the events of one transaction.
pub const MAX_EVENTS_PER_TRANSACTION: usize = (1 << POSITION_SHIFT) - 1;

const POSITION_SHIFT: u32 = 20;

/// An advisory-lock key that serializes `CREATE SCHEMA IF NOT EXISTS` of
/// concurrent migrations (two of them racing fail with a unique violation).
const SCHEMA_LOCK_KEY: i64 = 0x6573_5f70_6773_6368; // "es_pgsch"

/// How often a follower polls when no notification arrives.
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// The least time between two commit announcements of one store (see
/// [`PgEventStoreBuilder::notify_interval`]).
const DEFAULT_NOTIFY_INTERVAL: Duration = Duration::from_millis(5);

/// How long `read_all` and `head_position` wait for transactions that
/// committed before the call but are held back by an older running one.
const DEFAULT_SETTLE_TIMEOUT: Duration = Duration::from_secs(1);

/// How often an append with [`ExpectedVersion::Any`] is retried when another
/// writer took the same stream version first.
const ANY_RETRIES: u32 = 32;

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
        let ok_start = schema
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        let ok_chars = schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok_start || !ok_chars || schema.len() > 48 {
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
    /// ([`is_tls_error`]).
    pub async fn connect(self, url: &str) -> Result<PgEventStore, StoreError> {
        let pool = PgPool::connect(url)
            .await
            .map_err(|e| StoreError::backend("connecting to PostgreSQL", error::tls_as_tls(e)))?;
        Ok(self.build(pool))
    }

    /// Builds the store over an existing pool.
    pub fn build(self, pool: PgPool) -> PgEventStore {
        PgEventStore {
            shared: Arc::new(Shared {
                sql: Sql::new(&self.schema),
                channel: format!("{}_events", self.schema),
                schema: self.schema,
                pool,
                poll_interval: self.poll_interval,
                settle_timeout: self.settle_timeout,
                max_payload_bytes: self.max_payload_bytes,
                notify_interval: self.notify_interval,
                watch: Arc::new(Mutex::new(None)),
                notifier: Arc::new(Mutex::new(None)),
                inline: Vec::new(),
            }),
        }
    }
}

/// The PostgreSQL event store. Cheap to clone (clones share the pool).
#[derive(Clone)]
pub struct PgEventStore {
    shared: Arc<Shared>,
}

#[derive(Clone)]
struct Shared {
    pool: PgPool,
    schema: String,
    channel: String,
    sql: Sql,
    poll_interval: Duration,
    settle_timeout: Duration,
    /// Payloads above this many bytes are refused before the round trip.
    max_payload_bytes: usize,
    watch: subscription::WatchSlot,
    /// The least time between two announcements.
    notify_interval: Duration,
    /// Announces the fast path's commits (see `notify`).
    notifier: notify::NotifierSlot,
    /// Projections run inside each append's transaction.
    inline: Vec<Arc<dyn inline::ErasedInline>>,
}

impl std::fmt::Debug for PgEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgEventStore")
            .field("schema", &self.shared.schema)
            .finish_non_exhaustive()
    }
}

/// The statements, with the (validated, quoted) schema name filled in once.
#[derive(Clone)]
struct Sql {
    /// The common append: no command id, no `NOTIFY` in the statement.
    append_plain: String,
    /// `append_plain` for a single event, from scalars instead of arrays.
    append_one: String,
    /// The append that also checks and records a command id, and notifies
    /// in its transaction when given a channel.
    append: String,
    read_stream: String,
    /// `read_stream` with only the columns a replay reads.
    replay_stream: String,
    /// `replay_stream` without a time bound.
    replay_stream_to_version: String,
    read_all: String,
    head: String,
    stream_version: String,
    find_command: String,
    save_snapshot: String,
    load_snapshot: String,
    load_checkpoint: String,
    save_checkpoint: String,
    /// Creates a projection's checkpoint row at 0 if it has none.
    init_checkpoint: String,
    /// Locks a projection's checkpoint row for the batch transaction.
    lock_checkpoint: String,
    /// Moves a locked checkpoint row.
    update_checkpoint: String,
    /// Position, head and lag of a projection ($1 name, $2 types).
    projection_status: String,
    record_dead_letter: String,
    record_unreadable: String,
    clear_dead_letters: String,
    dead_letters: String,
}

/// The columns of an event row, in the order `decode_event_at` reads them.
const COLUMNS: &str = "global_position, event_id, stream_id, stream_version, event_type, \
     schema_version, payload::text AS payload, metadata::text AS metadata, recorded_at";

impl Sql {
    fn new(schema: &str) -> Self {
        let s = quote_ident(schema);
        // The bound below which every transaction has finished (committed or
        // rolled back), as a global position.
        //
        // It is `pg_snapshot_xmin` of the statement's snapshot, except that
        // transactions known to run in another database are left out: they
        // cannot write this database's events, and a long one (a CREATE
        // DATABASE, another application's batch job) would otherwise hold
        // every reader back. A transaction is left out only when
        // pg_stat_activity shows it in another database; one that is not
        // found (it ended since the snapshot, or its backend is not visible
        // to this role) still counts, so the bound is never too high.
        let bound = format!(
            "((SELECT LEAST(pg_snapshot_xmax(s.snap)::text::bigint, \
                 (SELECT min(x::text::bigint) FROM pg_snapshot_xip(s.snap) AS x \
                  WHERE NOT EXISTS ( \
                      SELECT 1 FROM pg_stat_activity AS a \
                      WHERE a.backend_xid IS NOT NULL \
                        AND a.backend_xid::text::bigint = (x::text::bigint & 4294967295) \
                        AND a.datname IS DISTINCT FROM current_database()))) \
               FROM (SELECT pg_current_snapshot() AS snap) AS s) << {POSITION_SHIFT})"
        );
        // What a replay reads: only the columns it decodes.
        let replay = format!(
            "SELECT stream_version, event_type, schema_version, payload::text AS payload \
             FROM {s}.events \
             WHERE stream_id = $1 AND stream_version >= $2 AND stream_version <= $3"
        );
        Self {
            // The common append, as plain as an append can be (the full
            // statement below costs the server about a third more per
            // single-event append: executor start-up of its CTEs, measured
            // with pgbench, see BENCHMARKS.md): read the stream's version,
            // insert the batch from arrays at the versions after it only
            // when that is the expected version, return what was inserted.
            // No rows: the stream is not at the expected version. Positions
            // need no lookup: each append statement runs in a transaction
            // of its own, so this transaction has written no event yet.
            // Concurrent writers that both read the same version collide on
            // (stream_id, stream_version): the second fails with 23505 and
            // writes nothing.
            append_plain: format!(
                r#"
INSERT INTO {s}.events (global_position, event_id, stream_id, stream_version,
    aggregate_type, event_type, schema_version, payload, metadata, tx_id)
SELECT (cur.tx_id::text::bigint << {POSITION_SHIFT}) + e.ord, e.event_id, $1,
       cur.version + e.ord, $2, e.event_type, e.schema_version, e.payload::jsonb,
       COALESCE(e.metadata::jsonb, '{{}}'::jsonb), cur.tx_id
FROM (SELECT COALESCE(max(stream_version), 0) AS version, pg_current_xact_id() AS tx_id
      FROM {s}.events WHERE stream_id = $1) AS cur,
     unnest($4::uuid[], $5::text[], $6::int4[], $7::text[], $8::text[])
        WITH ORDINALITY AS e(event_id, event_type, schema_version, payload, metadata, ord)
WHERE $3::bigint IS NULL OR cur.version = $3::bigint
RETURNING global_position, stream_version"#
            ),
            // The same for one event (every command that emits one), from
            // scalars: no unnest to set up (about a tenth less server time
            // per statement, pgbench with 4 clients).
            append_one: format!(
                r#"
INSERT INTO {s}.events (global_position, event_id, stream_id, stream_version,
    aggregate_type, event_type, schema_version, payload, metadata, tx_id)
SELECT (cur.tx_id::text::bigint << {POSITION_SHIFT}) + 1, $4::uuid, $1,
       cur.version + 1, $2, $5::text, $6::int4, $7::text::jsonb,
       COALESCE($8::text::jsonb, '{{}}'::jsonb), cur.tx_id
FROM (SELECT COALESCE(max(stream_version), 0) AS version, pg_current_xact_id() AS tx_id
      FROM {s}.events WHERE stream_id = $1) AS cur
WHERE $3::bigint IS NULL OR cur.version = $3::bigint
RETURNING global_position, stream_version"#
            ),
            // One statement, one round trip: check the command id ($9) and
            // the expected version, insert the whole batch from arrays,
            // record the command, and notify when $10 (the channel) is not NULL
            // (only inside an inline projection's transaction; otherwise the
            // `notify` task announces the commit, see src/notify.rs).
            // Concurrent writers that both pass the
            // version check collide on (stream_id, stream_version): the
            // second fails with 23505 and writes nothing.
            append: format!(
                r#"
WITH cur AS MATERIALIZED (
    SELECT COALESCE(max(stream_version), 0) AS version
    FROM {s}.events WHERE stream_id = $1
), dup AS MATERIALIZED (
    SELECT first_version, last_version
    FROM {s}.commands WHERE stream_id = $1 AND command_id = $9::uuid
), ok AS MATERIALIZED (
    SELECT cur.version FROM cur
    WHERE NOT EXISTS (SELECT 1 FROM dup)
      AND ($3::bigint IS NULL OR cur.version = $3::bigint)
), txn AS MATERIALIZED (
    SELECT x.id, COALESCE(
        (SELECT max(global_position) FROM {s}.events
         WHERE global_position > x.base AND global_position < x.base + {per_tx}),
        x.base) AS base
    FROM ok, (SELECT pg_current_xact_id() AS id,
                     (pg_current_xact_id()::text::bigint) << {POSITION_SHIFT} AS base) AS x
), ins AS (
    INSERT INTO {s}.events (global_position, event_id, stream_id, stream_version,
        aggregate_type, event_type, schema_version, payload, metadata, tx_id)
    SELECT txn.base + e.ord, e.event_id, $1, ok.version + e.ord, $2, e.event_type,
           e.schema_version, e.payload::jsonb, COALESCE(e.metadata::jsonb, '{{}}'::jsonb), txn.id
    FROM ok, txn, unnest($4::uuid[], $5::text[], $6::int4[], $7::text[], $8::text[])
        WITH ORDINALITY AS e(event_id, event_type, schema_version, payload, metadata, ord)
    RETURNING global_position, stream_version
), summary AS MATERIALIZED (
    SELECT count(*) AS n, min(stream_version) AS first_version,
           max(stream_version) AS last_version, max(global_position) AS last_position
    FROM ins
), cmd AS (
    INSERT INTO {s}.commands (stream_id, command_id, first_version, last_version)
    SELECT $1, $9::uuid, first_version, last_version FROM summary
    WHERE $9::uuid IS NOT NULL AND n > 0
    RETURNING 1
), notified AS (
    SELECT pg_notify($10, last_position::text) FROM summary WHERE n > 0 AND $10::text IS NOT NULL
)
SELECT cur.version AS current_version, summary.n, summary.first_version,
       summary.last_version, summary.last_position,
       dup.first_version AS dup_first, dup.last_version AS dup_last,
       (SELECT count(*) FROM cmd) AS commands, (SELECT count(*) FROM notified) AS notified
FROM cur CROSS JOIN summary LEFT JOIN dup ON true"#,
                per_tx = 1i64 << POSITION_SHIFT,
            ),
            read_stream: format!(
                "SELECT {COLUMNS} FROM {s}.events \
                 WHERE stream_id = $1 AND stream_version >= $2 AND stream_version <= $3 \
                   AND ($4::timestamptz IS NULL OR recorded_at <= $4::timestamptz) \
                 ORDER BY stream_version LIMIT $5"
            ),
            replay_stream: format!(
                "{replay} AND ($4::timestamptz IS NULL OR recorded_at <= $4::timestamptz) \
                 ORDER BY stream_version LIMIT $5"
            ),
            // The common replay (to the head or a version) without the time
            // test: a prepared statement's generic plan would evaluate
            // `$4 IS NULL OR …` on every row.
            replay_stream_to_version: format!("{replay} ORDER BY stream_version LIMIT $4"),
            read_all: format!(
                r#"
WITH b AS MATERIALIZED (SELECT {bound} AS bound),
s AS MATERIALIZED (
    SELECT b.bound,
           (SELECT COALESCE(max(global_position), 0) FROM {s}.events) AS visible,
           (SELECT COALESCE(max(global_position), 0) FROM {s}.events
            WHERE global_position < b.bound) AS head
    FROM b
)
SELECT s.bound, s.visible, s.head, e.*
FROM s LEFT JOIN LATERAL (
    SELECT {COLUMNS} FROM {s}.events
    WHERE global_position > $1 AND global_position < s.bound
      AND ($3::text[] IS NULL OR event_type = ANY($3::text[]))
    ORDER BY global_position LIMIT $2
) AS e ON true
ORDER BY e.global_position"#
            ),
            head: format!(
                r#"
WITH s AS MATERIALIZED (SELECT {bound} AS bound)
SELECT s.bound,
       (SELECT COALESCE(max(global_position), 0) FROM {s}.events) AS visible,
       (SELECT COALESCE(max(global_position), 0) FROM {s}.events
        WHERE global_position < s.bound) AS head
FROM s"#
            ),
            stream_version: format!(
                "SELECT COALESCE(max(stream_version), 0) FROM {s}.events WHERE stream_id = $1"
            ),
            find_command: format!(
                "SELECT first_version, last_version FROM {s}.commands \
                 WHERE stream_id = $1 AND command_id = $2"
            ),
            save_snapshot: format!(
                "INSERT INTO {s}.snapshots (stream_id, version, snapshot_version, payload, taken_at) \
                 VALUES ($1, $2, $3, $4::jsonb, $5) \
                 ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version, \
                   snapshot_version = EXCLUDED.snapshot_version, payload = EXCLUDED.payload, \
                   taken_at = EXCLUDED.taken_at"
            ),
            load_snapshot: format!(
                "SELECT stream_id, version, snapshot_version, payload::text AS payload, taken_at \
                 FROM {s}.snapshots WHERE stream_id = $1"
            ),
            load_checkpoint: format!("SELECT position FROM {s}.checkpoints WHERE projection = $1"),
            save_checkpoint: format!(
                "INSERT INTO {s}.checkpoints (projection, position, updated_at) VALUES ($1, $2, now()) \
                 ON CONFLICT (projection) DO UPDATE SET position = EXCLUDED.position, \
                   updated_at = EXCLUDED.updated_at"
            ),
            init_checkpoint: format!(
                "INSERT INTO {s}.checkpoints (projection, position) VALUES ($1, 0) \
                 ON CONFLICT (projection) DO NOTHING"
            ),
            lock_checkpoint: format!(
                "SELECT position FROM {s}.checkpoints WHERE projection = $1 FOR UPDATE"
            ),
            update_checkpoint: format!(
                "UPDATE {s}.checkpoints SET position = $2, updated_at = now() WHERE projection = $1"
            ),
            projection_status: format!(
                r#"
WITH s AS MATERIALIZED (SELECT {bound} AS bound),
c AS MATERIALIZED (
    SELECT COALESCE((SELECT position FROM {s}.checkpoints WHERE projection = $1), 0) AS position
)
SELECT c.position,
       (SELECT COALESCE(max(global_position), 0) FROM {s}.events
        WHERE event_type = ANY($2::text[]) AND global_position < s.bound) AS head,
       (SELECT count(*) FROM {s}.events
        WHERE event_type = ANY($2::text[]) AND global_position > c.position
          AND global_position < s.bound) AS lag
FROM s, c"#
            ),
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
}

/// Quotes an identifier for SQL text. Only schema names (validated by
/// [`PgEventStoreBuilder::schema`]) go through here; values are always bound.
fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A stream read's end as its statements bind it: the last version
/// (`i64::MAX` for none) and the time bound, if any.
fn stream_end(to: StreamEnd) -> (i64, Option<es_core::Timestamp>) {
    match to {
        StreamEnd::Head => (i64::MAX, None),
        StreamEnd::Version(v) => (to_i64(v), None),
        StreamEnd::Time(t) => (i64::MAX, Some(t)),
    }
}

fn limit_i64(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// The SQLSTATE and constraint of a database error.
fn db_error(e: &sqlx::Error) -> Option<(String, Option<String>)> {
    let db = e.as_database_error()?;
    Some((
        db.code().map(|c| c.into_owned()).unwrap_or_default(),
        db.constraint().map(str::to_owned),
    ))
}

fn decode_event(row: &PgRow) -> Result<RecordedEvent, StoreError> {
    decode_event_at(row, 0)
}

/// Decodes the [`COLUMNS`] of a row that start at column `base`, by
/// position: a by-name lookup per column per row showed up in the profile
/// of long reads.
fn decode_event_at(row: &PgRow, base: usize) -> Result<RecordedEvent, StoreError> {
    let stream_id: String = row
        .try_get(base + 2)
        .map_err(|e| StoreError::backend("decoding an event row", e))?;
    let backend = |e: sqlx::Error| {
        StoreError::backend(format!("decoding an event of stream `{stream_id}`"), e)
    };
    let metadata: &str = row.try_get(base + 7).map_err(backend)?;
    // Most events carry no metadata: skip the parser for `{}`.
    let metadata: Metadata = if metadata == "{}" {
        Metadata::default()
    } else {
        serde_json::from_str(metadata).map_err(|e| StoreError::Corrupt {
            stream_id: stream_id.clone(),
            message: format!("undecodable metadata: {e}"),
        })?
    };
    let payload: String = row.try_get(base + 6).map_err(backend)?;
    let schema_version: i32 = row.try_get(base + 5).map_err(backend)?;
    Ok(RecordedEvent {
        global_position: to_u64(row.try_get(base).map_err(backend)?),
        event_id: row.try_get(base + 1).map_err(backend)?,
        stream_version: to_u64(row.try_get(base + 3).map_err(backend)?),
        event_type: row.try_get(base + 4).map_err(backend)?,
        schema_version: u32::try_from(schema_version).unwrap_or(0),
        payload: payload.into_bytes(),
        metadata,
        recorded_at: row.try_get(base + 8).map_err(backend)?,
        stream_id,
    })
}

/// Why one append attempt failed.
enum AppendError {
    /// The database refused (classified by the caller: conflicts, payloads).
    Sql(sqlx::Error),
    /// Anything else, e.g. an inline projection's handler.
    Other(StoreError),
}

impl From<sqlx::Error> for AppendError {
    fn from(e: sqlx::Error) -> Self {
        Self::Sql(e)
    }
}

/// What one append statement did.
#[derive(Default)]
struct Outcome {
    /// An earlier batch with the same command id: its first and last version.
    duplicate: Option<(i64, i64)>,
    /// The inserted events' first and last version and last position;
    /// `None` when nothing was inserted (the stream was not at the expected
    /// version).
    inserted: Option<(i64, i64, i64)>,
    /// The stream's version before the statement, when the statement says.
    current: Option<i64>,
}

impl Outcome {
    /// Adds one of the plain statement's returned rows (one per inserted
    /// event).
    fn add_returned(&mut self, row: &PgRow) -> Result<(), sqlx::Error> {
        let position: i64 = row.try_get(0)?;
        let version: i64 = row.try_get(1)?;
        self.inserted = Some(match self.inserted {
            None => (version, version, position),
            Some((first, last, at)) => (first.min(version), last.max(version), at.max(position)),
        });
        Ok(())
    }

    /// From the full statement's one row.
    fn from_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        let get = |name: &str| row.try_get::<Option<i64>, _>(name);
        let duplicate = get("dup_first")?.zip(get("dup_last")?);
        let inserted = if get("n")?.unwrap_or(0) > 0 {
            get("first_version")?
                .zip(get("last_version")?)
                .zip(get("last_position")?)
                .map(|((first, last), at)| (first, last, at))
        } else {
            None
        };
        Ok(Self {
            duplicate,
            inserted,
            current: get("current_version")?,
        })
    }
}

/// The arrays one append binds.
struct Batch {
    ids: Vec<Uuid>,
    types: Vec<String>,
    versions: Vec<i32>,
    payloads: Vec<String>,
    /// `None` for empty metadata: the statement stores `{}` for it, so the
    /// common case neither encodes nor parses anything.
    metadata: Vec<Option<String>>,
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

impl Batch {
    /// Binds what both array statements start with: $1 stream id, $2 its
    /// category, $3 the expected version (NULL: any), $4–$8 the arrays.
    fn bind<'q>(
        &'q self,
        query: PgQuery<'q>,
        stream_id: &'q str,
        expected: Option<i64>,
    ) -> PgQuery<'q> {
        query
            .bind(stream_id)
            .bind(stream_category(stream_id))
            .bind(expected)
            .bind(&self.ids)
            .bind(&self.types)
            .bind(&self.versions)
            .bind(&self.payloads)
            .bind(&self.metadata)
    }

    fn new(stream_id: &str, events: Vec<NewEvent>) -> Result<Self, StoreError> {
        let mut b = Self {
            ids: Vec::with_capacity(events.len()),
            types: Vec::with_capacity(events.len()),
            versions: Vec::with_capacity(events.len()),
            payloads: Vec::with_capacity(events.len()),
            metadata: Vec::with_capacity(events.len()),
        };
        for e in events {
            let NewEvent {
                event_id,
                event_type,
                schema_version,
                payload,
                metadata,
            } = e;
            let invalid = |reason: String| {
                StoreError::backend(
                    format!("appending to stream `{stream_id}`"),
                    InvalidPayload {
                        event_type: event_type.clone(),
                        reason,
                    },
                )
            };
            let payload = String::from_utf8(payload)
                .map_err(|err| invalid(format!("payload is not UTF-8: {err}")))?;
            if payload.contains('\0') {
                return Err(invalid("payload contains a NUL byte".to_owned()));
            }
            let metadata = if metadata.is_empty() {
                None
            } else {
                Some(
                    serde_json::to_string(&metadata)
                        .map_err(|err| invalid(format!("metadata cannot be encoded: {err}")))?,
                )
            };
            b.ids.push(event_id);
            b.versions
                .push(i32::try_from(schema_version).unwrap_or(i32::MAX));
            b.types.push(event_type);
            b.payloads.push(payload);
            b.metadata.push(metadata);
        }
        Ok(b)
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
        let ctx = || format!("migrating schema `{schema}`");
        let mut conn = self
            .shared
            .pool
            .acquire()
            .await
            .map_err(|e| StoreError::backend(ctx(), e))?
            .detach();
        let result = async {
            let mut tx = Connection::begin(&mut conn).await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(SCHEMA_LOCK_KEY)
                .execute(&mut *tx)
                .await?;
            sqlx::query(&format!(
                "CREATE SCHEMA IF NOT EXISTS {}",
                quote_ident(schema)
            ))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            sqlx::query("SELECT set_config('search_path', $1, false)")
                .bind(quote_ident(schema))
                .execute(&mut conn)
                .await?;
            MIGRATOR.run(&mut conn).await.map_err(sqlx::Error::from)?;
            Ok::<_, sqlx::Error>(())
        }
        .await;
        let _ = conn.close().await;
        result.map_err(|e| StoreError::backend(ctx(), e))?;
        self.setup_inline().await
    }

    /// Follows the store from `after_position` (0: from the start): yields
    /// every event in global order, then waits for new commits (woken by
    /// `NOTIFY`, with a poll every poll interval as a backstop). Only events
    /// of `types` when given. Dropping it stops it.
    pub fn subscribe(&self, after_position: u64, types: Option<Vec<String>>) -> Subscription {
        Subscription::new(self.clone(), after_position, types)
    }

    /// The position a projection last stored with [`PgEventStore::save_checkpoint`]
    /// (`None`: it never stored one; a runner stores 0 when it first starts).
    /// A negative stored position is [`StoreError::Corrupt`], as on SQLite.
    pub async fn load_checkpoint(&self, projection: &str) -> Result<Option<u64>, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as(&self.shared.sql.load_checkpoint)
            .bind(projection)
            .fetch_optional(&self.shared.pool)
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
        sqlx::query(&self.shared.sql.save_checkpoint)
            .bind(projection)
            .bind(to_i64(position))
            .execute(executor)
            .await
            .map_err(|e| {
                StoreError::backend(format!("saving the checkpoint of `{projection}`"), e)
            })?;
        Ok(())
    }

    async fn append_once(
        &self,
        stream_id: &str,
        expected: Option<i64>,
        command_id: Option<Uuid>,
        batch: &Batch,
    ) -> Result<Outcome, AppendError> {
        if self.shared.inline.is_empty() {
            // The fast path: one statement, its own transaction.
            // No NOTIFY in it: that would serialize concurrent commits (see
            // `notify`); `append_inner` announces the commit afterwards.
            if command_id.is_none() {
                let query = if batch.ids.len() == 1 {
                    sqlx::query(&self.shared.sql.append_one)
                        .bind(stream_id)
                        .bind(stream_category(stream_id))
                        .bind(expected)
                        .bind(batch.ids[0])
                        .bind(&batch.types[0])
                        .bind(batch.versions[0])
                        .bind(&batch.payloads[0])
                        .bind(&batch.metadata[0])
                } else {
                    batch.bind(
                        sqlx::query(&self.shared.sql.append_plain),
                        stream_id,
                        expected,
                    )
                };
                let mut rows = query.fetch(&self.shared.pool);
                let mut outcome = Outcome::default();
                while let Some(row) = rows.try_next().await? {
                    outcome.add_returned(&row)?;
                }
                return Ok(outcome);
            }
            let row = self
                .append_query(stream_id, expected, command_id, batch, false)
                .fetch_one(&self.shared.pool)
                .await?;
            return Ok(Outcome::from_row(&row)?);
        }
        // Inline projections: the full statement in a transaction, then the
        // inserted events through each projection that reads their types,
        // then COMMIT. A failing handler rolls everything back.
        let mut tx = self.shared.pool.begin().await?;
        let row = self
            .append_query(stream_id, expected, command_id, batch, true)
            .fetch_one(&mut *tx)
            .await?;
        let outcome = Outcome::from_row(&row)?;
        let wanted = |t: &str| self.shared.inline.iter().any(|p| p.types().contains(&t));
        if let Some((first, last, _)) = outcome.inserted
            && batch.types.iter().any(|t| wanted(t))
        {
            let rows = sqlx::query(&self.shared.sql.read_stream)
                .bind(stream_id)
                .bind(first)
                .bind(last)
                .bind(None::<es_core::Timestamp>)
                .bind(last - first + 1)
                .fetch_all(&mut *tx)
                .await?;
            let events = rows
                .iter()
                .map(decode_event)
                .collect::<Result<Vec<_>, _>>()
                .map_err(AppendError::Other)?;
            for projection in &self.shared.inline {
                projection
                    .apply(&events, &mut tx)
                    .await
                    .map_err(|e| {
                        AppendError::Other(StoreError::backend(
                            format!(
                                "appending to stream `{stream_id}`: inline projection `{}` failed; nothing was stored",
                                projection.name()
                            ),
                            e,
                        ))
                    })?;
            }
        }
        tx.commit().await?;
        Ok(outcome)
    }

    fn append_query<'q>(
        &'q self,
        stream_id: &'q str,
        expected: Option<i64>,
        command_id: Option<Uuid>,
        batch: &'q Batch,
        notify_in_transaction: bool,
    ) -> PgQuery<'q> {
        batch
            .bind(sqlx::query(&self.shared.sql.append), stream_id, expected)
            .bind(command_id)
            .bind(notify_in_transaction.then_some(self.shared.channel.as_str()))
    }

    async fn append_inner(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        // Before anything reaches the server: the whole batch or nothing.
        check_append(stream_id, &events, self.shared.max_payload_bytes)?;
        let span = tracing::Span::current();
        if events.is_empty() {
            let actual = self.stream_version(stream_id).await?;
            if !expected.admits(actual) {
                return Err(StoreError::VersionConflict {
                    stream_id: stream_id.to_owned(),
                    expected,
                    actual,
                });
            }
            span.record("version", actual);
            return Ok(AppendResult::unchanged(actual));
        }
        if events.len() > MAX_EVENTS_PER_TRANSACTION {
            return Err(StoreError::backend(
                format!("appending to stream `{stream_id}`"),
                format!(
                    "a batch of {} events is over the limit of {MAX_EVENTS_PER_TRANSACTION} per append",
                    events.len()
                ),
            ));
        }
        let command_id = events[0].metadata.command_id;
        let batch = Batch::new(stream_id, events)?;
        let expected_sql = match expected {
            ExpectedVersion::Any => None,
            ExpectedVersion::NoStream => Some(0),
            ExpectedVersion::Exact(v) => Some(to_i64(v)),
        };
        let ctx = || format!("appending to stream `{stream_id}`");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = match self
                .append_once(stream_id, expected_sql, command_id, &batch)
                .await
            {
                Ok(outcome) => outcome,
                Err(AppendError::Other(e)) => return Err(e),
                Err(AppendError::Sql(e)) => {
                    let Some((code, constraint)) = db_error(&e) else {
                        return Err(StoreError::backend(ctx(), e));
                    };
                    match (code.as_str(), constraint.as_deref()) {
                        ("23505", Some("events_stream_version_key" | "commands_pkey")) => {
                            // Another writer got there first. The same command?
                            if let Some(id) = command_id
                                && let Some(r) = self.find_command(stream_id, id).await?
                            {
                                return Ok(AppendResult::duplicate(r));
                            }
                            if expected == ExpectedVersion::Any && attempt <= ANY_RETRIES {
                                tracing::debug!(stream = %stream_id, attempt, "stream version taken; appending again");
                                continue;
                            }
                            let actual = self.stream_version(stream_id).await?;
                            span.record("version", actual);
                            return Err(StoreError::VersionConflict {
                                stream_id: stream_id.to_owned(),
                                expected,
                                actual,
                            });
                        }
                        // 22P02: not JSON; 22P05: `\u0000` (jsonb cannot hold
                        // it); 22021: a byte PostgreSQL text refuses.
                        ("22P02" | "22P05" | "22021", _) => {
                            let reason = e
                                .as_database_error()
                                .map(|d| d.message().to_owned())
                                .unwrap_or_default();
                            return Err(StoreError::backend(
                                ctx(),
                                InvalidPayload {
                                    event_type: batch.types.join(", "),
                                    reason: format!(
                                        "PostgreSQL refused a payload or metadata as jsonb ({reason}); \
                                         note that jsonb cannot store the \\u0000 escape"
                                    ),
                                },
                            ));
                        }
                        _ => return Err(StoreError::backend(ctx(), e)),
                    }
                }
            };
            if let Some((first, last)) = outcome.duplicate {
                span.record("version", last);
                return Ok(AppendResult::duplicate(CommandRecord {
                    first_version: to_u64(first),
                    last_version: to_u64(last),
                }));
            }
            let Some((first, last, last_position)) = outcome.inserted else {
                // Not at the expected version. The plain statement does not
                // say where the stream was; read it now. Should it have
                // reached the expected version since, the append is simply
                // tried again.
                let actual = match outcome.current {
                    Some(v) => to_u64(v),
                    None => self.stream_version(stream_id).await?,
                };
                if expected.admits(actual) && attempt <= ANY_RETRIES {
                    continue;
                }
                span.record("version", actual);
                return Err(StoreError::VersionConflict {
                    stream_id: stream_id.to_owned(),
                    expected,
                    actual,
                });
            };
            let (first, last, last_position) = (to_u64(first), to_u64(last), to_u64(last_position));
            span.record("version", last);
            if self.shared.inline.is_empty() {
                notify::announce(
                    &self.shared.notifier,
                    &self.shared.pool,
                    &self.shared.channel,
                    self.shared.notify_interval,
                    last_position,
                );
            }
            return Ok(AppendResult {
                first_version: first,
                last_version: last,
                last_position: Some(last_position),
                duplicate: false,
            });
        }
    }

    /// Runs the read_all statement until every event that was visible when
    /// the call started is below the bound, or the settle timeout passes.
    async fn read_all_inner(
        &self,
        after_position: u64,
        limit: usize,
        types: Option<&[&str]>,
    ) -> Result<ReadAllPage, StoreError> {
        if limit == 0 {
            return Ok(ReadAllPage::new(Vec::new(), after_position));
        }
        let types: Option<Vec<&str>> = types.map(<[&str]>::to_vec);
        let deadline = tokio::time::Instant::now() + self.shared.settle_timeout;
        let mut target: Option<i64> = None;
        let mut delay = Duration::from_millis(1);
        let fail = |e| StoreError::backend("reading all streams", e);
        loop {
            let rows = sqlx::query(&self.shared.sql.read_all)
                .bind(to_i64(after_position))
                .bind(limit_i64(limit))
                .bind(&types)
                .fetch_all(&self.shared.pool)
                .await
                .map_err(fail)?;
            let Some(first) = rows.first() else {
                return Ok(ReadAllPage::new(Vec::new(), after_position));
            };
            let bound: i64 = first.try_get("bound").map_err(fail)?;
            let visible: i64 = first.try_get("visible").map_err(fail)?;
            // The newest position below the bound, from the same snapshot
            // as the events: how far a short page has scanned.
            let head: i64 = first.try_get("head").map_err(fail)?;
            let mut events = Vec::with_capacity(rows.len());
            for row in &rows {
                // `bound, visible, head, COLUMNS…`: the event's columns start at 3.
                let Some(pos) = row.try_get::<Option<i64>, _>(3).map_err(fail)? else {
                    continue;
                };
                match decode_event_at(row, 3) {
                    Ok(event) => events.push(event),
                    // One bad row is its own error: the events before it
                    // go out first (the page ends there), and a read that
                    // starts at it reports it with its position.
                    Err(e) if !events.is_empty() => {
                        tracing::debug!(position = pos, error = %e, "read_all stops before an unreadable event");
                        let scanned_to = events
                            .last()
                            .map_or(after_position, |e: &RecordedEvent| e.global_position);
                        return Ok(ReadAllPage::new(events, scanned_to));
                    }
                    Err(e) => {
                        let stream: String = row.try_get(3 + 2).unwrap_or_else(|_| "?".to_owned());
                        return Err(StoreError::unreadable(to_u64(pos), stream, e));
                    }
                }
            }
            let target = *target.get_or_insert(visible);
            let settled = target < bound || target <= to_i64(after_position);
            if events.len() >= limit || settled || tokio::time::Instant::now() >= deadline {
                let scanned_to = match events.last() {
                    Some(last) if events.len() >= limit => last.global_position,
                    last => to_u64(head)
                        .max(after_position)
                        .max(last.map_or(0, |e| e.global_position)),
                };
                return Ok(ReadAllPage::new(events, scanned_to));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(50));
        }
    }

    /// The head below the settled bound, without waiting.
    pub(crate) async fn head_now(&self) -> Result<(u64, u64, u64), StoreError> {
        let (bound, visible, head): (i64, i64, i64) = sqlx::query_as(&self.shared.sql.head)
            .fetch_one(&self.shared.pool)
            .await
            .map_err(|e| StoreError::backend("reading the head position", e))?;
        Ok((to_u64(bound), to_u64(visible), to_u64(head)))
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
        self.append_inner(stream_id, expected, events)
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
            if limit == 0 {
                return Ok(Vec::new());
            }
            let (to_version, to_time) = stream_end(to);
            let rows = sqlx::query(&self.shared.sql.read_stream)
                .bind(stream_id)
                .bind(to_i64(from_version.max(1)))
                .bind(to_version)
                .bind(to_time)
                .bind(limit_i64(limit))
                .fetch_all(&self.shared.pool)
                .await
                .map_err(|e| StoreError::backend(format!("reading stream `{stream_id}`"), e))?;
            let events = rows
                .iter()
                .map(decode_event)
                .collect::<Result<Vec<_>, _>>()?;
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
        mut visit: F,
    ) -> Result<usize, StoreError>
    where
        F: FnMut(ReplayedEvent<'_>) -> ControlFlow<()> + Send,
    {
        validate_stream_id(stream_id)?;
        if limit == 0 {
            return Ok(0);
        }
        let (to_version, to_time) = stream_end(to);
        let backend = |e| StoreError::backend(format!("reading stream `{stream_id}`"), e);
        let query = match to_time {
            None => sqlx::query(&self.shared.sql.replay_stream_to_version)
                .bind(stream_id)
                .bind(to_i64(from_version.max(1)))
                .bind(to_version)
                .bind(limit_i64(limit)),
            Some(t) => sqlx::query(&self.shared.sql.replay_stream)
                .bind(stream_id)
                .bind(to_i64(from_version.max(1)))
                .bind(to_version)
                .bind(Some(t))
                .bind(limit_i64(limit)),
        };
        let mut rows = query.fetch(&self.shared.pool);
        let mut visited = 0;
        while let Some(row) = rows.try_next().await.map_err(backend)? {
            let stream_version: i64 = row.try_get(0).map_err(backend)?;
            let event_type: &str = row.try_get(1).map_err(backend)?;
            let schema_version: i32 = row.try_get(2).map_err(backend)?;
            let payload: &str = row.try_get(3).map_err(backend)?;
            visited += 1;
            let flow = visit(ReplayedEvent {
                stream_version: to_u64(stream_version),
                event_type,
                schema_version: u32::try_from(schema_version).unwrap_or(0),
                payload: payload.as_bytes(),
            });
            if flow.is_break() {
                break;
            }
        }
        Ok(visited)
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
            let page = self.read_all_inner(after_position, limit, types).await?;
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
        let (v,): (i64,) = sqlx::query_as(&self.shared.sql.stream_version)
            .bind(stream_id)
            .fetch_one(&self.shared.pool)
            .await
            .map_err(|e| {
                StoreError::backend(format!("reading the version of stream `{stream_id}`"), e)
            })?;
        Ok(to_u64(v))
    }

    /// The newest position [`EventStore::read_all`] would return, waiting
    /// like it does for events committed before the call.
    async fn head_position(&self) -> Result<u64, StoreError> {
        let deadline = tokio::time::Instant::now() + self.shared.settle_timeout;
        let mut delay = Duration::from_millis(1);
        let (mut bound, target, mut head) = self.head_now().await?;
        while target >= bound && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(50));
            (bound, _, head) = self.head_now().await?;
        }
        Ok(head)
    }

    async fn find_command(
        &self,
        stream_id: &str,
        command_id: Uuid,
    ) -> Result<Option<CommandRecord>, StoreError> {
        validate_stream_id(stream_id)?;
        let row: Option<(i64, i64)> = sqlx::query_as(&self.shared.sql.find_command)
            .bind(stream_id)
            .bind(command_id)
            .fetch_optional(&self.shared.pool)
            .await
            .map_err(|e| {
                StoreError::backend(format!("looking up a command of stream `{stream_id}`"), e)
            })?;
        Ok(row.map(|(f, l)| CommandRecord {
            first_version: to_u64(f),
            last_version: to_u64(l),
        }))
    }

    async fn watch_commits(&self) -> Result<CommitWatch, StoreError> {
        Ok(subscription::watch(self))
    }
}

impl SnapshotStore for PgEventStore {
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        validate_stream_id(&snapshot.stream_id)?;
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
        sqlx::query(&self.shared.sql.save_snapshot)
            .bind(&stream_id)
            .bind(to_i64(version))
            // The `integer` column holds the key's 32 bits; a key above
            // i32::MAX (most keys with a state fingerprint) reads as negative
            // in SQL and comes back unchanged.
            .bind(snapshot_version.cast_signed())
            .bind(payload)
            .bind(taken_at)
            .execute(&self.shared.pool)
            .await
            .map_err(|e| StoreError::backend(ctx(), e))?;
        Ok(())
    }

    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        validate_stream_id(stream_id)?;
        let row: Option<(String, i64, i32, String, es_core::Timestamp)> =
            sqlx::query_as(&self.shared.sql.load_snapshot)
                .bind(stream_id)
                .fetch_optional(&self.shared.pool)
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
