//! `orders-admin`: the orders example's admin tool, made from its own types.
//!
//! ```text
//! orders-admin --database-url sqlite:orders.db check        # will this build read all of our history?
//! orders-admin validate fixtures/                           # event JSON files, no database
//! orders-admin inspect order-1 --at 2                       # the order after each event, to version 2
//! orders-admin rebuild order_details                        # empty the read model, replay into it
//! orders-admin status                                       # checkpoints, lag, dead letters, runners
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    use orders::fulfillment::{inventory, payment, shipment};
    es_cli::Tool::new("orders-admin")
        .events::<orders::OrderEvent>()
        // Fulfillment: the aggregates it coordinates, and its own streams'
        // rejections and deadlines.
        .events::<inventory::InventoryEvent>()
        .events::<payment::PaymentEvent>()
        .events::<shipment::ShipmentEvent>()
        .events::<es_core::process::ProcessCommandRejected>()
        .events::<es_core::process::ProcessDeadlineReached>()
        .aggregate::<orders::Order>()
        .document::<orders::OrderDetails>()
        .projection::<orders::OrderItems>()
        .run()
}
