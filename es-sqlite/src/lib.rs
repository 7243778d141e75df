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
//! # Tables
//!
//! `events` (global position, event id, stream id and version, aggregate type,
//! event type, schema version, JSON payload and metadata, recorded-at),
//! `commands`, `snapshots` and `checkpoints`; see `migrations/`.

mod store;
mod subscription;

pub use store::{
    DEFAULT_BUSY_TIMEOUT, DEFAULT_MAX_CONNECTIONS, MIGRATOR, POLL_INTERVAL, SqliteEventStore,
    load_checkpoint_with, save_checkpoint_with,
};
pub use subscription::{DEFAULT_BATCH_SIZE, Subscription};

/// The sqlx SQLite types this crate's API uses (pools, options), so callers
/// need not depend on sqlx's exact version themselves.
pub use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
