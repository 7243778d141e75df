//! The orders example's domain: the `Order` aggregate, its events and
//! commands; and its read models, `order_details` and `order_items`.

pub mod domain;
pub mod read_model;

pub use domain::*;
pub use read_model::{OrderDetails, OrderDetailsRow, OrderItemRow, OrderItems};
