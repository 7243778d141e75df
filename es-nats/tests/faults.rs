//! Faults: the NATS server restarted under a running relay (a private
//! server of the test's own), and the relay process SIGKILLed at random
//! points on the SQLite store, then restarted. Either way a JetStream
//! consumer sees every event once, in order.

#![allow(
    clippy::print_stdout,
    reason = "a test prints what it saw (with --nocapture)"
)]

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{START_NATS, TestStream, connect, connect_to, nats_url, new_event};
use es_core::consumer::Backend;
use es_core::projection::{Dispatch, Projection, ProjectionError};
use es_core::{EventStore, ExpectedVersion, InMemoryEventStore, RecordedEvent};
use es_nats::{JetStreamSubscriber, Relay};
use es_sqlite::SqliteEventStore;

const NATS_SERVER: &str = "/usr/sbin/nats-server";

/// A nats-server of this test only, on a free port with its own store
/// directory; killed when dropped.
struct PrivateServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl PrivateServer {
    fn start() -> Self {
        assert!(
            Path::new(NATS_SERVER).exists(),
            "{NATS_SERVER} is missing: the restart test runs a private nats-server \
             (Debian: apt-get install nats-server; the shared one: {START_NATS})"
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = Self {
            port,
            dir: tempfile::tempdir().expect("a temporary directory"),
            child: None,
        };
        server.up();
        server
    }

    fn url(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn up(&mut self) {
        let child = Command::new(NATS_SERVER)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the private nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn wait_until<F: AsyncFnMut() -> bool>(what: &str, limit: Duration, mut done: F) {
    let deadline = Instant::now() + limit;
    while !done().await {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every event the store holds, in global order.
async fn all_events<S: EventStore>(store: &S) -> Vec<RecordedEvent> {
    store
        .read_all(0, 100_000, None)
        .await
        .expect("read_all")
        .events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_restarted_mid_stream_loses_reorders_and_repeats_nothing() {
    let mut server = PrivateServer::start();
    let client = async_nats::ConnectOptions::new()
        .reconnect_delay_callback(|_| Duration::from_millis(100))
        .connect(server.url())
        .await
        .expect("connecting to the private server");
    let js = async_nats::jetstream::ContextBuilder::new()
        .timeout(Duration::from_millis(800))
        .build(client);
    es_nats::ensure_stream(&js, "RESTART", "restart", Duration::from_secs(120))
        .await
        .expect("stream");

    let store = InMemoryEventStore::new();
    let relay = Relay::new(js.clone(), "restart").max_in_flight(64);
    let monitor = relay.monitor();
    let mut engine = relay
        .engine(store.clone())
        .batch_size(100)
        .retry_backoff(Duration::from_millis(50), Duration::from_millis(400));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let relaying = tokio::spawn(async move {
        engine
            .run(async {
                stopped.await.ok();
            })
            .await
    });

    // A writer that keeps appending through the outage: 1,500 events over 10 streams.
    let writer_store = store.clone();
    let writer = tokio::spawn(async move {
        for n in 0..500u64 {
            let stream = format!("Order-{}", n % 10);
            let events = (0..3).map(|k| new_event("Ticked", n * 3 + k)).collect();
            writer_store
                .append(&stream, ExpectedVersion::Any, events)
                .await
                .expect("append");
            tokio::time::sleep(Duration::from_millis(8)).await;
        }
    });

    tokio::time::sleep(Duration::from_millis(700)).await;
    server.kill();
    let killed_at = store.head_position().await.expect("head");
    // The relay fails, backs off, and says so.
    wait_until(
        "the relay reporting the outage",
        Duration::from_secs(10),
        async || {
            let s = monitor.status(&store).await.expect("status");
            s.health.failures >= 2 && s.checkpoint.lag > 0
        },
    )
    .await;
    let during = monitor.status(&store).await.expect("status");
    println!("during the outage (killed at position {killed_at}): {during:?}");
    assert!(
        during
            .health
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("JetStream"))
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.up();

    writer.await.expect("writer");
    let total = store.head_position().await.expect("head");
    wait_until(
        "the relay catching up after the restart",
        Duration::from_secs(60),
        async || {
            let s = monitor.status(&store).await.expect("status");
            s.checkpoint.position == total && s.health.failures == 0
        },
    )
    .await;
    let after = monitor.status(&store).await.expect("status");
    println!("after the restart: {after:?}");
    stop.send(()).ok();
    relaying
        .await
        .expect("join")
        .expect("the relay never stopped on the outage");

    let (_c, js) = connect_to(&server.url()).await;
    let got: Vec<RecordedEvent> = common::read_stream(&js, "RESTART")
        .await
        .into_iter()
        .map(|g| g.2)
        .collect();
    assert_eq!(
        got,
        all_events(&store).await,
        "every event once, in the log's order"
    );
    common::assert_per_stream_order(&got);
}

// ---------------------------------------------------------------------------
// The relay process SIGKILLed on the SQLite store.

const DB_VAR: &str = "ES_NATS_CHILD_DB";
const PREFIX_VAR: &str = "ES_NATS_CHILD_PREFIX";
const RELAY_NAME: &str = "crash_relay";

/// The relay process; does nothing unless the parent test started it.
#[test]
fn relay_child_process() {
    let (Ok(db), Ok(prefix)) = (std::env::var(DB_VAR), std::env::var(PREFIX_VAR)) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = SqliteEventStore::open(&db).await.expect("open the store");
        let (_client, js) = connect().await;
        let mut engine = Relay::new(js, prefix)
            .consumer_name(RELAY_NAME)
            .max_in_flight(32)
            .engine(store)
            .batch_size(40)
            .poll_interval(Duration::from_millis(20));
        // Runs until the parent kills it.
        engine.run(std::future::pending()).await.expect("relay");
    });
}

fn spawn_relay(db: &Path, prefix: &str) -> Child {
    Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "relay_child_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DB_VAR, db)
        .env(PREFIX_VAR, prefix)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawning the relay process")
}

/// A relay process, SIGKILLed when the test ends, pass or fail.
struct ChildGuard(Child);

impl ChildGuard {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A small xorshift: random kill points, reproducible from the printed seed.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[derive(Default)]
struct Collected(Vec<RecordedEvent>);

impl Projection for Collected {
    const NAME: &'static str = "crash_check";
    const EVENT_TYPES: &'static [&'static str] = &["Ticked"];
}

impl Dispatch for Collected {
    async fn dispatch(&mut self, e: &RecordedEvent, _: &mut ()) -> Result<(), ProjectionError> {
        self.0.push(e.clone());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_at_random_points_publishes_every_event_once_in_order() {
    let (_client, js) = connect().await;
    let ts = TestStream::create(&js, &nats_url(), Duration::from_secs(300)).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let db: PathBuf = dir.path().join("events.db");
    let store = SqliteEventStore::open(&db).await.expect("store");
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    println!("kill points from seed {seed}");

    let position = async || {
        store
            .consumer_status(RELAY_NAME, None)
            .await
            .map_or(0, |s| s.position)
    };
    let mut kills = Vec::new();
    for round in 0..4u64 {
        // Events keep arriving until the relay is killed, 2 at a time over 8 streams.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer_store = store.clone();
        let writing = stop.clone();
        let writer = tokio::spawn(async move {
            let mut n = 0u64;
            while !writing.load(std::sync::atomic::Ordering::Relaxed) && n < 5000 {
                let stream = format!("Order-{}", n % 8);
                let events = (0..2)
                    .map(|k| new_event("Ticked", round * 10_000 + n * 2 + k))
                    .collect();
                writer_store
                    .append(&stream, ExpectedVersion::Any, events)
                    .await
                    .expect("append");
                n += 1;
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        });
        let mut child = ChildGuard(spawn_relay(&db, &ts.prefix));
        let before = position().await;
        // Once it is the active relay (a killed one's lease expires first)
        // and has published something, kill it at a random point.
        wait_until(
            &format!("relay {round} moving the checkpoint"),
            Duration::from_secs(20),
            async || position().await > before,
        )
        .await;
        let delay = Duration::from_millis(next(&mut seed) % 300);
        tokio::time::sleep(delay).await;
        child.kill();
        kills.push((
            delay.as_millis(),
            position().await,
            store.head_position().await.expect("head"),
        ));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.await.expect("writer");
    }
    println!("killed after (ms, checkpoint, head): {kills:?}");
    let total = store.head_position().await.expect("head");

    let mut last = ChildGuard(spawn_relay(&db, &ts.prefix));
    wait_until(
        "the last relay catching up",
        Duration::from_secs(30),
        async || position().await == total,
    )
    .await;
    last.kill();

    let mut sub = JetStreamSubscriber::bind(&js, &ts.name, &ts.prefix, Collected::default())
        .await
        .expect("bind");
    sub.catch_up().await.expect("subscriber");
    let got = &sub.projection().0;
    println!(
        "{} events written, {} messages in the stream, {} seen by the subscriber",
        total,
        ts.messages().await,
        got.len()
    );
    assert_eq!(
        got,
        &all_events(&store).await,
        "every event once, in the log's order"
    );
    common::assert_per_stream_order(got);
}
