//! The order's decisions, as given/when/then tests: one or more per rule.

use es_testing::AggregateFixture;
use orders::{
    AddItem, CancelOrder, CreateOrder, DeliverOrder, Order, OrderCancelled, OrderCreated,
    OrderDelivered, OrderError, OrderEvent, OrderItemAdded, OrderItemRemoved, OrderPlaced,
    OrderShipped, OrderStatus, PlaceOrder, RemoveItem, ShipOrder,
};

fn order() -> AggregateFixture<Order> {
    AggregateFixture::new()
}

fn created() -> OrderEvent {
    OrderCreated {
        customer_id: "cust-7".into(),
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

fn removed(sku: &str) -> OrderEvent {
    OrderItemRemoved { sku: sku.into() }.into()
}

fn placed(total: i64) -> OrderEvent {
    OrderPlaced {
        shipping_address: "1 Main St".into(),
        total,
    }
    .into()
}

fn shipped() -> OrderEvent {
    OrderShipped {
        tracking_number: "1Z999".into(),
    }
    .into()
}

fn delivered() -> OrderEvent {
    OrderDelivered {}.into()
}

fn cancelled() -> OrderEvent {
    OrderCancelled {
        reason: "changed my mind".into(),
    }
    .into()
}

fn add(sku: &str, quantity: u32, unit_price: i64) -> AddItem {
    AddItem {
        sku: sku.into(),
        quantity,
        unit_price,
    }
}

fn place(address: &str) -> PlaceOrder {
    PlaceOrder {
        shipping_address: address.into(),
    }
}

fn ship(tracking_number: &str) -> ShipOrder {
    ShipOrder {
        tracking_number: tracking_number.into(),
    }
}

fn cancel() -> CancelOrder {
    CancelOrder {
        reason: "changed my mind".into(),
    }
}

fn wrong(action: &'static str, status: OrderStatus) -> OrderError {
    OrderError::WrongStatus { action, status }
}

/// An order with two lines: 1 × KB-01 at 49.99, 2 × MS-02 at 19.99.
fn draft() -> AggregateFixture<Order> {
    order().given([created(), added("KB-01", 1, 4999), added("MS-02", 2, 1999)])
}

fn placed_order() -> AggregateFixture<Order> {
    draft().and([placed(8997)])
}

fn shipped_order() -> AggregateFixture<Order> {
    placed_order().and([shipped()])
}

// ----------------------------------------------------------------- create

#[test]
fn create_an_order() {
    order()
        .given_no_events()
        .when(CreateOrder {
            customer_id: "cust-7".into(),
        })
        .then_expect_events([created()])
        .then_expect_state(|o| o.status == OrderStatus::Draft && o.customer_id == "cust-7");
}

#[test]
fn create_twice_is_refused() {
    order()
        .given([created()])
        .when(CreateOrder {
            customer_id: "cust-8".into(),
        })
        .then_expect_error(OrderError::AlreadyCreated);
}

#[test]
fn create_a_cancelled_order_again_is_refused() {
    order()
        .given([created(), cancelled()])
        .when(CreateOrder {
            customer_id: "cust-7".into(),
        })
        .then_expect_error(OrderError::AlreadyCreated);
}

#[test]
fn create_for_a_blank_customer_is_refused() {
    order()
        .when(CreateOrder {
            customer_id: "  ".into(),
        })
        .then_expect_error(OrderError::Blank("the customer id"));
}

// --------------------------------------------------------------- add item

#[test]
fn add_an_item() {
    order()
        .given([created()])
        .when(add("KB-01", 1, 4999))
        .then_expect_events([added("KB-01", 1, 4999)])
        .then_expect_state(|o| o.lines.len() == 1 && o.total() == 4999);
}

#[test]
fn add_more_of_the_same_item_grows_its_line() {
    draft()
        .when(add("MS-02", 3, 1999))
        .then_expect_events([added("MS-02", 3, 1999)])
        .then_expect_state(|o| {
            assert_eq!(o.lines.len(), 2);
            assert_eq!(o.lines[1].quantity, 5);
        });
}

#[test]
fn add_to_an_order_never_created_is_refused() {
    order()
        .when(add("KB-01", 1, 4999))
        .then_expect_error(wrong("add items to", OrderStatus::New));
}

#[test]
fn add_to_a_placed_order_is_refused() {
    placed_order()
        .when(add("XX-99", 1, 100))
        .then_expect_error(wrong("add items to", OrderStatus::Placed));
}

#[test]
fn add_a_zero_quantity_is_refused() {
    draft()
        .when(add("CB-03", 0, 499))
        .then_expect_error(OrderError::ZeroQuantity);
}

#[test]
fn add_at_a_negative_price_is_refused() {
    draft()
        .when(add("CB-03", 1, -1))
        .then_expect_error(OrderError::NegativePrice(-1));
}

#[test]
fn add_a_free_item_is_fine() {
    draft()
        .when(add("GIFT", 1, 0))
        .then_expect_events([added("GIFT", 1, 0)]);
}

#[test]
fn add_a_known_item_at_another_price_is_refused() {
    draft()
        .when(add("KB-01", 1, 3999))
        .then_expect_error(OrderError::PriceMismatch {
            sku: "KB-01".into(),
            existing: 4999,
            requested: 3999,
        });
}

// ------------------------------------------------------------ remove item

#[test]
fn remove_an_item() {
    draft()
        .when(RemoveItem {
            sku: "KB-01".into(),
        })
        .then_expect_events([removed("KB-01")])
        .then_expect_state(|o| o.lines.len() == 1 && o.total() == 3998);
}

#[test]
fn remove_an_unknown_item_is_refused() {
    draft()
        .when(RemoveItem {
            sku: "ZZ-00".into(),
        })
        .then_expect_error(OrderError::UnknownItem("ZZ-00".into()));
}

#[test]
fn remove_an_item_already_removed_is_refused() {
    draft()
        .and([removed("KB-01")])
        .when(RemoveItem {
            sku: "KB-01".into(),
        })
        .then_expect_error(OrderError::UnknownItem("KB-01".into()));
}

#[test]
fn remove_from_a_placed_order_is_refused() {
    placed_order()
        .when(RemoveItem {
            sku: "KB-01".into(),
        })
        .then_expect_error(wrong("remove items from", OrderStatus::Placed));
}

// ------------------------------------------------------------------ place

#[test]
fn place_an_order_with_its_total() {
    draft()
        .when(place("1 Main St"))
        .then_expect_events([placed(8997)])
        .then_expect_state(|o| {
            o.status == OrderStatus::Placed && o.shipping_address.as_deref() == Some("1 Main St")
        });
}

#[test]
fn the_total_leaves_out_removed_lines() {
    draft()
        .and([removed("MS-02")])
        .when(place("1 Main St"))
        .then_expect_events([placed(4999)]);
}

#[test]
fn place_an_empty_order_is_refused() {
    order()
        .given([created()])
        .when(place("1 Main St"))
        .then_expect_error(OrderError::Empty);
}

#[test]
fn place_an_order_whose_lines_were_all_removed_is_refused() {
    order()
        .given([created(), added("KB-01", 1, 4999), removed("KB-01")])
        .when(place("1 Main St"))
        .then_expect_error(OrderError::Empty);
}

#[test]
fn place_with_a_blank_address_is_refused() {
    draft()
        .when(place(" \t"))
        .then_expect_error(OrderError::Blank("the shipping address"))
        .then_expect_state(|o| o.status == OrderStatus::Draft);
}

#[test]
fn place_twice_is_refused() {
    placed_order()
        .when(place("1 Main St"))
        .then_expect_error(wrong("place", OrderStatus::Placed));
}

#[test]
fn place_an_order_never_created_is_refused() {
    order()
        .when(place("1 Main St"))
        .then_expect_error(wrong("place", OrderStatus::New));
}

// ------------------------------------------------------------------- ship

#[test]
fn ship_a_placed_order() {
    placed_order()
        .when(ship("1Z999"))
        .then_expect_events([shipped()])
        .then_expect_state(|o| {
            o.status == OrderStatus::Shipped && o.tracking_number.as_deref() == Some("1Z999")
        });
}

#[test]
fn ship_before_place_is_refused() {
    draft()
        .when(ship("1Z999"))
        .then_expect_error(wrong("ship", OrderStatus::Draft));
}

#[test]
fn ship_without_a_tracking_number_is_refused() {
    placed_order()
        .when(ship(""))
        .then_expect_error(OrderError::Blank("the tracking number"));
}

#[test]
fn ship_twice_is_refused() {
    shipped_order()
        .when(ship("1Z999"))
        .then_expect_error(wrong("ship", OrderStatus::Shipped));
}

#[test]
fn ship_a_cancelled_order_is_refused() {
    placed_order()
        .and([cancelled()])
        .when(ship("1Z999"))
        .then_expect_error(wrong("ship", OrderStatus::Cancelled));
}

// ---------------------------------------------------------------- deliver

#[test]
fn deliver_a_shipped_order() {
    shipped_order()
        .when(DeliverOrder)
        .then_expect_events([delivered()])
        .then_expect_state(|o| o.status == OrderStatus::Delivered);
}

#[test]
fn deliver_before_ship_is_refused() {
    placed_order()
        .when(DeliverOrder)
        .then_expect_error(wrong("deliver", OrderStatus::Placed));
}

#[test]
fn deliver_twice_is_refused() {
    shipped_order()
        .and([delivered()])
        .when(DeliverOrder)
        .then_expect_error(wrong("deliver", OrderStatus::Delivered));
}

// ----------------------------------------------------------------- cancel

#[test]
fn cancel_a_draft() {
    draft()
        .when(cancel())
        .then_expect_events([cancelled()])
        .then_expect_state(|o| o.status == OrderStatus::Cancelled);
}

#[test]
fn cancel_a_placed_order() {
    placed_order()
        .when(cancel())
        .then_expect_events([cancelled()]);
}

#[test]
fn cancel_after_ship_is_refused() {
    shipped_order()
        .when(cancel())
        .then_expect_error(wrong("cancel", OrderStatus::Shipped));
}

#[test]
fn cancel_after_delivery_is_refused() {
    shipped_order()
        .and([delivered()])
        .when(cancel())
        .then_expect_error(wrong("cancel", OrderStatus::Delivered));
}

#[test]
fn cancel_twice_is_refused() {
    draft()
        .and([cancelled()])
        .when(cancel())
        .then_expect_error(wrong("cancel", OrderStatus::Cancelled));
}

#[test]
fn cancel_an_order_never_created_is_refused() {
    order()
        .when(cancel())
        .then_expect_error(wrong("cancel", OrderStatus::New));
}

#[test]
fn a_cancelled_order_takes_no_items() {
    draft()
        .and([cancelled()])
        .when(add("CB-03", 1, 499))
        .then_expect_error(wrong("add items to", OrderStatus::Cancelled));
}
