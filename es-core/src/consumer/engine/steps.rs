//! The engine's steps: activation, the batch transaction (whole, event by
//! event, one event per transaction), the rebuild's reset, dead letters of
//! unreadable events, and the guards that turn a panic into an error.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

use futures::FutureExt;
use tracing::Instrument;

use super::{Engine, ErrorPolicy, Mode, Step};
use crate::consumer::backend::{Backend, Consumer, Failed, Savepoint};
use crate::consumer::partition::Partition;
use crate::envelope::RecordedEvent;
use crate::error::ErrorChain;
use crate::projection::{HandlerError, NoResetHook, ProjectionError};
use crate::store::StoreError;

impl<B: Backend, C: Consumer<B::Tx>> Engine<B, C> {
    /// Takes the lease (waiting), runs the setup hook, creates the
    /// checkpoint and loads the position.
    pub(super) async fn activate(&mut self) -> Result<(), ProjectionError> {
        let mut standby_logged = false;
        loop {
            if self.try_activate().await? {
                return Ok(());
            }
            if !standby_logged {
                tracing::info!(consumer = %self.key, "another engine is active; standing by");
                standby_logged = true;
            }
            tokio::time::sleep(self.lease_retry).await;
        }
    }

    /// Tries once to take the lease; when it gets it, runs the setup hook,
    /// checks the partition layout, creates the checkpoint and loads the
    /// position. `Ok(false)`: another engine holds the lease.
    pub(crate) async fn try_activate(&mut self) -> Result<bool, ProjectionError> {
        let name = self.consumer.name();
        match self.backend.try_lease(&self.key).await {
            Ok(Some(lease)) => self.lease = Some(lease),
            Ok(None) => return Ok(false),
            Err(e) => return Err(self.wrap(e)),
        }
        let span = tracing::info_span!("es.consumer.setup", consumer = %self.key);
        let ready = async {
            let mut tx = self.backend.begin().await.map_err(|e| self.wrap(e))?;
            self.check_layout(&mut tx).await?;
            guarded(self.consumer.setup(&mut tx), "the setup hook")
                .await
                .map_err(|e| self.hook_error("running the setup hook", e))?;
            let position = self
                .backend
                .init_checkpoint(&mut tx, &self.key)
                .await
                .map_err(|e| self.wrap(e))?;
            self.backend.commit(tx).await.map_err(|e| self.wrap(e))?;
            Ok(position)
        }
        .instrument(span)
        .await;
        match ready {
            Ok(position) => {
                self.moved_to(position, true);
                tracing::info!(consumer = name, partition = %self.key, position, "active");
                Ok(true)
            }
            Err(e) => {
                self.release().await;
                Err(e)
            }
        }
    }

    /// Refuses to run under another partition layout than the stored one
    /// (see [`Partition::layout_key`]); the first partitioned engine of a
    /// name records its count. In the activation's transaction, which holds
    /// the layout row locked (where the store locks) until it commits.
    async fn check_layout(&mut self, tx: &mut B::Tx) -> Result<(), ProjectionError> {
        let name = self.consumer.name();
        let layout = Partition::layout_key(name);
        let changed = |stored, requested| ProjectionError::PartitionsChanged {
            projection: name,
            stored,
            requested,
        };
        let Some(partition) = self.partition else {
            return match self
                .backend
                .lock_checkpoint(tx, &layout)
                .await
                .map_err(|e| self.wrap(e))?
            {
                Some(n) if n > 0 => Err(changed(u32::try_from(n).ok(), None)),
                _ => Ok(()),
            };
        };
        let stored = self
            .backend
            .init_checkpoint(tx, &layout)
            .await
            .map_err(|e| self.wrap(e))?;
        let requested = u64::from(partition.count());
        if stored == 0 {
            let unpartitioned = self
                .backend
                .lock_checkpoint(tx, name)
                .await
                .map_err(|e| self.wrap(e))?;
            if unpartitioned.is_some_and(|p| p > 0) {
                return Err(changed(None, Some(partition.count())));
            }
            self.backend
                .save_checkpoint(tx, &layout, requested)
                .await
                .map_err(|e| self.wrap(e))?;
        } else if stored != requested {
            return Err(changed(u32::try_from(stored).ok(), Some(partition.count())));
        }
        Ok(())
    }

    /// Records that the stored checkpoint is `position` (`reset`: it may
    /// have gone back, so what was scanned no longer counts).
    pub(super) fn moved_to(&mut self, position: u64, reset: bool) {
        if reset {
            self.scanned = position;
        }
        self.position = position;
        self.scanned = self.scanned.max(position);
        self.publish();
    }

    pub(super) fn publish(&self) {
        let at = self.scanned.max(self.position);
        self.progress.send_if_modified(|p| {
            let changed = *p != at;
            *p = at;
            changed
        });
        metrics::gauge!("es_consumer_position", "consumer" => self.key.to_string()).set(at as f64);
    }

    /// Whether the lease still holds (checked, and renewed, in `tx` when
    /// given).
    pub(super) async fn still_active(&mut self, tx: Option<&mut B::Tx>) -> bool {
        lease_holds(&self.backend, self.lease.as_mut(), tx).await
    }

    /// Begins a batch transaction with the checkpoint locked at this
    /// engine's position; `Err(step)` (nothing begun) when the checkpoint
    /// moved under the engine (read again) or is gone (activate again,
    /// which creates it at 0).
    async fn begin_at_checkpoint(&mut self) -> Result<Result<B::Tx, Step>, ProjectionError> {
        let name = self.consumer.name();
        let mut tx = self.backend.begin().await.map_err(|e| self.wrap(e))?;
        match self
            .backend
            .lock_checkpoint(&mut tx, &self.key)
            .await
            .map_err(|e| self.wrap(e))?
        {
            Some(p) if p == self.position => Ok(Ok(tx)),
            Some(p) => {
                tracing::debug!(
                    consumer = name,
                    expected = self.position,
                    stored = p,
                    "the checkpoint moved under this engine; reading again"
                );
                drop(tx);
                self.moved_to(p, true);
                Ok(Err(Step::Moved))
            }
            None => {
                drop(tx);
                self.release().await;
                Ok(Err(Step::Moved))
            }
        }
    }

    /// Moves the checkpoint, checks the lease and commits.
    async fn finish(&mut self, mut tx: B::Tx, to: u64) -> Result<Option<Step>, ProjectionError> {
        let active = if B::LEASE_USES_TX {
            self.backend
                .save_checkpoint(&mut tx, &self.key, to)
                .await
                .map_err(|e| self.wrap(e))?;
            self.still_active(Some(&mut tx)).await
        } else {
            // The lease lives apart from the transaction: check it while
            // the checkpoint is saved (both before the commit).
            let (backend, key) = (&self.backend, &self.key);
            let (saved, alive) = futures::join!(
                backend.save_checkpoint(&mut tx, key, to),
                lease_holds(backend, self.lease.as_mut(), None)
            );
            saved.map_err(|e| self.wrap(e))?;
            alive
        };
        if !active {
            return Ok(Some(Step::LeaseLost));
        }
        self.backend.commit(tx).await.map_err(|e| self.wrap(e))?;
        self.moved_to(to, false);
        Ok(None)
    }

    /// The rebuild's reset transaction.
    pub(super) async fn reset(&mut self) -> Result<Step, ProjectionError> {
        // Nothing buffered before the reset may be flushed after it.
        self.consumer.discard();
        let name = self.consumer.name();
        let span = tracing::info_span!("es.consumer.reset", consumer = name);
        async {
            let mut tx = match self.begin_at_checkpoint().await? {
                Ok(tx) => tx,
                Err(step) => return Ok(step),
            };
            guarded(self.consumer.reset(&mut tx), "the reset hook")
                .await
                .map_err(|e| {
                    if e.is::<NoResetHook>() {
                        ProjectionError::NoReset { projection: name }
                    } else {
                        self.hook_error("running the reset hook", e)
                    }
                })?;
            self.backend
                .clear_dead_letters(&mut tx, &self.key)
                .await
                .map_err(|e| self.wrap(e))?;
            self.backend
                .save_checkpoint(&mut tx, &self.key, 0)
                .await
                .map_err(|e| self.wrap(e))?;
            if !self.still_active(Some(&mut tx)).await {
                return Ok(Step::LeaseLost);
            }
            self.backend.commit(tx).await.map_err(|e| self.wrap(e))?;
            self.moved_to(0, true);
            let status = self.status().await.map_err(|e| self.wrap(e))?;
            tracing::info!(consumer = name, total = status.lag, "reset; replaying");
            Ok(Step::Reset(status.lag))
        }
        .instrument(span)
        .await
    }

    /// Reads one batch and applies it in one transaction.
    pub(super) async fn batch(&mut self) -> Result<Step, ProjectionError> {
        let name = self.consumer.name();
        let from = self.position.max(self.scanned);
        let read = self.read_page(from).await;
        let page = match read {
            Ok(page) => page,
            Err(source) => {
                if let (Some(position), ErrorPolicy::DeadLetter) =
                    (source.unreadable_position(), self.policy)
                {
                    return self.dead_letter_unreadable(position, &source).await;
                }
                return Err(self.wrap(source));
            }
        };
        let scanned_to = page.scanned_to;
        let events = page.events;
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            if scanned_to > self.scanned {
                self.scanned = scanned_to;
                self.publish();
            }
            return Ok(Step::Handled(0));
        };
        self.events_read += events.len() as u64;
        if events.len() >= self.batch_size {
            self.read_ahead(scanned_to);
        }
        let span = tracing::info_span!(
            "es.consumer.batch",
            consumer = name,
            first = first.global_position,
            last = last.global_position,
            events = events.len(),
        );
        let started = Instant::now();
        let step = self.apply_batch(&events, scanned_to).instrument(span).await;
        if let Ok(Step::Handled(n)) = step {
            metrics::counter!("es_consumer_events_total", "consumer" => self.key.to_string())
                .increment(n as u64);
            metrics::histogram!("es_consumer_batch_seconds", "consumer" => self.key.to_string())
                .record(started.elapsed().as_secs_f64());
        }
        step
    }

    /// Records an event the store cannot read back as a dead letter and
    /// moves the checkpoint to it, in one transaction
    /// ([`ErrorPolicy::DeadLetter`]).
    async fn dead_letter_unreadable(
        &mut self,
        position: u64,
        error: &StoreError,
    ) -> Result<Step, ProjectionError> {
        let name = self.consumer.name();
        let mut tx = match self.begin_at_checkpoint().await? {
            Ok(tx) => tx,
            Err(step) => return Ok(step),
        };
        tracing::warn!(
            consumer = name,
            position,
            error = %error,
            "event cannot be read back; recording a dead letter"
        );
        let text = ErrorChain(error).to_string();
        self.backend
            .record_dead_letter(&mut tx, &self.key, Failed::Unreadable(position), &text)
            .await
            .map_err(|e| self.wrap(e))?;
        metrics::counter!("es_consumer_dead_letters_total", "consumer" => self.key.to_string())
            .increment(1);
        Ok(self.finish(tx, position).await?.unwrap_or(Step::Moved))
    }

    /// Applies one batch; whatever does not commit is discarded from the
    /// consumer's buffer (see [`Consumer::discard`]).
    async fn apply_batch(
        &mut self,
        events: &[RecordedEvent],
        scanned_to: u64,
    ) -> Result<Step, ProjectionError> {
        // Nothing of an abandoned attempt (say, a dropped `catch_up` future)
        // carries over into this one.
        self.consumer.discard();
        if !B::ROLLS_BACK {
            return self.apply_one_by_one(events, scanned_to).await;
        }
        let first = if self.policy != ErrorPolicy::Retry {
            Mode::Whole
        } else {
            Mode::PerEvent
        };
        let mut result = self.try_batch(events, scanned_to, first).await;
        if matches!(result, Ok(Step::Isolate)) {
            // DeadLetter: a handler or the flush failed, and what it
            // buffered cannot be told apart from the others'. Handle the
            // batch again one event at a time.
            self.consumer.discard();
            result = self.try_batch(events, scanned_to, Mode::PerEvent).await;
        }
        if !matches!(result, Ok(Step::Handled(_))) {
            self.consumer.discard();
        }
        result
    }

    /// A batch on a backend that cannot undo what the consumer did: each
    /// event in a transaction of its own, so the checkpoint moves right
    /// after the handler that changed the model. (A batch dropped halfway,
    /// say by a timeout around `catch_up`, then leaves no handled event
    /// behind an unmoved checkpoint to be handled again.)
    async fn apply_one_by_one(
        &mut self,
        events: &[RecordedEvent],
        scanned_to: u64,
    ) -> Result<Step, ProjectionError> {
        let mut handled = 0;
        for (i, e) in events.iter().enumerate() {
            let vouched = if i + 1 == events.len() { scanned_to } else { 0 };
            match self
                .try_batch(std::slice::from_ref(e), vouched, Mode::PerEvent)
                .await
            {
                Ok(Step::Handled(n)) => handled += n,
                other => {
                    self.consumer.discard();
                    return other;
                }
            }
        }
        Ok(Step::Handled(handled))
    }

    /// One attempt at a batch in one transaction.
    ///
    /// `Whole`: all handlers, one flush; under `DeadLetter` a failure that
    /// is not transient returns [`Step::Isolate`] with nothing committed.
    /// `PerEvent`: each event under a savepoint with its own flush; a
    /// failure undoes that event's writes and makes it a dead letter
    /// (`DeadLetter`), or commits the events before it and returns the
    /// error (`Stop`, `Retry`).
    async fn try_batch(
        &mut self,
        events: &[RecordedEvent],
        scanned_to: u64,
        mode: Mode,
    ) -> Result<Step, ProjectionError> {
        let name = self.consumer.name();
        let mut tx = match self.begin_at_checkpoint().await? {
            Ok(tx) => tx,
            Err(step) => return Ok(step),
        };
        let dead_letters = self.policy == ErrorPolicy::DeadLetter;
        if mode == Mode::Whole {
            for e in events {
                if let Err(err) = handle(&mut self.consumer, e, &mut tx).await {
                    if dead_letters && !Self::transient(&err) {
                        tracing::debug!(
                            consumer = name,
                            position = e.global_position,
                            error = %ErrorChain(&err),
                            "handler failed; handling the batch again event by event"
                        );
                        return Ok(Step::Isolate);
                    }
                    return Err(err);
                }
            }
            if let Err(err) = guarded(self.consumer.flush(&mut tx), "the flush hook").await {
                let first = events.first().map_or(0, |e| e.global_position);
                let last = events.last().map_or(0, |e| e.global_position);
                let err = self.hook_error(
                    &format!("flushing the batch of positions {first}..={last}"),
                    err,
                );
                if dead_letters && !Self::transient(&err) {
                    tracing::debug!(
                        consumer = name,
                        error = %ErrorChain(&err),
                        "flush failed; handling the batch again event by event"
                    );
                    return Ok(Step::Isolate);
                }
                return Err(err);
            }
        } else {
            let mut done = self.position;
            for e in events {
                self.backend
                    .savepoint(&mut tx, Savepoint::Begin)
                    .await
                    .map_err(|x| self.wrap(x))?;
                let mut r = handle(&mut self.consumer, e, &mut tx).await;
                if r.is_ok() {
                    r = guarded(self.consumer.flush(&mut tx), "the flush hook")
                        .await
                        .map_err(|err| ProjectionError::handler_of(name, e, err));
                }
                match r {
                    Ok(()) => {
                        self.backend
                            .savepoint(&mut tx, Savepoint::Release)
                            .await
                            .map_err(|x| self.wrap(x))?;
                        done = e.global_position;
                    }
                    Err(err) if Self::transient(&err) => return Err(err),
                    Err(err) => {
                        self.consumer.discard();
                        self.backend
                            .savepoint(&mut tx, Savepoint::Undo)
                            .await
                            .map_err(|x| self.wrap(x))?;
                        if !dead_letters {
                            // Keep what succeeded before it; the error
                            // stops (or retries) at this event.
                            if done > self.position
                                && let Some(step) = self.finish(tx, done).await?
                            {
                                return Ok(step);
                            }
                            return Err(err);
                        }
                        tracing::warn!(
                            consumer = name,
                            position = e.global_position,
                            error = %ErrorChain(&err),
                            "handler failed; recording a dead letter"
                        );
                        let text = ErrorChain(&err).to_string();
                        self.backend
                            .record_dead_letter(&mut tx, &self.key, Failed::Event(e), &text)
                            .await
                            .map_err(|x| self.wrap(x))?;
                        metrics::counter!("es_consumer_dead_letters_total", "consumer" => self.key.to_string())
                            .increment(1);
                        done = e.global_position;
                    }
                }
            }
        }
        let last = events.last().map_or(self.position, |e| e.global_position);
        if let Some(step) = self.finish(tx, last).await? {
            return Ok(step);
        }
        // The stored checkpoint is the last event handled; what the read
        // vouched for beyond it (events of other types) moves the progress
        // without a write.
        if scanned_to > self.scanned {
            self.scanned = scanned_to;
            self.publish();
        }
        Ok(Step::Handled(events.len()))
    }
}

/// Runs one handler; a panic becomes a handler error (and the batch's
/// transaction is rolled back or the savepoint undone, like for an error).
async fn handle<Tx, C: Consumer<Tx>>(
    consumer: &mut C,
    event: &RecordedEvent,
    tx: &mut Tx,
) -> Result<(), ProjectionError> {
    let name = consumer.name();
    match AssertUnwindSafe(consumer.handle(event, tx))
        .catch_unwind()
        .await
    {
        Ok(r) => r,
        Err(panic) => Err(ProjectionError::handler_of(
            name,
            event,
            format!("the handler panicked: {}", panic_message(&*panic)).into(),
        )),
    }
}

/// Runs a hook; a panic becomes an error.
pub(super) async fn guarded<F>(hook: F, what: &str) -> Result<(), HandlerError>
where
    F: Future<Output = Result<(), HandlerError>> + Send,
{
    match AssertUnwindSafe(hook).catch_unwind().await {
        Ok(r) => r,
        Err(panic) => Err(format!("{what} panicked: {}", panic_message(&*panic)).into()),
    }
}

/// The text of a panic's payload.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string payload".to_owned())
}

/// Whether `lease` (none: this engine is not active) still holds, checked
/// (and renewed) in `tx` when given.
async fn lease_holds<B: Backend>(
    backend: &B,
    lease: Option<&mut B::Lease>,
    tx: Option<&mut B::Tx>,
) -> bool {
    match lease {
        Some(lease) => backend.lease_alive(lease, tx).await,
        None => false,
    }
}
