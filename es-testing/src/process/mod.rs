//! The process manager conformance suite: what a
//! [`ProcessRunner`] promises, checked on every store that is a
//! [`ProcessBackend`].
//!
//! Every case runs the checkout of the [`shop`] domain: orders, stock, and
//! a process between them with a compensation (a rejected reservation
//! cancels the order) and a deadline (a missed approval window cancels
//! it). A store's tests supply a factory of fresh stores (as for the store
//! conformance suite); one macro call expands into one `#[test]` per case:
//!
//! ```
//! es_testing::process_conformance_tests!(async { es_core::InMemoryEventStore::new() });
//! # fn main() {}
//! ```
//!
//! | case | what it checks |
//! |---|---|
//! | [`reserved_stock_confirms_the_order`] | the happy path: reserve, confirm, complete; counts at the end; a second `catch_up` does nothing |
//! | [`rejected_reservation_cancels_the_order`] | a rejection comes back to `on_rejected` with the aggregate's reason; the compensation runs; the rejection is in the instance's own stream |
//! | [`missed_approval_cancels_the_order`] | a due deadline fires once, through the instance's stream, and cancels |
//! | [`approval_in_time_cancels_the_deadline`] | a cancelled deadline never fires |
//! | [`completed_instance_ignores_later_events`] | events after completion reach no reaction and send nothing |
//! | [`completed_state_is_dropped_unless_kept`] | a completed instance keeps only its mark by default, its last state with `keep_completed(true)` |
//! | [`interrupted_runs_execute_each_command_once`] | `catch_up` dropped at many points (a crash of the process in flight), then resumed: every order ends confirmed or cancelled, never both, no command applied twice, stock balances |
//! | [`run_follows_live_commits_and_fires_deadlines`] | `run` in a task: orders placed while it runs settle; a deadline fires no earlier than due; shutdown returns `Ok` |
//! | [`two_runners_settle_each_order_once`] | two runners of one process at once: each order settled once |
//!
//! A failing case panics with a message that starts with
//! `process conformance:`.
//!
//! [`ProcessRunner`]: es_core::process::ProcessRunner

pub mod shop;

use std::future::Future;
use std::time::Duration;

use es_core::process::{
    ProcessBackend, ProcessCommandRejected, ProcessCounts, ProcessDeadlineReached, ProcessRunner,
};
use es_core::{EventStore, Repository, SnapshotStore, StreamEnd};

use shop::{ApproveOrder, Checkout, Order, OrderPlaced, OrderStatus, PlaceOrder, Restock, Stock};

/// Runs one case on a store from `factory` (a [`ProcessBackend`], or a
/// [`TestStore`](crate::conformance::TestStore) wrapper that cleans up
/// after the case, also when it failed).
pub fn run<T, Case, CaseFut>(factory: impl Future<Output = T>, case: Case)
where
    T: crate::conformance::TestStore,
    T::Store: ProcessBackend,
    Case: FnOnce(T::Store) -> CaseFut,
    CaseFut: Future<Output = ()>,
{
    crate::conformance::run(factory, case);
}

/// Expands into one `#[test]` per process conformance case, each on a
/// store from `factory` (an expression evaluated once per case, inside the
/// case's runtime: a future whose output is a fresh [`ProcessBackend`] or a
/// [`TestStore`](crate::conformance::TestStore) wrapper).
#[macro_export]
macro_rules! process_conformance_tests {
    ($factory:expr $(,)?) => {
        $crate::process_conformance_tests!(@cases ($factory)
            reserved_stock_confirms_the_order
            rejected_reservation_cancels_the_order
            missed_approval_cancels_the_order
            approval_in_time_cancels_the_deadline
            completed_instance_ignores_later_events
            completed_state_is_dropped_unless_kept
            interrupted_runs_execute_each_command_once
            run_follows_live_commits_and_fires_deadlines
            two_runners_settle_each_order_once
        );
    };
    (@cases ($factory:expr) $($case:ident)*) => {
        $(
            #[test]
            fn $case() {
                $crate::process::run(async { $factory.await }, $crate::process::$case);
            }
        )*
    };
}

fn orders<S: ProcessBackend + SnapshotStore>(store: &S) -> Repository<Order, S> {
    Repository::new(store.clone()).retry_on_conflict(5)
}

fn stocks<S: ProcessBackend + SnapshotStore>(store: &S) -> Repository<Stock, S> {
    Repository::new(store.clone()).retry_on_conflict(5)
}

async fn restock<S: ProcessBackend + SnapshotStore>(store: &S, sku: &str, quantity: u32) {
    stocks(store)
        .execute(sku, Restock { quantity })
        .await
        .expect("process conformance: restocking failed");
}

async fn place<S: ProcessBackend + SnapshotStore>(
    store: &S,
    order_id: &str,
    sku: &str,
    quantity: u32,
    approve_within_ms: Option<u64>,
) {
    let placed = OrderPlaced {
        order_id: order_id.to_owned(),
        sku: sku.to_owned(),
        quantity,
        approve_within_ms,
    };
    orders(store)
        .execute(order_id, PlaceOrder(placed))
        .await
        .expect("process conformance: placing an order failed");
}

async fn order<S: ProcessBackend + SnapshotStore>(store: &S, id: &str) -> Order {
    orders(store)
        .load(id)
        .await
        .expect("process conformance: loading an order failed")
        .map(|l| l.state)
        .unwrap_or_default()
}

async fn available<S: ProcessBackend + SnapshotStore>(store: &S, sku: &str) -> u32 {
    stocks(store)
        .load(sku)
        .await
        .expect("process conformance: loading stock failed")
        .map_or(0, |l| l.state.available)
}

async fn types_in<S: EventStore>(store: &S, stream: &str) -> Vec<String> {
    store
        .read_stream(stream, 1, StreamEnd::Head, 10_000)
        .await
        .expect("process conformance: reading a stream failed")
        .into_iter()
        .map(|e| e.event_type)
        .collect()
}

async fn counts<S: ProcessBackend>(store: &S) -> ProcessCounts {
    store
        .process_counts("checkout")
        .await
        .expect("process conformance: process_counts failed")
}

fn runner<S: ProcessBackend + SnapshotStore>(store: &S) -> ProcessRunner<Checkout, S> {
    ProcessRunner::new(store.clone())
        .poll_interval(Duration::from_millis(20))
        .lease_retry(Duration::from_millis(20))
        .retry_backoff(Duration::from_millis(10), Duration::from_millis(200))
}

/// The happy path: a placed order reserves its stock, the reservation
/// confirms it, the instance completes.
pub async fn reserved_stock_confirms_the_order<S: ProcessBackend + SnapshotStore>(store: S) {
    let store = &store;
    restock(store, "sku-1", 5).await;
    place(store, "o-1", "sku-1", 2, None).await;
    let mut checkout = runner(store);
    let settled = checkout
        .catch_up()
        .await
        .expect("process conformance: catch_up failed");
    let o = order(store, "o-1").await;
    assert_eq!(
        o.status,
        OrderStatus::Confirmed,
        "process conformance: the order should be confirmed once its stock is reserved; it is {o:?}"
    );
    assert_eq!(
        available(store, "sku-1").await,
        3,
        "process conformance: 2 of 5 should be reserved"
    );
    assert_eq!(
        settled.commands, 2,
        "process conformance: two commands (reserve, confirm) should have gone out: {settled:?}"
    );
    let c = counts(store).await;
    assert_eq!(
        c,
        ProcessCounts {
            active: 0,
            finished: 1,
            pending_commands: 0,
            deadlines: 0
        },
        "process conformance: one finished instance, nothing pending"
    );
    let again = checkout
        .catch_up()
        .await
        .expect("process conformance: second catch_up failed");
    assert_eq!(
        (again.events, again.commands, again.deadlines),
        (0, 0, 0),
        "process conformance: a second catch_up should find nothing to do"
    );
    let status = checkout
        .status()
        .await
        .expect("process conformance: status failed");
    assert!(
        status.consumer.caught_up() && status.last_error.is_none(),
        "process conformance: status after settling: {status:?}"
    );
}

/// A rejected reservation comes back with the aggregate's reason and
/// cancels the order.
pub async fn rejected_reservation_cancels_the_order<S: ProcessBackend + SnapshotStore>(store: S) {
    let store = &store;
    restock(store, "sku-1", 1).await;
    place(store, "o-1", "sku-1", 2, None).await;
    runner(store)
        .catch_up()
        .await
        .expect("process conformance: catch_up failed");
    let o = order(store, "o-1").await;
    assert_eq!(
        o.status,
        OrderStatus::Cancelled,
        "process conformance: a rejected reservation should cancel the order; it is {o:?}"
    );
    let reason = o.reason.unwrap_or_default();
    assert!(
        reason.contains("insufficient stock: 1 available, 2 requested"),
        "process conformance: the cancellation should carry the stock's reason, got {reason:?}"
    );
    assert_eq!(available(store, "sku-1").await, 1);
    assert_eq!(
        types_in(store, "checkout-o-1").await,
        [ProcessCommandRejected::NAME],
        "process conformance: the instance's own stream should hold the rejection"
    );
}

/// A deadline that passes fires once and cancels the order.
pub async fn missed_approval_cancels_the_order<S: ProcessBackend + SnapshotStore>(store: S) {
    let store = &store;
    restock(store, "sku-1", 5).await;
    place(store, "o-1", "sku-1", 2, Some(0)).await;
    let settled = runner(store)
        .catch_up()
        .await
        .expect("process conformance: catch_up failed");
    let o = order(store, "o-1").await;
    assert_eq!(
        (o.status, o.reason.as_deref()),
        (OrderStatus::Cancelled, Some("approval timed out")),
        "process conformance: a missed approval window should cancel the order"
    );
    assert_eq!(settled.deadlines, 1, "process conformance: {settled:?}");
    assert_eq!(
        types_in(store, "checkout-o-1").await,
        [ProcessDeadlineReached::NAME],
        "process conformance: the deadline should reach the instance's stream once"
    );
    assert_eq!(available(store, "sku-1").await, 5);
    assert_eq!(counts(store).await.deadlines, 0);
}

/// An approval in time cancels the deadline, which never fires.
pub async fn approval_in_time_cancels_the_deadline<S: ProcessBackend + SnapshotStore>(store: S) {
    let store = &store;
    restock(store, "sku-1", 5).await;
    place(store, "o-1", "sku-1", 2, Some(3_600_000)).await;
    let mut checkout = runner(store);
    checkout
        .catch_up()
        .await
        .expect("process conformance: catch_up failed");
    assert_eq!(
        counts(store).await.deadlines,
        1,
        "process conformance: the approval deadline should be scheduled"
    );
    orders(store)
        .execute("o-1", ApproveOrder)
        .await
        .expect("process conformance: approving failed");
    let settled = checkout
        .catch_up()
        .await
        .expect("process conformance: catch_up failed");
    assert_eq!(order(store, "o-1").await.status, OrderStatus::Confirmed);
    assert_eq!(
        (settled.deadlines, counts(store).await.deadlines),
        (0, 0),
        "process conformance: an approval should cancel the deadline"
    );
    assert!(
        types_in(store, "checkout-o-1").await.is_empty(),
        "process conformance: no deadline should reach the instance's stream"
    );
}

/// Events of a completed instance send nothing.
pub async fn completed_instance_ignores_later_events<S: ProcessBackend + SnapshotStore>(store: S) {
    let store = &store;
    restock(store, "sku-1", 5).await;
    place(store, "o-1", "sku-1", 2, None).await;
    let mut checkout = runner(store);
    checkout
        .catch_up()
        .await
        .expect("process conformance: catch_up failed");
    // A stray reservation for the completed order.
    stocks(store)
        .execute(
            "sku-1",
            shop::ReserveStock {
                order_id: "o-1".into(),
                quantity: 1,
            },
        )
        .await
        .expect("process conformance: reserving failed");
    let settled = checkout
        .catch_up()
        .await
        .expect("process conformance: catch_up failed");
    assert_eq!(
        (settled.events, settled.commands),
        (1, 0),
        "process conformance: the event of a completed instance should be read and ignored"
    );
    assert_eq!(order(store, "o-1").await.status, OrderStatus::Confirmed);
}

/// A completed instance keeps only the mark that closes its key, unless
/// the runner keeps completed state.
pub async fn completed_state_is_dropped_unless_kept<S: ProcessBackend + SnapshotStore>(store: S) {
    let store = &store;
    restock(store, "sku-1", 5).await;
    place(store, "o-1", "sku-1", 1, None).await;
    runner(store)
        .catch_up()
        .await
        .expect("process conformance: catch_up failed");
    place(store, "o-2", "sku-1", 1, None).await;
    let mut keeping = runner(store).keep_completed(true);
    keeping
        .catch_up()
        .await
        .expect("process conformance: catch_up failed");
    let mut tx = store
        .begin()
        .await
        .expect("process conformance: begin failed");
    let mut instance = async |key: &str| {
        store
            .load_instance(&mut tx, "checkout", key)
            .await
            .expect("process conformance: load_instance failed")
            .unwrap_or_else(|| panic!("process conformance: instance {key} is gone"))
    };
    let dropped = instance("o-1").await;
    let kept = instance("o-2").await;
    assert!(
        dropped.finished && dropped.state.is_none(),
        "process conformance: by default a completed instance keeps no state: {dropped:?}"
    );
    let state: Checkout = serde_json::from_slice(
        kept.state
            .as_deref()
            .expect("process conformance: keep_completed(true) should keep the state"),
    )
    .expect("process conformance: the kept state should decode");
    assert!(
        kept.finished && state.order_id == "o-2",
        "process conformance: the kept state is the last one: {state:?}"
    );
}

const ORDERS: usize = 24;

/// `catch_up` dropped at many points, then resumed: each order settles once.
pub async fn interrupted_runs_execute_each_command_once<S: ProcessBackend + SnapshotStore>(
    store: S,
) {
    let store = &store;
    // Stock for about half of the orders: both paths run.
    restock(store, "sku-a", 20).await;
    restock(store, "sku-b", 6).await;
    for i in 0..ORDERS {
        let sku = if i % 2 == 0 { "sku-a" } else { "sku-b" };
        let approval = (i % 6 == 5).then_some(0);
        place(store, &format!("o-{i}"), sku, 2, approval).await;
    }
    let mut checkout = runner(store).batch_size(3);
    let mut budget = Duration::from_micros(200);
    let mut interrupted = 0;
    loop {
        match tokio::time::timeout(budget, checkout.catch_up()).await {
            Ok(result) => {
                let settled = result.expect("process conformance: catch_up failed");
                if settled.events == 0 && settled.commands == 0 {
                    break;
                }
            }
            Err(_) => interrupted += 1,
        }
        budget += Duration::from_micros(300);
        assert!(
            budget < Duration::from_secs(30),
            "process conformance: catch_up never finished"
        );
    }
    let mut confirmed = 0;
    for i in 0..ORDERS {
        let id = format!("o-{i}");
        let types = types_in(store, &format!("Order-{id}")).await;
        let o = order(store, &id).await;
        let expected_tail = match o.status {
            OrderStatus::Confirmed => {
                confirmed += 1;
                "OrderConfirmed"
            }
            OrderStatus::Cancelled => "OrderCancelled",
            other => panic!(
                "process conformance: order {id} should be settled after {interrupted} interruptions; it is {other:?}"
            ),
        };
        assert_eq!(
            types,
            ["OrderPlaced", expected_tail],
            "process conformance: order {id} should hold its placement and one outcome ({interrupted} interruptions)"
        );
    }
    let reserved = |sku| {
        let store = store.clone();
        async move {
            types_in(&store, &format!("Stock-{sku}"))
                .await
                .iter()
                .filter(|t| *t == "StockReserved")
                .count() as u32
        }
    };
    let (a, b) = (reserved("sku-a").await, reserved("sku-b").await);
    assert_eq!(
        a + b,
        confirmed,
        "process conformance: one reservation per confirmed order, no command applied twice"
    );
    assert_eq!(available(store, "sku-a").await, 20 - 2 * a);
    assert_eq!(available(store, "sku-b").await, 6 - 2 * b);
    let c = counts(store).await;
    assert_eq!(
        (c.active, c.finished as usize, c.pending_commands),
        (0, ORDERS, 0),
        "process conformance: every instance finished, nothing pending"
    );
}

async fn settled<S: ProcessBackend + SnapshotStore>(store: &S, ids: &[String]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    for id in ids {
        loop {
            let o = order(store, id).await;
            if matches!(o.status, OrderStatus::Confirmed | OrderStatus::Cancelled) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "process conformance: order {id} did not settle within 20 s while the runner ran; it is {o:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// `run` in a task follows live commits and fires deadlines when due.
pub async fn run_follows_live_commits_and_fires_deadlines<S: ProcessBackend + SnapshotStore>(
    store: S,
) {
    let store = &store;
    restock(store, "sku-1", 5).await;
    let mut checkout = runner(store);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        checkout
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    place(store, "o-1", "sku-1", 2, None).await;
    place(store, "o-2", "sku-1", 9, None).await;
    place(store, "o-3", "sku-1", 1, Some(300)).await;
    settled(store, &["o-1".into(), "o-2".into(), "o-3".into()]).await;
    assert_eq!(order(store, "o-1").await.status, OrderStatus::Confirmed);
    assert_eq!(order(store, "o-2").await.status, OrderStatus::Cancelled);
    let expired = order(store, "o-3").await;
    assert_eq!(expired.reason.as_deref(), Some("approval timed out"));
    let events = store
        .read_stream("Order-o-3", 1, StreamEnd::Head, 10)
        .await
        .expect("process conformance: reading o-3 failed");
    let waited = events[1].recorded_at - events[0].recorded_at;
    assert!(
        waited >= chrono::Duration::milliseconds(300),
        "process conformance: the deadline fired {waited} after placement, before its 300 ms"
    );
    let _ = stop.send(());
    let result = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("process conformance: run did not stop within 10 s of the shutdown")
        .expect("process conformance: the run task panicked");
    assert!(
        result.is_ok(),
        "process conformance: run should return Ok after a shutdown: {result:?}"
    );
}

/// Two runners of one process at once settle each order once.
pub async fn two_runners_settle_each_order_once<S: ProcessBackend + SnapshotStore>(store: S) {
    let store = &store;
    restock(store, "sku-1", 100).await;
    let mut tasks = Vec::new();
    let mut stops = Vec::new();
    for _ in 0..2 {
        let mut checkout = runner(store);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        stops.push(stop);
        tasks.push(tokio::spawn(async move {
            checkout
                .run(async {
                    let _ = stopped.await;
                })
                .await
        }));
    }
    let ids: Vec<String> = (0..10).map(|i| format!("o-{i}")).collect();
    for id in &ids {
        place(store, id, "sku-1", 1, None).await;
    }
    settled(store, &ids).await;
    for stop in stops {
        let _ = stop.send(());
    }
    for task in tasks {
        let result = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("process conformance: a runner did not stop within 10 s")
            .expect("process conformance: a runner panicked");
        assert!(result.is_ok(), "process conformance: {result:?}");
    }
    for id in &ids {
        assert_eq!(
            types_in(store, &format!("Order-{id}")).await,
            ["OrderPlaced", "OrderConfirmed"],
            "process conformance: order {id} should be confirmed once"
        );
    }
    assert_eq!(
        available(store, "sku-1").await,
        90,
        "process conformance: one reservation per order"
    );
}
