//! A process manager as a [`Consumer`] of the engine: per event, load the
//! instance, react, and write its state, commands and deadlines on the
//! batch transaction.

use std::marker::PhantomData;

use uuid::Uuid;

use super::backend::{PendingCommand, ProcessBackend, ScheduledDeadline, StoredInstance};
use super::events::{ProcessCommandRejected, ProcessDeadlineReached, ids};
use super::manager::{ProcessCommand, ProcessManager, Received, Rejected, Then};
use crate::consumer::Consumer;
use crate::envelope::RecordedEvent;
use crate::error::BoxError;
use crate::event::Event;
use crate::projection::ProjectionError;

/// What an event is to a process manager.
enum Input<P: ProcessManager> {
    Event(Received<P>),
    Rejected(Rejected<P::Command>),
    Deadline { id: Uuid, deadline: P::Deadline },
}

/// The key of `process`'s own stream `stream_id` (`{NAME}-{key}`).
pub(crate) fn own_key<'a>(process: &str, stream_id: &'a str) -> Option<&'a str> {
    stream_id.strip_prefix(process)?.strip_prefix('-')
}

/// `P`'s own stream of the instance `key`.
pub(crate) fn own_stream(process: &str, key: &str) -> String {
    format!("{process}-{key}")
}

pub(crate) struct ProcessConsumer<P, B> {
    backend: B,
    pub(crate) keep_completed: bool,
    types: &'static [&'static str],
    _process: PhantomData<fn() -> P>,
}

impl<P: ProcessManager, B: ProcessBackend> ProcessConsumer<P, B> {
    pub(crate) fn new(backend: B) -> Self {
        let mut types: Vec<&'static str> = P::EVENT_TYPES.to_vec();
        types.extend([ProcessCommandRejected::NAME, ProcessDeadlineReached::NAME]);
        Self {
            backend,
            keep_completed: false,
            // The engine takes a `'static` list; one small list per runner.
            types: Box::leak(types.into_boxed_slice()),
            _process: PhantomData,
        }
    }

    fn input(event: &RecordedEvent) -> Result<Option<(String, Input<P>)>, ProjectionError> {
        let decode = |e| ProjectionError::decode_of(P::NAME, event, e);
        let handler = |e: BoxError| ProjectionError::handler_of(P::NAME, event, e);
        let own = || own_key(P::NAME, &event.stream_id).map(str::to_owned);
        Ok(match event.event_type.as_str() {
            ProcessCommandRejected::NAME => {
                let Some(key) = own() else { return Ok(None) };
                let r = ProcessCommandRejected::decode(
                    &event.event_type,
                    event.schema_version,
                    &event.payload,
                )
                .map_err(decode)?;
                let command = serde_json::from_value(r.command).map_err(|e| {
                    handler(
                        format!(
                            "the rejected command does not decode as this build's command type: {e}"
                        )
                        .into(),
                    )
                })?;
                Some((
                    key,
                    Input::Rejected(Rejected {
                        id: r.id,
                        command,
                        reason: r.reason,
                    }),
                ))
            }
            ProcessDeadlineReached::NAME => {
                let Some(key) = own() else { return Ok(None) };
                let d = ProcessDeadlineReached::decode(
                    &event.event_type,
                    event.schema_version,
                    &event.payload,
                )
                .map_err(decode)?;
                let deadline = serde_json::from_value(d.deadline).map_err(|e| {
                    handler(
                        format!("the deadline does not decode as this build's deadline type: {e}")
                            .into(),
                    )
                })?;
                Some((key, Input::Deadline { id: d.id, deadline }))
            }
            _ => P::receive(event)
                .map_err(decode)?
                .map(|r| (r.key().to_owned(), Input::Event(r))),
        })
    }

    async fn handle_in(
        &self,
        event: &RecordedEvent,
        tx: &mut B::Tx,
    ) -> Result<(), ProjectionError> {
        let Some((key, input)) = Self::input(event)? else {
            return Ok(());
        };
        let store = |e| ProjectionError::handler_of(P::NAME, event, Box::new(e));
        let handler = |e: BoxError| ProjectionError::handler_of(P::NAME, event, e);
        let b = &self.backend;
        let mut state = match b.load_instance(tx, P::NAME, &key).await.map_err(store)? {
            Some(StoredInstance { finished: true, .. }) => {
                tracing::debug!(process = P::NAME, key, event_type = %event.event_type, "instance finished; event ignored");
                return Ok(());
            }
            Some(StoredInstance {
                state: Some(json), ..
            }) => serde_json::from_slice::<P>(&json).map_err(|e| {
                handler(format!("instance `{key}`: its stored state does not decode: {e}").into())
            })?,
            _ => P::default(),
        };
        let then = match input {
            Input::Event(received) => received.react(&mut state),
            Input::Rejected(rejected) => {
                let mut then = Then::new(event.recorded_at);
                state.on_rejected(&rejected, &mut then);
                then
            }
            Input::Deadline { id, deadline } => {
                if !b
                    .take_deadline(tx, P::NAME, &key, id)
                    .await
                    .map_err(store)?
                {
                    // Cancelled or rescheduled after it fired.
                    return Ok(());
                }
                let mut then = Then::new(event.recorded_at);
                state.on_deadline(&deadline, &mut then);
                then
            }
        };
        self.record(event, &key, &state, then, tx)
            .await
            .map_err(handler)
    }

    /// Writes what a reaction decided on the batch transaction.
    async fn record(
        &self,
        event: &RecordedEvent,
        key: &str,
        state: &P,
        then: Then<P>,
        tx: &mut B::Tx,
    ) -> Result<(), BoxError> {
        let b = &self.backend;
        let correlation = event.metadata.correlation_id.or(Some(event.event_id));
        let mut commands = Vec::with_capacity(then.sent.len());
        for (i, sent) in then.sent.iter().enumerate() {
            commands.push(PendingCommand {
                seq: 0,
                key: key.to_owned(),
                command_id: ids::command(P::NAME, key, event.event_id, i),
                causation_id: event.event_id,
                correlation_id: correlation,
                aggregate: sent.command.aggregate().to_owned(),
                target_id: sent.id.clone(),
                command: serde_json::to_vec(&sent.command)?,
            });
        }
        if !commands.is_empty() {
            b.enqueue(tx, P::NAME, &commands).await?;
        }
        if then.completed {
            b.cancel(tx, P::NAME, key, None).await?;
        } else {
            for d in &then.cancelled {
                let d = serde_json::to_string(d)?;
                b.cancel(tx, P::NAME, key, Some(&d)).await?;
            }
            for (i, (d, due_at)) in then.scheduled.iter().enumerate() {
                let deadline = ScheduledDeadline {
                    key: key.to_owned(),
                    deadline: serde_json::to_string(d)?,
                    id: ids::deadline(P::NAME, key, event.event_id, i),
                    due_at: *due_at,
                };
                b.schedule(tx, P::NAME, &deadline).await?;
            }
        }
        let keep = !then.completed || self.keep_completed;
        let instance = StoredInstance {
            state: if keep {
                Some(serde_json::to_vec(state)?)
            } else {
                None
            },
            finished: then.completed,
        };
        b.save_instance(tx, P::NAME, key, &instance).await?;
        Ok(())
    }
}

impl<P: ProcessManager, B: ProcessBackend> Consumer<B::Tx> for ProcessConsumer<P, B> {
    fn name(&self) -> &'static str {
        P::NAME
    }

    fn event_types(&self) -> Option<&'static [&'static str]> {
        Some(self.types)
    }

    async fn handle(
        &mut self,
        event: &RecordedEvent,
        tx: &mut B::Tx,
    ) -> Result<(), ProjectionError> {
        self.handle_in(event, tx).await
    }
}
