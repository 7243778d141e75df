//! Deadlines: scheduling, cancelling, taking, the due query, firing.

use es_core::Uuid;
use es_core::process::{ProcessBackend, ScheduledDeadline};

use super::{
    OTHER_PROCESS, PROCESS, at, begin, cancel, commit, counts, deadline, due, end_of_time, fired,
    names, schedule, take,
};

/// Schedules `deadlines` of `process` in one committed transaction.
async fn schedule_committed<B: ProcessBackend>(
    store: &B,
    process: &str,
    deadlines: &[&ScheduledDeadline],
) {
    let mut tx = begin(store).await;
    for d in deadlines {
        schedule(store, &mut tx, process, d).await;
    }
    commit(store, tx).await;
}

/// Takes `id` in a committed transaction of its own; whether it was there.
async fn take_committed<B: ProcessBackend>(store: &B, process: &str, key: &str, id: Uuid) -> bool {
    let mut tx = begin(store).await;
    let found = take(store, &mut tx, process, key, id).await;
    commit(store, tx).await;
    found
}

/// Every deadline of `process` still to fire, sorted by (key, deadline).
async fn all_due<B: ProcessBackend>(store: &B, process: &str) -> Vec<ScheduledDeadline> {
    let mut all = due(store, process, end_of_time(), 1000).await;
    all.sort_by(|a, b| (&a.key, &a.deadline).cmp(&(&b.key, &b.deadline)));
    all
}

/// Scheduling a deadline equal to one the instance has (the same deadline
/// JSON) replaces it: the new id and due time, unfired again; the old id is
/// gone. Another deadline of the instance, and the same deadline of another
/// instance, are separate.
pub async fn schedule_replaces_an_equal_deadline<B: ProcessBackend>(store: B) {
    let first = deadline("k", r#"{"Remind":{"n":1}}"#, 10);
    let other = deadline("k", r#"{"Remind":{"n":2}}"#, 10);
    let elsewhere = deadline("k2", r#"{"Remind":{"n":1}}"#, 10);
    schedule_committed(&store, PROCESS, &[&first, &other, &elsewhere]).await;
    fired(&store, PROCESS, first.id).await;

    let again = deadline("k", &first.deadline, 20);
    schedule_committed(&store, PROCESS, &[&again]).await;
    let c = counts(&store, PROCESS).await;
    assert_eq!(
        c.deadlines, 3,
        "process store conformance: after rescheduling one of 3 deadlines, process_counts counts {} deadlines; the rescheduled one replaces the old, so 3",
        c.deadlines
    );
    let all = all_due(&store, PROCESS).await;
    assert_eq!(
        all,
        [again.clone(), other, elsewhere],
        "process store conformance: a deadline fired, then scheduled again with the same JSON, should be due (unfired) with its new id and due time, beside the instance's other deadline and another instance's equal one"
    );
    let before_new_due = due(&store, PROCESS, at(15, 0), 100).await;
    assert!(
        !names(&before_new_due).contains(&("k", first.deadline.as_str())),
        "process store conformance: a rescheduled deadline is due before its new due time: {:?}",
        names(&before_new_due)
    );
    assert!(
        !take_committed(&store, PROCESS, "k", first.id).await,
        "process store conformance: take_deadline found the id of a deadline that was rescheduled since; only the new id should be there"
    );
    assert!(
        take_committed(&store, PROCESS, "k", again.id).await,
        "process store conformance: take_deadline did not find the new id of a rescheduled deadline"
    );
}

/// `cancel(Some(d))` removes that deadline of the instance; `cancel(None)`
/// removes all of the instance's; other instances and processes keep
/// theirs; cancelling what is not there is no error.
pub async fn cancel_removes_one_or_all<B: ProcessBackend>(store: B) {
    let d1 = deadline("k", r#""one""#, 1);
    let d2 = deadline("k", r#""two""#, 2);
    let d3 = deadline("k", r#""three""#, 3);
    let of_k2 = deadline("k2", r#""two""#, 2);
    let elsewhere = deadline("k", r#""two""#, 2);
    schedule_committed(&store, PROCESS, &[&d1, &d2, &d3, &of_k2]).await;
    schedule_committed(&store, OTHER_PROCESS, &[&elsewhere]).await;

    let mut tx = begin(&store).await;
    cancel(&store, &mut tx, PROCESS, "k", Some(&d2.deadline)).await;
    cancel(&store, &mut tx, PROCESS, "k", Some(r#""never scheduled""#)).await;
    cancel(&store, &mut tx, PROCESS, "nobody", None).await;
    commit(&store, tx).await;
    let left = all_due(&store, PROCESS).await;
    assert_eq!(
        names(&left),
        [("k", r#""one""#), ("k", r#""three""#), ("k2", r#""two""#)],
        "process store conformance: cancel(Some) of one deadline should remove that one alone"
    );

    let mut tx = begin(&store).await;
    cancel(&store, &mut tx, PROCESS, "k", None).await;
    commit(&store, tx).await;
    let left = all_due(&store, PROCESS).await;
    assert_eq!(
        names(&left),
        [("k2", r#""two""#)],
        "process store conformance: cancel(None) should remove every deadline of the instance and no other instance's"
    );
    let there = all_due(&store, OTHER_PROCESS).await;
    assert_eq!(
        there,
        [elsewhere],
        "process store conformance: cancelling in `{PROCESS}` changed the deadlines of `{OTHER_PROCESS}`"
    );

    // Scheduled and cancelled in one transaction: nothing.
    let brief = deadline("k3", r#""brief""#, 1);
    let mut tx = begin(&store).await;
    schedule(&store, &mut tx, PROCESS, &brief).await;
    cancel(&store, &mut tx, PROCESS, "k3", Some(&brief.deadline)).await;
    commit(&store, tx).await;
    let c = counts(&store, PROCESS).await;
    assert_eq!(
        c.deadlines, 1,
        "process store conformance: a deadline scheduled and cancelled in one transaction is counted ({} deadlines); only k2's should be",
        c.deadlines
    );
}

/// `take_deadline` returns true once for a present id (also one scheduled
/// earlier in the same transaction), then false; false for an id that was
/// rescheduled or cancelled, and for another instance's or process's id.
pub async fn take_deadline_takes_once<B: ProcessBackend>(store: B) {
    let present = deadline("k", r#""present""#, 1);
    let rescheduled = deadline("k", r#""moved""#, 1);
    let moved_to = deadline("k", r#""moved""#, 2);
    let cancelled = deadline("k", r#""cancelled""#, 1);
    schedule_committed(&store, PROCESS, &[&present, &rescheduled, &cancelled]).await;
    let mut tx = begin(&store).await;
    schedule(&store, &mut tx, PROCESS, &moved_to).await;
    cancel(&store, &mut tx, PROCESS, "k", Some(&cancelled.deadline)).await;
    commit(&store, tx).await;

    let mut tx = begin(&store).await;
    for (key, process, id, what) in [
        ("other", PROCESS, present.id, "under another instance's key"),
        ("k", OTHER_PROCESS, present.id, "in another process"),
        ("k", PROCESS, rescheduled.id, "rescheduled since"),
        ("k", PROCESS, cancelled.id, "cancelled"),
    ] {
        assert!(
            !take(&store, &mut tx, process, key, id).await,
            "process store conformance: take_deadline found the id of a deadline {what}; it should return false"
        );
    }
    assert!(
        take(&store, &mut tx, PROCESS, "k", present.id).await,
        "process store conformance: take_deadline did not find a scheduled deadline"
    );
    assert!(
        !take(&store, &mut tx, PROCESS, "k", present.id).await,
        "process store conformance: take_deadline found a deadline a second time in the transaction that took it"
    );
    let fresh = deadline("k", r#""fresh""#, 1);
    schedule(&store, &mut tx, PROCESS, &fresh).await;
    assert!(
        take(&store, &mut tx, PROCESS, "k", fresh.id).await,
        "process store conformance: take_deadline did not find a deadline scheduled earlier in the same transaction"
    );
    commit(&store, tx).await;

    assert!(
        !take_committed(&store, PROCESS, "k", present.id).await,
        "process store conformance: take_deadline found a deadline taken by an earlier, committed transaction"
    );
    let left = all_due(&store, PROCESS).await;
    assert_eq!(
        left,
        [moved_to],
        "process store conformance: after taking two deadlines and cancelling one, only the rescheduled one should be left"
    );
}

/// `due_deadlines` returns the deadlines of that process that are due
/// (`due_at <= now`) and not fired, earliest first, at most `limit`. A
/// deadline due at `DateTime::MAX_UTC` (what `Then::schedule` makes of one
/// that should never come) is due only then (a store may keep such a time
/// as another one past every real clock, so only its order is checked).
pub async fn due_deadlines_are_due_unfired_and_earliest_first<B: ProcessBackend>(store: B) {
    let third = deadline("a", r#""third""#, 3);
    let first = deadline("b", r#""first""#, 1);
    let second = deadline("c", r#""second""#, 2);
    let exactly_now = deadline("a", r#""now""#, 5);
    let mut later = deadline("a", r#""later""#, 5);
    later.due_at = at(5, 1);
    let gone_off = deadline("d", r#""fired""#, 0);
    let elsewhere = deadline("a", r#""elsewhere""#, 0);
    // What `Then::schedule` makes of a deadline that should never come.
    let mut never = deadline("e", r#""never""#, 0);
    never.due_at = chrono::DateTime::<chrono::Utc>::MAX_UTC;
    schedule_committed(
        &store,
        PROCESS,
        &[
            &third,
            &later,
            &first,
            &exactly_now,
            &second,
            &gone_off,
            &never,
        ],
    )
    .await;
    schedule_committed(&store, OTHER_PROCESS, &[&elsewhere]).await;
    fired(&store, PROCESS, gone_off.id).await;

    let now = at(5, 0);
    let found = due(&store, PROCESS, now, 100).await;
    assert_eq!(
        found,
        [
            first.clone(),
            second.clone(),
            third.clone(),
            exactly_now.clone()
        ],
        "process store conformance: due_deadlines at t+5s returned {:?}; it should return the 4 deadlines due by then (one due exactly then), earliest first, without the fired one, the one due a microsecond later, the one due at the end of time, or another process's",
        names(&found)
    );
    let limited = due(&store, PROCESS, now, 2).await;
    assert_eq!(
        limited,
        [first, second],
        "process store conformance: due_deadlines with limit 2 returned {:?}; it should return the 2 earliest",
        names(&limited)
    );
    let none = due(&store, PROCESS, now, 0).await;
    assert!(
        none.is_empty(),
        "process store conformance: due_deadlines with limit 0 returned {:?}",
        names(&none)
    );
    let early = due(&store, PROCESS, at(0, 999_999), 100).await;
    assert!(
        early.is_empty(),
        "process store conformance: due_deadlines before any unfired deadline is due returned {:?}",
        names(&early)
    );
    let today = due(&store, PROCESS, chrono::Utc::now(), 100).await;
    assert!(
        today.is_empty(),
        "process store conformance: due_deadlines today returned {:?}; none of these is due before 2030",
        names(&today)
    );
    let last = due(&store, PROCESS, never.due_at, 100).await;
    assert_eq!(
        names(&last).last(),
        Some(&("e", r#""never""#)),
        "process store conformance: due_deadlines at the end of time should end with the deadline due then"
    );
}

/// `deadline_fired` hides a deadline from `due_deadlines` (in its process
/// only), but it is still counted and `take_deadline` still finds it.
pub async fn fired_deadline_is_hidden_but_still_taken<B: ProcessBackend>(store: B) {
    let d = deadline("k", r#""ring""#, 1);
    let same_id_elsewhere = d.clone();
    schedule_committed(&store, PROCESS, &[&d]).await;
    schedule_committed(&store, OTHER_PROCESS, &[&same_id_elsewhere]).await;

    fired(&store, PROCESS, d.id).await;
    fired(&store, PROCESS, Uuid::now_v7()).await;
    let found = due(&store, PROCESS, end_of_time(), 100).await;
    assert!(
        found.is_empty(),
        "process store conformance: a fired deadline is still due: {:?}",
        names(&found)
    );
    let there = due(&store, OTHER_PROCESS, end_of_time(), 100).await;
    assert_eq!(
        there,
        [same_id_elsewhere],
        "process store conformance: deadline_fired in `{PROCESS}` hid the deadline of `{OTHER_PROCESS}` with the same id"
    );
    let c = counts(&store, PROCESS).await;
    assert_eq!(
        c.deadlines, 1,
        "process store conformance: a fired deadline not yet taken is not counted ({} deadlines); it has not reached its instance yet",
        c.deadlines
    );
    assert!(
        take_committed(&store, PROCESS, "k", d.id).await,
        "process store conformance: take_deadline did not find a fired deadline; firing must not remove it"
    );
    let c = counts(&store, PROCESS).await;
    assert_eq!(
        c.deadlines, 0,
        "process store conformance: a taken deadline is still counted ({} deadlines)",
        c.deadlines
    );
}
