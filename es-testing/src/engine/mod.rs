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
//! | [`partitions_split_the_log_by_stream`] | an engine per partition of 3 ([`Engine::in_partition`]): each handles exactly its streams' events, in order; together every event once; each partition's status caught up at its last event; after one more round the partitions' lags add up to it; an engine of 4 partitions, and an unpartitioned one, are refused ([`ProjectionError::PartitionsChanged`]) and handle nothing |
//! | [`partitioned_workers_share_and_take_over`] | two [`PartitionedRunner`] workers over 4 partitions: A alone takes 4; B joins and they settle at 2 and 2, disjoint; A shuts down and B takes all 4; every event once, each stream's in order (needs a `Clone + Sync` journal) |
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
//!
//! [`Engine`]: es_core::consumer::Engine
//! [`Engine::in_partition`]: es_core::consumer::Engine::in_partition
//! [`PartitionedRunner`]: es_core::consumer::PartitionedRunner
//! [`ProjectionError::PartitionsChanged`]: es_core::projection::ProjectionError::PartitionsChanged
//! [`Consumer`]: es_core::consumer::Consumer
//! [`ErrorPolicy::Stop`]: es_core::consumer::ErrorPolicy::Stop
//! [`ErrorPolicy::DeadLetter`]: es_core::consumer::ErrorPolicy::DeadLetter
//! [`ErrorPolicy::Retry`]: es_core::consumer::ErrorPolicy::Retry
//! [`ProjectionError::NoReset`]: es_core::projection::ProjectionError::NoReset
//! [`WaitTimeout`]: es_core::consumer::WaitTimeout

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use es_core::consumer::{Backend, DeadLetter};
use es_core::projection::HandlerError;
use futures::FutureExt as _;
use futures::future::LocalBoxFuture;

mod cases;
mod journal;
mod memory;

pub use cases::*;
pub use journal::{Fault, Journaling, PLANNED_ERROR, PLANNED_PANIC};
pub use memory::{MemoryHarness, MemoryJournal};

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
            partitions_split_the_log_by_stream
            partitioned_workers_share_and_take_over
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
