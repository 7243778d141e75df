//! The journaling consumer every case runs, and the faults it can be told
//! to show.

use std::collections::BTreeMap;
use std::sync::Arc;

use es_core::RecordedEvent;
use es_core::consumer::Consumer;
use es_core::projection::{HandlerError, NoResetHook, ProjectionError};

use super::Journal;

/// What a [`Journaling`] handler does at a position instead of succeeding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Returns a handler error.
    Error,
    /// Panics.
    Panic,
    /// Never completes (after signalling [`Journaling::hung`]).
    Hang,
}

/// The consumer every case runs: it journals each handled event's global
/// position (see [`Journal`]) and fails, panics or hangs where told.
///
/// ```
/// use es_core::consumer::Consumer;
/// use es_testing::engine::{EngineHarness, Fault, Journaling, MemoryHarness};
///
/// let h = MemoryHarness::new();
/// let c = Journaling::new("counts", Some(&["Pinged"]), h.journal("counts"))
///     .fault_at(7, Fault::Error, 2) // fails twice at position 7, then succeeds
///     .without_reset();
/// assert_eq!(Consumer::<es_core::consumer::MemoryTx>::name(&c), "counts");
/// assert_eq!(c.attempts(7), 0);
/// ```
pub struct Journaling<J> {
    name: &'static str,
    types: Option<&'static [&'static str]>,
    journal: J,
    /// Per position: the fault and how many more times it strikes.
    faults: BTreeMap<u64, (Fault, u32)>,
    attempts: BTreeMap<u64, u32>,
    write_before_fault: bool,
    resettable: bool,
    hung: Arc<tokio::sync::Notify>,
}

impl<J> std::fmt::Debug for Journaling<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journaling")
            .field("name", &self.name)
            .field("types", &self.types)
            .field("faults", &self.faults)
            .field("resettable", &self.resettable)
            .finish_non_exhaustive()
    }
}

impl<J> Journaling<J> {
    /// A consumer `name` of `types` (`None`: every type) writing to
    /// `journal`; no faults, and a reset hook that empties the journal.
    pub fn new(name: &'static str, types: Option<&'static [&'static str]>, journal: J) -> Self {
        Self {
            name,
            types,
            journal,
            faults: BTreeMap::new(),
            attempts: BTreeMap::new(),
            write_before_fault: false,
            resettable: true,
            hung: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// The handler fails with `fault` at `position`, the first `times`
    /// times it sees it (`u32::MAX`: always).
    pub fn fault_at(mut self, position: u64, fault: Fault, times: u32) -> Self {
        self.faults.insert(position, (fault, times));
        self
    }

    /// A faulting handler journals its event first, then fails (for stores
    /// whose transaction undoes it; default: it fails before writing).
    pub fn write_before_fault(mut self, yes: bool) -> Self {
        self.write_before_fault = yes;
        self
    }

    /// No reset hook: a rebuild must be refused.
    pub fn without_reset(mut self) -> Self {
        self.resettable = false;
        self
    }

    /// Removes every fault.
    pub fn clear_faults(&mut self) {
        self.faults.clear();
    }

    /// How many times the handler was called with the event at `position`.
    pub fn attempts(&self, position: u64) -> u32 {
        self.attempts.get(&position).copied().unwrap_or(0)
    }

    /// Notified when a [`Fault::Hang`] strikes (a permit is stored if no
    /// one waits yet).
    pub fn hung(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.hung)
    }

    /// The journal.
    pub fn journal(&self) -> &J {
        &self.journal
    }

    fn error(&self, event: &RecordedEvent, source: HandlerError) -> ProjectionError {
        ProjectionError::Handler {
            projection: self.name,
            event_type: event.event_type.clone(),
            stream_id: event.stream_id.clone(),
            version: event.stream_version,
            position: event.global_position,
            source,
        }
    }
}

/// The text of a planned handler error.
pub const PLANNED_ERROR: &str = "engine conformance: planned failure";
/// The text of a planned panic.
pub const PLANNED_PANIC: &str = "engine conformance: planned panic";

impl<Tx: Send + 'static, J: Journal<Tx>> Consumer<Tx> for Journaling<J> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn event_types(&self) -> Option<&'static [&'static str]> {
        self.types
    }

    async fn handle(&mut self, event: &RecordedEvent, tx: &mut Tx) -> Result<(), ProjectionError> {
        let position = event.global_position;
        *self.attempts.entry(position).or_default() += 1;
        let fault = match self.faults.get_mut(&position) {
            Some((fault, left)) if *left > 0 => {
                *left -= 1;
                Some(*fault)
            }
            _ => None,
        };
        if (fault.is_none() || self.write_before_fault)
            && let Err(e) = self.journal.record(tx, position).await
        {
            return Err(self.error(event, e));
        }
        match fault {
            None => Ok(()),
            Some(Fault::Error) => Err(self.error(
                event,
                format!("{PLANNED_ERROR} at position {position}").into(),
            )),
            Some(Fault::Panic) => panic!("{PLANNED_PANIC} at position {position}"),
            Some(Fault::Hang) => {
                self.hung.notify_one();
                std::future::pending().await
            }
        }
    }

    async fn reset(&mut self, tx: &mut Tx) -> Result<(), HandlerError> {
        if self.resettable {
            self.journal.clear(tx).await
        } else {
            Err(Box::new(NoResetHook))
        }
    }
}
