//! The projection runner, inline projections and listeners against the real server.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::ev;
use es_core::projection::{Dispatch, HandlerError, Projection, ProjectionError};
use es_core::{EventStore, ExpectedVersion, RecordedEvent};
use es_postgres::{ErrorPolicy, PgEventStore, PgProjection, ProjectionRunner};
use es_testing::postgres::TestDatabase;
use serde_json::json;
use sqlx::{PgConnection, PgPool};

// ---------------------------------------------------------------------------
// A read model: balances per stream, and a journal of applied positions whose
// primary key fails any event applied twice.

#[derive(Default)]
struct Fault {
    /// Fail (after writing) on the n-th dispatch of this projection value; 0: never.
    on_dispatch: AtomicU64,
    panic: AtomicBool,
}

#[derive(Clone, Default)]
struct Balances {
    dispatched: Arc<AtomicU64>,
    seen: Arc<Mutex<BTreeSet<String>>>,
    fault: Arc<Fault>,
    delay: Duration,
}

impl Projection for Balances {
    const NAME: &'static str = "balances";
    const EVENT_TYPES: &'static [&'static str] = &["Deposited", "Withdrawn"];
}

impl Dispatch<PgConnection> for Balances {
    async fn dispatch(
        &mut self,
        e: &RecordedEvent,
        conn: &mut PgConnection,
    ) -> Result<(), ProjectionError> {
        let fail = |m: &str| ProjectionError::handler::<Self>(e, m.to_owned().into());
        self.seen.lock().unwrap().insert(e.event_type.clone());
        let n = self.dispatched.fetch_add(1, Ordering::SeqCst) + 1;
        let v: serde_json::Value = serde_json::from_slice(&e.payload).unwrap();
        let amount = v["amount"].as_i64().unwrap_or(0);
        let delta = if e.event_type == "Withdrawn" {
            -amount
        } else {
            amount
        };
        sqlx::query(
            "INSERT INTO balances (account, balance, events) VALUES ($1, $2, 1) \
             ON CONFLICT (account) DO UPDATE SET balance = balances.balance + $2, \
               events = balances.events + 1",
        )
        .bind(&e.stream_id)
        .bind(delta)
        .execute(&mut *conn)
        .await
        .map_err(|x| ProjectionError::handler::<Self>(e, x.into()))?;
        sqlx::query("INSERT INTO applied (position) VALUES ($1)")
            .bind(e.global_position as i64)
            .execute(&mut *conn)
            .await
            .map_err(|x| ProjectionError::handler::<Self>(e, x.into()))?;
        if v["poison"] == json!(true) {
            return Err(fail("poisoned event"));
        }
        if self
            .fault
            .on_dispatch
            .compare_exchange(n, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            if self.fault.panic.load(Ordering::SeqCst) {
                panic!("injected panic");
            }
            return Err(fail("injected fault"));
        }
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        Ok(())
    }
}

impl PgProjection for Balances {
    async fn setup(&mut self, conn: &mut PgConnection) -> Result<(), HandlerError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS balances \
             (account text PRIMARY KEY, balance bigint NOT NULL, events bigint NOT NULL)",
        )
        .execute(&mut *conn)
        .await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS applied (position bigint PRIMARY KEY)")
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn reset(&mut self, conn: &mut PgConnection) -> Result<(), HandlerError> {
        sqlx::query("TRUNCATE balances, applied")
            .execute(conn)
            .await?;
        Ok(())
    }
}

type Model = (Vec<(String, i64, i64)>, i64);

async fn model(pool: &PgPool) -> Model {
    let rows: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT account, balance, events FROM balances ORDER BY account")
            .fetch_all(pool)
            .await
            .unwrap();
    let (applied,): (i64,) = sqlx::query_as("SELECT count(*) FROM applied")
        .fetch_one(pool)
        .await
        .unwrap();
    (rows, applied)
}

async fn store() -> (TestDatabase, PgEventStore) {
    let db = TestDatabase::create().await;
    let store = PgEventStore::builder()
        .poll_interval(Duration::from_millis(50))
        .build(db.pool().clone());
    store.migrate().await.expect("migrate");
    (db, store)
}

/// Appends `n` events over 7 accounts: deposits, withdrawals and a type the
/// projection does not read. Returns how many the projection reads.
async fn seed(store: &PgEventStore, n: usize, salt: usize) -> u64 {
    let mut listed = 0;
    for chunk in (0..n).collect::<Vec<_>>().chunks(5) {
        let batch: Vec<_> = chunk
            .iter()
            .map(|i| {
                let i = i + salt;
                match i % 4 {
                    0 | 1 => ev("Deposited", json!({"amount": i})),
                    2 => ev("Withdrawn", json!({"amount": i / 2})),
                    _ => ev("Renamed", json!({"name": format!("n{i}")})),
                }
            })
            .collect();
        listed += batch.iter().filter(|e| e.event_type != "Renamed").count() as u64;
        let stream = format!("Account-{}", (chunk[0] + salt) % 7);
        store
            .append(&stream, ExpectedVersion::Any, batch)
            .await
            .unwrap();
    }
    listed
}

async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn caught_up(store: &PgEventStore) -> bool {
    let s = store
        .projection_status(Balances::NAME, Balances::EVENT_TYPES)
        .await
        .unwrap();
    s.lag == 0 && s.position == s.head && s.head > 0
}

/// Rebuilds with a fresh runner; the model afterwards.
async fn rebuilt(store: &PgEventStore, pool: &PgPool) -> Model {
    let mut runner = ProjectionRunner::new(store.clone(), Balances::default()).batch_size(64);
    let mut calls = Vec::new();
    let n = runner
        .rebuild(|done, total| calls.push((done, total)))
        .await
        .unwrap();
    let (done, total) = *calls.last().unwrap();
    assert_eq!((done, total), (n, n), "progress ends at total: {calls:?}");
    assert_eq!(calls[0], (0, n));
    runner.release().await;
    model(pool).await
}

type Spawned = tokio::task::JoinHandle<(ProjectionRunner<Balances>, Result<(), ProjectionError>)>;

fn spawn_run(
    mut runner: ProjectionRunner<Balances>,
) -> (tokio::sync::oneshot::Sender<()>, Spawned) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let r = runner
            .run(async {
                let _ = rx.await;
            })
            .await;
        (runner, r)
    });
    (tx, task)
}

// ---------------------------------------------------------------------------

#[tokio::test]
async fn live_read_model_equals_a_rebuilt_one() {
    let (db, store) = store().await;
    let listed = seed(&store, 120, 0).await;
    let runner = ProjectionRunner::new(store.clone(), Balances::default()).batch_size(16);
    let (stop, task) = spawn_run(runner);
    // Live commits while it runs, some concurrent.
    let (a, b) = tokio::join!(seed(&store, 60, 1000), seed(&store, 60, 2000));
    wait_for("catch-up", Duration::from_secs(20), || caught_up(&store)).await;
    let status = store
        .projection_status(Balances::NAME, Balances::EVENT_TYPES)
        .await
        .unwrap();
    stop.send(()).unwrap();
    let (runner, result) = task.await.unwrap();
    result.unwrap();
    assert!(!runner.is_active());
    assert_eq!(runner.events_read(), listed + a + b);
    let live = model(db.pool()).await;
    assert_eq!(live.1 as u64, listed + a + b);
    assert_eq!(rebuilt(&store, db.pool()).await, live);
    let after = store
        .projection_status(Balances::NAME, Balances::EVENT_TYPES)
        .await
        .unwrap();
    assert_eq!(after, status);
}

async fn fault_mid_batch(panic: bool) {
    let (db, store) = store().await;
    let listed = seed(&store, 200, 0).await;
    let events = store
        .read_all(0, 1000, Some(Balances::EVENT_TYPES))
        .await
        .unwrap()
        .events;
    let faulty = Balances::default();
    faulty.fault.on_dispatch.store(70, Ordering::SeqCst); // the 6th of the 2nd batch of 64
    faulty.fault.panic.store(panic, Ordering::SeqCst);
    let mut runner = ProjectionRunner::new(store.clone(), faulty).batch_size(64);
    let err = runner.catch_up().await.unwrap_err();
    let bad = &events[69];
    match &err {
        ProjectionError::Handler {
            projection,
            event_type,
            stream_id,
            version,
            position,
            ..
        } => {
            assert_eq!(
                (*projection, event_type, stream_id, *version, *position),
                (
                    "balances",
                    &bad.event_type,
                    &bad.stream_id,
                    bad.stream_version,
                    bad.global_position
                )
            );
        }
        other => panic!("expected a handler error, got {other:?}"),
    }
    let text = err.to_string();
    for part in [
        "balances",
        &bad.event_type,
        &bad.stream_id,
        &bad.global_position.to_string(),
    ] {
        assert!(text.contains(part), "{text:?} names {part}");
    }
    // The first batch committed; the second left nothing behind.
    let status = runner.status().await.unwrap();
    assert_eq!(status.position, events[63].global_position);
    assert_eq!(status.lag, listed - 64);
    assert_eq!(model(db.pool()).await.1, 64);
    drop(runner);

    let mut again = ProjectionRunner::new(store.clone(), Balances::default()).batch_size(64);
    assert_eq!(again.catch_up().await.unwrap(), listed - 64);
    again.release().await;
    let resumed = model(db.pool()).await;
    assert_eq!(resumed.1 as u64, listed);
    assert_eq!(rebuilt(&store, db.pool()).await, resumed);
}

#[tokio::test]
async fn a_fault_mid_batch_rolls_the_batch_back_and_a_restart_equals_a_rebuild() {
    fault_mid_batch(false).await;
}

#[tokio::test]
async fn a_panicking_handler_rolls_the_batch_back_too() {
    fault_mid_batch(true).await;
}

const CHILD_ENV: &str = "ES_PG_PROJECTION_CHILD_URL";

/// Not a test of its own: the child process of
/// `a_runner_killed_in_a_child_process_resumes`, selected by an environment
/// variable. Runs a slow runner until killed.
#[tokio::test]
async fn child_runner() {
    let Ok(url) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = PgEventStore::builder()
        .poll_interval(Duration::from_millis(50))
        .connect(&url)
        .await
        .unwrap();
    let slow = Balances {
        delay: Duration::from_millis(3),
        ..Balances::default()
    };
    let mut runner = ProjectionRunner::new(store, slow).batch_size(20);
    runner.run(std::future::pending()).await.unwrap();
}

#[tokio::test]
async fn a_runner_killed_in_a_child_process_resumes() {
    let (db, store) = store().await;
    let listed = seed(&store, 400, 0).await;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_runner", "--test-threads=1"])
        .env(CHILD_ENV, db.url())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for(
        "the child's first batches",
        Duration::from_secs(30),
        || async {
            store
                .load_checkpoint(Balances::NAME)
                .await
                .unwrap()
                .unwrap_or(0)
                > 0
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let status = store
        .projection_status(Balances::NAME, Balances::EVENT_TYPES)
        .await
        .unwrap();
    assert!(status.lag > 0, "killed mid-run: {status:?}");
    let before = model(db.pool()).await;
    assert_eq!(
        before.1 as u64,
        listed - status.lag,
        "model and checkpoint agree"
    );

    let started = Instant::now();
    let mut fresh = ProjectionRunner::new(store.clone(), Balances::default())
        .batch_size(50)
        .lease_retry(Duration::from_millis(50));
    assert_eq!(fresh.catch_up().await.unwrap(), status.lag);
    assert!(started.elapsed() < Duration::from_secs(10));
    fresh.release().await;
    let resumed = model(db.pool()).await;
    assert_eq!(resumed.1 as u64, listed);
    assert_eq!(rebuilt(&store, db.pool()).await, resumed);
}

#[tokio::test]
async fn one_runner_is_active_and_another_takes_over() {
    let (db, store) = store().await;
    let mut listed = seed(&store, 40, 0).await;
    let retry = Duration::from_millis(100);
    let first = Balances::default();
    let first_count = first.dispatched.clone();
    let (stop_first, first_task) =
        spawn_run(ProjectionRunner::new(store.clone(), first).lease_retry(retry));
    wait_for("the first runner", Duration::from_secs(10), || {
        caught_up(&store)
    })
    .await;

    let second = Balances::default();
    let second_count = second.dispatched.clone();
    let (stop_second, second_task) =
        spawn_run(ProjectionRunner::new(store.clone(), second).lease_retry(retry));
    tokio::time::sleep(Duration::from_millis(300)).await;
    listed += seed(&store, 40, 100).await;
    wait_for("the first runner again", Duration::from_secs(10), || {
        caught_up(&store)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        second_count.load(Ordering::SeqCst),
        0,
        "the standby made no progress"
    );
    assert_eq!(first_count.load(Ordering::SeqCst), listed);

    // Stop the first: the second takes over within the lease retry.
    stop_first.send(()).unwrap();
    let (_, r) = first_task.await.unwrap();
    r.unwrap();
    let stopped = Instant::now();
    let more = seed(&store, 20, 200).await;
    wait_for("the takeover", Duration::from_secs(10), || {
        caught_up(&store)
    })
    .await;
    let took = stopped.elapsed();
    assert!(
        took < retry + Duration::from_secs(2),
        "takeover took {took:?}"
    );
    assert_eq!(second_count.load(Ordering::SeqCst), more);
    listed += more;

    // Drop the second (abort its task): a third takes over.
    let third = Balances::default();
    let third_count = third.dispatched.clone();
    let (stop_third, third_task) =
        spawn_run(ProjectionRunner::new(store.clone(), third).lease_retry(retry));
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(third_count.load(Ordering::SeqCst), 0);
    second_task.abort();
    let _ = second_task.await;
    drop(stop_second);
    let more = seed(&store, 20, 300).await;
    wait_for("the second takeover", Duration::from_secs(10), || {
        caught_up(&store)
    })
    .await;
    assert_eq!(third_count.load(Ordering::SeqCst), more);
    listed += more;
    stop_third.send(()).unwrap();
    third_task.await.unwrap().1.unwrap();

    let live = model(db.pool()).await;
    assert_eq!(live.1 as u64, listed);
    assert_eq!(rebuilt(&store, db.pool()).await, live);
}

/// A projection over 2 of 10 types that records every event it is handed.
#[derive(Default)]
struct TwoOfTen {
    seen: BTreeMap<String, u64>,
}

impl Projection for TwoOfTen {
    const NAME: &'static str = "two_of_ten";
    const EVENT_TYPES: &'static [&'static str] = &["Type3", "Type7"];
}

impl Dispatch<PgConnection> for TwoOfTen {
    async fn dispatch(
        &mut self,
        e: &RecordedEvent,
        _: &mut PgConnection,
    ) -> Result<(), ProjectionError> {
        *self.seen.entry(e.event_type.clone()).or_default() += 1;
        Ok(())
    }
}

impl PgProjection for TwoOfTen {}

#[tokio::test]
async fn the_type_filter_reads_only_listed_types() {
    let (_db, store) = store().await;
    for round in 0..10 {
        let batch = (0..10)
            .map(|t| ev(&format!("Type{t}"), json!({"round": round})))
            .collect();
        store
            .append(&format!("Mixed-{round}"), ExpectedVersion::NoStream, batch)
            .await
            .unwrap();
    }
    let mut runner = ProjectionRunner::new(store.clone(), TwoOfTen::default()).batch_size(7);
    assert_eq!(runner.catch_up().await.unwrap(), 20);
    // Dispatched: only the two types, each event once.
    let seen = &runner.projection().seen;
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!((seen["Type3"], seen["Type7"]), (10, 10));
    // Read from the store: 20 events of 100, so the SQL filtered the other 8 types.
    assert_eq!(runner.events_read(), 20);
    let status = runner.status().await.unwrap();
    let last = store
        .read_all(0, 1000, Some(&["Type3", "Type7"]))
        .await
        .unwrap()
        .events;
    assert_eq!(
        (status.lag, status.position, status.head),
        (0, last[19].global_position, last[19].global_position)
    );
    assert!(status.head < store.head_position().await.unwrap());
}

#[tokio::test]
async fn the_dead_letter_policy_records_and_goes_on() {
    let (db, store) = store().await;
    let mut batch: Vec<_> = (0..10)
        .map(|i| ev("Deposited", json!({"amount": i})))
        .collect();
    batch[3] = ev("Deposited", json!({"amount": 1000, "poison": true}));
    batch[7] = ev("Withdrawn", json!({"amount": 1000, "poison": true}));
    store
        .append("Account-1", ExpectedVersion::NoStream, batch)
        .await
        .unwrap();
    let events = store.read_all(0, 100, None).await.unwrap().events;

    // Stop (the default) stops at the first, with nothing of the batch kept.
    let mut stop = ProjectionRunner::new(store.clone(), Balances::default());
    let err = stop.catch_up().await.unwrap_err();
    assert_eq!(err.position(), Some(events[3].global_position));
    assert_eq!(stop.status().await.unwrap().position, 0);
    drop(stop);

    let mut runner = ProjectionRunner::new(store.clone(), Balances::default())
        .error_policy(ErrorPolicy::DeadLetter);
    assert_eq!(runner.catch_up().await.unwrap(), 10);
    let letters = store.dead_letters(Balances::NAME).await.unwrap();
    assert_eq!(letters.len(), 2);
    for (l, e) in letters.iter().zip([&events[3], &events[7]]) {
        assert_eq!(
            (
                l.global_position,
                l.event_id,
                l.stream_id.as_str(),
                l.stream_version,
                l.event_type.as_str()
            ),
            (
                e.global_position,
                e.event_id,
                "Account-1",
                e.stream_version,
                e.event_type.as_str()
            )
        );
        assert!(l.error.contains("poisoned event"), "{}", l.error);
    }
    // The other 8 events' effects survived; the poisoned ones' writes did not.
    let (rows, applied) = model(db.pool()).await;
    assert_eq!(applied, 8);
    assert_eq!(
        rows,
        vec![("Account-1".to_owned(), (0..10).sum::<i64>() - 3 - 7, 8)]
    );
    let status = runner.status().await.unwrap();
    assert_eq!(
        (status.position, status.lag),
        (events[9].global_position, 0)
    );
    // A rebuild records them again, once.
    runner.rebuild(|_, _| {}).await.unwrap();
    assert_eq!(store.dead_letters(Balances::NAME).await.unwrap().len(), 2);
    assert_eq!(model(db.pool()).await.1, 8);
}

#[tokio::test]
async fn an_inline_projection_is_never_behind_and_fails_the_append() {
    let db = TestDatabase::create().await;
    let store = PgEventStore::from_pool(db.pool().clone()).with_inline(Balances::default());
    assert_eq!(store.inline_projections(), ["balances"]);
    store.migrate().await.unwrap(); // creates the tables through setup
    store
        .append(
            "Account-1",
            ExpectedVersion::NoStream,
            vec![
                ev("Deposited", json!({"amount": 10})),
                ev("Renamed", json!({})),
                ev("Withdrawn", json!({"amount": 3})),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        model(db.pool()).await,
        (vec![("Account-1".to_owned(), 7, 2)], 2)
    );
    // An append of no type it reads.
    store
        .append(
            "Account-2",
            ExpectedVersion::NoStream,
            vec![ev("Renamed", json!({}))],
        )
        .await
        .unwrap();
    assert_eq!(model(db.pool()).await.1, 2);

    let err = store
        .append(
            "Account-1",
            ExpectedVersion::Exact(3),
            vec![
                ev("Deposited", json!({"amount": 5})),
                ev("Deposited", json!({"amount": 1, "poison": true})),
            ],
        )
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("inline projection `balances`") && text.contains("Account-1"),
        "{text}"
    );
    assert_eq!(store.stream_version("Account-1").await.unwrap(), 3);
    assert_eq!(
        model(db.pool()).await,
        (vec![("Account-1".to_owned(), 7, 2)], 2)
    );
    // Conflicts still report as conflicts.
    let conflict = store
        .append(
            "Account-1",
            ExpectedVersion::Exact(1),
            vec![ev("Deposited", json!({"amount": 5}))],
        )
        .await
        .unwrap_err();
    assert!(conflict.is_conflict());
    // A store without it keeps the one-statement path and does not run it.
    let plain = PgEventStore::from_pool(db.pool().clone());
    assert!(plain.inline_projections().is_empty());
    plain
        .append(
            "Account-1",
            ExpectedVersion::Exact(3),
            vec![ev("Deposited", json!({"amount": 5}))],
        )
        .await
        .unwrap();
    assert_eq!(model(db.pool()).await.1, 2);
}

#[tokio::test]
async fn a_listener_receives_each_committed_event_at_least_once() {
    let (_db, store) = store().await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let failed_once = Arc::new(AtomicBool::new(false));
    let start = |tx: tokio::sync::mpsc::UnboundedSender<u64>, failed_once: Arc<AtomicBool>| {
        store.listen("mailer", Some(&["Deposited"]), move |e| {
            let tx = tx.clone();
            let failed_once = failed_once.clone();
            async move {
                assert_eq!(e.event_type, "Deposited");
                tx.send(e.global_position).unwrap();
                if !failed_once.swap(true, Ordering::SeqCst) {
                    return Err("the mail server is down".into());
                }
                Ok(())
            }
        })
    };
    let listener = start(tx.clone(), failed_once.clone());
    let mut expected = Vec::new();
    for i in 0..5 {
        let r = store
            .append(
                &format!("Account-{i}"),
                ExpectedVersion::NoStream,
                vec![
                    ev("Deposited", json!({"amount": i})),
                    ev("Renamed", json!({})),
                ],
            )
            .await
            .unwrap();
        expected.push(r.last_position.unwrap() - 1);
    }
    let mut got = Vec::new();
    while got.iter().collect::<BTreeSet<_>>().len() < 5 {
        let p = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        got.push(p);
    }
    // The first delivery failed and was delivered again.
    assert_eq!(got[0], got[1]);
    assert_eq!(
        got.iter().copied().collect::<BTreeSet<_>>(),
        expected.iter().copied().collect()
    );
    wait_for("the checkpoint", Duration::from_secs(5), || async {
        store.load_checkpoint("mailer").await.unwrap().unwrap_or(0) == expected[4]
    })
    .await;
    listener.stop().await;

    // Events committed while it is stopped arrive after a restart.
    let r = store
        .append(
            "Account-9",
            ExpectedVersion::NoStream,
            vec![ev("Deposited", json!({"amount": 9}))],
        )
        .await
        .unwrap();
    let listener = start(tx, failed_once);
    let p = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p, r.last_position.unwrap());
    listener.stop().await;
}

#[tokio::test]
async fn a_lost_lease_connection_mid_batch_applies_nothing_twice() {
    let (db, store) = store().await;
    let listed = seed(&store, 300, 0).await;
    let retry = Duration::from_millis(50);
    let slow = || Balances {
        delay: Duration::from_millis(2),
        ..Balances::default()
    };
    let (stop_a, task_a) = spawn_run(
        ProjectionRunner::new(store.clone(), slow())
            .batch_size(20)
            .lease_retry(retry),
    );
    wait_for("the first batches", Duration::from_secs(10), || async {
        store
            .load_checkpoint(Balances::NAME)
            .await
            .unwrap()
            .unwrap_or(0)
            > 0
    })
    .await;
    let (stop_b, task_b) = spawn_run(
        ProjectionRunner::new(store.clone(), slow())
            .batch_size(20)
            .lease_retry(retry),
    );
    // Kill the active runner's lease connection while it works: the
    // standby takes the lease while the first one's batch is in flight.
    // Only the connection holding the lock: the standby's probe connection
    // has the same application name while it tries the lock (a window a TLS
    // handshake widens).
    tokio::time::sleep(Duration::from_millis(30)).await;
    let (killed,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a \
         WHERE a.application_name = 'es lease balances' AND a.datname = current_database() \
           AND EXISTS (SELECT 1 FROM pg_locks l \
                       WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted)) t",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(killed, 1);
    wait_for("catch-up", Duration::from_secs(30), || caught_up(&store)).await;
    stop_a.send(()).unwrap();
    stop_b.send(()).unwrap();
    // A double application would have failed a handler (the journal's key)
    // and stopped a runner with an error.
    task_a.await.unwrap().1.unwrap();
    task_b.await.unwrap().1.unwrap();
    let live = model(db.pool()).await;
    assert_eq!(live.1 as u64, listed);
    assert_eq!(rebuilt(&store, db.pool()).await, live);
}

/// The status counts an event committed while an older transaction is
/// still open: the runner cannot read it yet (it stops at the settled
/// bound), but it has not handled it either, so it is lag, and the status
/// never says "caught up" while a committed event is unhandled.
#[tokio::test]
async fn the_status_counts_events_behind_an_open_transaction_as_lag() {
    let (db, store) = store().await;
    let listed = seed(&store, 10, 0).await;
    let mut runner = ProjectionRunner::new(store.clone(), Balances::default());
    assert_eq!(runner.catch_up().await.unwrap(), listed);
    let before = store
        .projection_status(Balances::NAME, Balances::EVENT_TYPES)
        .await
        .unwrap();
    assert_eq!((before.lag, before.position), (0, before.head));

    // An open transaction with a transaction id older than the next append.
    let mut open = db.pool().begin().await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *open)
        .await
        .unwrap();
    let more = seed(&store, 4, 1).await;
    let behind = store
        .projection_status(Balances::NAME, Balances::EVENT_TYPES)
        .await
        .unwrap();
    assert_eq!(behind.lag, more, "{behind:?}");
    assert!(behind.head > before.head, "{behind:?}");
    assert_eq!(behind.position, before.position);
    // The runner stops at the open transaction: nothing readable yet.
    assert_eq!(runner.catch_up().await.unwrap(), 0);

    open.rollback().await.unwrap();
    assert_eq!(runner.catch_up().await.unwrap(), more);
    let after = store
        .projection_status(Balances::NAME, Balances::EVENT_TYPES)
        .await
        .unwrap();
    assert_eq!((after.lag, after.position), (0, behind.head));
    runner.release().await;
}
