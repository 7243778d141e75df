//! 200 orders through the fulfillment process while its worker is killed
//! with SIGKILL at random points and restarted, on PostgreSQL and on SQLite.
//! At the end every order is shipped or cancelled (never both, never
//! stuck), no command took effect twice, the stock balances, and nothing is
//! left pending.
//!
//! The worker is this test binary again (selected by an environment
//! variable), so `Child::kill` really kills a process mid-batch. A customer
//! task in the test pays (or declines, or ignores) each payment request.
//! The seed of the random kill points is printed; `ES_TEST_SEED=<n>`
//! replays a run.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use es_core::process::{ProcessBackend, ProcessRunner};
use es_core::{EventStore, Repository, SnapshotStore, StreamEnd};
use es_postgres::PgEventStore;
use es_sqlite::SqliteEventStore;
use es_testing::postgres::TestDatabase;
use orders::fulfillment::Fulfillment;
use orders::fulfillment::inventory::{AddStock, Inventory};
use orders::fulfillment::payment::{Decline, Pay, Payment, PaymentStatus};
use orders::{AddItem, CreateOrder, Order, OrderStatus, PlaceOrder};

const ORDERS: usize = 200;
const KILLS: usize = 4;
const CHILD_ENV: &str = "ORDERS_FULFILLMENT_CRASH_CHILD";
const STOCK: [(&str, u32); 3] = [("A", 1_000), ("B", 60), ("C", 1_000)];

/// Not a test of its own: the worker process of the crash tests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child_worker() {
    let Ok(target) = std::env::var(CHILD_ENV) else {
        return;
    };
    if let Some(url) = target.strip_prefix("pg:") {
        let store = PgEventStore::builder()
            .poll_interval(Duration::from_millis(50))
            .connect(url)
            .await
            .unwrap();
        work(store).await;
    } else if let Some(path) = target.strip_prefix("sqlite:") {
        work(SqliteEventStore::open(path).await.unwrap()).await;
    }
}

async fn work<S: ProcessBackend + SnapshotStore>(store: S) {
    ProcessRunner::<Fulfillment, _>::new(store)
        .batch_size(10)
        .poll_interval(Duration::from_millis(30))
        .lease_retry(Duration::from_millis(30))
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .run(std::future::pending())
        .await
        .unwrap();
}

/// Kills the child on drop, so a failing test leaves no process behind.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_worker(target: &str) -> ChildGuard {
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child_worker", "--test-threads=1"])
        .env(CHILD_ENV, target)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    ChildGuard(child)
}

fn order_id(i: usize) -> String {
    format!("o-{i:03}")
}

/// What the customer of order `i` does with the payment request.
#[derive(Clone, Copy, PartialEq)]
enum Customer {
    Pays,
    Declines,
    Ignores,
}

fn customer(i: usize) -> Customer {
    match i % 5 {
        0..=2 => Customer::Pays,
        3 => Customer::Declines,
        _ => Customer::Ignores,
    }
}

async fn setup<S: ProcessBackend + SnapshotStore>(store: &S) {
    let inventory = Repository::<Inventory, _>::new(store.clone());
    for (sku, quantity) in STOCK {
        inventory.execute(sku, AddStock { quantity }).await.unwrap();
    }
    let orders = Repository::<Order, _>::new(store.clone()).retry_on_conflict(3);
    for i in 0..ORDERS {
        let id = order_id(i);
        orders
            .execute(
                &id,
                CreateOrder {
                    customer_id: "c".into(),
                },
            )
            .await
            .unwrap();
        let mut lines = vec![("A", 1)];
        if i % 4 == 1 {
            // B runs out after 30 such orders: the rest are refused.
            lines.push(("B", 2));
        }
        if i % 3 == 0 {
            lines.push(("C", 3));
        }
        for (sku, quantity) in lines {
            let item = AddItem {
                sku: sku.into(),
                quantity,
                unit_price: 250,
            };
            orders.execute(&id, item).await.unwrap();
        }
        let address = if i % 10 == 7 {
            format!("PO Box {i}")
        } else {
            format!("{i} Main St")
        };
        orders
            .execute(
                &id,
                PlaceOrder {
                    shipping_address: address,
                },
            )
            .await
            .unwrap();
    }
}

/// One pass of the customers over the requested payments.
async fn customers_act<S: ProcessBackend + SnapshotStore>(store: &S) {
    let payments = Repository::<Payment, _>::new(store.clone()).retry_on_conflict(3);
    for i in 0..ORDERS {
        let id = order_id(i);
        let Ok(Some(p)) = payments.load(&id).await else {
            continue;
        };
        if p.state.status != PaymentStatus::Requested {
            continue;
        }
        // A refusal (voided meanwhile) is fine; a store error retries next pass.
        let _ = match customer(i) {
            Customer::Pays => payments
                .execute(
                    &id,
                    Pay {
                        amount: p.state.amount,
                    },
                )
                .await
                .map(drop)
                .map_err(drop),
            Customer::Declines => payments
                .execute(
                    &id,
                    Decline {
                        reason: "card expired".into(),
                    },
                )
                .await
                .map(drop)
                .map_err(drop),
            Customer::Ignores => Ok(()),
        };
    }
}

async fn statuses<S: ProcessBackend + SnapshotStore>(store: &S) -> Vec<OrderStatus> {
    let orders = Repository::<Order, _>::new(store.clone());
    let mut out = Vec::with_capacity(ORDERS);
    for i in 0..ORDERS {
        let o = orders.load(&order_id(i)).await.unwrap().unwrap();
        out.push(o.state.status);
    }
    out
}

async fn types<S: EventStore>(store: &S, stream: &str) -> Vec<String> {
    store
        .read_stream(stream, 1, StreamEnd::Head, 100_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect()
}

fn seed() -> u64 {
    std::env::var("ES_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos() as u64
        })
}

/// `takeover`: how long a new worker waits for a killed one's leases (the
/// kill windows start after it, so that every kill lands on a worker at work).
async fn crash_run<S: ProcessBackend + SnapshotStore>(store: S, target: &str, takeover: Duration) {
    setup(&store).await;
    let seed = seed();
    let mut rng = seed | 1;
    let mut random_ms = |lo: u64, hi: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        lo + rng % (hi - lo)
    };
    let started = Instant::now();
    let mut kills = Vec::new();
    for round in 0..KILLS {
        let worker = spawn_worker(target);
        let wait = if round == 0 { Duration::ZERO } else { takeover };
        let until = Instant::now() + wait + Duration::from_millis(random_ms(300, 1_500));
        while Instant::now() < until {
            customers_act(&store).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(worker); // SIGKILL
        let counts = store.process_counts("fulfillment").await.unwrap();
        kills.push((counts.finished, counts.pending_commands));
    }
    assert!(
        kills
            .iter()
            .any(|(finished, _)| (*finished as usize) < ORDERS),
        "seed {seed}: no kill landed before the work was done: {kills:?}"
    );
    // The last worker runs until everything is settled.
    let worker = spawn_worker(target);
    let limit = Instant::now() + Duration::from_secs(180);
    loop {
        customers_act(&store).await;
        let counts = store.process_counts("fulfillment").await.unwrap();
        let settled = statuses(&store)
            .await
            .iter()
            .all(|s| matches!(s, OrderStatus::Shipped | OrderStatus::Cancelled));
        if settled && counts.active == 0 && counts.pending_commands == 0 {
            break;
        }
        assert!(
            Instant::now() < limit,
            "seed {seed}: not settled within 180 s after {KILLS} kills: {counts:?}, kills {kills:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(worker);
    check(&store, seed).await;
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "{target}: seed {seed}, {KILLS} kills at (finished, pending) {kills:?}, settled in {:?}",
            started.elapsed()
        );
    }
}

/// Every order settled once, every command applied once, stock balanced.
async fn check<S: ProcessBackend + SnapshotStore>(store: &S, seed: u64) {
    let mut shipped = Vec::new();
    let mut outcomes = BTreeMap::new();
    for i in 0..ORDERS {
        let id = order_id(i);
        let order = types(store, &format!("Order-{id}")).await;
        let ends: Vec<&String> = order
            .iter()
            .filter(|t| *t == "OrderShipped" || *t == "OrderCancelled")
            .collect();
        assert_eq!(ends.len(), 1, "seed {seed}: order {id} ended {ends:?}");
        if ends[0] == "OrderShipped" {
            shipped.push(i);
        }
        let payment = types(store, &format!("Payment-{id}")).await;
        for t in [
            "PaymentRequested",
            "PaymentCaptured",
            "PaymentDeclined",
            "PaymentVoided",
            "PaymentRefunded",
        ] {
            let n = payment.iter().filter(|p| *p == t).count();
            assert!(
                n <= 1,
                "seed {seed}: order {id}: {t} {n} times: {payment:?}"
            );
        }
        let captured = payment.iter().any(|t| t == "PaymentCaptured");
        let refunded = payment.iter().any(|t| t == "PaymentRefunded");
        let is_shipped = ends[0] == "OrderShipped";
        assert_eq!(
            captured && !refunded,
            is_shipped,
            "seed {seed}: order {id}: paid and kept the money exactly when shipped: {payment:?}"
        );
        *outcomes
            .entry(format!(
                "{} {}",
                ends[0],
                payment.last().map_or("-", String::as_str)
            ))
            .or_insert(0) += 1;
    }
    for (sku, initial) in STOCK {
        let inventory = Repository::<Inventory, _>::new(store.clone())
            .load(sku)
            .await
            .unwrap()
            .unwrap();
        let events = store
            .read_stream(&format!("Inventory-{sku}"), 1, StreamEnd::Head, 100_000)
            .await
            .unwrap();
        let mut per_order: BTreeMap<String, (u32, u32)> = BTreeMap::new();
        for e in &events {
            let v: serde_json::Value = serde_json::from_slice(&e.payload).unwrap();
            if let Some(o) = v["order_id"].as_str() {
                let entry = per_order.entry(o.to_owned()).or_default();
                match e.event_type.as_str() {
                    "StockReserved" => entry.0 += 1,
                    "StockReleased" => entry.1 += 1,
                    _ => {}
                }
            }
        }
        for (order, (reserved, released)) in &per_order {
            assert!(
                *reserved <= 1 && *released <= *reserved,
                "seed {seed}: {sku} for {order}: reserved {reserved}, released {released} times"
            );
        }
        let held: Vec<&String> = inventory.state.reserved.keys().collect();
        let expected: Vec<String> = shipped
            .iter()
            .filter(|i| per_order.contains_key(&order_id(**i)))
            .map(|i| order_id(*i))
            .collect();
        assert_eq!(
            held,
            expected.iter().collect::<Vec<_>>(),
            "seed {seed}: {sku}: the stock held is that of the shipped orders"
        );
        let held_units: u32 = inventory.state.reserved.values().sum();
        assert_eq!(
            inventory.state.available + held_units,
            initial,
            "seed {seed}: {sku}: stock balances"
        );
    }
    let counts = store.process_counts("fulfillment").await.unwrap();
    assert_eq!(
        (
            counts.active,
            counts.finished as usize,
            counts.pending_commands,
            counts.deadlines
        ),
        (0, ORDERS, 0, 0),
        "seed {seed}: every instance finished, nothing pending"
    );
    assert!(
        outcomes.len() >= 4,
        "seed {seed}: the run should take several paths: {outcomes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_worker_killed_at_random_points() {
    let db = TestDatabase::create().await;
    let store = PgEventStore::from_pool(db.pool().clone());
    store.migrate().await.unwrap();
    // A killed worker's advisory locks go with its connections at once.
    crash_run(store, &format!("pg:{}", db.url()), Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_worker_killed_at_random_points() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.db");
    let store = SqliteEventStore::open(&path).await.unwrap();
    // A killed worker's lease rows expire after LEASE_TTL.
    let takeover = es_sqlite::LEASE_TTL;
    crash_run(
        store.clone(),
        &format!("sqlite:{}", path.display()),
        takeover,
    )
    .await;
    store.close().await;
}
