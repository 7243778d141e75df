//! The SQLite projection runner: a live-built read model equals a rebuilt
//! one; a failing handler rolls its batch back; the runner wakes on this
//! process's commits at once and finds other connections' by polling; two
//! processes running one projection on one file never apply an event twice;
//! status and lag.
//!
//! The two-process test re-runs this test binary twice as children,
//! selecting the `journal_child` test with an environment variable.
// The two-process test reports how the runners split the work (in the
// child's log, and with `--nocapture`).
#![allow(clippy::print_stderr)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::TempDb;
use es_core::projection::{Dispatch, HandlerError, Projection, ProjectionError};
use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent, RecordedEvent};
use es_sqlite::{POLL_INTERVAL, ProjectionRunner, SqliteEventStore, SqliteProjection};
use sqlx::SqliteConnection;
use tokio::sync::oneshot;

// ------------------------------------------------------------- projections

/// Balances per stream from `Deposited`/`Withdrawn` (`{"amount": n}`);
/// fails on the event at `fail_at`.
#[derive(Default)]
struct Balances {
    fail_at: Option<u64>,
}

impl Projection for Balances {
    const NAME: &'static str = "balances";
    const EVENT_TYPES: &'static [&'static str] = &["Deposited", "Withdrawn"];
}

impl Dispatch<SqliteConnection> for Balances {
    async fn dispatch(
        &mut self,
        e: &RecordedEvent,
        conn: &mut SqliteConnection,
    ) -> Result<(), ProjectionError> {
        if self.fail_at == Some(e.global_position) {
            return Err(ProjectionError::handler::<Self>(
                e,
                "the test refuses this event".into(),
            ));
        }
        let payload: serde_json::Value = serde_json::from_slice(&e.payload)
            .map_err(|err| ProjectionError::handler::<Self>(e, err.into()))?;
        let amount = payload["amount"].as_i64().unwrap_or(0);
        let delta = if e.event_type == "Withdrawn" {
            -amount
        } else {
            amount
        };
        sqlx::query(
            "INSERT INTO balances (stream_id, balance, events) VALUES (?, ?, 1) \
             ON CONFLICT (stream_id) DO UPDATE \
             SET balance = balance + excluded.balance, events = events + 1",
        )
        .bind(&e.stream_id)
        .bind(delta)
        .execute(conn)
        .await
        .map_err(|err| ProjectionError::handler::<Self>(e, err.into()))?;
        Ok(())
    }
}

impl SqliteProjection for Balances {
    async fn setup(&mut self, conn: &mut SqliteConnection) -> Result<(), HandlerError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS balances (
                stream_id TEXT PRIMARY KEY,
                balance INTEGER NOT NULL,
                events INTEGER NOT NULL)",
        )
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn reset(&mut self, conn: &mut SqliteConnection) -> Result<(), HandlerError> {
        sqlx::query("DELETE FROM balances").execute(conn).await?;
        Ok(())
    }
}

/// Records each `Tick` it handles under its position: the primary key makes
/// a second application of an event fail (and the runner stop).
struct Journal {
    runner: String,
}

impl Projection for Journal {
    const NAME: &'static str = "journal";
    const EVENT_TYPES: &'static [&'static str] = &["Tick"];
}

impl Dispatch<SqliteConnection> for Journal {
    async fn dispatch(
        &mut self,
        e: &RecordedEvent,
        conn: &mut SqliteConnection,
    ) -> Result<(), ProjectionError> {
        sqlx::query("INSERT INTO journal (position, runner) VALUES (?, ?)")
            .bind(i64::try_from(e.global_position).unwrap())
            .bind(&self.runner)
            .execute(conn)
            .await
            .map_err(|err| ProjectionError::handler::<Self>(e, err.into()))?;
        Ok(())
    }
}

impl SqliteProjection for Journal {
    async fn setup(&mut self, conn: &mut SqliteConnection) -> Result<(), HandlerError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS journal (
                position INTEGER PRIMARY KEY,
                runner TEXT NOT NULL)",
        )
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn reset(&mut self, conn: &mut SqliteConnection) -> Result<(), HandlerError> {
        sqlx::query("DELETE FROM journal").execute(conn).await?;
        Ok(())
    }
}

// ----------------------------------------------------------------- helpers

fn money(event_type: &str, amount: i64) -> NewEvent {
    NewEvent::from_raw(
        event_type,
        1,
        format!(r#"{{"amount":{amount}}}"#).into_bytes(),
        Metadata::new(),
    )
}

fn noise() -> NewEvent {
    NewEvent::from_raw("Noise", 1, b"{}".to_vec(), Metadata::new())
}

async fn balances(store: &SqliteEventStore) -> Vec<(String, i64, i64)> {
    sqlx::query_as("SELECT stream_id, balance, events FROM balances ORDER BY stream_id")
        .fetch_all(store.pool())
        .await
        .unwrap()
}

/// Waits until `check` holds, polling every 2 ms; how long it took.
async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    start.elapsed()
}

async fn balance_events(store: &SqliteEventStore) -> i64 {
    sqlx::query_scalar("SELECT COALESCE(SUM(events), 0) FROM balances")
        .fetch_one(store.pool())
        .await
        .unwrap_or(0)
}

// ------------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_read_model_equals_a_rebuilt_one() {
    let store = SqliteEventStore::in_memory().await.unwrap();
    // Some events before the runner starts, more while it follows.
    for i in 0..5 {
        store
            .append(
                &format!("Account-{}", i % 3),
                ExpectedVersion::Any,
                vec![money("Deposited", 100 + i), noise()],
            )
            .await
            .unwrap();
    }
    let mut runner = ProjectionRunner::new(store.clone(), Balances::default()).batch_size(3);
    let (stop, stopped) = oneshot::channel::<()>();
    let live = tokio::spawn(async move {
        runner
            .run(async {
                let _ = stopped.await;
            })
            .await
            .map(|()| runner)
    });
    let mut expected_events = 5;
    for i in 0..20i64 {
        let events = if i % 4 == 3 {
            vec![money("Withdrawn", 7), noise(), money("Deposited", i)]
        } else {
            vec![money("Deposited", i)]
        };
        expected_events += events.iter().filter(|e| e.event_type != "Noise").count() as i64;
        store
            .append(&format!("Account-{}", i % 4), ExpectedVersion::Any, events)
            .await
            .unwrap();
        if i % 5 == 0 {
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    }
    wait_until("the live model", Duration::from_secs(10), || {
        let store = store.clone();
        async move { balance_events(&store).await == expected_events }
    })
    .await;
    let _ = stop.send(());
    let mut runner = live.await.unwrap().unwrap();
    let live_rows = balances(&store).await;
    let status = runner.status().await.unwrap();
    assert_eq!(status.lag, 0);
    assert_eq!(status.position, status.head);

    let mut calls = Vec::new();
    let replayed = runner
        .rebuild(|done, total| calls.push((done, total)))
        .await
        .unwrap();
    assert_eq!(replayed, expected_events as u64);
    assert_eq!(balances(&store).await, live_rows, "rebuilt vs. live");
    // Progress: the reset first, then each batch of 3, ending at the total.
    assert_eq!(calls.first(), Some(&(0, replayed)));
    assert_eq!(calls.last(), Some(&(replayed, replayed)));
    assert!(calls.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(calls.len() as u64, 1 + replayed.div_ceil(3));
    assert_eq!(runner.status().await.unwrap(), status);
}

#[tokio::test]
async fn a_handler_error_rolls_the_batch_back() {
    let store = SqliteEventStore::in_memory().await.unwrap();
    for i in 1..=8 {
        store
            .append(
                "Account-x",
                ExpectedVersion::Any,
                vec![money("Deposited", i)],
            )
            .await
            .unwrap();
    }
    // Batches 1-4 and 5-8; the handler refuses position 6.
    let failing = Balances { fail_at: Some(6) };
    let mut runner = ProjectionRunner::new(store.clone(), failing).batch_size(4);
    let err = runner.catch_up().await.unwrap_err();
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
                (*projection, event_type.as_str(), stream_id.as_str()),
                ("balances", "Deposited", "Account-x")
            );
            assert_eq!((*version, *position), (6, 6));
        }
        other => panic!("expected a handler error, got {other:?}"),
    }
    let text = err.to_string();
    for part in ["balances", "Deposited", "Account-x@6", "position 6"] {
        assert!(text.contains(part), "{text:?} names {part}");
    }
    // The first batch stays; the second (position 5 included) rolled back.
    assert_eq!(store.load_checkpoint("balances").await.unwrap(), Some(4));
    assert_eq!(balances(&store).await, [("Account-x".to_owned(), 10, 4)]);
    assert_eq!(runner.status().await.unwrap().lag, 4);

    // The same event fails again; once fixed, the runner goes on from 4.
    assert_eq!(runner.catch_up().await.unwrap_err().position(), Some(6));
    runner.projection_mut().fail_at = None;
    assert_eq!(runner.catch_up().await.unwrap(), 4);
    assert_eq!(balances(&store).await, [("Account-x".to_owned(), 36, 8)]);
}

#[tokio::test]
async fn a_panicking_handler_is_a_handler_error() {
    struct Panics;
    impl Projection for Panics {
        const NAME: &'static str = "panics";
        const EVENT_TYPES: &'static [&'static str] = &["Deposited"];
    }
    impl Dispatch<SqliteConnection> for Panics {
        async fn dispatch(
            &mut self,
            _: &RecordedEvent,
            _: &mut SqliteConnection,
        ) -> Result<(), ProjectionError> {
            panic!("boom")
        }
    }
    impl SqliteProjection for Panics {}
    let store = SqliteEventStore::in_memory().await.unwrap();
    store
        .append(
            "Account-p",
            ExpectedVersion::Any,
            vec![money("Deposited", 1)],
        )
        .await
        .unwrap();
    let err = ProjectionRunner::new(store.clone(), Panics)
        .catch_up()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("panics"), "{err}");
    assert_eq!(err.position(), Some(1));
    assert_eq!(store.load_checkpoint("panics").await.unwrap(), Some(0));
    // The connection is usable again (the transaction was rolled back).
    store
        .append(
            "Account-p",
            ExpectedVersion::Any,
            vec![money("Deposited", 1)],
        )
        .await
        .unwrap();
}

/// An in-memory store has no polling task and the runner's own fallback is
/// an hour: only the in-process wake-up can deliver the event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_wakes_on_a_commit_in_this_process() {
    let store = SqliteEventStore::in_memory().await.unwrap();
    let mut runner = ProjectionRunner::new(store.clone(), Balances::default())
        .poll_interval(Duration::from_secs(3600));
    let (stop, stopped) = oneshot::channel::<()>();
    let live = tokio::spawn(async move {
        runner
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    // Let it set up and go idle.
    wait_until("the checkpoint row", Duration::from_secs(10), || {
        let store = store.clone();
        async move { store.load_checkpoint("balances").await.unwrap().is_some() }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    for round in 1..=3 {
        let start = Instant::now();
        store
            .append(
                "Account-w",
                ExpectedVersion::Any,
                vec![money("Deposited", 1)],
            )
            .await
            .unwrap();
        wait_until("the wake-up", Duration::from_secs(5), || {
            let store = store.clone();
            async move { balance_events(&store).await == round }
        })
        .await;
        let took = start.elapsed();
        assert!(
            took < POLL_INTERVAL / 2,
            "round {round}: the commit took {took:?} to be projected"
        );
    }
    let _ = stop.send(());
    live.await.unwrap().unwrap();
}

/// A second store on the same file (its own pool, like another process):
/// its commits do not reach this store's wake-up channel, so the runner
/// finds them by the store's polling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_picks_up_another_connections_commit_by_polling() {
    let db = TempDb::new("projection-poll");
    let store = SqliteEventStore::open(db.path()).await.unwrap();
    let other = SqliteEventStore::open(db.path()).await.unwrap();
    let mut runner = ProjectionRunner::new(store.clone(), Balances::default())
        .poll_interval(Duration::from_secs(3600));
    let (stop, stopped) = oneshot::channel::<()>();
    let live = tokio::spawn(async move {
        runner
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    wait_until("the checkpoint row", Duration::from_secs(10), || {
        let store = store.clone();
        async move { store.load_checkpoint("balances").await.unwrap().is_some() }
    })
    .await;
    other
        .append(
            "Account-o",
            ExpectedVersion::Any,
            vec![money("Deposited", 9)],
        )
        .await
        .unwrap();
    let took = wait_until("the polled commit", Duration::from_secs(5), || {
        let store = store.clone();
        async move { balance_events(&store).await == 1 }
    })
    .await;
    assert!(took < POLL_INTERVAL * 4, "took {took:?}");
    let _ = stop.send(());
    live.await.unwrap().unwrap();
    assert_eq!(balances(&store).await, [("Account-o".to_owned(), 9, 1)]);
    store.close().await;
    other.close().await;
}

#[tokio::test]
async fn status_counts_lag_in_events_of_its_types() {
    let store = SqliteEventStore::in_memory().await.unwrap();
    let mut runner = ProjectionRunner::new(store.clone(), Balances::default()).batch_size(2);
    let status = runner.status().await.unwrap();
    assert_eq!(
        (status.position, status.head, status.lag),
        (0, 0, 0),
        "nothing yet"
    );
    // Positions 1..=7: Deposited, Noise, Noise, Withdrawn, Deposited, Noise, Noise.
    store
        .append(
            "Account-s",
            ExpectedVersion::Any,
            vec![
                money("Deposited", 5),
                noise(),
                noise(),
                money("Withdrawn", 2),
                money("Deposited", 1),
                noise(),
                noise(),
            ],
        )
        .await
        .unwrap();
    let status = runner.status().await.unwrap();
    assert_eq!((status.position, status.head, status.lag), (0, 5, 3));
    assert_eq!(
        store
            .projection_status("balances", Balances::EVENT_TYPES)
            .await
            .unwrap(),
        status
    );
    assert_eq!(runner.catch_up().await.unwrap(), 3);
    assert_eq!(runner.events_read(), 3);
    let status = runner.status().await.unwrap();
    assert_eq!((status.position, status.head, status.lag), (5, 5, 0));
    store
        .append(
            "Account-s",
            ExpectedVersion::Any,
            vec![noise(), money("Deposited", 1)],
        )
        .await
        .unwrap();
    let status = runner.status().await.unwrap();
    assert_eq!((status.position, status.head, status.lag), (5, 9, 1));
    // Nothing new for a second catch-up; a name with no types has no head.
    assert_eq!(runner.catch_up().await.unwrap(), 1);
    assert_eq!(runner.catch_up().await.unwrap(), 0);
    let none = store.projection_status("nobody", &[]).await.unwrap();
    assert_eq!((none.position, none.head, none.lag), (0, 0, 0));
}

// ------------------------------------------------------------ two processes

const DB_VAR: &str = "ES_SQLITE_JOURNAL_DB";
const ID_VAR: &str = "ES_SQLITE_JOURNAL_ID";
const RUNNERS: usize = 2;
const APPENDS: u64 = 150;

fn sibling(db: &Path, suffix: &str) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// Two processes run the `journal` projection on one file while a third
/// appends: every `Tick` is journaled exactly once (a second application
/// would violate the journal's primary key and stop its runner).
#[test]
fn two_processes_never_apply_an_event_twice() {
    let db = TempDb::new("projection-journal");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let store = runtime.block_on(SqliteEventStore::open(db.path())).unwrap();
    let exe = std::env::current_exe().expect("the test binary's path");
    let logs: Vec<PathBuf> = (0..RUNNERS)
        .map(|r| sibling(db.path(), &format!(".log-{r}")))
        .collect();
    let mut children: Vec<_> = (0..RUNNERS)
        .map(|r| {
            let log = std::fs::File::create(&logs[r]).expect("a log file");
            Command::new(&exe)
                .args([
                    "journal_child",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(DB_VAR, db.path())
                .env(ID_VAR, r.to_string())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("a log file"))
                .stderr(log)
                .spawn()
                .expect("spawning a runner process")
        })
        .collect();

    let appended = runtime.block_on(async {
        // Start appending once both runners are set up.
        let deadline = Instant::now() + Duration::from_secs(60);
        while !(0..RUNNERS).all(|r| sibling(db.path(), &format!(".ready-{r}")).exists()) {
            if Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for i in 0..APPENDS {
            let events = match i % 3 {
                0 => vec![common::event("Tick", i)],
                1 => vec![common::event("Tick", i), common::event("Tock", i)],
                _ => common::events("Tick", 3),
            };
            store
                .append(&format!("Clock-{}", i % 5), ExpectedVersion::Any, events)
                .await
                .unwrap();
            if i % 10 == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        let ticks: Vec<u64> = store
            .read_all(0, 100_000, Some(&["Tick"]))
            .await
            .unwrap()
            .events
            .iter()
            .map(|e| e.global_position)
            .collect();
        std::fs::write(sibling(db.path(), ".done"), b"").unwrap();
        ticks
    });

    // Wait for the runners (bounded), then collect their output.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut statuses = Vec::new();
    for child in &mut children {
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                statuses.push(Some(status));
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                statuses.push(None);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let outputs: Vec<String> = logs
        .iter()
        .map(|l| {
            let text = std::fs::read_to_string(l).unwrap_or_default();
            let _ = std::fs::remove_file(l);
            text
        })
        .collect();
    for r in 0..RUNNERS {
        let _ = std::fs::remove_file(sibling(db.path(), &format!(".ready-{r}")));
    }
    let _ = std::fs::remove_file(sibling(db.path(), ".done"));
    for (r, status) in statuses.iter().enumerate() {
        assert!(
            status.is_some_and(|s| s.success()),
            "runner {r} failed ({status:?}); its output:\n{}",
            outputs[r]
        );
    }

    runtime.block_on(async {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT position, runner FROM journal ORDER BY position")
                .fetch_all(store.pool())
                .await
                .unwrap();
        let positions: Vec<u64> = rows.iter().map(|(p, _)| *p as u64).collect();
        assert_eq!(positions, appended, "each Tick journaled exactly once");
        let mut by_runner: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, r) in &rows {
            *by_runner.entry(r.as_str()).or_default() += 1;
        }
        eprintln!("events applied per runner: {by_runner:?}");
        let status = store.projection_status("journal", &["Tick"]).await.unwrap();
        assert_eq!(status.lag, 0);
        assert_eq!(status.position, *appended.last().unwrap());
        store.close().await;
    });
}

/// A runner process; does nothing unless the parent test started it.
#[test]
fn journal_child() {
    let Ok(db) = std::env::var(DB_VAR) else {
        return;
    };
    let id: usize = std::env::var(ID_VAR).unwrap().parse().unwrap();
    let db = PathBuf::from(db);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = SqliteEventStore::open(&db).await.unwrap();
        let journal = Journal {
            runner: format!("runner-{id}"),
        };
        let mut runner = ProjectionRunner::new(store.clone(), journal).batch_size(4);
        // Ready once set up: of the two runners one holds the lease and
        // catches up, the other stands by until the first lets go.
        std::fs::write(sibling(&db, &format!(".ready-{id}")), b"").unwrap();
        runner.catch_up().await.unwrap();
        let status_store = store.clone();
        let done = sibling(&db, ".done");
        // Stop once the parent has appended everything and the checkpoint
        // reached the last Tick (whichever runner moved it).
        runner
            .run(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    if done.exists()
                        && status_store
                            .projection_status("journal", &["Tick"])
                            .await
                            .is_ok_and(|s| s.lag == 0)
                    {
                        return;
                    }
                }
            })
            .await
            .unwrap_or_else(|e| panic!("runner {id}: {e}"));
        eprintln!(
            "runner {id}: read {} events, position {}",
            runner.events_read(),
            runner.status().await.unwrap().position
        );
        store.close().await;
    });
}
