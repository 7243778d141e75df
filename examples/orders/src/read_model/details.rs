//! `order_details`: one document per order (its key: the order id), a
//! [document projection](es_core::document) the framework keeps on every
//! store, with no SQL written here.

use es_core::document::{Document, DocumentState, Evolve};
use es_core::{Recorded, Timestamp};
use serde::{Deserialize, Serialize};

use super::status_name;
use crate::domain::{
    Cents, OrderCancelled, OrderCreated, OrderDelivered, OrderPlaced, OrderShipped, OrderStatus,
};

/// One order in `order_details`: status, customer, times, total, address,
/// tracking number. Indexed by customer and status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Document)]
#[document(
    name = "order_details",
    events(
        OrderCreated,
        OrderPlaced,
        OrderShipped,
        OrderDelivered,
        OrderCancelled
    ),
    index(customer_id, status)
)]
pub struct OrderDetails {
    /// Who ordered.
    pub customer_id: String,
    /// `draft`, `placed`, `shipped`, `delivered` or `cancelled`.
    pub status: String,
    /// The total due, once placed, in cents.
    pub total: Option<Cents>,
    /// Where it goes, once placed.
    pub shipping_address: Option<String>,
    /// The carrier's tracking number, once shipped.
    pub tracking_number: Option<String>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was placed.
    pub placed_at: Option<Timestamp>,
    /// When it shipped.
    pub shipped_at: Option<Timestamp>,
    /// When it arrived.
    pub delivered_at: Option<Timestamp>,
    /// When it was cancelled.
    pub cancelled_at: Option<Timestamp>,
}

impl Evolve<OrderCreated> for OrderDetails {
    fn evolve(&mut self, e: &Recorded<OrderCreated>, _: &mut DocumentState) {
        self.customer_id.clone_from(&e.event.customer_id);
        self.status = status_name(OrderStatus::Draft).to_owned();
        self.created_at = e.recorded_at;
    }
}

impl Evolve<OrderPlaced> for OrderDetails {
    fn evolve(&mut self, e: &Recorded<OrderPlaced>, _: &mut DocumentState) {
        self.status = status_name(OrderStatus::Placed).to_owned();
        self.shipping_address = Some(e.event.shipping_address.clone());
        self.total = Some(e.event.total);
        self.placed_at = Some(e.recorded_at);
    }
}

impl Evolve<OrderShipped> for OrderDetails {
    fn evolve(&mut self, e: &Recorded<OrderShipped>, _: &mut DocumentState) {
        self.status = status_name(OrderStatus::Shipped).to_owned();
        self.tracking_number = Some(e.event.tracking_number.clone());
        self.shipped_at = Some(e.recorded_at);
    }
}

impl Evolve<OrderDelivered> for OrderDetails {
    fn evolve(&mut self, e: &Recorded<OrderDelivered>, _: &mut DocumentState) {
        self.status = status_name(OrderStatus::Delivered).to_owned();
        self.delivered_at = Some(e.recorded_at);
    }
}

impl Evolve<OrderCancelled> for OrderDetails {
    fn evolve(&mut self, e: &Recorded<OrderCancelled>, _: &mut DocumentState) {
        self.status = status_name(OrderStatus::Cancelled).to_owned();
        self.cancel_reason = Some(e.event.reason.clone());
        self.cancelled_at = Some(e.recorded_at);
    }
}
