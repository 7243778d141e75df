//! End to end on PostgreSQL: the place-order flow through the repository on
//! `PgEventStore` (snapshots every 50); the `order_details` documents kept
//! by the engine, read with `Documents`; `order_items` built by the same
//! handlers as in memory, checked with SQL.

#[path = "../../common/backend.rs"]
#[allow(dead_code, unreachable_pub)]
mod backend;

use es_core::consumer::Engine;
use es_core::document::{DocumentProjection, Documents};
use es_core::{Aggregate, Repository, SnapshotStore};
use es_postgres::ProjectionRunner;
use es_testing::postgres::TestDatabase;
use orders::{
    AddItem, CancelOrder, CreateOrder, DeliverOrder, Order, OrderDetails, OrderItems, PlaceOrder,
    RemoveItem, ShipOrder,
};

/// order_id, customer_id, status, total, address, tracking, placed?, shipped?, delivered?
type DetailsRow = (
    String,
    String,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    bool,
    bool,
    bool,
);

#[tokio::test]
async fn the_place_order_flow_and_its_read_models_on_postgres() {
    let db = TestDatabase::create().await;
    let store = backend::open_postgres(db.url()).await.unwrap();
    // The document engine of order_details; the runner of order_items,
    // whose setup hook creates its table.
    let mut details_runner = Engine::new(
        store.clone(),
        DocumentProjection::<OrderDetails, _>::new(store.clone()),
    );
    let mut items_runner =
        ProjectionRunner::new(store.clone(), OrderItems::default()).batch_size(7);
    let orders = Repository::<Order, _>::new(store.clone()).snapshot_every(50);
    let add = |sku: &str, quantity, unit_price| AddItem {
        sku: sku.into(),
        quantity,
        unit_price,
    };

    orders
        .execute(
            "o1",
            CreateOrder {
                customer_id: "cust-7".into(),
            },
        )
        .await
        .unwrap();
    orders.execute("o1", add("KB-01", 1, 4999)).await.unwrap();
    orders.execute("o1", add("MS-02", 2, 1999)).await.unwrap();
    orders.execute("o1", add("CB-03", 3, 499)).await.unwrap();
    orders
        .execute(
            "o1",
            RemoveItem {
                sku: "CB-03".into(),
            },
        )
        .await
        .unwrap();
    orders
        .execute(
            "o1",
            PlaceOrder {
                shipping_address: "1 Main St".into(),
            },
        )
        .await
        .unwrap();
    assert!(
        orders
            .execute("o1", add("XX", 1, 1))
            .await
            .unwrap_err()
            .rejection()
            .is_some()
    );
    orders
        .execute(
            "o1",
            ShipOrder {
                tracking_number: "1Z999".into(),
            },
        )
        .await
        .unwrap();
    orders.execute("o1", DeliverOrder).await.unwrap();

    // A second order, long enough for a snapshot, then cancelled.
    orders
        .execute(
            "o2",
            CreateOrder {
                customer_id: "cust-8".into(),
            },
        )
        .await
        .unwrap();
    for _ in 0..55 {
        orders.execute("o2", add("PEN", 1, 150)).await.unwrap();
    }
    orders
        .execute(
            "o2",
            CancelOrder {
                reason: "too many pens".into(),
            },
        )
        .await
        .unwrap();
    let snapshot = store
        .load_snapshot(&format!("{}-o2", Order::NAME))
        .await
        .unwrap()
        .expect("a snapshot of o2");
    assert!(snapshot.version >= 50);
    let with = orders.load("o2").await.unwrap().unwrap();
    let without = Repository::<Order, _>::new(store.clone())
        .load("o2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (with.version, &with.state),
        (without.version, &without.state)
    );

    details_runner.catch_up().await.unwrap();
    items_runner.catch_up().await.unwrap();
    assert_eq!(details_runner.status().await.unwrap().lag, 0);
    assert_eq!(items_runner.status().await.unwrap().lag, 0);

    let details: Vec<DetailsRow> = Documents::<OrderDetails, _>::new(store.clone())
        .page(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, d)| {
            (
                id,
                d.customer_id,
                d.status,
                d.total,
                d.shipping_address,
                d.tracking_number,
                d.placed_at.is_some(),
                d.shipped_at.is_some(),
                d.delivered_at.is_some(),
            )
        })
        .collect();
    assert_eq!(
        details,
        [
            (
                "o1".into(),
                "cust-7".into(),
                "delivered".into(),
                Some(8997),
                Some("1 Main St".into()),
                Some("1Z999".into()),
                true,
                true,
                true
            ),
            (
                "o2".into(),
                "cust-8".into(),
                "cancelled".into(),
                None,
                None,
                None,
                false,
                false,
                false
            ),
        ]
    );
    let items: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT order_id, sku, quantity, unit_price FROM order_items ORDER BY order_id, line_no",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert_eq!(
        items,
        [
            ("o1".into(), "KB-01".into(), 1, 4999),
            ("o1".into(), "MS-02".into(), 2, 1999),
            ("o2".into(), "PEN".into(), 55, 150),
        ]
    );
    details_runner.release().await;
    items_runner.release().await;
    store.pool().close().await;
    db.drop_db().await;
}
