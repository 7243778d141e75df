//! The orders example: the place-order flow (load, decide, save) on the
//! in-memory store, with a snapshot every 50 events.

use anyhow::Context;
use es_core::{InMemoryEventStore, Repository};
use orders::{AddItem, CreateOrder, DeliverOrder, Order, PlaceOrder, RemoveItem, ShipOrder};

#[allow(clippy::print_stdout)]
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let store = InMemoryEventStore::new();
    let orders = Repository::<Order, _>::new(store.clone())
        .snapshot_every(50)
        .retry_on_conflict(3);
    let id = "order-1001";

    orders
        .execute(
            id,
            CreateOrder {
                customer_id: "cust-7".into(),
            },
        )
        .await?;
    println!("created {id} for cust-7");
    for (sku, quantity, unit_price) in [("KB-01", 1, 4_999), ("MS-02", 2, 1_999), ("CB-03", 3, 499)]
    {
        orders
            .execute(
                id,
                AddItem {
                    sku: sku.into(),
                    quantity,
                    unit_price,
                },
            )
            .await?;
        println!("added {quantity} × {sku} at {}", money(unit_price));
    }
    orders
        .execute(
            id,
            RemoveItem {
                sku: "CB-03".into(),
            },
        )
        .await?;
    println!("removed CB-03");
    let placed = orders
        .execute(
            id,
            PlaceOrder {
                shipping_address: "1 Main St, Springfield".into(),
            },
        )
        .await?;
    println!("placed: total {}", money(placed.state.total()));
    match orders
        .execute(
            id,
            AddItem {
                sku: "XX-99".into(),
                quantity: 1,
                unit_price: 100,
            },
        )
        .await
    {
        Err(e) => println!(
            "adding after placing refused: {}",
            e.rejection()
                .map_or_else(|| e.to_string(), ToString::to_string)
        ),
        Ok(_) => anyhow::bail!("a placed order took a new item"),
    }
    orders
        .execute(
            id,
            ShipOrder {
                tracking_number: "1Z999AA10123456784".into(),
            },
        )
        .await?;
    println!("shipped with tracking number 1Z999AA10123456784");
    orders.execute(id, DeliverOrder).await?;
    let order = orders.load(id).await?.context("the order exists")?;
    println!(
        "delivered: status {:?}, {} lines, version {}, {} events in the store",
        order.state.status,
        order.state.lines.len(),
        order.version,
        store.len()
    );
    Ok(())
}

fn money(cents: i64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}
