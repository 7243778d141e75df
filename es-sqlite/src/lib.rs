//! An embedded event store on SQLite: one file, no server.
//!
//! [`SqliteEventStore`] implements [`es_core::EventStore`] and
//! [`es_core::SnapshotStore`] with the semantics of the in-memory and
//! PostgreSQL stores: all-or-nothing appends, version conflicts, command-id
//! deduplication, immutable events, a global order readers can tail. The
//! SQLite library is compiled in (sqlx's bundled build), so nothing needs to
//! be installed, and no database is needed to build.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), es_core::StoreError> {
//! use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent, StreamEnd};
//! use es_sqlite::SqliteEventStore;
//!
//! // Or `SqliteEventStore::open("events.db")` for a file that persists.
//! let store = SqliteEventStore::in_memory().await?;
//! let opened = NewEvent::from_raw("AccountOpened", 1, br#"{"owner":"u1"}"#.to_vec(), Metadata::new());
//! let result = store.append("BankAccount-1", ExpectedVersion::NoStream, vec![opened]).await?;
//! assert_eq!(result.last_version, 1);
//!
//! // A writer that expected an empty stream is refused.
//! let late = NewEvent::from_raw("AccountOpened", 1, b"{}".to_vec(), Metadata::new());
//! let err = store.append("BankAccount-1", ExpectedVersion::NoStream, vec![late]).await.unwrap_err();
//! assert!(err.is_conflict());
//!
//! let events = store.read_stream("BankAccount-1", 1, StreamEnd::Head, 100).await?;
//! assert_eq!(events.len(), 1);
//! assert_eq!(events[0].event_type, "AccountOpened");
//! assert_eq!(events[0].payload, br#"{"owner":"u1"}"#);
//! # Ok(()) }
//! ```
//!
//! # Several processes
//!
//! A file opened with [`SqliteEventStore::open`] may be shared by several
//! processes: WAL mode lets readers run beside the writer, appends queue on
//! SQLite's write lock (up to [`DEFAULT_BUSY_TIMEOUT`]), a stale expected
//! version is a [`es_core::StoreError::VersionConflict`] as in one process,
//! and watchers learn of other processes' commits by polling every
//! [`POLL_INTERVAL`].
//!
//! # Projections
//!
//! A read model in the same file is a [`SqliteProjection`]: a
//! `Dispatch<sqlx::SqliteConnection>` (what `#[derive(Projection)]` writes
//! from `On<E, SqliteConnection>` handlers) with optional `setup` and
//! `reset` hooks. [`ProjectionRunner`] runs it durably with the API of
//! `es_postgres::ProjectionRunner`: `new(store, projection)`, `batch_size`,
//! `error_policy`, `run(shutdown)` (catch up, then follow commits: this
//! process's at once, other processes' within [`POLL_INTERVAL`]),
//! `catch_up()`, `rebuild(progress)` and `status()` (position, head, lag in
//! events). Each batch is one `BEGIN IMMEDIATE` transaction that re-reads the
//! checkpoint, runs the handlers on the transaction's connection and moves
//! the checkpoint, so two processes running one projection on one file never
//! apply an event twice (see [`runner`]).
//!
//! The same projection can instead run *inline*, inside each append's own
//! transaction, so its model is never behind the events and a failing
//! handler fails the append: [`SqliteEventStore::with_inline`], as
//! `es_postgres::PgEventStore::with_inline`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use es_core::projection::{Dispatch, HandlerError, Projection, ProjectionError};
//! use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent, RecordedEvent};
//! use es_sqlite::{ProjectionRunner, SqliteEventStore, SqliteProjection};
//! use sqlx::SqliteConnection;
//!
//! struct Opened;
//! impl Projection for Opened {
//!     const NAME: &'static str = "opened";
//!     const EVENT_TYPES: &'static [&'static str] = &["AccountOpened"];
//! }
//! impl Dispatch<SqliteConnection> for Opened {
//!     async fn dispatch(&mut self, e: &RecordedEvent, conn: &mut SqliteConnection)
//!         -> Result<(), ProjectionError> {
//!         sqlx::query("INSERT INTO opened (stream_id) VALUES (?)")
//!             .bind(&e.stream_id)
//!             .execute(conn)
//!             .await
//!             .map_err(|err| ProjectionError::handler::<Self>(e, err.into()))?;
//!         Ok(())
//!     }
//! }
//! impl SqliteProjection for Opened {
//!     async fn setup(&mut self, conn: &mut SqliteConnection) -> Result<(), HandlerError> {
//!         sqlx::query("CREATE TABLE IF NOT EXISTS opened (stream_id TEXT PRIMARY KEY)")
//!             .execute(conn).await?;
//!         Ok(())
//!     }
//!     async fn reset(&mut self, conn: &mut SqliteConnection) -> Result<(), HandlerError> {
//!         sqlx::query("DELETE FROM opened").execute(conn).await?;
//!         Ok(())
//!     }
//! }
//!
//! let store = SqliteEventStore::in_memory().await?;
//! let opened = NewEvent::from_raw("AccountOpened", 1, b"{}".to_vec(), Metadata::new());
//! store.append("BankAccount-1", ExpectedVersion::NoStream, vec![opened]).await?;
//!
//! let mut runner = ProjectionRunner::new(store.clone(), Opened).batch_size(500);
//! runner.catch_up().await?;     // or runner.run(shutdown_future).await? to follow commits
//! assert_eq!(runner.status().await?.lag, 0);
//! let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM opened").fetch_one(store.pool()).await?;
//! assert_eq!(n, 1);
//! # Ok(()) }
//! ```
//!
//! # Process managers
//!
//! [`SqliteEventStore`] is an [`es_core::process::ProcessBackend`], so
//! [`es_core::process::ProcessRunner`] runs process managers (sagas) on
//! one file: their instances, outbox and deadlines are written in the
//! engine's `BEGIN IMMEDIATE` batch with the checkpoint.
//!
//! ```
//! use es_core::process::{ProcessError, ProcessManager, ProcessRunner, Settled};
//! use es_sqlite::SqliteEventStore;
//!
//! // Handle every event, send every command, fire every due deadline.
//! async fn settle<P: ProcessManager>(store: SqliteEventStore) -> Result<Settled, ProcessError> {
//!     ProcessRunner::<P, _>::new(store).catch_up().await
//! }
//! ```
//!
//! # Document projections
//!
//! [`SqliteEventStore`] is an [`es_core::document::DocumentBackend`]: a
//! [`DocumentProjection`](es_core::document::DocumentProjection) runs on it
//! with an [`Engine`](es_core::consumer::Engine), its documents in the
//! shared table `documents` (the JSON text as written, one row per
//! projection and key) written in the batch with the checkpoint, its
//! declared fields indexed with `json_extract` (see the `document` module).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use es_core::consumer::Engine;
//! use es_core::document::{Document, DocumentProjection, DocumentState, Documents, Evolve, Filter, Routed, stream_key};
//! use es_core::{DecodeError, EventStore, ExpectedVersion, Metadata, NewEvent, Recorded, RecordedEvent};
//! use es_sqlite::SqliteEventStore;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Serialize, Deserialize, es_core::Event)]
//! struct Deposited { amount: i64 }
//!
//! #[derive(Debug, Default, Serialize, Deserialize)]
//! struct Balance { balance: i64 }
//!
//! impl Document for Balance {
//!     const NAME: &'static str = "balances";
//!     const EVENT_TYPES: &'static [&'static str] = &["Deposited"];
//!     const INDEXES: &'static [&'static str] = &["balance"];
//!     fn route(e: &RecordedEvent) -> Result<Option<Routed<Self>>, DecodeError> {
//!         Ok(Some(Routed::new(stream_key(e), Recorded::<Deposited>::decode(e)?)))
//!     }
//! }
//! impl Evolve<Deposited> for Balance {
//!     fn evolve(&mut self, e: &Recorded<Deposited>, _: &mut DocumentState) {
//!         self.balance += e.event.amount;
//!     }
//! }
//!
//! let store = SqliteEventStore::in_memory().await?;
//! let e = NewEvent::new(&Deposited { amount: 70 }, Metadata::new())?;
//! store.append("Account-a1", ExpectedVersion::Any, vec![e]).await?;
//! Engine::new(store.clone(), DocumentProjection::<Balance, _>::new(store.clone())).catch_up().await?;
//! let rich = Documents::<Balance, _>::new(store).filter(&Filter::new().ge("balance", 50)).await?;
//! assert_eq!(rich[0].0, "a1");
//! # Ok(()) }
//! ```
//!
//! # Tables
//!
//! `events` (global position, event id, stream id and version, aggregate type,
//! event type, schema version, JSON payload and metadata, recorded-at),
//! `commands`, `snapshots`, `checkpoints`, `dead_letters` and `leases`; and
//! for process managers (the store is an [`es_core::process::ProcessBackend`],
//! so `es_core::process::ProcessRunner` runs on it) `process_instances`,
//! `process_outbox` and `process_deadlines`; for document projections
//! `documents`; see `migrations/`.

mod append;
mod checkpoints;
mod consumer;
mod dcb;
mod document;
mod event_store;
mod integrity;
mod process;
mod projection;
mod read;
mod row;
pub mod runner;
mod schema;
mod snapshots;
mod store;
mod subscription;
mod watch;

pub use checkpoints::{load_checkpoint_with, save_checkpoint_with};
pub use consumer::{LEASE_TTL, SqliteLease};
pub use es_core::consumer::{DeadLetter, ErrorPolicy, Listener};
pub use projection::{SqliteConsumer, SqliteTx};
pub use runner::{DEFAULT_RUNNER_BATCH_SIZE, ProjectionRunner, ProjectionStatus, SqliteProjection};
pub use schema::MIGRATOR;
pub use store::{
    DEFAULT_BUSY_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_PAYLOAD_BYTES, POLL_INTERVAL,
    SqliteEventStore,
};
pub use subscription::{DEFAULT_BATCH_SIZE, Subscription};

/// The sqlx SQLite types this crate's API uses (pools, options), so callers
/// need not depend on sqlx's exact version themselves.
pub use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
