//! The fulfillment process: every path, decided (with `ProcessFixture`),
//! then run end to end on the in-memory store.

use std::time::Duration;

use es_core::process::{ProcessRunner, Sent};
use es_core::{InMemoryEventStore, Repository};
use es_testing::ProcessFixture;
use orders::fulfillment::inventory::{
    AddStock, Inventory, ReleaseStock, ReserveStock, StockReserved,
};
use orders::fulfillment::payment::{
    Decline, Pay, Payment, PaymentCaptured, PaymentDeclined, PaymentStatus, PaymentVoided,
    RefundPayment, RequestPayment, VoidPayment,
};
use orders::fulfillment::shipment::{DispatchShipment, ShipmentDispatched};
use orders::fulfillment::{Fulfillment, FulfillmentDeadline, PAYMENT_WINDOW, Step};
use orders::{
    AddItem, CancelOrder, CreateOrder, Order, OrderItemAdded, OrderPlaced, OrderShipped,
    OrderStatus, PlaceOrder, ShipOrder,
};

fn added(sku: &str, quantity: u32) -> OrderItemAdded {
    OrderItemAdded {
        sku: sku.into(),
        quantity,
        unit_price: 500,
    }
}

fn placed() -> OrderPlaced {
    OrderPlaced {
        shipping_address: "1 Main St".into(),
        total: 2_500,
    }
}

fn reserved(quantity: u32) -> StockReserved {
    StockReserved {
        order_id: "o-1".into(),
        quantity,
    }
}

fn reserve(quantity: u32) -> ReserveStock {
    ReserveStock {
        order_id: "o-1".into(),
        quantity,
    }
}

fn release() -> ReleaseStock {
    ReleaseStock {
        order_id: "o-1".into(),
    }
}

/// Two lines, both reserved: waiting for the payment.
fn awaiting_payment() -> ProcessFixture<Fulfillment> {
    ProcessFixture::new()
        .given("Order-o-1", [added("KB", 1), added("MS", 4)])
        .given("Order-o-1", [placed()])
        .given("Inventory-KB", [reserved(1)])
        .given("Inventory-MS", [reserved(4)])
}

fn cancel(reason: &str) -> CancelOrder {
    CancelOrder {
        reason: reason.into(),
    }
}

#[test]
fn a_placed_order_reserves_each_line() {
    ProcessFixture::<Fulfillment>::new()
        .given(
            "Order-o-1",
            [added("KB", 1), added("MS", 2), added("MS", 2)],
        )
        .when("Order-o-1", placed())
        .then_expect_commands([Sent::new("KB", reserve(1)), Sent::new("MS", reserve(4))])
        .then_expect_state(|s| s.step == Step::Reserving && s.order_id == "o-1");
}

#[test]
fn all_lines_reserved_requests_payment_with_a_deadline() {
    ProcessFixture::<Fulfillment>::new()
        .given("Order-o-1", [added("KB", 1), added("MS", 4)])
        .given("Order-o-1", [placed()])
        .given("Inventory-KB", [reserved(1)])
        .when("Inventory-MS", reserved(4))
        .then_expect_commands([Sent::new(
            "o-1",
            RequestPayment {
                order_id: "o-1".into(),
                amount: 2_500,
            },
        )])
        .then_expect_scheduled([(FulfillmentDeadline::PaymentDue, PAYMENT_WINDOW)]);
}

#[test]
fn a_refused_line_releases_the_reserved_ones_and_cancels() {
    ProcessFixture::<Fulfillment>::new()
        .given("Order-o-1", [added("KB", 1), added("MS", 4)])
        .given("Order-o-1", [placed()])
        .given("Inventory-KB", [reserved(1)])
        .when_rejected("MS", reserve(4), "out of stock: 1 available, 4 requested")
        .then_expect_commands([
            Sent::new("KB", release()),
            Sent::new("o-1", cancel("MS: out of stock: 1 available, 4 requested")),
        ])
        .then_expect_completed();
}

#[test]
fn payment_dispatches_the_parcel() {
    awaiting_payment()
        .when(
            "Payment-o-1",
            PaymentCaptured {
                order_id: "o-1".into(),
                amount: 2_500,
            },
        )
        .then_expect_cancelled([FulfillmentDeadline::PaymentDue])
        .then_expect_commands([Sent::new(
            "o-1",
            DispatchShipment {
                order_id: "o-1".into(),
                address: "1 Main St".into(),
            },
        )]);
}

#[test]
fn a_declined_payment_releases_and_cancels() {
    awaiting_payment()
        .when(
            "Payment-o-1",
            PaymentDeclined {
                order_id: "o-1".into(),
                reason: "card expired".into(),
            },
        )
        .then_expect_commands([
            Sent::new("KB", release()),
            Sent::new("MS", release()),
            Sent::new("o-1", cancel("payment declined: card expired")),
        ])
        .then_expect_completed();
}

#[test]
fn a_missed_payment_voids_the_request_then_releases_and_cancels() {
    awaiting_payment()
        .when_deadline(FulfillmentDeadline::PaymentDue)
        .then_expect_commands([Sent::new("o-1", VoidPayment)])
        .then_expect_not_completed();
    awaiting_payment()
        .given_deadline(FulfillmentDeadline::PaymentDue)
        .when(
            "Payment-o-1",
            PaymentVoided {
                order_id: "o-1".into(),
            },
        )
        .then_expect_commands([
            Sent::new("KB", release()),
            Sent::new("MS", release()),
            Sent::new("o-1", cancel("payment not received in time")),
        ])
        .then_expect_completed();
}

#[test]
fn a_payment_just_before_the_void_ships_after_all() {
    awaiting_payment()
        .given_deadline(FulfillmentDeadline::PaymentDue)
        .when(
            "Payment-o-1",
            PaymentCaptured {
                order_id: "o-1".into(),
                amount: 2_500,
            },
        )
        .then_expect_commands([Sent::new(
            "o-1",
            DispatchShipment {
                order_id: "o-1".into(),
                address: "1 Main St".into(),
            },
        )])
        .then_expect_state(|s| s.step == Step::Dispatching);
}

#[test]
fn a_refused_dispatch_refunds_releases_and_cancels() {
    awaiting_payment()
        .given(
            "Payment-o-1",
            [PaymentCaptured {
                order_id: "o-1".into(),
                amount: 2_500,
            }],
        )
        .when_rejected(
            "o-1",
            DispatchShipment {
                order_id: "o-1".into(),
                address: "PO Box 7".into(),
            },
            "the carrier does not deliver to \"PO Box 7\"",
        )
        .then_expect_commands([
            Sent::new("o-1", RefundPayment),
            Sent::new("KB", release()),
            Sent::new("MS", release()),
            Sent::new(
                "o-1",
                cancel("shipping failed: the carrier does not deliver to \"PO Box 7\""),
            ),
        ])
        .then_expect_completed();
}

#[test]
fn a_dispatched_parcel_ships_the_order_and_completes_once_shipped() {
    let dispatched = ShipmentDispatched {
        order_id: "o-1".into(),
        tracking_number: "TRK-o-1".into(),
    };
    let paid = PaymentCaptured {
        order_id: "o-1".into(),
        amount: 2_500,
    };
    awaiting_payment()
        .given("Payment-o-1", [paid.clone()])
        .when("Shipment-o-1", dispatched.clone())
        .then_expect_commands([Sent::new(
            "o-1",
            ShipOrder {
                tracking_number: "TRK-o-1".into(),
            },
        )])
        .then_expect_not_completed();
    awaiting_payment()
        .given("Payment-o-1", [paid])
        .given("Shipment-o-1", [dispatched])
        .when(
            "Order-o-1",
            OrderShipped {
                tracking_number: "TRK-o-1".into(),
            },
        )
        .then_expect_no_commands()
        .then_expect_completed();
}

// End to end on the in-memory store: the runner does the I/O.

async fn order(store: &InMemoryEventStore, id: &str, lines: &[(&str, u32)], address: &str) {
    let orders = Repository::<Order, _>::new(store.clone());
    orders
        .execute(
            id,
            CreateOrder {
                customer_id: "c".into(),
            },
        )
        .await
        .unwrap();
    for (sku, quantity) in lines {
        orders
            .execute(
                id,
                AddItem {
                    sku: (*sku).into(),
                    quantity: *quantity,
                    unit_price: 1_000,
                },
            )
            .await
            .unwrap();
    }
    orders
        .execute(
            id,
            PlaceOrder {
                shipping_address: address.into(),
            },
        )
        .await
        .unwrap();
}

async fn status(store: &InMemoryEventStore, id: &str) -> OrderStatus {
    Repository::<Order, _>::new(store.clone())
        .load(id)
        .await
        .unwrap()
        .unwrap()
        .state
        .status
}

async fn payment(store: &InMemoryEventStore, id: &str) -> PaymentStatus {
    Repository::<Payment, _>::new(store.clone())
        .load(id)
        .await
        .unwrap()
        .map_or(PaymentStatus::None, |l| l.state.status)
}

async fn available(store: &InMemoryEventStore, sku: &str) -> u32 {
    Repository::<Inventory, _>::new(store.clone())
        .load(sku)
        .await
        .unwrap()
        .map_or(0, |l| l.state.available)
}

#[tokio::test]
async fn every_path_end_to_end() {
    let store = InMemoryEventStore::new();
    let inventory = Repository::<Inventory, _>::new(store.clone());
    inventory
        .execute("KB", AddStock { quantity: 10 })
        .await
        .unwrap();
    inventory
        .execute("MS", AddStock { quantity: 1 })
        .await
        .unwrap();

    order(&store, "paid", &[("KB", 2)], "1 Main St").await;
    order(&store, "no-stock", &[("KB", 1), ("MS", 5)], "1 Main St").await;
    order(&store, "declined", &[("KB", 1)], "1 Main St").await;
    order(&store, "late", &[("KB", 1)], "1 Main St").await;
    order(&store, "po-box", &[("KB", 1)], "PO Box 7").await;

    let mut fulfillment = ProcessRunner::<Fulfillment, _>::new(store.clone());
    fulfillment.catch_up().await.unwrap();
    let payments = Repository::<Payment, _>::new(store.clone());
    // Two KB at $10 and one KB at $10.
    payments
        .execute("paid", Pay { amount: 2_000 })
        .await
        .unwrap();
    payments
        .execute("po-box", Pay { amount: 1_000 })
        .await
        .unwrap();
    payments
        .execute(
            "declined",
            Decline {
                reason: "card expired".into(),
            },
        )
        .await
        .unwrap();
    fulfillment.catch_up().await.unwrap();

    assert_eq!(status(&store, "paid").await, OrderStatus::Shipped);
    assert_eq!(status(&store, "no-stock").await, OrderStatus::Cancelled);
    assert_eq!(status(&store, "declined").await, OrderStatus::Cancelled);
    assert_eq!(status(&store, "po-box").await, OrderStatus::Cancelled);
    assert_eq!(payment(&store, "po-box").await, PaymentStatus::Refunded);
    assert_eq!(
        status(&store, "late").await,
        OrderStatus::Placed,
        "not yet due"
    );

    tokio::time::sleep(PAYMENT_WINDOW + Duration::from_millis(100)).await;
    let settled = fulfillment.catch_up().await.unwrap();
    assert_eq!(settled.deadlines, 1);
    assert_eq!(status(&store, "late").await, OrderStatus::Cancelled);
    assert_eq!(payment(&store, "late").await, PaymentStatus::Voided);

    // Only the shipped order keeps its stock: 10 - 2 on KB; MS untouched.
    assert_eq!(available(&store, "KB").await, 8);
    assert_eq!(available(&store, "MS").await, 1);
    let status = fulfillment.status().await.unwrap();
    assert_eq!((status.counts.active, status.counts.finished), (0, 5));
}
