//! A long order (more than 50 events) loads the same with and without its
//! snapshot.

use es_core::{Aggregate, InMemoryEventStore, Repository, SnapshotStore};
use orders::{AddItem, CreateOrder, Order, PlaceOrder, RemoveItem};

#[tokio::test]
async fn a_long_order_loads_the_same_with_and_without_the_snapshot() {
    let store = InMemoryEventStore::new();
    let with = Repository::<Order, _>::new(store.clone()).snapshot_every(50);
    with.execute(
        "long",
        CreateOrder {
            customer_id: "cust-1".into(),
        },
    )
    .await
    .unwrap();
    for i in 0..70u32 {
        let sku = format!("SKU-{}", i % 7);
        with.execute(
            "long",
            AddItem {
                sku,
                quantity: 1 + i % 3,
                unit_price: 100 + i64::from(i % 7),
            },
        )
        .await
        .unwrap();
    }
    with.execute(
        "long",
        RemoveItem {
            sku: "SKU-3".into(),
        },
    )
    .await
    .unwrap();
    with.execute(
        "long",
        PlaceOrder {
            shipping_address: "1 Main St".into(),
        },
    )
    .await
    .unwrap();

    let snapshot = store
        .load_snapshot(&format!("{}-long", Order::NAME))
        .await
        .unwrap()
        .expect("a snapshot was taken");
    assert!(snapshot.version >= 50, "snapshot at {}", snapshot.version);

    let without = Repository::<Order, _>::new(store.clone());
    let a = with.load("long").await.unwrap().unwrap();
    let b = without.load("long").await.unwrap().unwrap();
    assert_eq!(a.version, 73);
    assert_eq!((a.version, &a.state), (b.version, &b.state));
    assert_eq!(a.state.lines.len(), 6);
}
