//! Partitioned consumers across processes: 3 worker processes share the 4
//! partitions of one projection, catch up, follow live writes, and one of
//! them is killed with SIGKILL and restarted at random points; the read
//! model ends equal to a single-process rebuild, each event applied once,
//! each stream's events in order. Also: PostgreSQL computes the partition
//! hash exactly as es-core does.
//!
//! The workers are this test binary again, selected by an environment
//! variable. The seed of the random points is printed; `ES_TEST_SEED=<n>`
//! replays a run.

mod common;

use std::time::{Duration, Instant};

use common::ev;
use es_core::consumer::{Partition, partition_hash, partitions_status};
use es_core::projection::{Dispatch, HandlerError, Projection, ProjectionError};
use es_core::{EventStore, ExpectedVersion, RecordedEvent};
use es_postgres::{PgEventStore, PgProjection, ProjectionRunner};
use es_testing::postgres::TestDatabase;
use serde_json::json;
use sqlx::{PgConnection, PgPool};

const PARTITIONS: u32 = 4;
const WORKERS: usize = 3;
const STREAMS: usize = 40;
const SEEDED: usize = 3_000;
const LIVE: usize = 1_500;
const CHILD_ENV: &str = "ES_PG_PARTITION_WORKER_URL";

/// Balances per stream into the tables `{prefix}_balances` and
/// `{prefix}_journal`; the journal's key fails an event applied twice, and
/// its `seq` keeps the order events were handled in.
async fn apply(
    prefix: &str,
    e: &RecordedEvent,
    conn: &mut PgConnection,
) -> Result<(), sqlx::Error> {
    let v: serde_json::Value = serde_json::from_slice(&e.payload).unwrap_or_default();
    let amount = v["amount"].as_i64().unwrap_or(0);
    let delta = if e.event_type == "Withdrawn" {
        -amount
    } else {
        amount
    };
    sqlx::query(&format!(
        "INSERT INTO {prefix}_balances (account, balance, events, last_version) VALUES ($1, $2, 1, $3) \
         ON CONFLICT (account) DO UPDATE SET balance = {prefix}_balances.balance + $2, \
           events = {prefix}_balances.events + 1, last_version = $3"
    ))
    .bind(&e.stream_id)
    .bind(delta)
    .bind(e.stream_version as i64)
    .execute(&mut *conn)
    .await?;
    sqlx::query(&format!(
        "INSERT INTO {prefix}_journal (position, stream_id, version) VALUES ($1, $2, $3)"
    ))
    .bind(e.global_position as i64)
    .bind(&e.stream_id)
    .bind(e.stream_version as i64)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn create(prefix: &str, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "CREATE TABLE IF NOT EXISTS {prefix}_balances (account text PRIMARY KEY, \
         balance bigint NOT NULL, events bigint NOT NULL, last_version bigint NOT NULL)"
    ))
    .execute(&mut *conn)
    .await?;
    sqlx::query(&format!(
        "CREATE TABLE IF NOT EXISTS {prefix}_journal (seq bigserial, position bigint PRIMARY KEY, \
         stream_id text NOT NULL, version bigint NOT NULL)"
    ))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The projection the workers run, in partitions.
#[derive(Clone, Default)]
struct Parted;

impl Projection for Parted {
    const NAME: &'static str = "parted_balances";
    const EVENT_TYPES: &'static [&'static str] = &["Deposited", "Withdrawn"];
}

impl Dispatch<PgConnection> for Parted {
    async fn dispatch(
        &mut self,
        e: &RecordedEvent,
        c: &mut PgConnection,
    ) -> Result<(), ProjectionError> {
        apply("parted", e, c)
            .await
            .map_err(|x| ProjectionError::handler::<Self>(e, x.into()))?;
        // Slow enough that a kill lands mid-run.
        tokio::time::sleep(Duration::from_micros(300)).await;
        Ok(())
    }
}

impl PgProjection for Parted {
    async fn setup(&mut self, conn: &mut PgConnection) -> Result<(), HandlerError> {
        Ok(create("parted", conn).await?)
    }
}

/// The same projection, run once in one process: the reference.
#[derive(Clone, Default)]
struct Single;

impl Projection for Single {
    const NAME: &'static str = "single_balances";
    const EVENT_TYPES: &'static [&'static str] = &["Deposited", "Withdrawn"];
}

impl Dispatch<PgConnection> for Single {
    async fn dispatch(
        &mut self,
        e: &RecordedEvent,
        c: &mut PgConnection,
    ) -> Result<(), ProjectionError> {
        apply("single", e, c)
            .await
            .map_err(|x| ProjectionError::handler::<Self>(e, x.into()))
    }
}

impl PgProjection for Single {
    async fn setup(&mut self, conn: &mut PgConnection) -> Result<(), HandlerError> {
        Ok(create("single", conn).await?)
    }
}

type Rows = Vec<(String, i64, i64, i64)>;

async fn model(pool: &PgPool, prefix: &str) -> Rows {
    sqlx::query_as(&format!(
        "SELECT account, balance, events, last_version FROM {prefix}_balances ORDER BY account"
    ))
    .fetch_all(pool)
    .await
    .unwrap_or_default()
}

/// Partition leases held right now (advisory locks granted to lease
/// connections of this database).
async fn held_leases(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity a JOIN pg_locks l \
           ON l.pid = a.pid AND l.locktype = 'advisory' AND l.granted \
         WHERE a.datname = current_database() \
           AND a.application_name LIKE 'es lease parted_balances#_/4'",
    )
    .fetch_one(pool)
    .await
    .unwrap_or(0)
}

/// Kills the child on drop, so a failing test leaves no process behind.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_worker(url: &str) -> ChildGuard {
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "partition_worker_child", "--test-threads=1"])
        .env(CHILD_ENV, url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    ChildGuard(child)
}

/// Not a test of its own: a worker process of
/// `three_workers_over_four_partitions_survive_kills_and_equal_a_rebuild`.
#[tokio::test]
async fn partition_worker_child() {
    let Ok(url) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = PgEventStore::builder()
        .poll_interval(Duration::from_millis(50))
        .connect(&url)
        .await
        .unwrap();
    let mut worker = ProjectionRunner::partitioned(store, PARTITIONS, |_| Parted)
        .engine(|e| e.batch_size(25).lease_retry(Duration::from_millis(50)))
        .claim_interval(Duration::from_millis(100));
    worker.run(std::future::pending()).await.unwrap();
}

#[test]
fn postgres_computes_the_partition_hash_like_es_core() {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let db = TestDatabase::create().await;
        let mut ids: Vec<String> = (0..500).map(|i| format!("Account-{i}")).collect();
        ids.extend(["", "Ünïcode-ß", "a b\tc", "BankAccount-0191d2c4-aaaa"].map(String::from));
        let hashes: Vec<i64> = sqlx::query_scalar(
            "SELECT ('x' || substr(md5(s), 1, 8))::bit(32)::bigint FROM unnest($1::text[]) \
             WITH ORDINALITY AS t(s, n) ORDER BY n",
        )
        .bind(&ids)
        .fetch_all(db.pool())
        .await
        .unwrap();
        for (id, h) in ids.iter().zip(&hashes) {
            assert_eq!(*h, i64::from(partition_hash(id)), "the hash of {id:?}");
        }
        db.drop_db().await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_over_four_partitions_survive_kills_and_equal_a_rebuild() {
    let started = Instant::now();
    let db = TestDatabase::create().await;
    let store = PgEventStore::from_pool(db.pool().clone());
    store.migrate().await.unwrap();
    let batch_of = |i: usize| {
        let events: Vec<_> = (0..5)
            .map(|j| {
                let n = i * 5 + j;
                match n % 4 {
                    0 | 1 => ev("Deposited", json!({"amount": n % 97 + 1})),
                    2 => ev("Withdrawn", json!({"amount": n % 13 + 1})),
                    _ => ev("Renamed", json!({"name": format!("n{n}")})),
                }
            })
            .collect();
        (format!("Account-{}", i % STREAMS), events)
    };
    for i in 0..SEEDED / 5 {
        let (stream, events) = batch_of(i);
        store
            .append(&stream, ExpectedVersion::Any, events)
            .await
            .unwrap();
    }

    let (seed, mut random) = common::seeded_random();

    let mut workers: Vec<ChildGuard> = (0..WORKERS).map(|_| spawn_worker(db.url())).collect();

    // Live writes while the workers catch up and get killed.
    let writer_store = store.clone();
    let writer = tokio::spawn(async move {
        for i in SEEDED / 5..(SEEDED + LIVE) / 5 {
            let (stream, events) = batch_of(i);
            writer_store
                .append(&stream, ExpectedVersion::Any, events)
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });

    let mut kills = Vec::new();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(random(800, 2_500))).await;
        let victim = random(0, WORKERS as u64) as usize;
        let applied_before: i64 = sqlx::query_scalar("SELECT count(*) FROM parted_journal")
            .fetch_one(db.pool())
            .await
            .unwrap_or(0);
        workers[victim].0.kill().unwrap(); // SIGKILL
        workers[victim].0.wait().unwrap();
        let killed = Instant::now();
        let left = held_leases(db.pool()).await;
        // The others take the dead worker's partitions over.
        let mut takeover = None;
        while killed.elapsed() < Duration::from_secs(10) {
            if held_leases(db.pool()).await == i64::from(PARTITIONS) {
                takeover = Some(killed.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let takeover = takeover.expect("the partitions of a killed worker are taken over");
        tokio::time::sleep(Duration::from_millis(random(100, 1_000))).await;
        workers[victim] = spawn_worker(db.url());
        kills.push((victim, applied_before, left, takeover.as_millis()));
    }
    writer.await.unwrap();

    // Every partition catches up.
    let types = Some(Parted::EVENT_TYPES);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let status = partitions_status(&store, Parted::NAME, types, PARTITIONS)
            .await
            .unwrap();
        if status.iter().all(|(_, s)| s.caught_up()) {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the workers did not catch up: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    drop(workers);

    // The reference: one process, one engine, from the start.
    let mut single = ProjectionRunner::new(store.clone(), Single).batch_size(500);
    let listed = single.catch_up().await.unwrap();
    single.release().await;
    let parted = model(db.pool(), "parted").await;
    assert_eq!(
        parted,
        model(db.pool(), "single").await,
        "the partitioned model equals a rebuild"
    );
    let journal: i64 = sqlx::query_scalar("SELECT count(*) FROM parted_journal")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(journal as u64, listed, "every event applied once");
    // Each stream's events were handled in their order.
    let out_of_order: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT version, lag(version) OVER (PARTITION BY stream_id ORDER BY seq) AS before \
         FROM parted_journal) t WHERE before IS NOT NULL AND version <= before",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(out_of_order, 0, "a stream's events handled out of order");
    let per_partition: Vec<(u32, u64)> = status
        .iter()
        .map(|(p, s)| (p.index(), s.position))
        .collect();
    let streams_per_partition: Vec<usize> = Partition::all(PARTITIONS)
        .map(|p| {
            (0..STREAMS)
                .filter(|s| p.owns(&format!("Account-{s}")))
                .count()
        })
        .collect();

    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "partitioned workers: seed {seed}: {WORKERS} processes over {PARTITIONS} partitions \
             ({streams_per_partition:?} of {STREAMS} streams), {listed} projected events \
             ({SEEDED} seeded + {LIVE} written live); kills (worker, events applied before, \
             partitions still held just after, ms until all {PARTITIONS} held again): {kills:?}; (partition, checkpoint) \
             {per_partition:?}; model = rebuild; {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    assert!(
        kills.iter().any(|k| k.1 > 0 && (k.1 as u64) < listed),
        "no kill landed mid-run"
    );
    db.drop_db().await;
}

/// `leases_held` reads the leases other sessions hold from `pg_locks`,
/// without taking them: a worker slot held by another store's lease shows
/// as held, a free one as free, and again free once it is given back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_held_are_read_without_taking_them() {
    use es_core::consumer::Backend;
    let (db, store) = common::store().await;
    let names: Vec<String> = (0..3).map(|k| format!("ledger#worker/{k}")).collect();
    assert_eq!(
        store.leases_held(&names).await.unwrap(),
        Some(vec![false, false, false])
    );
    let other = PgEventStore::from_pool(db.pool().clone());
    let lease = other
        .try_lease(&names[1])
        .await
        .unwrap()
        .expect("a free lease");
    assert_eq!(
        store.leases_held(&names).await.unwrap(),
        Some(vec![false, true, false])
    );
    // Another schema's lease of the same name is another lease.
    let elsewhere = PgEventStore::builder()
        .schema("other_schema")
        .expect("a valid schema name")
        .build(db.pool().clone());
    assert_eq!(
        elsewhere.leases_held(&names[1..2]).await.unwrap(),
        Some(vec![false])
    );
    other.release_lease(lease).await;
    assert_eq!(
        store.leases_held(&names).await.unwrap(),
        Some(vec![false, false, false])
    );
    drop((store, other, elsewhere));
    db.drop_db().await;
}
