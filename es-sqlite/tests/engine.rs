//! What SQLite gained with the consumer engine: dead letters, the lease
//! (one active runner per name across processes, and a takeover when the
//! active one dies), and flush/discard for buffering projections.
//!
//! The takeover test re-runs this test binary as a child, selecting the
//! `lease_holder_child` test with an environment variable, and kills it.

mod common;

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::TempDb;
use es_core::projection::{Dispatch, HandlerError, Projection, ProjectionError};
use es_core::{EventStore, ExpectedVersion, RecordedEvent};
use es_sqlite::{ErrorPolicy, LEASE_TTL, ProjectionRunner, SqliteEventStore, SqliteProjection};
use sqlx::SqliteConnection;

const DB_VAR: &str = "ES_SQLITE_LEASE_CHILD_DB";

/// Journals each `Tick` under its position (a second application fails on
/// the key); refuses the positions in `refuse`. Buffers its rows and writes
/// them in `flush` when `buffered`.
#[derive(Default, Clone)]
struct Journal {
    refuse: Vec<u64>,
    buffered: bool,
    pending: Vec<i64>,
    discards: Arc<Mutex<u64>>,
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
        if self.refuse.contains(&e.global_position) {
            return Err(ProjectionError::handler::<Self>(
                e,
                "refused by the test".into(),
            ));
        }
        let position = i64::try_from(e.global_position).unwrap();
        if self.buffered {
            self.pending.push(position);
            return Ok(());
        }
        sqlx::query("INSERT INTO journal (position) VALUES (?)")
            .bind(position)
            .execute(conn)
            .await
            .map_err(|err| ProjectionError::handler::<Self>(e, err.into()))?;
        Ok(())
    }
}

impl SqliteProjection for Journal {
    async fn setup(&mut self, conn: &mut SqliteConnection) -> Result<(), HandlerError> {
        sqlx::query("CREATE TABLE IF NOT EXISTS journal (position INTEGER PRIMARY KEY)")
            .execute(conn)
            .await?;
        Ok(())
    }

    async fn reset(&mut self, conn: &mut SqliteConnection) -> Result<(), HandlerError> {
        sqlx::query("DELETE FROM journal").execute(conn).await?;
        Ok(())
    }

    async fn flush(&mut self, conn: &mut SqliteConnection) -> Result<(), HandlerError> {
        for p in std::mem::take(&mut self.pending) {
            sqlx::query("INSERT INTO journal (position) VALUES (?)")
                .bind(p)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    fn discard(&mut self) {
        self.pending.clear();
        *self.discards.lock().unwrap() += 1;
    }
}

async fn journal(store: &SqliteEventStore) -> Vec<u64> {
    let rows: Vec<i64> = sqlx::query_scalar("SELECT position FROM journal ORDER BY position")
        .fetch_all(store.pool())
        .await
        .unwrap();
    rows.into_iter().map(|p| p as u64).collect()
}

/// Appends `n` appends of a `Tick` and a `Tock`; the `Tick` positions.
async fn seed(store: &SqliteEventStore, n: u64) -> Vec<u64> {
    for i in 0..n {
        store
            .append(
                &format!("Clock-{}", i % 3),
                ExpectedVersion::Any,
                vec![common::event("Tick", i), common::event("Tock", i)],
            )
            .await
            .unwrap();
    }
    store
        .read_all(0, 10_000, Some(&["Tick"]))
        .await
        .unwrap()
        .events
        .iter()
        .map(|e| e.global_position)
        .collect()
}

#[tokio::test]
async fn dead_letters_skip_failing_events_and_a_rebuild_clears_them() {
    let db = TempDb::new("engine-dead-letters");
    let store = SqliteEventStore::open(db.path()).await.unwrap();
    let ticks = seed(&store, 20).await;
    let refused = vec![ticks[3], ticks[11]];
    let mut runner = ProjectionRunner::new(
        store.clone(),
        Journal {
            refuse: refused.clone(),
            ..Journal::default()
        },
    )
    .batch_size(5)
    .error_policy(ErrorPolicy::DeadLetter);
    assert_eq!(runner.catch_up().await.unwrap(), 20);
    let want: Vec<u64> = ticks
        .iter()
        .copied()
        .filter(|p| !refused.contains(p))
        .collect();
    assert_eq!(journal(&store).await, want);
    let letters = store.dead_letters("journal").await.unwrap();
    assert_eq!(
        letters
            .iter()
            .map(|d| d.global_position)
            .collect::<Vec<_>>(),
        refused
    );
    let first = store.read_all(ticks[3] - 1, 1, None).await.unwrap().events[0].clone();
    assert_eq!(letters[0].event_id, first.event_id);
    assert_eq!(letters[0].stream_id, first.stream_id);
    assert_eq!(letters[0].stream_version, first.stream_version);
    assert_eq!(letters[0].event_type, "Tick");
    assert!(
        letters[0].error.contains("refused by the test"),
        "{}",
        letters[0].error
    );
    assert_eq!(runner.status().await.unwrap().lag, 0);

    runner.projection_mut().refuse.clear();
    assert_eq!(runner.rebuild(|_, _| {}).await.unwrap(), 20);
    assert_eq!(journal(&store).await, ticks);
    assert!(store.dead_letters("journal").await.unwrap().is_empty());
    store.close().await;
}

#[tokio::test]
async fn a_buffering_projection_flushes_once_per_batch_and_isolates_a_failure() {
    let db = TempDb::new("engine-flush");
    let store = SqliteEventStore::open(db.path()).await.unwrap();
    let ticks = seed(&store, 12).await;
    let projection = Journal {
        refuse: vec![ticks[7]],
        buffered: true,
        ..Journal::default()
    };
    let discards = projection.discards.clone();
    let mut runner = ProjectionRunner::new(store.clone(), projection)
        .batch_size(4)
        .error_policy(ErrorPolicy::DeadLetter);
    runner.catch_up().await.unwrap();
    let want: Vec<u64> = ticks.iter().copied().filter(|p| *p != ticks[7]).collect();
    assert_eq!(journal(&store).await, want);
    assert!(runner.projection().pending.is_empty());
    // The failed batch's buffer was dropped before it was handled again.
    assert!(*discards.lock().unwrap() > 0);
    assert_eq!(store.dead_letters("journal").await.unwrap().len(), 1);
    store.close().await;
}

#[tokio::test]
async fn one_runner_per_name_is_active_and_a_standby_takes_over_on_release() {
    let db = TempDb::new("engine-lease");
    let store = SqliteEventStore::open(db.path()).await.unwrap();
    let ticks = seed(&store, 6).await;
    let mut a = ProjectionRunner::new(store.clone(), Journal::default());
    a.catch_up().await.unwrap();
    assert!(a.is_active());
    let more = seed(&store, 4).await;
    let mut b = ProjectionRunner::new(store.clone(), Journal::default())
        .lease_retry(Duration::from_millis(20));
    let standby = tokio::spawn(async move {
        let n = b.catch_up().await.unwrap();
        (b, n)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // B stands by while A holds the lease: nothing of the new events is done.
    assert!(!standby.is_finished());
    assert_eq!(journal(&store).await, ticks);
    a.release().await;
    let (b, n) = standby.await.unwrap();
    assert!(b.is_active());
    assert_eq!(n, 4, "B continues from A's checkpoint");
    assert_eq!(journal(&store).await, more);
    store.close().await;
}

/// A process that holds the lease (follows the log) until it is killed.
#[test]
fn lease_holder_child() {
    let Ok(db) = std::env::var(DB_VAR) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = SqliteEventStore::open(&db).await.unwrap();
        let mut runner = ProjectionRunner::new(store, Journal::default());
        runner.run(std::future::pending()).await.unwrap();
    });
}

#[test]
fn a_killed_runners_lease_is_taken_over_within_its_ttl() {
    let db = TempDb::new("engine-takeover");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let store = runtime.block_on(SqliteEventStore::open(db.path())).unwrap();
    let ticks = runtime.block_on(seed(&store, 5));
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["lease_holder_child", "--exact", "--test-threads=1"])
        .env(DB_VAR, db.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning the lease holder");
    // The child is active once it has journaled the history.
    runtime.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let done: Option<i64> = sqlx::query_scalar("SELECT count(*) FROM journal")
                .fetch_optional(store.pool())
                .await
                .unwrap_or(None);
            if done == Some(ticks.len() as i64) {
                break;
            }
            assert!(Instant::now() < deadline, "the child never became active");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    child.kill().expect("killing the lease holder");
    let _ = child.wait();
    let killed_at = Instant::now();
    let (more, took) = runtime.block_on(async {
        let more = seed(&store, 3).await;
        let mut runner = ProjectionRunner::new(store.clone(), Journal::default())
            .lease_retry(Duration::from_millis(50));
        runner.catch_up().await.unwrap();
        (more, killed_at.elapsed())
    });
    assert_eq!(runtime.block_on(journal(&store)), more);
    assert!(
        took < LEASE_TTL + Duration::from_secs(2),
        "took over after {took:?}, the lease lives {LEASE_TTL:?}"
    );
    runtime.block_on(store.close());
}

#[tokio::test]
async fn a_runner_dropped_without_release_frees_its_lease_at_once() {
    let db = TempDb::new("engine-drop");
    let store = SqliteEventStore::open(db.path()).await.unwrap();
    let ticks = seed(&store, 3).await;
    let mut a = ProjectionRunner::new(store.clone(), Journal::default());
    a.catch_up().await.unwrap();
    assert!(a.is_active());
    // As at the end of a process: the runner goes without `release`.
    drop(a);
    let started = Instant::now();
    let mut b = ProjectionRunner::new(store.clone(), Journal::default())
        .lease_retry(Duration::from_millis(20));
    b.catch_up().await.unwrap();
    let took = started.elapsed();
    assert!(
        took < LEASE_TTL / 2,
        "the next runner waited {took:?} for a lease its holder had dropped"
    );
    assert_eq!(journal(&store).await, ticks);
    store.close().await;
}
