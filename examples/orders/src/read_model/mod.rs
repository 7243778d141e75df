//! The orders example's read models: `order_details` (one row per order:
//! status, customer, times, total, address, tracking number) and
//! `order_items` (the lines of each order).
//!
//! # One set of handlers, several backends
//!
//! Each projection's handlers are written once, generic over the context
//! the runner hands them (`impl<C: DetailsContext> On<OrderPlaced, C> for
//! OrderDetails`). A context says where the read model lives:
//!
//! - `()`: in the projection itself (a map), for [`es_core::projection::catch_up`],
//!   `ProjectionFixture` tests and demos;
//! - [`sqlx::PgConnection`]: PostgreSQL tables, written in the transaction
//!   the projection runner opened, which also advances the checkpoint;
//! - [`sqlx::SqliteConnection`]: the same tables in the SQLite file.
//!
//! The handlers only turn an event into a call on a small read-model trait
//! ([`OrderDetailsStore`], [`OrderItemsStore`]) implemented for the
//! in-memory map and for both connections. `#[derive(Projection)]` then
//! implements `Dispatch<Ctx>` for each of these contexts.

use es_core::Aggregate;

use crate::domain::{Order, OrderStatus};

mod details;
mod items;
mod postgres;
mod sql;
mod sqlite;

pub use details::{DetailsContext, OrderDetails, OrderDetailsRow, OrderDetailsStore};
pub use items::{ItemsContext, OrderItemRow, OrderItems, OrderItemsStore};

/// The order id of an `Order-{id}` stream.
pub fn order_id(stream_id: &str) -> &str {
    stream_id
        .strip_prefix(Order::NAME)
        .and_then(|s| s.strip_prefix('-'))
        .unwrap_or(stream_id)
}

/// The name an order status is stored under.
pub fn status_name(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::New => "new",
        OrderStatus::Draft => "draft",
        OrderStatus::Placed => "placed",
        OrderStatus::Shipped => "shipped",
        OrderStatus::Delivered => "delivered",
        OrderStatus::Cancelled => "cancelled",
    }
}
