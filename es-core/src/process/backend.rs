//! What a store keeps for process managers: [`ProcessBackend`] and its rows.

use std::future::Future;

use uuid::Uuid;

use crate::consumer::Backend;
use crate::envelope::Timestamp;
use crate::store::StoreError;

/// One instance of a process manager, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInstance {
    /// Its state as JSON (`None`: finished, and its state dropped).
    pub state: Option<Vec<u8>>,
    /// Whether it is finished.
    pub finished: bool,
}

/// A command waiting to be executed (the outbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCommand {
    /// Its place in the outbox; commands go out in this order. Set by the
    /// store (ignored on [`ProcessBackend::enqueue`]).
    pub seq: u64,
    /// The instance that sent it.
    pub key: String,
    /// The id that makes executing it twice a no-op.
    pub command_id: Uuid,
    /// The event (or deadline) that caused it.
    pub causation_id: Uuid,
    /// The correlation id it carries on.
    pub correlation_id: Option<Uuid>,
    /// The target aggregate type's name.
    pub aggregate: String,
    /// The target aggregate's id.
    pub target_id: String,
    /// The command as JSON.
    pub command: Vec<u8>,
}

/// A scheduled deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledDeadline {
    /// The instance that scheduled it.
    pub key: String,
    /// The deadline as JSON: its identity within the instance.
    pub deadline: String,
    /// This scheduling's id (a rescheduled deadline gets a new one).
    pub id: Uuid,
    /// When it is due.
    pub due_at: Timestamp,
}

/// Counts of what a store keeps for one process manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcessCounts {
    /// Instances not finished.
    pub active: u64,
    /// Instances finished (kept so that their key stays closed).
    pub finished: u64,
    /// Commands waiting to be executed.
    pub pending_commands: u64,
    /// Deadlines scheduled and not yet delivered.
    pub deadlines: u64,
}

/// A store that can run process managers: a consumer [`Backend`] that also
/// keeps their instances, outbox and deadlines.
///
/// The writes on a transaction (`save_instance`, `enqueue`, `schedule`,
/// `cancel`, `take_deadline`) commit with the consumer's checkpoint, or not
/// at all. The dispatcher's calls (`pending_commands`, `commands_done`,
/// `due_deadlines`, `deadline_fired`) run outside the consumer's batches,
/// each on its own.
pub trait ProcessBackend: Backend {
    /// The instance `key` of `process`, if it has one.
    fn load_instance(
        &self,
        tx: &mut Self::Tx,
        process: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<StoredInstance>, StoreError>> + Send;

    /// Writes the instance `key` of `process`.
    fn save_instance(
        &self,
        tx: &mut Self::Tx,
        process: &str,
        key: &str,
        instance: &StoredInstance,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Adds commands to the outbox, in order.
    fn enqueue(
        &self,
        tx: &mut Self::Tx,
        process: &str,
        commands: &[PendingCommand],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Schedules a deadline, replacing the instance's equal one.
    fn schedule(
        &self,
        tx: &mut Self::Tx,
        process: &str,
        deadline: &ScheduledDeadline,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Cancels the instance's `deadline` (`None`: all of them).
    fn cancel(
        &self,
        tx: &mut Self::Tx,
        process: &str,
        key: &str,
        deadline: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes the deadline scheduled as `id`; whether it was there (a
    /// cancelled or rescheduled one is not, and is not delivered).
    fn take_deadline(
        &self,
        tx: &mut Self::Tx,
        process: &str,
        key: &str,
        id: Uuid,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The first `limit` commands of the outbox, in order.
    fn pending_commands(
        &self,
        process: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<PendingCommand>, StoreError>> + Send;

    /// Removes executed (or rejected) commands from the outbox (seqs not
    /// there are ignored).
    fn commands_done(
        &self,
        process: &str,
        seqs: &[u64],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deadlines due at `now` that have not fired yet, earliest first.
    fn due_deadlines(
        &self,
        process: &str,
        now: Timestamp,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ScheduledDeadline>, StoreError>> + Send;

    /// Marks the deadline scheduled as `id` fired (its event is in the log).
    fn deadline_fired(
        &self,
        process: &str,
        id: Uuid,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// What the store keeps for `process`.
    fn process_counts(
        &self,
        process: &str,
    ) -> impl Future<Output = Result<ProcessCounts, StoreError>> + Send;
}
