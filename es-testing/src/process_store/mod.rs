//! The process store conformance suite: what every
//! [`ProcessBackend`] (the instances, outbox and deadlines a store keeps
//! for process managers) must do, checked on the backend itself, with no
//! process manager or runner in between.
//!
//! Each case is an `async fn` taking a fresh, empty store. One macro call
//! expands into one `#[test]` per case:
//!
//! ```
//! es_testing::process_store_conformance_tests!(async { es_core::InMemoryEventStore::new() });
//! # fn main() {}
//! ```
//!
//! The factory is evaluated once per case, inside the case's runtime: a
//! future whose output is a store, or a [`TestStore`] wrapper
//! ([`WithTeardown`](crate::conformance::WithTeardown),
//! [`Guarded`](crate::conformance::Guarded)) that also cleans up after the
//! case, as for the [store conformance suite](crate::conformance). A case
//! can also be run on its own:
//!
//! ```
//! use es_testing::process_store;
//!
//! process_store::run(async { es_core::InMemoryEventStore::new() }, process_store::outbox_keeps_enqueue_order_per_process);
//! ```
//!
//! # The cases
//!
//! | case | what it checks |
//! |---|---|
//! | [`saved_instance_is_seen_in_its_transaction_and_after_commit`] | a saved instance is loaded back in its own transaction (the last save wins), and after commit by a new one; other keys and processes stay empty |
//! | [`dropped_transaction_leaves_nothing`] | instances, commands and deadlines written on a transaction dropped without commit are gone (and a deadline it took is back) |
//! | [`undone_savepoint_leaves_nothing`] | [`Savepoint::Undo`] drops what was written since [`Savepoint::Begin`] (a taken deadline comes back), [`Savepoint::Release`] keeps it, and what came before stays |
//! | [`finished_and_dropped_state_read_back`] | finished instances with and without state, and an active instance whose state is replaced by `None` |
//! | [`outbox_keeps_enqueue_order_per_process`] | commands come back in enqueue order across transactions, with every field, increasing `seq`; one process never sees another's |
//! | [`command_done_removes_exactly_one`] | `commands_done` removes those commands only (again: a no-op); several at once |
//! | [`pending_commands_honours_the_limit`] | the first `limit` commands; 0 and `usize::MAX` |
//! | [`schedule_replaces_an_equal_deadline`] | an equal deadline (same JSON, same instance) is replaced with the new id and due time and is unfired again; other deadlines and instances are separate |
//! | [`cancel_removes_one_or_all`] | `cancel(Some)` removes that deadline, `cancel(None)` all of the instance's, nothing else |
//! | [`take_deadline_takes_once`] | `true` once for a present id, then `false`; `false` for a rescheduled or cancelled id, or another instance's |
//! | [`due_deadlines_are_due_unfired_and_earliest_first`] | only due (`due_at <= now`), unfired deadlines of that process, earliest first, at most `limit`; one due at `DateTime::MAX_UTC` is not due today |
//! | [`fired_deadline_is_hidden_but_still_taken`] | `deadline_fired` hides it from `due_deadlines` (only in its process) but it is still counted and `take_deadline` still finds it |
//! | [`process_counts_counts_each_kind`] | active and finished instances, pending commands, deadlines (fired ones too), per process |
//! | [`payloads_round_trip_byte_exact`] | states (non-canonical JSON, 1 MiB), commands, deadlines, keys and process names with quotes, backslashes and unicode come back byte for byte |
//! | [`runner_settles_commands_deadlines_and_rejections`] | end to end: a [`ProcessRunner`](es_core::process::ProcessRunner) on the store sends a command that goes through and one that is rejected, fires a deadline, finishes both instances, leaves nothing pending, and has nothing to do on a second `catch_up` |
//!
//! The two rollback cases check nothing on a store whose transactions do
//! not roll back ([`Backend::ROLLS_BACK`] is false: the in-memory store).
//!
//! # Wiring a store
//!
//! The in-memory store: `es-testing/tests/process_store_memory.rs`.
//! PostgreSQL: `es-postgres/tests/process_store.rs` (a database per case).
//! SQLite: `es-sqlite/tests/process_store.rs` (a temp file per case).
//!
//! A failing case panics with a message that starts with
//! `process store conformance:` and says what the store did and what it
//! should have done.
//!
//! [`Savepoint::Undo`]: es_core::consumer::Savepoint::Undo
//! [`Savepoint::Begin`]: es_core::consumer::Savepoint::Begin
//! [`Savepoint::Release`]: es_core::consumer::Savepoint::Release

use std::fmt::Display;
use std::future::Future;

use chrono::{DateTime, Utc};
use es_core::consumer::{Backend, Savepoint};
use es_core::process::{
    PendingCommand, ProcessBackend, ProcessCounts, ScheduledDeadline, StoredInstance,
};
use es_core::{ErrorChain, StoreError, Timestamp, Uuid};

use crate::conformance::TestStore;

mod deadlines;
mod instances;
mod outbox;
mod payloads;
mod runner;

pub use deadlines::*;
pub use instances::*;
pub use outbox::*;
pub use payloads::*;
pub use runner::*;

/// The process most cases write to.
pub const PROCESS: &str = "conformance_process";
/// A second process, whose rows must stay apart from [`PROCESS`]'s.
pub const OTHER_PROCESS: &str = "conformance_other";

/// Runs one case on a fresh multi-threaded runtime: awaits the factory,
/// runs the case on its store, tears down (also when the case failed), and
/// re-raises the case's panic. This is what each test of
/// [`process_store_conformance_tests!`](crate::process_store_conformance_tests)
/// calls.
///
/// ```
/// use es_testing::process_store;
///
/// process_store::run(async { es_core::InMemoryEventStore::new() }, process_store::take_deadline_takes_once);
/// ```
pub fn run<T, Case, CaseFut>(factory: impl Future<Output = T>, case: Case)
where
    T: TestStore,
    T::Store: ProcessBackend,
    Case: FnOnce(T::Store) -> CaseFut,
    CaseFut: Future<Output = ()>,
{
    crate::conformance::run(factory, case);
}

/// Expands into one `#[test]` per process store conformance case, each
/// running the case on a store from `factory`.
///
/// `factory` is an expression evaluated once per case, inside the case's
/// tokio runtime: a future whose output is a [`ProcessBackend`] (a fresh,
/// empty store that is also an `EventStore + SnapshotStore`) or a
/// [`TestStore`](crate::conformance::TestStore) wrapper that cleans up
/// after the case.
///
/// ```
/// es_testing::process_store_conformance_tests!(async { es_core::InMemoryEventStore::new() });
/// # fn main() {}
/// ```
///
/// The tests are named after the cases of
/// [`process_store`](crate::process_store); call the macro in a module of
/// its own when its scope has items of those names.
///
/// [`ProcessBackend`]: es_core::process::ProcessBackend
#[macro_export]
macro_rules! process_store_conformance_tests {
    ($factory:expr $(,)?) => {
        $crate::process_store_conformance_tests!(@cases ($factory)
            saved_instance_is_seen_in_its_transaction_and_after_commit
            dropped_transaction_leaves_nothing
            undone_savepoint_leaves_nothing
            finished_and_dropped_state_read_back
            outbox_keeps_enqueue_order_per_process
            command_done_removes_exactly_one
            pending_commands_honours_the_limit
            schedule_replaces_an_equal_deadline
            cancel_removes_one_or_all
            take_deadline_takes_once
            due_deadlines_are_due_unfired_and_earliest_first
            fired_deadline_is_hidden_but_still_taken
            process_counts_counts_each_kind
            payloads_round_trip_byte_exact
            runner_settles_commands_deadlines_and_rejections
        );
    };
    (@cases ($factory:expr) $($case:ident)*) => {
        $(
            #[test]
            fn $case() {
                $crate::process_store::run(
                    async { $factory.await },
                    $crate::process_store::$case,
                );
            }
        )*
    };
}

// ---------------------------------------------------------------- helpers

/// The value of `r`, or a panic naming the call that failed.
fn ok<T>(what: impl Display, r: Result<T, StoreError>) -> T {
    r.unwrap_or_else(|e| {
        panic!(
            "process store conformance: {what} failed, and should have succeeded: {}",
            ErrorChain(&e)
        )
    })
}

async fn begin<B: ProcessBackend>(b: &B) -> B::Tx {
    ok("begin()", b.begin().await)
}

async fn commit<B: ProcessBackend>(b: &B, tx: B::Tx) {
    ok("commit()", b.commit(tx).await);
}

async fn savepoint<B: ProcessBackend>(b: &B, tx: &mut B::Tx, step: Savepoint) {
    ok(format!("savepoint({step:?})"), b.savepoint(tx, step).await);
}

async fn load<B: ProcessBackend>(
    b: &B,
    tx: &mut B::Tx,
    process: &str,
    key: &str,
) -> Option<StoredInstance> {
    ok(
        format_args!("load_instance({process:?}, {key:?})"),
        b.load_instance(tx, process, key).await,
    )
}

/// Loads `key` in a transaction of its own (dropped afterwards).
async fn load_alone<B: ProcessBackend>(b: &B, process: &str, key: &str) -> Option<StoredInstance> {
    let mut tx = begin(b).await;
    let found = load(b, &mut tx, process, key).await;
    drop(tx);
    found
}

async fn save<B: ProcessBackend>(
    b: &B,
    tx: &mut B::Tx,
    process: &str,
    key: &str,
    instance: &StoredInstance,
) {
    ok(
        format_args!("save_instance({process:?}, {key:?})"),
        b.save_instance(tx, process, key, instance).await,
    );
}

async fn enqueue<B: ProcessBackend>(
    b: &B,
    tx: &mut B::Tx,
    process: &str,
    commands: &[PendingCommand],
) {
    ok(
        format_args!("enqueue({process:?}, {} command(s))", commands.len()),
        b.enqueue(tx, process, commands).await,
    );
}

async fn schedule<B: ProcessBackend>(b: &B, tx: &mut B::Tx, process: &str, d: &ScheduledDeadline) {
    ok(
        format_args!("schedule({process:?}, {:?} of {:?})", d.deadline, d.key),
        b.schedule(tx, process, d).await,
    );
}

async fn cancel<B: ProcessBackend>(
    b: &B,
    tx: &mut B::Tx,
    process: &str,
    key: &str,
    deadline: Option<&str>,
) {
    ok(
        format_args!("cancel({process:?}, {key:?}, {deadline:?})"),
        b.cancel(tx, process, key, deadline).await,
    );
}

async fn take<B: ProcessBackend>(
    b: &B,
    tx: &mut B::Tx,
    process: &str,
    key: &str,
    id: Uuid,
) -> bool {
    ok(
        format_args!("take_deadline({process:?}, {key:?}, {id})"),
        b.take_deadline(tx, process, key, id).await,
    )
}

async fn pending<B: ProcessBackend>(b: &B, process: &str, limit: usize) -> Vec<PendingCommand> {
    ok(
        format_args!("pending_commands({process:?}, {limit})"),
        b.pending_commands(process, limit).await,
    )
}

async fn done<B: ProcessBackend>(b: &B, process: &str, seq: u64) {
    ok(
        format_args!("commands_done({process:?}, [{seq}])"),
        b.commands_done(process, &[seq]).await,
    );
}

async fn due<B: ProcessBackend>(
    b: &B,
    process: &str,
    now: Timestamp,
    limit: usize,
) -> Vec<ScheduledDeadline> {
    ok(
        format_args!("due_deadlines({process:?}, {now}, {limit})"),
        b.due_deadlines(process, now, limit).await,
    )
}

async fn fired<B: ProcessBackend>(b: &B, process: &str, id: Uuid) {
    ok(
        format_args!("deadline_fired({process:?}, {id})"),
        b.deadline_fired(process, id).await,
    );
}

async fn counts<B: ProcessBackend>(b: &B, process: &str) -> ProcessCounts {
    ok(
        format_args!("process_counts({process:?})"),
        b.process_counts(process).await,
    )
}

/// Whether the store's transactions undo what was written through them.
fn rolls_back<B: ProcessBackend>() -> bool {
    <B as Backend>::ROLLS_BACK
}

/// An active instance with `state`.
fn active(state: &str) -> StoredInstance {
    StoredInstance {
        state: Some(state.as_bytes().to_vec()),
        finished: false,
    }
}

/// Command `n` of instance `key` (its `seq` is the store's to set).
fn command(key: &str, n: u32) -> PendingCommand {
    PendingCommand {
        seq: 0,
        key: key.to_owned(),
        command_id: Uuid::now_v7(),
        causation_id: Uuid::now_v7(),
        correlation_id: n.is_multiple_of(2).then(Uuid::now_v7),
        aggregate: "Account".to_owned(),
        target_id: format!("acc-{n}"),
        command: format!(r#"{{"Deposit":{{"n":{n}}}}}"#).into_bytes(),
    }
}

/// `commands` as they should come back, `seq` aside.
fn unnumbered(commands: &[PendingCommand]) -> Vec<PendingCommand> {
    commands
        .iter()
        .map(|c| PendingCommand {
            seq: 0,
            ..c.clone()
        })
        .collect()
}

/// The target ids of `commands`, for short failure messages.
fn targets(commands: &[PendingCommand]) -> Vec<&str> {
    commands.iter().map(|c| c.target_id.as_str()).collect()
}

/// A fixed time `secs` seconds (and `micros` microseconds) after a base
/// instant: whole microseconds, which every store keeps exactly.
fn at(secs: i64, micros: i64) -> Timestamp {
    DateTime::<Utc>::from_timestamp_micros(1_900_000_000_000_000 + secs * 1_000_000 + micros)
        .expect("a time in range")
}

/// A deadline `deadline` of instance `key`, due at `at(secs, 0)`, with a
/// new id.
fn deadline(key: &str, deadline: &str, secs: i64) -> ScheduledDeadline {
    ScheduledDeadline {
        key: key.to_owned(),
        deadline: deadline.to_owned(),
        id: Uuid::now_v7(),
        due_at: at(secs, 0),
    }
}

/// The deadlines' (key, deadline) pairs, for short failure messages.
fn names(deadlines: &[ScheduledDeadline]) -> Vec<(&str, &str)> {
    deadlines
        .iter()
        .map(|d| (d.key.as_str(), d.deadline.as_str()))
        .collect()
}

/// Far enough in the future for every deadline of the cases to be due.
fn end_of_time() -> Timestamp {
    at(1_000_000_000, 0)
}
