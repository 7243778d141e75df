//! A projection process killed with SIGKILL at random points while it
//! catches up, restarted each time, ends equal to a rebuild with no event
//! applied twice.
//!
//! The runner runs in a child process (this test binary again, selected by
//! an environment variable); `Child::kill` sends SIGKILL, so the process
//! gets no chance to clean up. The seed of the random delays is printed;
//! `ES_TEST_SEED=<n>` replays a run.

mod common;

use std::time::{Duration, Instant};

use common::ev;
use es_core::projection::{Dispatch, HandlerError, Projection, ProjectionError};
use es_core::{EventStore, ExpectedVersion, RecordedEvent};
use es_postgres::{PgEventStore, PgProjection, ProjectionRunner};
use es_testing::postgres::TestDatabase;
use serde_json::json;
use sqlx::{PgConnection, PgPool};

const EVENTS: usize = 4_000;
const KILLS: usize = 5;
const CHILD_ENV: &str = "ES_PG_CRASH_CHILD_URL";

/// Balances per stream, plus a journal whose primary key fails an event
/// applied twice.
#[derive(Clone, Default)]
struct Balances {
    delay: Duration,
}

impl Projection for Balances {
    const NAME: &'static str = "crash_balances";
    const EVENT_TYPES: &'static [&'static str] = &["Deposited", "Withdrawn"];
}

impl Dispatch<PgConnection> for Balances {
    async fn dispatch(
        &mut self,
        e: &RecordedEvent,
        conn: &mut PgConnection,
    ) -> Result<(), ProjectionError> {
        let v: serde_json::Value = serde_json::from_slice(&e.payload)
            .map_err(|x| ProjectionError::handler::<Self>(e, x.into()))?;
        let amount = v["amount"].as_i64().unwrap_or(0);
        let delta = if e.event_type == "Withdrawn" {
            -amount
        } else {
            amount
        };
        sqlx::query(
            "INSERT INTO crash_balances (account, balance, events) VALUES ($1, $2, 1) \
             ON CONFLICT (account) DO UPDATE SET balance = crash_balances.balance + $2, \
               events = crash_balances.events + 1",
        )
        .bind(&e.stream_id)
        .bind(delta)
        .execute(&mut *conn)
        .await
        .map_err(|x| ProjectionError::handler::<Self>(e, x.into()))?;
        sqlx::query("INSERT INTO crash_journal (position) VALUES ($1)")
            .bind(e.global_position as i64)
            .execute(&mut *conn)
            .await
            .map_err(|x| ProjectionError::handler::<Self>(e, x.into()))?;
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        Ok(())
    }
}

impl PgProjection for Balances {
    async fn setup(&mut self, conn: &mut PgConnection) -> Result<(), HandlerError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS crash_balances \
             (account text PRIMARY KEY, balance bigint NOT NULL, events bigint NOT NULL)",
        )
        .execute(&mut *conn)
        .await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS crash_journal (position bigint PRIMARY KEY)")
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn reset(&mut self, conn: &mut PgConnection) -> Result<(), HandlerError> {
        sqlx::query("TRUNCATE crash_balances, crash_journal")
            .execute(conn)
            .await?;
        Ok(())
    }
}

type Model = (Vec<(String, i64, i64)>, i64);

async fn model(pool: &PgPool) -> Model {
    let rows =
        sqlx::query_as("SELECT account, balance, events FROM crash_balances ORDER BY account")
            .fetch_all(pool)
            .await
            .unwrap_or_default();
    let (journal,): (i64,) = sqlx::query_as("SELECT count(*) FROM crash_journal")
        .fetch_one(pool)
        .await
        .unwrap_or((0,));
    (rows, journal)
}

/// Kills the child on drop, so a failing test leaves no process behind.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Not a test of its own: the child process of
/// `a_runner_killed_at_random_points_ends_equal_to_a_rebuild`.
#[tokio::test]
async fn crash_child_runner() {
    let Ok(url) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = PgEventStore::builder()
        .poll_interval(Duration::from_millis(50))
        .connect(&url)
        .await
        .unwrap();
    let slow = Balances {
        delay: Duration::from_micros(500),
    };
    let mut runner = ProjectionRunner::new(store, slow)
        .batch_size(25)
        .lease_retry(Duration::from_millis(20));
    runner.run(std::future::pending()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_killed_at_random_points_ends_equal_to_a_rebuild() {
    let db = TestDatabase::create().await;
    let store = PgEventStore::from_pool(db.pool().clone());
    store.migrate().await.unwrap();
    let mut listed = 0u64;
    for chunk in 0..EVENTS / 10 {
        let batch: Vec<_> = (0..10)
            .map(|j| {
                let i = chunk * 10 + j;
                match i % 5 {
                    0..=2 => ev("Deposited", json!({"amount": i % 97 + 1})),
                    3 => ev("Withdrawn", json!({"amount": i % 13 + 1})),
                    _ => ev("Renamed", json!({"name": format!("n{i}")})),
                }
            })
            .collect();
        listed += batch.iter().filter(|e| e.event_type != "Renamed").count() as u64;
        store
            .append(
                &format!("Account-{}", chunk % 7),
                ExpectedVersion::Any,
                batch,
            )
            .await
            .unwrap();
    }

    let (seed, mut random_ms) = common::seeded_random();

    let mut progress = Vec::new();
    let mut mid_run = 0;
    for round in 0..KILLS {
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child_runner", "--test-threads=1"])
            .env(CHILD_ENV, db.url())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut child = ChildGuard(child);
        // A random point: somewhere in the child's start-up or its batches.
        let delay = random_ms(150, 900);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        child.0.kill().unwrap(); // SIGKILL
        child.0.wait().unwrap();
        drop(child);

        // After each kill: the read model and the checkpoint agree.
        let status = store
            .projection_status(Balances::NAME, Balances::EVENT_TYPES)
            .await
            .unwrap();
        let now = model(db.pool()).await;
        assert_eq!(
            now.1 as u64,
            listed - status.lag,
            "round {round}: model and checkpoint agree"
        );
        assert_eq!(now.0.iter().map(|r| r.2).sum::<i64>(), now.1);
        if status.position > 0 && status.lag > 0 {
            mid_run += 1;
        }
        progress.push((delay, now.1));
    }

    // The last restart runs to the end.
    let started = Instant::now();
    let mut last = ProjectionRunner::new(store.clone(), Balances::default())
        .batch_size(100)
        .lease_retry(Duration::from_millis(20));
    let rest = last.catch_up().await.unwrap();
    last.release().await;
    assert!(started.elapsed() < Duration::from_secs(30));
    let resumed = model(db.pool()).await;
    assert_eq!(resumed.1 as u64, listed, "every event applied once");

    let mut rebuild = ProjectionRunner::new(store.clone(), Balances::default()).batch_size(500);
    assert_eq!(rebuild.rebuild(|_, _| {}).await.unwrap(), listed);
    rebuild.release().await;
    assert_eq!(model(db.pool()).await, resumed);

    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "crash: seed {seed}: {KILLS} SIGKILLs over {listed} projected events \
             ({EVENTS} in the log); (delay ms, events applied) after each kill: {progress:?}; \
             {mid_run} kills landed mid-run; the last restart applied {rest}"
        );
    }
    assert!(mid_run >= 1, "no kill landed while the child was working");
    db.drop_db().await;
}
