//! The orders demo's fulfillment: the process runs in the background
//! (`ProcessRunner::run`) while the demo plays the customer and the
//! warehouse; one order takes each path.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use es_core::Repository;
use es_core::process::{ProcessBackend, ProcessRunner};
use es_core::{EventStore, SnapshotStore, StreamEnd};
use orders::fulfillment::inventory::{AddStock, Inventory};
use orders::fulfillment::payment::{Decline, Pay, Payment, PaymentStatus};
use orders::fulfillment::{Fulfillment, PAYMENT_WINDOW};
use orders::{AddItem, CreateOrder, Order, OrderEvent, OrderStatus, PlaceOrder};
use tokio::task::JoinHandle;

use crate::say;

/// The fulfillment process running in a task until [`Background::stop`].
pub(crate) struct Background {
    stop: tokio::sync::oneshot::Sender<()>,
    task: JoinHandle<Result<(), es_core::process::ProcessError>>,
}

impl Background {
    /// Starts fulfillment on `store`.
    pub(crate) fn start<S: ProcessBackend + SnapshotStore>(store: &S) -> Self {
        let mut runner = ProcessRunner::<Fulfillment, _>::new(store.clone())
            .poll_interval(Duration::from_millis(50));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            runner
                .run(async {
                    let _ = stopped.await;
                })
                .await
        });
        Self { stop, task }
    }

    /// Shuts it down (after the batch in flight) and reports its error.
    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task
            .await?
            .context("the fulfillment process stopped")?;
        Ok(())
    }
}

/// Puts `quantity` of each SKU on the shelf.
pub(crate) async fn restock<S: EventStore + SnapshotStore>(
    store: &S,
    skus: &[&str],
    quantity: u32,
) -> anyhow::Result<()> {
    let inventory = Repository::<Inventory, _>::new(store.clone()).retry_on_conflict(3);
    for sku in skus {
        inventory.execute(sku, AddStock { quantity }).await?;
    }
    Ok(())
}

/// Waits (up to 10 s more than the payment window) until `check` holds.
async fn until<T>(
    what: &str,
    mut check: impl AsyncFnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + PAYMENT_WINDOW + Duration::from_secs(10);
    loop {
        if let Some(t) = check().await? {
            return Ok(t);
        }
        anyhow::ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The payment fulfillment asked for, once it did.
pub(crate) async fn requested_payment<S: EventStore + SnapshotStore>(
    store: &S,
    id: &str,
) -> anyhow::Result<i64> {
    let payments = Repository::<Payment, _>::new(store.clone());
    until("the payment request", async || {
        let p = payments.load(id).await?;
        Ok(p.filter(|p| p.state.status == PaymentStatus::Requested)
            .map(|p| p.state.amount))
    })
    .await
}

/// The order once it is shipped or cancelled.
pub(crate) async fn settled<S: EventStore + SnapshotStore>(
    store: &S,
    id: &str,
) -> anyhow::Result<Order> {
    let orders = Repository::<Order, _>::new(store.clone());
    until("the order to ship or be cancelled", async || {
        let o = orders.load(id).await?.context("the order exists")?;
        Ok(matches!(
            o.state.status,
            OrderStatus::Shipped | OrderStatus::Cancelled
        )
        .then_some(o.state))
    })
    .await
}

/// Why the order was cancelled, from its last event.
async fn cancellation<S: EventStore>(store: &S, id: &str) -> anyhow::Result<String> {
    let events = store
        .read_stream(&format!("Order-{id}"), 1, StreamEnd::Head, 1_000)
        .await?;
    let last = events.last().context("the order has events")?;
    Ok(match last.decode::<OrderEvent>()? {
        OrderEvent::Cancelled(c) => c.reason,
        _ => "-".to_owned(),
    })
}

/// What the customer does with the payment request.
enum Customer {
    Pays,
    Declines,
    Waits,
}

/// One order per path that does not end in a delivery.
pub(crate) async fn other_paths<S: EventStore + SnapshotStore>(
    store: &S,
    run: &str,
) -> anyhow::Result<()> {
    let cases = [
        ("out of stock", "OS-00", "1 Main St", Customer::Pays),
        ("payment declined", "KB-01", "1 Main St", Customer::Declines),
        ("not paid in time", "KB-01", "1 Main St", Customer::Waits),
        ("PO box", "KB-01", "PO Box 12, Springfield", Customer::Pays),
    ];
    let orders = Repository::<Order, _>::new(store.clone()).retry_on_conflict(3);
    let payments = Repository::<Payment, _>::new(store.clone()).retry_on_conflict(3);
    let mut placed = Vec::new();
    for (i, (_, sku, address, _)) in cases.iter().enumerate() {
        let id = format!("{run}-{}", i + 1);
        orders
            .execute(
                &id,
                CreateOrder {
                    customer_id: "cust-8".into(),
                },
            )
            .await?;
        let item = AddItem {
            sku: (*sku).into(),
            quantity: 1,
            unit_price: 4_999,
        };
        orders.execute(&id, item).await?;
        let place = PlaceOrder {
            shipping_address: (*address).into(),
        };
        orders.execute(&id, place).await?;
        placed.push(id);
    }
    for ((path, _, _, customer), id) in cases.iter().zip(&placed) {
        if *path != "out of stock" {
            let amount = requested_payment(store, id).await?;
            match customer {
                Customer::Pays => {
                    payments.execute(id, Pay { amount }).await?;
                }
                Customer::Declines => {
                    let decline = Decline {
                        reason: "card expired".into(),
                    };
                    payments.execute(id, decline).await?;
                }
                Customer::Waits => {}
            }
        }
    }
    for ((path, ..), id) in cases.iter().zip(&placed) {
        let order = settled(store, id).await?;
        let payment = payments.load(id).await?.map(|p| p.state.status);
        let payment = match payment {
            Some(PaymentStatus::Refunded) => ", payment refunded",
            Some(PaymentStatus::Voided) => ", payment request voided",
            _ => "",
        };
        let why = cancellation(store, id).await?;
        say!("  {path:<17} {id}: {:?}: {why}{payment}", order.status);
    }
    Ok(())
}
