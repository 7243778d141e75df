//! The dispatcher: executes the outbox's commands in order, records their
//! rejections, and fires due deadlines, all through the log.

use std::marker::PhantomData;

use tracing::Instrument;

use super::backend::{PendingCommand, ProcessBackend};
use super::consumer::own_stream;
use super::error::ProcessError;
use super::events::{ProcessCommandRejected, ProcessDeadlineReached, ids};
use super::manager::{CommandFailure, ProcessCommand, ProcessManager};
use crate::envelope::{Metadata, NewEvent, Timestamp};
use crate::store::{ExpectedVersion, SnapshotStore};

/// How many outbox rows (or due deadlines) one round reads.
const ROUND: usize = 100;

pub(crate) struct Dispatcher<P, B> {
    backend: B,
    _process: PhantomData<fn() -> P>,
}

impl<P, B> Dispatcher<P, B>
where
    P: ProcessManager,
    B: ProcessBackend + SnapshotStore,
{
    pub(crate) fn new(backend: B) -> Self {
        Self {
            backend,
            _process: PhantomData,
        }
    }

    /// Executes the outbox in order until it is empty; how many commands
    /// went out (executed or rejected). Stops at the first command that
    /// fails otherwise, leaving it (and those after it) for the next round.
    ///
    /// The commands that went out leave the outbox once per page, in one
    /// statement: one that is tried again after a crash (its row still
    /// there) is answered from its stream's record of its command id, or
    /// found rejected, so it takes effect once all the same.
    pub(crate) async fn send_pending(&self) -> Result<u64, ProcessError> {
        let mut done = 0;
        loop {
            let pending = self.backend.pending_commands(P::NAME, ROUND).await?;
            if pending.is_empty() {
                return Ok(done);
            }
            let mut sent = Vec::with_capacity(pending.len());
            let mut failed = None;
            for command in &pending {
                if let Err(e) = self.send(command).await {
                    failed = Some(e);
                    break;
                }
                sent.push(command.seq);
            }
            let cleared = self.backend.commands_done(P::NAME, &sent).await;
            done += sent.len() as u64;
            if let Some(e) = failed {
                return Err(e);
            }
            cleared?;
        }
    }

    async fn send(&self, pending: &PendingCommand) -> Result<(), ProcessError> {
        let own = own_stream(P::NAME, &pending.key);
        let rejection_id = ids::rejection(pending.command_id);
        // Rejected before a crash, and the rejection recorded: executing it
        // again could now succeed, and the process would hear both.
        if self
            .backend
            .find_command(&own, rejection_id)
            .await?
            .is_some()
        {
            return Ok(());
        }
        let command: P::Command =
            serde_json::from_slice(&pending.command).map_err(|e| ProcessError::Corrupt {
                process: P::NAME,
                key: pending.key.clone(),
                what: format!(
                    "outbox command {} does not decode as this build's command type: {e}",
                    pending.command_id
                ),
            })?;
        let mut metadata = Metadata::new()
            .command_id(pending.command_id)
            .causation_id(pending.causation_id);
        if let Some(c) = pending.correlation_id {
            metadata = metadata.correlation_id(c);
        }
        let span = tracing::info_span!(
            "es.process.command",
            process = P::NAME,
            key = %pending.key,
            aggregate = %pending.aggregate,
            id = %pending.target_id,
        );
        let result = command
            .clone()
            .execute(&self.backend, &pending.target_id, metadata.clone())
            .instrument(span)
            .await;
        match result {
            Ok(()) => Ok(()),
            Err(CommandFailure::Rejected(reason)) => {
                tracing::info!(process = P::NAME, key = %pending.key, aggregate = %pending.aggregate, id = %pending.target_id, %reason, "command rejected");
                let rejected = ProcessCommandRejected {
                    command_id: pending.command_id,
                    aggregate: command.aggregate().to_owned(),
                    id: pending.target_id.clone(),
                    command: serde_json::to_value(&command).map_err(|e| ProcessError::Corrupt {
                        process: P::NAME,
                        key: pending.key.clone(),
                        what: format!("command {} does not encode: {e}", pending.command_id),
                    })?,
                    reason,
                };
                let metadata = Metadata {
                    command_id: Some(rejection_id),
                    causation_id: Some(pending.command_id),
                    ..metadata
                };
                let event =
                    NewEvent::new(&rejected, metadata).map_err(|e| ProcessError::Corrupt {
                        process: P::NAME,
                        key: pending.key.clone(),
                        what: format!(
                            "the rejection of {} does not encode: {e}",
                            pending.command_id
                        ),
                    })?;
                self.backend
                    .append(&own, ExpectedVersion::Any, vec![event])
                    .await?;
                Ok(())
            }
            Err(CommandFailure::Failed(source)) => Err(ProcessError::Command {
                process: P::NAME,
                key: pending.key.clone(),
                aggregate: pending.aggregate.clone(),
                id: pending.target_id.clone(),
                source,
            }),
        }
    }

    /// Fires every deadline due at `now`: appends its event to the
    /// instance's own stream (once: the scheduling's id is the append's
    /// command id) and marks it fired. How many fired.
    pub(crate) async fn fire_due(&self, now: Timestamp) -> Result<u64, ProcessError> {
        let mut fired = 0;
        loop {
            let due = self.backend.due_deadlines(P::NAME, now, ROUND).await?;
            if due.is_empty() {
                return Ok(fired);
            }
            for d in due {
                let deadline =
                    serde_json::from_str(&d.deadline).map_err(|e| ProcessError::Corrupt {
                        process: P::NAME,
                        key: d.key.clone(),
                        what: format!("deadline {} is not JSON: {e}", d.id),
                    })?;
                let reached = ProcessDeadlineReached {
                    id: d.id,
                    deadline,
                    due_at: d.due_at,
                };
                let event =
                    NewEvent::new(&reached, Metadata::new().command_id(d.id)).map_err(|e| {
                        ProcessError::Corrupt {
                            process: P::NAME,
                            key: d.key.clone(),
                            what: format!("deadline {} does not encode: {e}", d.id),
                        }
                    })?;
                self.backend
                    .append(
                        &own_stream(P::NAME, &d.key),
                        ExpectedVersion::Any,
                        vec![event],
                    )
                    .await?;
                self.backend.deadline_fired(P::NAME, d.id).await?;
                fired += 1;
            }
        }
    }
}
