//! The orders example's read models, one of each kind:
//!
//! - `order_details` (one document per order: status, customer, times,
//!   total, address, tracking number) is a [document
//!   projection](es_core::document): a serde struct and one `Evolve` impl
//!   per event; the framework stores it on every store and answers `get`
//!   and `filter` on its indexed fields.
//! - `order_items` (the lines of each order) is a hand-written projection
//!   with its own tables, for a read model that wants SQL of its own.
//!
//! # `order_items`: one set of handlers, several backends
//!
//! Its handlers are written once, generic over the context the runner
//! hands them (`impl<C: ItemsContext> On<OrderItemAdded, C> for
//! OrderItems`). A context says where the read model lives:
//!
//! - `()`: in the projection itself, for [`es_core::projection::catch_up`],
//!   `ProjectionFixture` tests and demos;
//! - [`sqlx::PgConnection`]: a PostgreSQL table, written in the transaction
//!   the projection runner opened, which also advances the checkpoint;
//! - [`sqlx::SqliteConnection`]: the same table in the SQLite file.
//!
//! The handlers only turn an event into a call on a small read-model trait
//! ([`OrderItemsStore`]) implemented for the in-memory lines and for both
//! connections. `#[derive(Projection)]` then implements `Dispatch<Ctx>`
//! for each of these contexts.

use es_core::Aggregate;

use crate::domain::{Order, OrderStatus};

mod details;
mod items;
mod postgres;
mod sql;
mod sqlite;

pub use details::OrderDetails;
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
