//! Process managers (sagas): durable, exactly-once coordination across
//! aggregates, with deadlines, on the consumer engine.
//!
//! | piece | what it is |
//! |---|---|
//! | [`ProcessManager`] | the user's state per instance, its events, commands and deadlines |
//! | [`React`] | one reaction per event type: change the state, fill a [`Then`] |
//! | [`Then`] | what a reaction decided: [`send`](Then::send), [`schedule`](Then::schedule), [`cancel`](Then::cancel), [`complete`](Then::complete) |
//! | [`ProcessCommand`] | the commands it sends, each to one aggregate type |
//! | [`ProcessRunner`] | runs it: the engine and the dispatcher |
//! | [`ProcessBackend`] | what a store keeps for it: instances, outbox, deadlines |
//!
//! Reactions are pure, so a test drives them with events alone; the
//! runner does the I/O, and its guarantees are argued on [`ProcessRunner`].

mod backend;
mod consumer;
mod dispatch;
mod error;
mod events;
mod manager;
pub(crate) mod memory;
mod runner;

pub use backend::{
    PendingCommand, ProcessBackend, ProcessCounts, ScheduledDeadline, StoredInstance,
};
pub use error::ProcessError;
pub use events::{ProcessCommandRejected, ProcessDeadlineReached};
pub use manager::{
    CommandFailure, NoDeadline, ProcessCommand, ProcessManager, React, Received, Rejected, Sent,
    Then, outcome,
};
pub use runner::{ProcessRunner, ProcessStatus, Settled};
