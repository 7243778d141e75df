//! The orders example's domain: the `Order` aggregate, its events and
//! commands; its read models, `order_details` and `order_items`; and the
//! fulfillment process (stock, payment, shipping, with compensations).

pub mod domain;
pub mod fulfillment;
pub mod read_model;

pub use domain::*;
pub use read_model::{OrderDetails, OrderItemRow, OrderItems};
