//! The outbox: enqueue order, `commands_done`, the limit.

use es_core::process::{PendingCommand, ProcessBackend};

use super::{
    OTHER_PROCESS, PROCESS, begin, command, commit, done, enqueue, ok, pending, targets, unnumbered,
};

/// Enqueues `commands` in one committed transaction.
async fn enqueue_committed<B: ProcessBackend>(
    store: &B,
    process: &str,
    commands: &[PendingCommand],
) {
    let mut tx = begin(store).await;
    enqueue(store, &mut tx, process, commands).await;
    commit(store, tx).await;
}

/// Asserts `process`'s whole outbox is `expected` (every field but `seq`),
/// with increasing `seq`; returns it as stored.
async fn expect_outbox<B: ProcessBackend>(
    store: &B,
    process: &str,
    expected: &[PendingCommand],
    after: &str,
) -> Vec<PendingCommand> {
    let found = pending(store, process, 1000).await;
    assert_eq!(
        targets(&found),
        targets(expected),
        "process store conformance: after {after}, the outbox of `{process}` holds the commands to {:?}; it should hold those to {:?}, in enqueue order",
        targets(&found),
        targets(expected)
    );
    assert_eq!(
        unnumbered(&found),
        unnumbered(expected),
        "process store conformance: after {after}, the outbox of `{process}` came back with other fields than enqueued"
    );
    let seqs: Vec<u64> = found.iter().map(|c| c.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "process store conformance: after {after}, the outbox of `{process}` has seq {seqs:?}; they should increase in enqueue order"
    );
    found
}

/// Commands come back in enqueue order across transactions (and across
/// `enqueue` calls in one), with every field and increasing `seq`; one
/// process's outbox never shows another's commands.
pub async fn outbox_keeps_enqueue_order_per_process<B: ProcessBackend>(store: B) {
    let a: Vec<PendingCommand> = (1..=6).map(|n| command("a", n)).collect();
    let b: Vec<PendingCommand> = (11..=13).map(|n| command("b", n)).collect();

    let mut tx = begin(&store).await;
    enqueue(&store, &mut tx, PROCESS, &a[0..2]).await;
    enqueue(&store, &mut tx, OTHER_PROCESS, &b[0..1]).await;
    commit(&store, tx).await;
    enqueue_committed(&store, PROCESS, &a[2..3]).await;
    enqueue_committed(&store, OTHER_PROCESS, &b[1..3]).await;
    let mut tx = begin(&store).await;
    enqueue(&store, &mut tx, PROCESS, &a[3..4]).await;
    enqueue(&store, &mut tx, PROCESS, &[]).await;
    enqueue(&store, &mut tx, PROCESS, &a[4..6]).await;
    commit(&store, tx).await;

    let what = "enqueues in four transactions";
    expect_outbox(&store, PROCESS, &a, what).await;
    expect_outbox(&store, OTHER_PROCESS, &b, what).await;
    expect_outbox(&store, "conformance_nobody", &[], what).await;
}

/// `commands_done` removes those commands and no other; removing one again
/// changes nothing; several go at once.
pub async fn command_done_removes_exactly_one<B: ProcessBackend>(store: B) {
    let a: Vec<PendingCommand> = (1..=3).map(|n| command("a", n)).collect();
    let b = [command("b", 11)];
    let mut tx = begin(&store).await;
    enqueue(&store, &mut tx, PROCESS, &a).await;
    enqueue(&store, &mut tx, OTHER_PROCESS, &b).await;
    commit(&store, tx).await;
    let stored = expect_outbox(&store, PROCESS, &a, "enqueueing three commands").await;

    done(&store, PROCESS, stored[1].seq).await;
    let rest = [a[0].clone(), a[2].clone()];
    expect_outbox(&store, PROCESS, &rest, "commands_done of the second").await;
    done(&store, PROCESS, stored[1].seq).await;
    expect_outbox(&store, PROCESS, &rest, "commands_done of the second, twice").await;
    expect_outbox(
        &store,
        OTHER_PROCESS,
        &b,
        "commands_done in another process",
    )
    .await;

    // Both others at once, with one already done and one of another
    // process's numbers (not removed from there: it is not this process's).
    let seqs = [stored[0].seq, stored[1].seq, stored[2].seq];
    ok(
        format_args!("commands_done({PROCESS:?}, {seqs:?})"),
        store.commands_done(PROCESS, &seqs).await,
    );
    expect_outbox(
        &store,
        PROCESS,
        &[],
        "commands_done of the other two at once",
    )
    .await;
    expect_outbox(
        &store,
        OTHER_PROCESS,
        &b,
        "commands_done in another process",
    )
    .await;
}

/// `pending_commands` returns the first `limit` commands: none for 0, all
/// for `usize::MAX`, and the next ones once the first are done.
pub async fn pending_commands_honours_the_limit<B: ProcessBackend>(store: B) {
    let a: Vec<PendingCommand> = (1..=7).map(|n| command("a", n)).collect();
    enqueue_committed(&store, PROCESS, &a).await;
    for (limit, expected) in [
        (0, &a[..0]),
        (3, &a[..3]),
        (7, &a[..]),
        (usize::MAX, &a[..]),
    ] {
        let found = pending(&store, PROCESS, limit).await;
        assert_eq!(
            targets(&found),
            targets(expected),
            "process store conformance: pending_commands with limit {limit} over 7 commands returned {:?}; it should return the first {}",
            targets(&found),
            expected.len()
        );
    }
    for c in pending(&store, PROCESS, 3).await {
        done(&store, PROCESS, c.seq).await;
    }
    let next = pending(&store, PROCESS, 3).await;
    assert_eq!(
        targets(&next),
        targets(&a[3..6]),
        "process store conformance: with the first 3 commands done, pending_commands with limit 3 returned {:?}; it should return the next 3",
        targets(&next)
    );
}
