//! [`ProcessError`]: why a process manager's runner stopped.

use crate::error::BoxError;
use crate::projection::ProjectionError;
use crate::store::StoreError;

/// Why a [`ProcessRunner`](super::ProcessRunner) stopped (or a round of it
/// failed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// Handling an event failed (it does not decode, a stored state does
    /// not decode, the store failed under the batch).
    #[error(transparent)]
    Consumer(#[from] ProjectionError),
    /// A command failed for a reason other than a rejection (the target's
    /// store, a conflict that outlasted the retries, a target event that
    /// does not decode); it stays first in the outbox and is tried again.
    #[error("process `{process}` instance `{key}`: command to {aggregate} `{id}` failed")]
    Command {
        /// The process manager.
        process: &'static str,
        /// The instance.
        key: String,
        /// The target aggregate type.
        aggregate: String,
        /// The target aggregate's id.
        id: String,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// Something the store keeps for the process cannot be read by this
    /// build (an outbox command or a deadline of another shape).
    #[error("process `{process}` instance `{key}`: {what}")]
    Corrupt {
        /// The process manager.
        process: &'static str,
        /// The instance.
        key: String,
        /// What.
        what: String,
    },
    /// The store failed.
    #[error("process manager store failure")]
    Store(#[from] StoreError),
}
