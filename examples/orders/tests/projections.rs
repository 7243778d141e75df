//! `order_details` in memory with `DocumentFixture`, `order_items` with
//! `ProjectionFixture`.

use es_core::document::Filter;
use es_testing::{DocumentFixture, ProjectionFixture};
use orders::{
    OrderCancelled, OrderCreated, OrderDelivered, OrderDetails, OrderEvent, OrderItemAdded,
    OrderItemRemoved, OrderItems, OrderPlaced, OrderShipped,
};

fn created(customer_id: &str) -> OrderEvent {
    OrderCreated {
        customer_id: customer_id.into(),
    }
    .into()
}

fn added(sku: &str, quantity: u32, unit_price: i64) -> OrderEvent {
    OrderItemAdded {
        sku: sku.into(),
        quantity,
        unit_price,
    }
    .into()
}

fn placed(total: i64) -> OrderEvent {
    OrderPlaced {
        shipping_address: "1 Main St".into(),
        total,
    }
    .into()
}

/// The events of one full life: created, two lines, a line removed,
/// placed, shipped, delivered.
fn delivered_order() -> Vec<OrderEvent> {
    vec![
        created("cust-7"),
        added("KB-01", 1, 4999),
        added("MS-02", 2, 1999),
        added("CB-03", 3, 499),
        OrderItemRemoved {
            sku: "CB-03".into(),
        }
        .into(),
        placed(8997),
        OrderShipped {
            tracking_number: "1Z999".into(),
        }
        .into(),
        OrderDelivered {}.into(),
    ]
}

#[test]
fn order_details_follow_an_order_through_its_life() {
    DocumentFixture::<OrderDetails>::new()
        .given("Order-1001", delivered_order())
        .then_expect("1001", |row| {
            assert_eq!(row.customer_id, "cust-7");
            assert_eq!(row.status, "delivered");
            assert_eq!(row.total, Some(8997));
            assert_eq!(row.shipping_address.as_deref(), Some("1 Main St"));
            assert_eq!(row.tracking_number.as_deref(), Some("1Z999"));
            let placed = row.placed_at.expect("placed_at");
            let shipped = row.shipped_at.expect("shipped_at");
            let delivered = row.delivered_at.expect("delivered_at");
            assert!(row.created_at <= placed && placed <= shipped && shipped <= delivered);
            assert_eq!(row.cancelled_at, None);
        });
}

#[test]
fn order_details_of_a_draft_have_no_total_yet() {
    DocumentFixture::<OrderDetails>::new()
        .given("Order-7", [created("cust-1"), added("KB-01", 1, 4999)])
        .then_expect("7", |row| {
            row.status == "draft" && row.total.is_none() && row.placed_at.is_none()
        });
}

#[test]
fn order_details_record_a_cancellation() {
    DocumentFixture::<OrderDetails>::new()
        .given(
            "Order-9",
            [
                created("cust-2"),
                added("KB-01", 1, 4999),
                placed(4999),
                OrderCancelled {
                    reason: "too slow".into(),
                }
                .into(),
            ],
        )
        .then_expect("9", |row| {
            row.status == "cancelled"
                && row.cancel_reason.as_deref() == Some("too slow")
                && row.cancelled_at.is_some()
                && row.shipped_at.is_none()
        });
}

#[test]
fn order_details_keep_orders_apart() {
    DocumentFixture::<OrderDetails>::new()
        .given("Order-1", [created("ann"), added("A", 1, 100), placed(100)])
        .given("Order-2", [created("bob")])
        .then_expect_documents(|all| all.len() == 2)
        .then_expect("1", |ann| ann.status == "placed")
        .then_expect("2", |bob| bob.status == "draft" && bob.customer_id == "bob")
        .then_expect_filter(&Filter::new().eq("customer_id", "bob"), ["2"])
        .then_expect_filter(&Filter::new().eq("status", "placed"), ["1"]);
}

#[test]
fn order_items_hold_the_current_lines_with_quantities_and_prices() {
    ProjectionFixture::new(OrderItems::default())
        .given("Order-1001", delivered_order())
        .then_expect(|p| {
            let lines: Vec<_> = p
                .of("1001")
                .into_iter()
                .map(|l| (l.sku.as_str(), l.quantity, l.unit_price))
                .collect();
            assert_eq!(lines, [("KB-01", 1, 4999), ("MS-02", 2, 1999)]);
        });
}

#[test]
fn order_items_add_to_an_existing_line() {
    ProjectionFixture::new(OrderItems::default())
        .given(
            "Order-3",
            [
                created("cust-3"),
                added("MS-02", 2, 1999),
                added("MS-02", 3, 1999),
            ],
        )
        .then_expect(|p| {
            let lines = p.of("3");
            lines.len() == 1 && lines[0].quantity == 5 && lines[0].unit_price == 1999
        });
}

#[test]
fn order_items_keep_orders_apart() {
    ProjectionFixture::new(OrderItems::default())
        .given("Order-1", [created("ann"), added("A", 1, 100)])
        .given("Order-2", [created("bob"), added("A", 4, 100)])
        .given(
            "Order-1",
            [OrderEvent::from(OrderItemRemoved { sku: "A".into() })],
        )
        .then_expect(|p| {
            p.of("1").is_empty() && p.of("2").len() == 1 && p.of("2")[0].quantity == 4
        });
}
