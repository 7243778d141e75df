//! The orders example: the place-order flow (load, decide, save, project)
//! on a persistent store, with a snapshot every 50 events; the fulfillment
//! process (stock, payment, shipping) running in the background; then the
//! `order_details` and `order_items` read models of the order, and one
//! order down each of fulfillment's other paths.
//!
//! The store is the SQLite file `orders.db` in the working directory (or the
//! path in `ORDERS_DB`), or PostgreSQL when `DATABASE_URL` is set. Each run
//! places a new order.
// A demo prints.
#![allow(clippy::print_stdout)]

#[path = "../../common/backend.rs"]
#[allow(dead_code, unreachable_pub)]
mod backend;
#[path = "../../common/say.rs"]
mod say;

mod fulfillment_demo;

use std::path::PathBuf;

use anyhow::Context;
use backend::{CatchUp, ExampleStore, RunsProjection};
use es_core::consumer::Engine;
use es_core::document::{DocumentBackend, DocumentProjection, Documents};
use es_core::process::ProcessBackend;
use es_core::{Handle, Repository};
use orders::fulfillment::payment::{Pay, Payment};
use orders::read_model::{ItemsContext, OrderItemsStore};
use orders::{
    AddItem, CreateOrder, DeliverOrder, Order, OrderDetails, OrderError, OrderItems, PlaceOrder,
    RemoveItem,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if let Some(url) = backend::database_url() {
        let store = backend::open_postgres(&url).await?;
        flow(store, "PostgreSQL (DATABASE_URL)".to_owned()).await
    } else {
        let path = std::env::var_os("ORDERS_DB").map_or_else(|| "orders.db".into(), PathBuf::from);
        let store = backend::open_sqlite(&path).await?;
        let result = flow(store.clone(), format!("SQLite file {}", path.display())).await;
        store.close().await;
        result
    }
}

async fn flow<S>(store: S, name: String) -> anyhow::Result<()>
where
    S: RunsProjection<OrderItems> + DocumentBackend + ProcessBackend,
    S::Conn: OrderItemsStore + ItemsContext,
{
    say!("Store: {name}");
    // The framework's engine of the order_details documents, and the
    // store's runner of order_items (its setup hook creates the table
    // before the first batch).
    let details_runner = tokio::sync::Mutex::new(Engine::new(
        store.clone(),
        DocumentProjection::<OrderDetails, _>::new(store.clone()),
    ));
    let items_runner = tokio::sync::Mutex::new(store.runner(OrderItems::default()));

    let orders = Repository::<Order, _>::new(store.clone())
        .snapshot_every(50)
        .retry_on_conflict(3);
    // Stock for this run, and the fulfillment process in the background.
    fulfillment_demo::restock(&store, &["KB-01", "MS-02", "CB-03"], 10).await?;
    let fulfillment = fulfillment_demo::Background::start(&store);
    let suffix = uuid::Uuid::now_v7().simple().to_string();
    let id = format!("order-{}", &suffix[suffix.len() - 6..]);
    let id = id.as_str();

    // Each step: load the order, decide, save the new events; then project.
    let step = async |command: Command| -> anyhow::Result<Result<Order, OrderError>> {
        let result = match command {
            Command::Create(c) => exec(&orders, id, c).await?,
            Command::Add(c) => exec(&orders, id, c).await?,
            Command::Remove(c) => exec(&orders, id, c).await?,
            Command::Place(c) => exec(&orders, id, c).await?,
            Command::Deliver(c) => exec(&orders, id, c).await?,
        };
        // Bring both read models up to date.
        details_runner.lock().await.catch_up().await?;
        items_runner.lock().await.catch_up().await?;
        Ok(result)
    };

    step(Command::Create(CreateOrder {
        customer_id: "cust-7".into(),
    }))
    .await??;
    say!("created {id} for cust-7");
    for (sku, quantity, unit_price) in [("KB-01", 1, 4_999), ("MS-02", 2, 1_999), ("CB-03", 3, 499)]
    {
        step(Command::Add(AddItem {
            sku: sku.into(),
            quantity,
            unit_price,
        }))
        .await??;
        say!("added {quantity} × {sku} at {}", money(unit_price));
    }
    step(Command::Remove(RemoveItem {
        sku: "CB-03".into(),
    }))
    .await??;
    say!("removed CB-03");
    let placed = step(Command::Place(PlaceOrder {
        shipping_address: "1 Main St, Springfield".into(),
    }))
    .await??;
    say!("placed: total {}", money(placed.total()));
    // From here the fulfillment process takes the order on: stock, payment,
    // shipping (it runs in the background, as a service would run it).
    match step(Command::Add(AddItem {
        sku: "XX-99".into(),
        quantity: 1,
        unit_price: 100,
    }))
    .await?
    {
        Err(e) => say!("adding after placing refused: {e}"),
        Ok(_) => anyhow::bail!("a placed order took a new item"),
    }
    let amount = fulfillment_demo::requested_payment(&store, id).await?;
    say!(
        "fulfillment reserved the stock and asks for {}",
        money(amount)
    );
    Repository::<Payment, _>::new(store.clone())
        .execute(id, Pay { amount })
        .await?;
    say!("the customer paid");
    let shipped = fulfillment_demo::settled(&store, id).await?;
    anyhow::ensure!(
        shipped.status == orders::OrderStatus::Shipped,
        "fulfillment did not ship the order: {shipped:?}"
    );
    say!(
        "fulfillment dispatched it and shipped the order: tracking number {}",
        shipped.tracking_number.as_deref().unwrap_or("-")
    );
    step(Command::Deliver(DeliverOrder)).await??;
    let order = orders.load(id).await?.context("the order exists")?;
    say!(
        "delivered: status {:?}, {} lines, version {}",
        order.state.status,
        order.state.lines.len(),
        order.version
    );

    let details = Documents::<OrderDetails, _>::new(store.clone())
        .get(id)
        .await
        .context("reading order_details")?
        .context("the order has an order_details document")?;
    let mut conn = store.connection().await?;
    let items = OrderItemsStore::items(&mut *conn, id)
        .await
        .map_err(|e| anyhow::anyhow!("reading order_items: {e}"))?;
    drop(conn);
    let time = |t: Option<es_core::Timestamp>| {
        t.map_or_else(
            || "-".to_owned(),
            |t| t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string(),
        )
    };
    say!();
    say!("order_details ({} read model):", store.describe());
    say!("  order      {id}");
    say!("  customer   {}", details.customer_id);
    say!("  status     {}", details.status);
    say!(
        "  total      {}",
        details.total.map_or_else(|| "-".to_owned(), money)
    );
    say!(
        "  address    {}",
        details.shipping_address.as_deref().unwrap_or("-")
    );
    say!(
        "  tracking   {}",
        details.tracking_number.as_deref().unwrap_or("-")
    );
    say!("  created    {}", time(Some(details.created_at)));
    say!("  placed     {}", time(details.placed_at));
    say!("  shipped    {}", time(details.shipped_at));
    say!("  delivered  {}", time(details.delivered_at));
    say!("order_items:");
    for line in &items {
        say!(
            "  {:<6} {:>2} × {:>7} = {:>8}",
            line.sku,
            line.quantity,
            money(line.unit_price),
            money(line.quantity * line.unit_price)
        );
    }
    say!();
    say!("fulfillment's other paths, one order each:");
    fulfillment_demo::other_paths(&store, id).await?;
    fulfillment.stop().await?;
    // The read models follow those orders too.
    details_runner.lock().await.catch_up().await?;
    items_runner.lock().await.catch_up().await?;
    Ok(())
}

/// The commands of the flow.
enum Command {
    Create(CreateOrder),
    Add(AddItem),
    Remove(RemoveItem),
    Place(PlaceOrder),
    Deliver(DeliverOrder),
}

/// Load, decide, save: the domain's refusal is a value, anything else an error.
async fn exec<S, C>(
    orders: &Repository<Order, S>,
    id: &str,
    command: C,
) -> anyhow::Result<Result<Order, OrderError>>
where
    S: ExampleStore,
    Order: Handle<C, Error = OrderError>,
    C: Clone + Send,
{
    match orders.execute(id, command).await {
        Ok(done) => Ok(Ok(done.state)),
        Err(e) => match e.rejection() {
            Some(why) => Ok(Err(why.clone())),
            None => Err(e.into()),
        },
    }
}

fn money(cents: i64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}
