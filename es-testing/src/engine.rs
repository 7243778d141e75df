//! The consumer engine conformance suite: what [`Engine`] promises, checked
//! on every store that is a [`Backend`].
//!
//! Each case runs engines of a *journaling consumer* ([`Journaling`]): a
//! [`Consumer`] whose handler records each handled event's global position
//! in the store's own transactional model (a table written through the
//! batch transaction on a database; a `Vec` in memory), with knobs to fail,
//! panic or hang on chosen positions. The cases then compare that journal
//! with the log: every event of its types once, in global order, none of
//! the others, nothing of a batch that did not commit.
//!
//! A store's tests supply an [`EngineHarness`]: the backend, how to write
//! the journal through its transaction ([`Journal`]), how to read the
//! journal back, and the store's dead letters. Then one macro call expands
//! into one `#[test]` per case:
//!
//! ```
//! use es_testing::engine::MemoryHarness;
//!
//! es_testing::engine_conformance_tests!(async { MemoryHarness::new() });
//! # fn main() {}
//! ```
//!
//! A case can also be run on its own (say, to show that a broken journal
//! fails it):
//!
//! ```
//! use es_testing::engine::{self, MemoryHarness};
//!
//! engine::run(async { MemoryHarness::new() }, |h| {
//!     Box::pin(engine::rebuild_replays_into_an_emptied_journal(h))
//! });
//! ```
//!
//! # The cases
//!
//! | case | what it checks |
//! |---|---|
//! | [`catch_up_handles_each_event_once_in_order`] | every event of its types once, in order, across batches; other types skipped; checkpoint, status and progress at the end; a second `catch_up` handles nothing; a later append only the new event |
//! | [`stop_on_error_resumes_exactly_once`], [`stop_on_panic_resumes_exactly_once`] | [`ErrorPolicy::Stop`]: the error names position *k*; the checkpoint stays before *k* and the journal holds exactly the events up to it (a rolling-back store undoes the failed batch, written before the fault; the in-memory store keeps the events before *k*); a new engine of the name resumes and the journal has every event once |
//! | [`cancelled_catch_up_resumes_exactly_once`] | a `catch_up` future dropped while a handler is in flight (a timeout, a `select!`), then `catch_up` again on the same engine: every event once |
//! | [`takeover_continues_from_the_checkpoint`] | engine A active; engine B stands by (does not move) while A handles more; A releases; B continues from A's checkpoint, handling only what A left, no duplicates |
//! | [`dead_letters_skip_failing_events`] | [`ErrorPolicy::DeadLetter`] with an error and a panic at two positions: every other event once, exactly those two dead letters (type, stream, error), checkpoint at the end, nothing retried later |
//! | [`rebuild_replays_into_an_emptied_journal`] | `rebuild` empties the journal (the `reset` hook) and the dead letters, replays from 0: the journal is every event once; progress starts at (0, n) and ends at (n, n) |
//! | [`rebuild_without_reset_changes_nothing`] | a consumer without a reset hook: [`ProjectionError::NoReset`], no progress call, journal and checkpoint as they were |
//! | [`only_listed_types_reach_the_handler`] | a two-type filter gets exactly those types; no filter gets every event |
//! | [`wait_for_sees_the_write_in_the_journal`] | with `run` in a task: `Progress::wait_for` an append returns with the event already in the journal; also for an append of a type it does not read; a position never written times out with [`WaitTimeout`]; a shutdown stops `run` and releases the lease |
//! | [`retry_until_the_handler_succeeds`] | [`ErrorPolicy::Retry`]: a handler failing twice at *k* then succeeding: every event once, in order, *k* tried 3 times |
//!
//! On a store whose transaction rolls back ([`Backend::ROLLS_BACK`]), a
//! failing, panicking or hanging handler first writes its journal entry, so
//! the cases also check that the engine undoes it.
//!
//! # Wiring a store
//!
//! The in-memory store: `es-testing/tests/engine_conformance_memory.rs`
//! ([`MemoryHarness`]). PostgreSQL: `es-postgres/tests/engine_conformance.rs`
//! (a journal table in a per-test database).
//!
//! SQLite: `es-sqlite/tests/engine_conformance.rs`, the same shape over a
//! temp file.
//!
//! A failing case panics with a message that starts with
//! `engine conformance:` and says what the engine did and what it should
//! have done.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use es_core::consumer::{
    Backend, Consumer, DeadLetter, Engine, ErrorPolicy, MemoryTx, WaitTimeout,
};
use es_core::projection::{HandlerError, NoResetHook, ProjectionError};
use es_core::{
    AppendResult, ErrorChain, EventStore, ExpectedVersion, InMemoryEventStore, Metadata, NewEvent,
    RecordedEvent,
};
use futures::FutureExt as _;
use futures::future::LocalBoxFuture;

/// The name of the consumer most cases run.
pub const NAME: &str = "engine_conformance";
/// The event type the cases' consumers read.
pub const TRACKED: &str = "EngineTracked";
/// A second type, read only where a case says so.
pub const SECOND: &str = "EngineSecond";
/// A type no filtered consumer reads.
pub const OTHER: &str = "EngineOther";

/// Events per batch in the cases (the seeded log spans several batches).
const BATCH: usize = 4;
/// How long a wait that must succeed may take at most.
const PATIENCE: Duration = Duration::from_secs(10);

// ------------------------------------------------------------- the harness

/// The journal of a [`Journaling`] consumer on one store: where its handler
/// records each handled event's global position, written through the
/// store's batch transaction `Tx` so that it commits (or not) with the
/// checkpoint.
pub trait Journal<Tx>: Send + 'static {
    /// Appends `position` to the journal, through `tx`.
    fn record(
        &mut self,
        tx: &mut Tx,
        position: u64,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// Empties the journal, through `tx` (the consumer's `reset` hook).
    fn clear(&mut self, tx: &mut Tx) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// What a store's tests implement to run the engine conformance suite: a
/// fresh, empty store, its consumers' journal, and how to read both back.
///
/// See [`MemoryHarness`] for the in-memory store and the
/// [module documentation](self) for a database.
pub trait EngineHarness: Sized {
    /// The store under test.
    type Backend: Backend;
    /// The journal its consumers write.
    type Journal: Journal<<Self::Backend as Backend>::Tx>;

    /// A handle to the store (the same store on every call).
    fn backend(&self) -> Self::Backend;

    /// The journal of consumer `name`. Journals of one name made by one
    /// harness are the same journal (a new consumer instance of the name
    /// continues it, as after a restart).
    fn journal(&self, name: &'static str) -> Self::Journal;

    /// What consumer `name` journaled and committed, in the order written.
    fn applied(&self, name: &'static str) -> impl Future<Output = Vec<u64>>;

    /// The store's dead letters of consumer `name`, in global order.
    fn dead_letters(&self, name: &'static str) -> impl Future<Output = Vec<DeadLetter>>;

    /// Cleans up after the case (which may have failed).
    fn teardown(self) -> impl Future<Output = ()> {
        async move { drop(self) }
    }
}

// ------------------------------------------------------ the memory harness

/// The in-memory store as an [`EngineHarness`]: each consumer's journal is
/// a `Vec` it keeps in itself (shared with the harness, so a new instance
/// of the name continues it and the case can read it while `run` owns the
/// engine). A failed transaction does not undo it; the in-memory backend
/// does not roll back ([`Backend::ROLLS_BACK`] is false).
///
/// ```
/// es_testing::engine_conformance_tests!(async { es_testing::engine::MemoryHarness::new() });
/// # fn main() {}
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryHarness {
    store: InMemoryEventStore,
    journals: Arc<Mutex<HashMap<&'static str, Vec<u64>>>>,
}

impl MemoryHarness {
    /// A harness over a new, empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<&'static str, Vec<u64>>) -> T) -> T {
        with_journals(&self.journals, f)
    }
}

fn with_journals<T>(
    journals: &Mutex<HashMap<&'static str, Vec<u64>>>,
    f: impl FnOnce(&mut HashMap<&'static str, Vec<u64>>) -> T,
) -> T {
    // A panicking handler never holds the lock.
    let mut guard = journals.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut guard)
}

/// The journal of a consumer of the in-memory store (see [`MemoryHarness`]).
#[derive(Debug, Clone)]
pub struct MemoryJournal {
    name: &'static str,
    journals: Arc<Mutex<HashMap<&'static str, Vec<u64>>>>,
}

impl MemoryJournal {
    /// What it holds.
    pub fn positions(&self) -> Vec<u64> {
        with_journals(&self.journals, |j| {
            j.get(self.name).cloned().unwrap_or_default()
        })
    }
}

impl Journal<MemoryTx> for MemoryJournal {
    async fn record(&mut self, _: &mut MemoryTx, position: u64) -> Result<(), HandlerError> {
        with_journals(&self.journals, |j| {
            j.entry(self.name).or_default().push(position)
        });
        Ok(())
    }

    async fn clear(&mut self, _: &mut MemoryTx) -> Result<(), HandlerError> {
        with_journals(&self.journals, |j| j.remove(self.name));
        Ok(())
    }
}

impl EngineHarness for MemoryHarness {
    type Backend = InMemoryEventStore;
    type Journal = MemoryJournal;

    fn backend(&self) -> InMemoryEventStore {
        self.store.clone()
    }

    fn journal(&self, name: &'static str) -> MemoryJournal {
        MemoryJournal {
            name,
            journals: Arc::clone(&self.journals),
        }
    }

    async fn applied(&self, name: &'static str) -> Vec<u64> {
        self.with(|j| j.get(name).cloned().unwrap_or_default())
    }

    async fn dead_letters(&self, name: &'static str) -> Vec<DeadLetter> {
        self.store.dead_letters(name)
    }
}

// -------------------------------------------------- the journaling consumer

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

// ------------------------------------------------------------- the runner

/// Runs one case on a fresh multi-threaded runtime: awaits the factory,
/// runs the case on the harness, tears down, and re-raises the case's
/// panic. This is what each test of
/// [`engine_conformance_tests!`](crate::engine_conformance_tests) calls.
pub fn run<H, Case>(factory: impl Future<Output = H>, case: Case)
where
    H: EngineHarness,
    Case: for<'h> FnOnce(&'h H) -> LocalBoxFuture<'h, ()>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("engine conformance: cannot build a tokio runtime");
    runtime.block_on(async move {
        let harness = factory.await;
        let outcome = AssertUnwindSafe(case(&harness)).catch_unwind().await;
        harness.teardown().await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    });
}

/// Expands into one `#[test]` per engine conformance case, each running
/// the case on a harness from `factory`: an expression evaluated once per
/// case, inside the case's runtime, that is a future whose output is an
/// [`EngineHarness`](crate::engine::EngineHarness) over a fresh, empty
/// store.
///
/// ```
/// es_testing::engine_conformance_tests!(async { es_testing::engine::MemoryHarness::new() });
/// # fn main() {}
/// ```
///
/// The tests are named after the cases of [`engine`](crate::engine); call
/// the macro in a module of its own to run it twice in one file.
#[macro_export]
macro_rules! engine_conformance_tests {
    ($factory:expr $(,)?) => {
        $crate::engine_conformance_tests!(@cases ($factory)
            catch_up_handles_each_event_once_in_order
            stop_on_error_resumes_exactly_once
            stop_on_panic_resumes_exactly_once
            cancelled_catch_up_resumes_exactly_once
            takeover_continues_from_the_checkpoint
            dead_letters_skip_failing_events
            rebuild_replays_into_an_emptied_journal
            rebuild_without_reset_changes_nothing
            only_listed_types_reach_the_handler
            wait_for_sees_the_write_in_the_journal
            retry_until_the_handler_succeeds
        );
    };
    (@cases ($factory:expr) $($case:ident)*) => {
        $(
            #[test]
            fn $case() {
                $crate::engine::run(async { $factory.await }, |h| {
                    ::std::boxed::Box::pin($crate::engine::$case(h))
                });
            }
        )*
    };
}

// ---------------------------------------------------------------- helpers

type EngineOf<H> = Engine<<H as EngineHarness>::Backend, Journaling<<H as EngineHarness>::Journal>>;

const ONLY_TRACKED: &[&str] = &[TRACKED];

fn rolls_back<H: EngineHarness>() -> bool {
    <H::Backend as Backend>::ROLLS_BACK
}

/// A consumer of `types` named `name`; a faulting handler writes first
/// where the store's transaction undoes it.
fn consumer<H: EngineHarness>(
    h: &H,
    name: &'static str,
    types: Option<&'static [&'static str]>,
) -> Journaling<H::Journal> {
    Journaling::new(name, types, h.journal(name)).write_before_fault(rolls_back::<H>())
}

/// An engine with batches of [`BATCH`], quick lease retries and backoff.
fn engine<H: EngineHarness>(h: &H, consumer: Journaling<H::Journal>) -> EngineOf<H> {
    Engine::new(h.backend(), consumer)
        .batch_size(BATCH)
        .lease_retry(Duration::from_millis(20))
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(20))
}

fn new_event(event_type: &str, n: usize) -> NewEvent {
    NewEvent::from_raw(
        event_type,
        1,
        format!(r#"{{"n":{n}}}"#).into_bytes(),
        Metadata::new(),
    )
}

/// Appends one event of each of `types` to `stream`, in one batch.
async fn write<S: EventStore>(store: &S, stream: &str, types: &[&str]) -> AppendResult {
    let events = types
        .iter()
        .enumerate()
        .map(|(n, t)| new_event(t, n))
        .collect();
    store
        .append(stream, ExpectedVersion::Any, events)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "engine conformance: appending {types:?} to `{stream}` failed: {}",
                ErrorChain(&e)
            )
        })
}

/// A log of 20 events over 3 streams: 11 [`TRACKED`] (three batches), 3
/// [`SECOND`], 6 [`OTHER`], ending with [`OTHER`].
async fn seed<S: EventStore>(store: &S) -> AppendResult {
    write(store, "Seed-1", &[TRACKED, OTHER, TRACKED, TRACKED]).await;
    write(store, "Seed-2", &[OTHER, TRACKED, SECOND, TRACKED]).await;
    write(store, "Seed-1", &[TRACKED, OTHER, SECOND, TRACKED]).await;
    write(store, "Seed-3", &[TRACKED, TRACKED, SECOND, TRACKED]).await;
    write(store, "Seed-2", &[TRACKED, OTHER, OTHER, OTHER]).await
}

/// The whole log, unfiltered.
async fn log<S: EventStore>(store: &S) -> Vec<RecordedEvent> {
    let mut out: Vec<RecordedEvent> = Vec::new();
    loop {
        let after = out.last().map_or(0, |e| e.global_position);
        let page = store.read_all(after, 1000, None).await.unwrap_or_else(|e| {
            panic!(
                "engine conformance: reading the log after {after} failed: {}",
                ErrorChain(&e)
            )
        });
        if page.events.is_empty() {
            return out;
        }
        out.extend(page.events);
    }
}

/// The positions of the events of `types` (`None`: all) in `log`.
fn of(log: &[RecordedEvent], types: Option<&[&str]>) -> Vec<u64> {
    log.iter()
        .filter(|e| types.is_none_or(|t| t.contains(&e.event_type.as_str())))
        .map(|e| e.global_position)
        .collect()
}

async fn tracked<S: EventStore>(store: &S) -> Vec<u64> {
    of(&log(store).await, Some(ONLY_TRACKED))
}

/// The stored checkpoint of `name` (0: none).
async fn checkpoint<B: Backend>(store: &B, name: &str) -> u64 {
    store
        .consumer_status(name, None)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "engine conformance: reading the status of `{name}` failed: {}",
                ErrorChain(&e)
            )
        })
        .position
}

fn ok<T>(r: Result<T, ProjectionError>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("engine conformance: {what} failed: {}", ErrorChain(&e)))
}

/// Asserts the journal of `name` is `expected`, naming duplicates, missing
/// and foreign positions first.
async fn assert_journal<H: EngineHarness>(h: &H, name: &'static str, expected: &[u64], when: &str) {
    let got = h.applied(name).await;
    if got == expected {
        return;
    }
    let mut seen = std::collections::HashSet::new();
    let twice: Vec<u64> = got.iter().copied().filter(|p| !seen.insert(*p)).collect();
    let missing: Vec<u64> = expected
        .iter()
        .copied()
        .filter(|p| !got.contains(p))
        .collect();
    let foreign: Vec<u64> = got
        .iter()
        .copied()
        .filter(|p| !expected.contains(p))
        .collect();
    panic!(
        "engine conformance: {when}: the journal of `{name}` is wrong: handled twice {twice:?}, \
         never handled {missing:?}, not to be handled {foreign:?}\n  expected {expected:?}\n       got {got:?}"
    );
}

// ------------------------------------------------------------------ cases

/// `catch_up` handles every event of its types exactly once, in global
/// order, across several batches; events of other types are skipped; the
/// checkpoint ends at the last one, the status says caught up, and the
/// progress covers the whole log (also the trailing events of other
/// types). A second `catch_up` handles nothing; after another append it
/// handles just the new event.
pub async fn catch_up_handles_each_event_once_in_order<H: EngineHarness>(h: &H) {
    let store = h.backend();
    let last_write = seed(&store).await;
    let expected = tracked(&store).await;
    let head = log(&store).await.last().map_or(0, |e| e.global_position);

    let mut e = engine(h, consumer(h, NAME, Some(ONLY_TRACKED)));
    let n = ok(e.catch_up().await, "catch_up");
    assert_eq!(
        n,
        expected.len() as u64,
        "engine conformance: catch_up must say it handled the {} events of its type",
        expected.len()
    );
    assert_journal(h, NAME, &expected, "after catch_up").await;
    let last = *expected.last().expect("the seed has tracked events");
    assert_eq!(
        checkpoint(&store, NAME).await,
        last,
        "engine conformance: after catch_up the checkpoint must be the last event of its type"
    );
    let status = e
        .status()
        .await
        .unwrap_or_else(|x| panic!("engine conformance: status() failed: {}", ErrorChain(&x)));
    assert_eq!(
        (status.position, status.head, status.lag),
        (last, last, 0),
        "engine conformance: after catch_up the status must be (position, head, lag) = ({last}, {last}, 0)"
    );
    assert!(
        e.is_active(),
        "engine conformance: catch_up keeps the lease"
    );
    let progress = e.progress();
    assert_eq!(
        progress.position(),
        head,
        "engine conformance: after catch_up the progress must cover the whole log (head {head}), \
         also the trailing events of other types"
    );
    progress
        .wait_for(&last_write, Duration::ZERO)
        .await
        .unwrap_or_else(|x| {
            panic!("engine conformance: after catch_up, waiting for the last append must return at once: {x}")
        });

    let again = ok(e.catch_up().await, "a second catch_up");
    assert_eq!(
        again, 0,
        "engine conformance: a second catch_up with nothing new must handle nothing"
    );
    assert_journal(h, NAME, &expected, "after a second catch_up").await;

    let w = write(&store, "Seed-4", &[OTHER, TRACKED, OTHER]).await;
    let more = ok(e.catch_up().await, "catch_up after an append");
    assert_eq!(
        more, 1,
        "engine conformance: catch_up after an append of one event of its type must handle one"
    );
    let expected = tracked(&store).await;
    assert_journal(h, NAME, &expected, "after catch_up of an append").await;
    assert_eq!(
        e.progress().position(),
        w.last_position.unwrap_or(0),
        "engine conformance: the progress must cover the append"
    );
}

/// [`ErrorPolicy::Stop`] with a handler that returns an error at position
/// *k*: see [`stop_on_panic_resumes_exactly_once`].
pub async fn stop_on_error_resumes_exactly_once<H: EngineHarness>(h: &H) {
    stop_and_resume(h, Fault::Error).await;
}

/// [`ErrorPolicy::Stop`] with a handler that panics at position *k* (the
/// second event of the second batch): `catch_up` fails naming *k*; the
/// checkpoint stays before *k* (at the end of the first batch at least, at
/// the event before *k* on a store that does not roll back) and the journal
/// holds exactly the events up to the checkpoint (the failed batch's writes
/// undone, *k*'s own too). A new engine of the name (a new consumer
/// instance, as after a restart) resumes there, and the journal has every
/// event once, in order.
pub async fn stop_on_panic_resumes_exactly_once<H: EngineHarness>(h: &H) {
    stop_and_resume(h, Fault::Panic).await;
}

async fn stop_and_resume<H: EngineHarness>(h: &H, fault: Fault) {
    let store = h.backend();
    seed(&store).await;
    let expected = tracked(&store).await;
    let k = expected[BATCH + 1];
    let previous_batch_end = expected[BATCH - 1];
    let before_k = expected[BATCH];

    let mut first = engine(
        h,
        consumer(h, NAME, Some(ONLY_TRACKED)).fault_at(k, fault, u32::MAX),
    );
    let err = match first.catch_up().await {
        Ok(n) => panic!(
            "engine conformance: under ErrorPolicy::Stop a handler {fault:?} at position {k} must stop catch_up, it returned Ok({n})"
        ),
        Err(e) => e,
    };
    assert_eq!(
        err.position(),
        Some(k),
        "engine conformance: the error must name the failing position {k}: {}",
        ErrorChain(&err)
    );
    assert!(
        matches!(err, ProjectionError::Handler { projection, .. } if projection == NAME),
        "engine conformance: a failing handler must stop with ProjectionError::Handler of `{NAME}`, got {err:?}"
    );
    let text = ErrorChain(&err).to_string();
    let cause = match fault {
        Fault::Panic => PLANNED_PANIC,
        _ => PLANNED_ERROR,
    };
    assert!(
        text.contains(cause),
        "engine conformance: the error must carry the handler's `{cause}`: {text}"
    );
    drop(first);

    let stopped_at = checkpoint(&store, NAME).await;
    assert!(
        stopped_at < k && stopped_at >= previous_batch_end,
        "engine conformance: after a failure at {k} the checkpoint must stay before it and not behind the \
         batch before ({previous_batch_end}); it is {stopped_at}"
    );
    if !rolls_back::<H>() {
        assert_eq!(
            stopped_at, before_k,
            "engine conformance: a store that does not roll back keeps the events before the failure: \
             the checkpoint must be {before_k}"
        );
    }
    let kept: Vec<u64> = expected
        .iter()
        .copied()
        .filter(|p| *p <= stopped_at)
        .collect();
    assert_journal(
        h,
        NAME,
        &kept,
        &format!("after a {fault:?} at {k} (checkpoint {stopped_at})"),
    )
    .await;

    let mut second = engine(h, consumer(h, NAME, Some(ONLY_TRACKED)));
    let n = ok(second.catch_up().await, "the new engine's catch_up");
    assert_eq!(
        n,
        (expected.len() - kept.len()) as u64,
        "engine conformance: the new engine must resume after the checkpoint {stopped_at}"
    );
    assert_journal(h, NAME, &expected, "after the new engine resumed").await;
    assert_eq!(
        checkpoint(&store, NAME).await,
        *expected.last().unwrap_or(&0),
        "engine conformance: the new engine's checkpoint must end at the last event"
    );
}

/// A `catch_up` future dropped while a handler is in flight (the third
/// event of the second batch hangs; a `select!` drops the future, as a
/// timeout would), then `catch_up` again on the same engine: the journal
/// has every event once. Nothing of the abandoned batch may count twice:
/// the events it handled before the hang are either committed with the
/// checkpoint or undone.
pub async fn cancelled_catch_up_resumes_exactly_once<H: EngineHarness>(h: &H) {
    let store = h.backend();
    seed(&store).await;
    let expected = tracked(&store).await;
    let k = expected[BATCH + 2];

    let c = consumer(h, NAME, Some(ONLY_TRACKED)).fault_at(k, Fault::Hang, 1);
    let hung = c.hung();
    let mut e = engine(h, c);
    tokio::select! {
        r = e.catch_up() => panic!(
            "engine conformance: the handler hangs at {k}, yet catch_up returned {r:?}"
        ),
        () = hung.notified() => {}
    }
    // The catch_up future is gone, mid-batch.
    let n = tokio::time::timeout(PATIENCE, e.catch_up())
        .await
        .unwrap_or_else(|_| {
            panic!("engine conformance: catch_up after a cancelled one did not finish within {PATIENCE:?}")
        });
    ok(n, "catch_up after a cancelled one");
    assert_journal(
        h,
        NAME,
        &expected,
        &format!("after a catch_up cancelled while handling {k}, then another"),
    )
    .await;
    assert_eq!(
        checkpoint(&store, NAME).await,
        *expected.last().unwrap_or(&0),
        "engine conformance: the checkpoint must end at the last event"
    );
}

/// Engine A is active (its `catch_up` keeps the lease). Engine B of the
/// same name, with a short lease retry, calls `catch_up` and stands by: it
/// does not move while A handles more events. A releases; B takes over,
/// continues from A's checkpoint (handling only what A left) and the
/// journal has every event once.
pub async fn takeover_continues_from_the_checkpoint<H: EngineHarness>(h: &H) {
    let store = h.backend();
    write(&store, "Take-1", &[TRACKED, OTHER, TRACKED]).await;
    let mut a = engine(h, consumer(h, NAME, Some(ONLY_TRACKED)));
    ok(a.catch_up().await, "A's catch_up");
    assert!(
        a.is_active(),
        "engine conformance: catch_up keeps the lease"
    );

    let retry = Duration::from_millis(10);
    let mut b = engine(h, consumer(h, NAME, Some(ONLY_TRACKED))).lease_retry(retry);
    let b_progress = b.progress();
    let b_task = tokio::spawn(async move {
        let r = b.catch_up().await;
        (b, r)
    });

    // A keeps working while B stands by.
    write(&store, "Take-2", &[TRACKED, TRACKED, OTHER]).await;
    let n = ok(a.catch_up().await, "A's second catch_up");
    assert_eq!(
        n, 2,
        "engine conformance: the active engine A must handle the 2 new events"
    );
    // Give B many chances (20 lease retries) to do what it must not.
    tokio::time::sleep(retry * 20).await;
    assert!(
        !b_task.is_finished(),
        "engine conformance: B's catch_up finished while A held the lease"
    );
    assert_eq!(
        b_progress.position(),
        0,
        "engine conformance: B moved while A held the lease"
    );
    let by_a = tracked(&store).await;
    assert_journal(h, NAME, &by_a, "while A is active and B stands by").await;
    let a_checkpoint = checkpoint(&store, NAME).await;

    write(&store, "Take-1", &[OTHER, TRACKED, TRACKED, TRACKED]).await;
    a.release().await;
    assert!(
        !a.is_active(),
        "engine conformance: A is not active after release()"
    );
    let (b, r) = tokio::time::timeout(PATIENCE, b_task)
        .await
        .unwrap_or_else(|_| {
            panic!("engine conformance: B did not take over within {PATIENCE:?} of A's release")
        })
        .expect("engine conformance: B's task panicked");
    let n = ok(r, "B's catch_up");
    assert_eq!(
        n, 3,
        "engine conformance: B must continue from A's checkpoint {a_checkpoint}, handling the 3 events after it"
    );
    assert!(
        b.is_active(),
        "engine conformance: B is active after its catch_up"
    );
    let expected = tracked(&store).await;
    assert_journal(h, NAME, &expected, "after B took over").await;
    assert_eq!(
        checkpoint(&store, NAME).await,
        *expected.last().unwrap_or(&0),
        "engine conformance: B's checkpoint must end at the last event"
    );
}

/// [`ErrorPolicy::DeadLetter`] with a handler that fails (an error) at
/// the second event and panics at the fifth (the first of the second
/// batch): every other event is journaled once, in order; the store holds
/// exactly those two dead letters (with their type, stream and error); the
/// checkpoint is at the last event; a later `catch_up` retries nothing.
pub async fn dead_letters_skip_failing_events<H: EngineHarness>(h: &H) {
    let store = h.backend();
    seed(&store).await;
    let log = log(&store).await;
    let expected = of(&log, Some(ONLY_TRACKED));
    let bad = [expected[1], expected[BATCH]];

    let mut e = engine(
        h,
        consumer(h, NAME, Some(ONLY_TRACKED))
            .fault_at(bad[0], Fault::Error, u32::MAX)
            .fault_at(bad[1], Fault::Panic, u32::MAX),
    )
    .error_policy(ErrorPolicy::DeadLetter);
    ok(e.catch_up().await, "catch_up under ErrorPolicy::DeadLetter");
    let good: Vec<u64> = expected
        .iter()
        .copied()
        .filter(|p| !bad.contains(p))
        .collect();
    assert_journal(
        h,
        NAME,
        &good,
        &format!("under ErrorPolicy::DeadLetter, failing at {bad:?}"),
    )
    .await;
    let dead = h.dead_letters(NAME).await;
    let positions: Vec<u64> = dead.iter().map(|d| d.global_position).collect();
    assert_eq!(
        positions, bad,
        "engine conformance: the dead letters must be exactly the failing events"
    );
    for (d, cause) in dead.iter().zip([PLANNED_ERROR, PLANNED_PANIC]) {
        let event = log
            .iter()
            .find(|x| x.global_position == d.global_position)
            .expect("the dead letter's event is in the log");
        assert_eq!(
            (
                d.projection.as_str(),
                d.event_type.as_str(),
                d.stream_id.as_str(),
                d.stream_version,
                d.event_id
            ),
            (
                NAME,
                event.event_type.as_str(),
                event.stream_id.as_str(),
                event.stream_version,
                event.event_id
            ),
            "engine conformance: the dead letter at {} must describe its event",
            d.global_position
        );
        assert!(
            d.error.contains(cause),
            "engine conformance: the dead letter at {} must carry the handler's `{cause}`: {}",
            d.global_position,
            d.error
        );
    }
    assert_eq!(
        checkpoint(&store, NAME).await,
        *expected.last().unwrap_or(&0),
        "engine conformance: under ErrorPolicy::DeadLetter the checkpoint must end at the last event"
    );
    let again = ok(e.catch_up().await, "a second catch_up");
    assert_eq!(
        again, 0,
        "engine conformance: a dead letter is not retried by a later catch_up"
    );
    assert_journal(h, NAME, &good, "after a second catch_up").await;
    assert_eq!(h.dead_letters(NAME).await.len(), 2);
}

/// After a `catch_up` that left a dead letter, `rebuild` (its faults gone)
/// empties the journal through the reset hook, deletes the dead letters
/// and replays from 0: the journal is every event once, in order; the
/// progress callback starts at (0, n), never goes back, and ends at
/// (n, n); it returns n; the checkpoint is at the last event.
pub async fn rebuild_replays_into_an_emptied_journal<H: EngineHarness>(h: &H) {
    let store = h.backend();
    seed(&store).await;
    let expected = tracked(&store).await;
    let bad = expected[2];
    let mut e = engine(
        h,
        consumer(h, NAME, Some(ONLY_TRACKED)).fault_at(bad, Fault::Error, u32::MAX),
    )
    .error_policy(ErrorPolicy::DeadLetter);
    ok(e.catch_up().await, "catch_up");
    assert_eq!(
        h.dead_letters(NAME).await.len(),
        1,
        "engine conformance: the failing event at {bad} must be a dead letter before the rebuild"
    );
    e.consumer_mut().clear_faults();

    let mut calls: Vec<(u64, u64)> = Vec::new();
    let n = ok(
        e.rebuild(|done, total| calls.push((done, total))).await,
        "rebuild",
    );
    let total = expected.len() as u64;
    assert_eq!(
        n, total,
        "engine conformance: rebuild must replay the {total} events of its type"
    );
    assert_journal(h, NAME, &expected, "after rebuild").await;
    assert!(
        h.dead_letters(NAME).await.is_empty(),
        "engine conformance: a rebuild starts clean: its dead letters must be deleted"
    );
    assert_eq!(
        calls.first(),
        Some(&(0, total)),
        "engine conformance: rebuild's progress must start at (0, {total}) after the reset: {calls:?}"
    );
    assert_eq!(
        calls.last(),
        Some(&(total, total)),
        "engine conformance: rebuild's last progress call must be ({total}, {total}): {calls:?}"
    );
    assert!(
        calls
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[1].0 <= w[1].1),
        "engine conformance: rebuild's progress must not go back nor past its total: {calls:?}"
    );
    assert_eq!(
        checkpoint(&store, NAME).await,
        *expected.last().unwrap_or(&0),
        "engine conformance: after rebuild the checkpoint must be the last event"
    );
}

/// A consumer without a reset hook: `rebuild` fails with
/// [`ProjectionError::NoReset`] naming it, calls no progress, and the
/// journal and the checkpoint are as they were; the engine still works.
pub async fn rebuild_without_reset_changes_nothing<H: EngineHarness>(h: &H) {
    let store = h.backend();
    seed(&store).await;
    let expected = tracked(&store).await;
    let mut e = engine(h, consumer(h, NAME, Some(ONLY_TRACKED)).without_reset());
    ok(e.catch_up().await, "catch_up");
    let before = checkpoint(&store, NAME).await;

    let mut calls: Vec<(u64, u64)> = Vec::new();
    match e.rebuild(|done, total| calls.push((done, total))).await {
        Err(ProjectionError::NoReset { projection }) if projection == NAME => {}
        other => panic!(
            "engine conformance: rebuild of a consumer without a reset hook must fail with \
             ProjectionError::NoReset {{ projection: {NAME:?} }}, got {other:?}"
        ),
    }
    assert!(
        calls.is_empty(),
        "engine conformance: a refused rebuild must report no progress: {calls:?}"
    );
    assert_journal(h, NAME, &expected, "after a refused rebuild").await;
    assert_eq!(
        checkpoint(&store, NAME).await,
        before,
        "engine conformance: a refused rebuild must leave the checkpoint"
    );
    write(&store, "Seed-9", &[TRACKED]).await;
    let n = ok(e.catch_up().await, "catch_up after a refused rebuild");
    assert_eq!(
        n, 1,
        "engine conformance: the engine goes on after a refused rebuild"
    );
    assert_journal(
        h,
        NAME,
        &tracked(&store).await,
        "catch_up after a refused rebuild",
    )
    .await;
}

/// A consumer of two types gets exactly the events of those two; one of
/// every type (`None`) gets every event. Each is journaled once, in order.
pub async fn only_listed_types_reach_the_handler<H: EngineHarness>(h: &H) {
    const TWO: &[&str] = &[TRACKED, SECOND];
    const ALL: &str = "engine_conformance_all";
    let store = h.backend();
    seed(&store).await;
    let log = log(&store).await;

    let mut two = engine(h, consumer(h, NAME, Some(TWO)));
    ok(two.catch_up().await, "catch_up of two types");
    assert_journal(
        h,
        NAME,
        &of(&log, Some(TWO)),
        "a consumer of [TRACKED, SECOND]",
    )
    .await;

    let mut all = engine(h, consumer(h, ALL, None));
    ok(all.catch_up().await, "catch_up of every type");
    assert_journal(h, ALL, &of(&log, None), "a consumer of every type").await;
    assert_eq!(
        checkpoint(&store, ALL).await,
        log.last().map_or(0, |e| e.global_position),
        "engine conformance: a consumer of every type must end at the head"
    );
}

/// Read-your-writes with `run` in a spawned task: `wait_for` an append
/// returns, and the journal already holds the event (and every earlier
/// one); the same for an append of a type the consumer does not read (the
/// journal unchanged); a wait for a position never written times out with
/// [`WaitTimeout`] naming it; a shutdown stops `run` with `Ok` and it
/// releases the lease.
pub async fn wait_for_sees_the_write_in_the_journal<H: EngineHarness>(h: &H) {
    let store = h.backend();
    seed(&store).await;
    let mut e = engine(h, consumer(h, NAME, Some(ONLY_TRACKED)));
    let progress = e.progress();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let r = e
            .run(async move {
                let _ = stopped.await;
            })
            .await;
        (e, r)
    });

    let mut last = 0;
    for (round, types) in [
        &[TRACKED][..],
        &[OTHER],
        &[OTHER, TRACKED, OTHER],
        &[TRACKED, TRACKED],
        &[SECOND],
    ]
    .into_iter()
    .enumerate()
    {
        let w = write(&store, "Live-1", types).await;
        let at = progress.wait_for(&w, PATIENCE).await.unwrap_or_else(|x| {
            panic!(
                "engine conformance: waiting for append {round} ({types:?}) with `run` going: {x}"
            )
        });
        let written = w.last_position.expect("an append of events has a position");
        assert!(
            at >= written,
            "engine conformance: wait_for returned {at}, before the write at {written}"
        );
        assert_journal(
            h,
            NAME,
            &tracked(&store).await,
            &format!("when wait_for append {round} ({types:?}) returned"),
        )
        .await;
        last = written;
    }

    let never = last + 1_000;
    let short = Duration::from_millis(200);
    match progress.wait_for(never, short).await {
        Err(WaitTimeout { wanted, at, waited }) => {
            assert_eq!(
                (wanted, waited),
                (never, short),
                "engine conformance: the WaitTimeout must name the position and the wait"
            );
            assert!(
                (last..never).contains(&at),
                "engine conformance: the WaitTimeout must say where the consumer is ({last}), it says {at}"
            );
        }
        Ok(p) => panic!(
            "engine conformance: waiting for position {never}, never written, returned Ok({p})"
        ),
    }

    let _ = stop.send(());
    let (e, r) = tokio::time::timeout(PATIENCE, task)
        .await
        .unwrap_or_else(|_| {
            panic!("engine conformance: run did not stop within {PATIENCE:?} of the shutdown")
        })
        .expect("engine conformance: the run task panicked");
    ok(r, "run");
    assert!(
        !e.is_active(),
        "engine conformance: run releases the lease when it stops"
    );
    assert_journal(h, NAME, &tracked(&store).await, "after run stopped").await;
}

/// [`ErrorPolicy::Retry`] with a handler that fails twice at position *k*
/// (in the second batch) and then succeeds: `catch_up` returns, the journal
/// has every event once, in order (the failed attempts' writes undone), the
/// handler saw *k* three times, and the checkpoint is at the last event.
pub async fn retry_until_the_handler_succeeds<H: EngineHarness>(h: &H) {
    let store = h.backend();
    seed(&store).await;
    let expected = tracked(&store).await;
    let k = expected[BATCH + 1];
    let mut e = engine(
        h,
        consumer(h, NAME, Some(ONLY_TRACKED)).fault_at(k, Fault::Error, 2),
    )
    .error_policy(ErrorPolicy::Retry);
    let n = tokio::time::timeout(PATIENCE, e.catch_up())
        .await
        .unwrap_or_else(|_| {
            panic!("engine conformance: catch_up under ErrorPolicy::Retry did not finish within {PATIENCE:?}")
        });
    ok(n, "catch_up under ErrorPolicy::Retry");
    assert_journal(
        h,
        NAME,
        &expected,
        &format!("under ErrorPolicy::Retry, failing twice at {k}"),
    )
    .await;
    assert_eq!(
        e.consumer().attempts(k),
        3,
        "engine conformance: the handler must see {k} three times (two failures, one success)"
    );
    assert!(
        expected
            .iter()
            .filter(|p| **p != k)
            .all(|p| e.consumer().attempts(*p) == 1),
        "engine conformance: under ErrorPolicy::Retry only the failing event is handled again"
    );
    assert!(
        h.dead_letters(NAME).await.is_empty(),
        "engine conformance: ErrorPolicy::Retry records no dead letter"
    );
    assert_eq!(
        checkpoint(&store, NAME).await,
        *expected.last().unwrap_or(&0),
        "engine conformance: the checkpoint must end at the last event"
    );
}
