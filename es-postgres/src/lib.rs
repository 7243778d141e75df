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
//!
//! # Process managers
//!
//! [`PgEventStore`] is an [`es_core::process::ProcessBackend`], so
//! [`es_core::process::ProcessRunner`] runs process managers (sagas) on it:
//! their instances, outbox and deadlines live in the tables
//! `process_instances`, `process_outbox` and `process_deadlines`, written
//! in the engine's batch transaction with the checkpoint.
//!
//! ```no_run
//! use es_core::process::{ProcessError, ProcessManager, ProcessRunner};
//! use es_postgres::PgEventStore;
//!
//! async fn serve<P: ProcessManager>(
//!     store: PgEventStore,
//!     shutdown: impl Future<Output = ()> + Send,
//! ) -> Result<(), ProcessError> {
//!     store.migrate().await?; // creates the process tables too
//!     ProcessRunner::<P, _>::new(store).run(shutdown).await
//! }
//! ```
//!
//! # Document projections
//!
//! [`PgEventStore`] is an [`es_core::document::DocumentBackend`]: a
//! [`DocumentProjection`](es_core::document::DocumentProjection) runs on it
//! with an [`Engine`](es_core::consumer::Engine), its documents in the
//! shared table `documents` (jsonb, one row per projection and key),
//! written in the batch transaction with the checkpoint, and read with
//! [`Documents`](es_core::document::Documents) (see the `document` module
//! for the table, its indexes and how filters compare).
//!
//! ```no_run
//! use es_core::consumer::Engine;
//! use es_core::document::{Document, DocumentProjection, Documents, Filter};
//! use es_postgres::PgEventStore;
//!
//! async fn catch_up<D: Document>(store: PgEventStore) -> Result<(), Box<dyn std::error::Error>> {
//!     store.migrate().await?; // creates the documents table too
//!     let mut engine = Engine::new(store.clone(), DocumentProjection::<D, _>::new(store.clone()));
//!     engine.catch_up().await?;
//!     let first_page = Documents::<D, _>::new(store).filter(&Filter::new().limit(10)).await?;
//!     println!("{} documents", first_page.len());
//!     Ok(())
//! }
//! ```
//!
//! # Where things are
//!
//! | module | holds |
//! |---|---|
//! | `store` | [`PgEventStore`] and [`PgEventStoreBuilder`]: configuration, connection, the public methods, the [`EventStore`] and [`SnapshotStore`] impls, which hand each step to the modules below |
//! | `append` | appends and their SQL: `append_batch` (checks, retries, announces), `append_once` (one attempt), the bound arrays, inline projections' place in the transaction |
//! | `read` | reads and their SQL: `read_stream_page`, `replay_rows`, `read_all_page` (with its settle loop and the settled bound), the head, a stream's version, recorded commands |
//! | `statistics` | whether the log's statistics are missing or stale, looked up at most once a second: `read_all` then reads in index order; [`PgEventStore::statistics_stale`] |
//! | `snapshots` | snapshot save and load and their SQL |
//! | `checkpoints` | checkpoints, projection status and dead letters, and their SQL ([`ProjectionStatus`], [`DeadLetter`]) |
//! | `schema` | schema names, quoting, [`MIGRATOR`] and the migration step |
//! | `row` | an event row's columns and decoding, the position layout, number conversions |
//! | `watch` | the shared `LISTEN` task behind [`EventStore::watch_commits`] |
//! | `notify` | commit announcements sent after an append, off its critical path |
//! | `subscription` | [`Subscription`] ([`PgEventStore::subscribe`]) |
//! | `inline` | [`PgProjection`]; inline projections ([`PgEventStore::with_inline`]) run it as es-core's [`InlineConsumers`](es_core::consumer::InlineConsumers) over [`PgTx`], held by `append` |
//! | `runner` | [`ProjectionRunner`] and [`ErrorPolicy`] |
//! | `lease` | the advisory lock that keeps one runner or listener of a name active |
//! | `listener` | [`Listener`] ([`PgEventStore::listen`]) |
//! | `process` | [`PgEventStore`] as an [`es_core::process::ProcessBackend`]: process managers' instances, outbox and deadlines, and their SQL |
//! | `document` | [`PgEventStore`] as an [`es_core::document::DocumentBackend`]: the documents table, its partial expression indexes, the filters' SQL |
//! | `error` | [`InvalidSchemaName`], [`InvalidPayload`], [`is_tls_error`] |

mod append;
mod checkpoints;
mod consumer;
mod dcb;
mod document;
mod error;
mod inline;
mod lease;
mod listener;
mod notify;
mod process;
mod read;
mod row;
mod runner;
mod schema;
mod snapshots;
mod statistics;
mod store;
mod subscription;
mod watch;

#[cfg(doc)]
use es_core::{EventStore, SnapshotStore};

pub use append::MAX_EVENTS_PER_TRANSACTION;
pub use checkpoints::{DeadLetter, ProjectionStatus};
pub use error::{InvalidPayload, InvalidSchemaName, is_tls_error};
pub use es_core::consumer::ErrorPolicy;
pub use es_core::consumer::Listener;
pub use inline::PgTx;
pub use inline::{PgConsumer, PgProjection};
pub use lease::PgLease;
pub use runner::ProjectionRunner;
pub use schema::{DEFAULT_SCHEMA, MIGRATOR};
pub use store::{DEFAULT_MAX_PAYLOAD_BYTES, PgEventStore, PgEventStoreBuilder};
pub use subscription::Subscription;
