//! An outage of the database while commands and a projection runner are
//! active: errors while it is down, then both carry on with nothing lost or
//! repeated once it is back.
//!
//! Restarting the shared server would break every other test running at the
//! same time, so the outage is a TCP proxy written here: the store and the
//! runner connect through it; `cut()` drops every live connection and closes
//! new ones at once (what clients see while a server restarts), `restore()`
//! forwards again.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bank::{AccountEvent, BankAccount, Deposit, OpenAccount};
use es_core::projection::{Dispatch, HandlerError, Projection, ProjectionError};
use es_core::{EventStore, Metadata, RecordedEvent, Repository, RepositoryError, StreamEnd, Uuid};
use es_postgres::{PgEventStore, PgProjection, ProjectionRunner};
use es_testing::postgres::TestDatabase;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool};
use tokio::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------------------
// The proxy.

struct Proxy {
    port: u16,
    state: Arc<ProxyState>,
    accept: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct ProxyState {
    /// The forwarding tasks of live connections; the lock also orders a new
    /// connection against `cut`.
    live: Mutex<(bool, Vec<tokio::task::AbortHandle>)>,
    accepted: AtomicU64,
    refused: AtomicU64,
}

impl Proxy {
    async fn start(upstream: (String, u16)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(ProxyState::default());
        let accept = {
            let state = state.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((mut client, _)) = listener.accept().await else {
                        continue;
                    };
                    let mut live = state.live.lock().unwrap();
                    if live.0 {
                        // Down: close it at once, like a server that is not
                        // (yet) listening.
                        state.refused.fetch_add(1, Ordering::Relaxed);
                        drop(client);
                        continue;
                    }
                    state.accepted.fetch_add(1, Ordering::Relaxed);
                    let upstream = upstream.clone();
                    let task = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    live.1.retain(|t| !t.is_finished());
                    live.1.push(task.abort_handle());
                }
            })
        };
        Self {
            port,
            state,
            accept,
        }
    }

    /// Drops every live connection (both sockets close) and refuses new ones.
    fn cut(&self) -> usize {
        let mut live = self.state.live.lock().unwrap();
        live.0 = true;
        let n = live.1.len();
        for t in live.1.drain(..) {
            t.abort();
        }
        n
    }

    fn restore(&self) {
        self.state.live.lock().unwrap().0 = false;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

// ---------------------------------------------------------------------------
// A read model of the bank's events, with a journal whose primary key fails
// any event applied twice.

#[derive(Clone, Default)]
struct Ledger;

impl Projection for Ledger {
    const NAME: &'static str = "ledger";
    const EVENT_TYPES: &'static [&'static str] =
        &["AccountOpened", "MoneyDeposited", "MoneyWithdrawn"];
}

impl Dispatch<PgConnection> for Ledger {
    async fn dispatch(
        &mut self,
        e: &RecordedEvent,
        conn: &mut PgConnection,
    ) -> Result<(), ProjectionError> {
        let fail = |x: HandlerError| ProjectionError::handler::<Self>(e, x);
        let delta = match e.decode::<AccountEvent>().map_err(|x| fail(x.into()))? {
            AccountEvent::Opened(o) => o.initial_deposit,
            AccountEvent::Deposited(d) => d.amount,
            AccountEvent::Withdrawn(w) => -w.amount,
            _ => 0,
        };
        sqlx::query(
            "INSERT INTO ledger (stream_id, balance, events) VALUES ($1, $2, 1) \
             ON CONFLICT (stream_id) DO UPDATE SET balance = ledger.balance + $2, \
               events = ledger.events + 1",
        )
        .bind(&e.stream_id)
        .bind(delta)
        .execute(&mut *conn)
        .await
        .map_err(|x| fail(x.into()))?;
        sqlx::query("INSERT INTO ledger_journal (position, event_id) VALUES ($1, $2)")
            .bind(e.global_position as i64)
            .bind(e.event_id)
            .execute(&mut *conn)
            .await
            .map_err(|x| fail(x.into()))?;
        Ok(())
    }
}

impl PgProjection for Ledger {
    async fn setup(&mut self, conn: &mut PgConnection) -> Result<(), HandlerError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS ledger \
             (stream_id text PRIMARY KEY, balance bigint NOT NULL, events bigint NOT NULL)",
        )
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS ledger_journal \
             (position bigint PRIMARY KEY, event_id uuid NOT NULL UNIQUE)",
        )
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn reset(&mut self, conn: &mut PgConnection) -> Result<(), HandlerError> {
        sqlx::query("TRUNCATE ledger, ledger_journal")
            .execute(conn)
            .await?;
        Ok(())
    }
}

type Model = (Vec<(String, i64, i64)>, i64);

async fn model(pool: &PgPool) -> Model {
    let rows = sqlx::query_as("SELECT stream_id, balance, events FROM ledger ORDER BY stream_id")
        .fetch_all(pool)
        .await
        .unwrap();
    let (journal,): (i64,) = sqlx::query_as("SELECT count(*) FROM ledger_journal")
        .fetch_one(pool)
        .await
        .unwrap();
    (rows, journal)
}

// ---------------------------------------------------------------------------

const WRITERS: usize = 4;
const COMMANDS_PER_WRITER: usize = 150;
const OUTAGES: usize = 2;
const OUTAGE: Duration = Duration::from_millis(1500);
/// No call may take longer than this, outage or not.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Counters {
    acked: AtomicU64,
    errors: AtomicU64,
    errors_while_down: AtomicU64,
    /// Acknowledged only on a retry, as the already recorded outcome of its
    /// command id: the first attempt committed but its reply was lost.
    recovered_by_command_id: AtomicU64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outage_during_commands_and_a_runner_loses_and_repeats_nothing() {
    let db = TestDatabase::create().await;
    // The direct store: setup and checks.
    let direct = PgEventStore::from_pool(db.pool().clone());
    direct.migrate().await.unwrap();
    let mut ledger_setup = ProjectionRunner::new(direct.clone(), Ledger);
    ledger_setup.catch_up().await.unwrap(); // runs setup (creates the tables)
    ledger_setup.release().await;
    drop(ledger_setup);

    let server = PgConnectOptions::from_str(db.url()).unwrap();
    let proxy = Proxy::start((server.get_host().to_owned(), server.get_port())).await;
    let via_proxy = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(2))
        .connect_with(server.clone().host("127.0.0.1").port(proxy.port))
        .await
        .unwrap();
    let store = PgEventStore::builder()
        .poll_interval(Duration::from_millis(50))
        .build(via_proxy);
    let repo = Repository::<BankAccount, _>::new(store.clone()).retry_on_conflict(20);
    for w in 0..WRITERS {
        repo.execute(
            &format!("acc-{w}"),
            OpenAccount {
                owner_id: format!("o{w}"),
                initial_deposit: 100,
            },
        )
        .await
        .unwrap();
    }

    let runner = ProjectionRunner::new(store.clone(), Ledger)
        .batch_size(25)
        .lease_retry(Duration::from_millis(100))
        .retry_backoff(Duration::from_millis(50), Duration::from_millis(400));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner_task = tokio::spawn(async move {
        let mut runner = runner;
        let r = runner
            .run(async {
                let _ = stopped.await;
            })
            .await;
        (runner.events_read(), r)
    });

    let down = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters::default());
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let repo = repo.clone();
            let down = down.clone();
            let counters = counters.clone();
            tokio::spawn(async move {
                let id = format!("acc-{w}");
                let mut acked = Vec::new();
                for i in 0..COMMANDS_PER_WRITER {
                    let tag = format!("w{w}-c{i}");
                    let amount = (i % 9 + 1) as i64;
                    // One command id per command, kept across its retries: an
                    // append whose reply was lost is not applied twice.
                    let metadata = Metadata::new().command_id(Uuid::now_v7());
                    let mut first = true;
                    loop {
                        let cmd = Deposit {
                            amount,
                            description: tag.clone(),
                        };
                        let started = Instant::now();
                        let r = tokio::time::timeout(
                            CALL_TIMEOUT,
                            repo.execute_with(&id, cmd, metadata.clone()),
                        )
                        .await
                        .unwrap_or_else(|_| panic!("{tag}: a command hung for {CALL_TIMEOUT:?}"));
                        match r {
                            Ok(done) => {
                                if done.duplicate {
                                    assert!(!first, "{tag}: a fresh command id was a duplicate");
                                    counters
                                        .recovered_by_command_id
                                        .fetch_add(1, Ordering::Relaxed);
                                }
                                counters.acked.fetch_add(1, Ordering::Relaxed);
                                acked.push((tag.clone(), amount, done.version));
                                break;
                            }
                            Err(RepositoryError::Store { .. }) => {
                                // An error, not a panic or a hang.
                                assert!(started.elapsed() < CALL_TIMEOUT);
                                counters.errors.fetch_add(1, Ordering::Relaxed);
                                if down.load(Ordering::SeqCst) {
                                    counters.errors_while_down.fetch_add(1, Ordering::Relaxed);
                                }
                                first = false;
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                            Err(other) => panic!("{tag}: unexpected error {other:?}"),
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
                acked
            })
        })
        .collect();

    // Two outages while both are busy.
    let mut dropped_connections = 0;
    for outage in 0..OUTAGES {
        let target = ((outage + 1) * WRITERS * COMMANDS_PER_WRITER / (OUTAGES + 2)) as u64;
        let deadline = Instant::now() + Duration::from_secs(60);
        while counters.acked.load(Ordering::SeqCst) < target {
            assert!(Instant::now() < deadline, "writers stalled before outage");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            direct
                .load_checkpoint(Ledger::NAME)
                .await
                .unwrap()
                .unwrap_or(0)
                > 0,
            "the runner is active"
        );
        let acked_before = counters.acked.load(Ordering::SeqCst);
        down.store(true, Ordering::SeqCst);
        dropped_connections += proxy.cut();
        tokio::time::sleep(OUTAGE).await;
        down.store(false, Ordering::SeqCst);
        let acked_during = counters.acked.load(Ordering::SeqCst) - acked_before;
        proxy.restore();
        // At most the commands whose reply was already on its way.
        assert!(
            acked_during <= WRITERS as u64,
            "{acked_during} acked while down"
        );
    }
    let mut acked: BTreeMap<usize, Vec<(String, i64, u64)>> = BTreeMap::new();
    for (w, h) in writers.into_iter().enumerate() {
        acked.insert(w, h.await.unwrap());
    }
    assert!(
        counters.errors_while_down.load(Ordering::SeqCst) > 0,
        "commands failed while the database was down"
    );

    // The runner catches up through the proxy.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = direct
            .projection_status(Ledger::NAME, Ledger::EVENT_TYPES)
            .await
            .unwrap();
        if s.lag == 0 && s.position == s.head {
            break;
        }
        if runner_task.is_finished() {
            // Say why at once rather than after the deadline.
            let (_, result) = runner_task.await.unwrap();
            panic!(
                "the runner stopped before catching up: {:?}",
                result.map(|_| ()).map_err(|e| e.to_string())
            );
        }
        assert!(
            Instant::now() < deadline,
            "the runner did not catch up: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).unwrap();
    let (events_read, result) = runner_task.await.unwrap();
    // A repeated event would have failed the journal's key and stopped it.
    result.expect("the runner carries on after the outages");

    // Nothing lost, nothing repeated: each stream holds each acknowledged
    // command once, at the version its acknowledgement reported.
    let mut total_events = 0;
    for (w, commands) in &acked {
        assert_eq!(commands.len(), COMMANDS_PER_WRITER);
        let events = direct
            .read_stream(&format!("BankAccount-acc-{w}"), 1, StreamEnd::Head, 10_000)
            .await
            .unwrap();
        assert_eq!(events.len(), COMMANDS_PER_WRITER + 1, "acc-{w}");
        total_events += events.len();
        let mut balance = 0;
        for (i, rec) in events.iter().enumerate() {
            assert_eq!(rec.stream_version, i as u64 + 1);
            match rec.decode::<AccountEvent>().unwrap() {
                AccountEvent::Opened(o) => balance += o.initial_deposit,
                AccountEvent::Deposited(d) => {
                    let (tag, amount, version) = &commands[i - 1];
                    assert_eq!(
                        (&d.description, d.amount, rec.stream_version),
                        (tag, *amount, *version)
                    );
                    balance += d.amount;
                }
                other => panic!("{other:?}"),
            }
        }
        let loaded = Repository::<BankAccount, _>::new(direct.clone())
            .load(&format!("acc-{w}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(loaded.state.balance, balance);
    }
    let live = model(db.pool()).await;
    assert_eq!(live.1 as usize, total_events, "journal: each event once");
    assert_eq!(
        live.0.iter().map(|r| r.2).sum::<i64>() as usize,
        total_events
    );
    // The read model equals a rebuild.
    let mut rebuild = ProjectionRunner::new(direct.clone(), Ledger);
    rebuild.rebuild(|_, _| {}).await.unwrap();
    rebuild.release().await;
    assert_eq!(model(db.pool()).await, live);

    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "outage: {} commands acknowledged through {OUTAGES} outages of {OUTAGE:?} \
             ({dropped_connections} live connections dropped, {} connections refused while \
             down); {} errors returned ({} while down), {} commands recovered by command id; \
             runner read {events_read} events, journal {} entries, no repeats",
            counters.acked.load(Ordering::SeqCst),
            proxy.state.refused.load(Ordering::SeqCst),
            counters.errors.load(Ordering::SeqCst),
            counters.errors_while_down.load(Ordering::SeqCst),
            counters.recovered_by_command_id.load(Ordering::SeqCst),
            live.1,
        );
    }
    drop(repo);
    drop(store);
    drop(proxy);
    db.drop_db().await;
}
