//! The consumer engine: the one loop that reads events after a checkpoint
//! and does something with each exactly once.
//!
//! Every durable reader of the log runs on it: the stores' projection
//! runners (`es_postgres::ProjectionRunner`, `es_sqlite::ProjectionRunner`,
//! and [`Engine`] over the [`InMemoryEventStore`](crate::InMemoryEventStore)
//! with a [`MemoryProjection`]), the PostgreSQL listener, and what comes
//! next (process managers, relays to a broker). The pieces:
//!
//! | piece | what it is |
//! |---|---|
//! | [`Engine`] | the loop: batches, checkpoint, lease, errors, rebuild, status, progress |
//! | [`Backend`] | what a store gives it: batch transactions, checkpoints, dead letters, leases |
//! | [`Consumer`] | what it runs: a name, event types, a handler, and the setup, reset, flush and discard hooks |
//! | [`Progress`] | read-your-writes: wait until the consumer has handled a write |
//! | [`ErrorPolicy`] | stop, dead-letter or retry on a failing handler |
//! | [`Transient`] | a consumer's error marked worth retrying: the batch is rolled back and retried with backoff |
//! | [`Partition`], [`PartitionedRunner`] | a consumer split by stream into N partitions, each an engine with its own checkpoint and lease, spread over worker processes |
//! | [`InlineConsumers`] | consumers a store runs inside each append's own transaction instead (inline projections) |
//!
//! The guarantees (exactly once across crashes, one active engine per name,
//! no event skipped while positions commit out of order) are argued once,
//! on [`Engine`], from the [`Backend`] contract each store meets.

pub(crate) mod backend;
mod engine;
mod inline;
mod listener;
pub(crate) mod memory;
mod partition;
mod partitioned;
mod progress;

pub use backend::{Backend, Consumer, ConsumerStatus, DeadLetter, Failed, Savepoint, Transient};
pub use engine::{Engine, ErrorPolicy};
pub use inline::{InlineConsumer, InlineConsumers, InlineFailure};
pub use listener::{Listener, listen};
pub use memory::{MemoryLease, MemoryProjection, MemoryTx};
pub use partition::{Partition, partition_hash};
pub use partitioned::{Holding, PartitionedRunner, partitions_dead_letters, partitions_status};
pub use progress::{Progress, WaitTimeout, Written};
