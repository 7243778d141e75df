//! Instances, and what a transaction that does not commit leaves.

use es_core::consumer::Savepoint;
use es_core::process::{ProcessBackend, ScheduledDeadline, StoredInstance};

use super::{
    OTHER_PROCESS, PROCESS, active, begin, command, commit, counts, deadline, due, end_of_time,
    enqueue, load, load_alone, pending, rolls_back, save, savepoint, schedule, take,
};

/// A saved instance is loaded back in its own transaction (the last of two
/// saves wins) and, after commit, by a new transaction; another key and
/// another process with the same key have none.
pub async fn saved_instance_is_seen_in_its_transaction_and_after_commit<B: ProcessBackend>(
    store: B,
) {
    let mut tx = begin(&store).await;
    let before = load(&store, &mut tx, PROCESS, "order-1").await;
    assert_eq!(
        before, None,
        "process store conformance: a fresh store loaded instance `order-1` as {before:?}; it should have none"
    );
    save(
        &store,
        &mut tx,
        PROCESS,
        "order-1",
        &active(r#"{"step":1}"#),
    )
    .await;
    let first = load(&store, &mut tx, PROCESS, "order-1").await;
    assert_eq!(
        first,
        Some(active(r#"{"step":1}"#)),
        "process store conformance: an instance saved in a transaction loaded back in that transaction as {first:?}; it should be the saved one"
    );
    save(
        &store,
        &mut tx,
        PROCESS,
        "order-1",
        &active(r#"{"step":2}"#),
    )
    .await;
    let second = load(&store, &mut tx, PROCESS, "order-1").await;
    assert_eq!(
        second,
        Some(active(r#"{"step":2}"#)),
        "process store conformance: an instance saved twice in a transaction loaded back as {second:?}; it should be the second save"
    );
    commit(&store, tx).await;

    let after = load_alone(&store, PROCESS, "order-1").await;
    assert_eq!(
        after,
        Some(active(r#"{"step":2}"#)),
        "process store conformance: after commit, a new transaction loaded instance `order-1` as {after:?}; it should be the last saved state"
    );
    let other_key = load_alone(&store, PROCESS, "order-2").await;
    assert_eq!(
        other_key, None,
        "process store conformance: instance `order-2` was never saved but loaded as {other_key:?}"
    );
    let other_process = load_alone(&store, OTHER_PROCESS, "order-1").await;
    assert_eq!(
        other_process, None,
        "process store conformance: process `{OTHER_PROCESS}` loaded `{PROCESS}`'s instance `order-1` as {other_process:?}; processes must be separate"
    );
}

/// Commits a deadline `kept` of instance `order-0`, for a transaction that
/// does not commit to take.
async fn commit_kept<B: ProcessBackend>(store: &B) -> ScheduledDeadline {
    let kept = deadline("order-0", r#""kept""#, 1);
    let mut tx = begin(store).await;
    schedule(store, &mut tx, PROCESS, &kept).await;
    commit(store, tx).await;
    kept
}

/// Writes one of each through `tx` for instance `key`: its state, a
/// command, a deadline; and takes `kept`.
async fn write_one_of_each<B: ProcessBackend>(
    store: &B,
    tx: &mut B::Tx,
    key: &str,
    kept: &ScheduledDeadline,
) {
    save(store, tx, PROCESS, key, &active("{}")).await;
    enqueue(store, tx, PROCESS, &[command(key, 1)]).await;
    schedule(store, tx, PROCESS, &deadline(key, r#""x""#, 1)).await;
    assert!(
        take(store, tx, PROCESS, &kept.key, kept.id).await,
        "process store conformance: take_deadline of a committed deadline returned false; it should find it"
    );
}

/// Asserts that of [`write_one_of_each`]'s writes, undone `after` what the
/// case says, no command is pending and only `kept` is due.
async fn expect_undone<B: ProcessBackend>(store: &B, after: &str) {
    let commands = pending(store, PROCESS, 100).await;
    assert!(
        commands.is_empty(),
        "process store conformance: commands enqueued on {after} are pending: {:?}; there should be none",
        super::targets(&commands)
    );
    let deadlines = due(store, PROCESS, end_of_time(), 100).await;
    assert_eq!(
        super::names(&deadlines),
        [("order-0", r#""kept""#)],
        "process store conformance: after {after} that scheduled one deadline and took another, the due deadlines should be the taken one alone"
    );
}

/// Instances, commands and deadlines written on a transaction dropped
/// without commit are gone, and a deadline it took is back. (Checks nothing
/// where [`Backend::ROLLS_BACK`](es_core::consumer::Backend::ROLLS_BACK) is
/// false.)
pub async fn dropped_transaction_leaves_nothing<B: ProcessBackend>(store: B) {
    if !rolls_back::<B>() {
        return;
    }
    let kept = commit_kept(&store).await;
    let mut tx = begin(&store).await;
    write_one_of_each(&store, &mut tx, "order-1", &kept).await;
    drop(tx);

    let instance = load_alone(&store, PROCESS, "order-1").await;
    assert_eq!(
        instance, None,
        "process store conformance: an instance saved on a transaction dropped without commit loaded as {instance:?}; it should not exist"
    );
    expect_undone(&store, "a transaction dropped without commit").await;
    let c = counts(&store, PROCESS).await;
    assert_eq!(
        (c.active, c.finished, c.pending_commands, c.deadlines),
        (0, 0, 0, 1),
        "process store conformance: after a dropped transaction, process_counts is {c:?}; it should count only the deadline committed before"
    );
}

/// [`Savepoint::Undo`] drops what was written since [`Savepoint::Begin`]
/// (a deadline taken since is back), [`Savepoint::Release`] keeps it, and
/// what the transaction wrote before stays. (Checks nothing where
/// [`Backend::ROLLS_BACK`](es_core::consumer::Backend::ROLLS_BACK) is false.)
pub async fn undone_savepoint_leaves_nothing<B: ProcessBackend>(store: B) {
    if !rolls_back::<B>() {
        return;
    }
    let kept = commit_kept(&store).await;
    let mut tx = begin(&store).await;
    save(&store, &mut tx, PROCESS, "before", &active(r#"{"n":0}"#)).await;

    savepoint(&store, &mut tx, Savepoint::Begin).await;
    save(&store, &mut tx, PROCESS, "before", &active(r#"{"n":1}"#)).await;
    write_one_of_each(&store, &mut tx, "undone", &kept).await;
    savepoint(&store, &mut tx, Savepoint::Undo).await;

    let undone = load(&store, &mut tx, PROCESS, "undone").await;
    assert_eq!(
        undone, None,
        "process store conformance: an instance saved after a savepoint that was undone loaded as {undone:?}; it should not exist"
    );
    let before = load(&store, &mut tx, PROCESS, "before").await;
    assert_eq!(
        before,
        Some(active(r#"{"n":0}"#)),
        "process store conformance: an instance saved before a savepoint and changed after it (undone) loaded as {before:?}; it should be the state saved before"
    );

    savepoint(&store, &mut tx, Savepoint::Begin).await;
    save(&store, &mut tx, PROCESS, "released", &active("{}")).await;
    savepoint(&store, &mut tx, Savepoint::Release).await;
    commit(&store, tx).await;

    for (key, expected) in [
        ("before", Some(active(r#"{"n":0}"#))),
        ("undone", None),
        ("released", Some(active("{}"))),
    ] {
        let found = load_alone(&store, PROCESS, key).await;
        assert_eq!(
            found, expected,
            "process store conformance: after commit, instance `{key}` loaded as {found:?}; it should be {expected:?} (savepoint undone, then one released)"
        );
    }
    expect_undone(&store, "an undone savepoint").await;
}

/// Finished instances with and without state, and an active one whose
/// state is replaced by `None`, read back as saved.
pub async fn finished_and_dropped_state_read_back<B: ProcessBackend>(store: B) {
    let finished_with_state = StoredInstance {
        state: Some(br#"{"done":true}"#.to_vec()),
        finished: true,
    };
    let finished_dropped = StoredInstance {
        state: None,
        finished: true,
    };
    let active_without_state = StoredInstance {
        state: None,
        finished: false,
    };
    let mut tx = begin(&store).await;
    save(&store, &mut tx, PROCESS, "kept", &finished_with_state).await;
    save(&store, &mut tx, PROCESS, "dropped", &active(r#"{"n":1}"#)).await;
    save(&store, &mut tx, PROCESS, "bare", &active(r#"{"n":1}"#)).await;
    commit(&store, tx).await;

    let mut tx = begin(&store).await;
    save(&store, &mut tx, PROCESS, "dropped", &finished_dropped).await;
    save(&store, &mut tx, PROCESS, "bare", &active_without_state).await;
    commit(&store, tx).await;

    for (key, expected) in [
        ("kept", finished_with_state),
        ("dropped", finished_dropped),
        ("bare", active_without_state),
    ] {
        let found = load_alone(&store, PROCESS, key).await;
        assert_eq!(
            found.as_ref(),
            Some(&expected),
            "process store conformance: instance `{key}` loaded as {found:?}; it should be {expected:?} as last saved (a state of None replaces the one before)"
        );
    }
}
