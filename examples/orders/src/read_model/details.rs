//! `order_details`: one row per order, its trait, its projection and the
//! in-memory model.

use std::collections::BTreeMap;
use std::future::Future;

use es_core::projection::{HandlerError, On};
use es_core::{Projection, Recorded, Timestamp};

use super::{order_id, status_name};
use crate::domain::{
    Cents, OrderCancelled, OrderCreated, OrderDelivered, OrderPlaced, OrderShipped, OrderStatus,
};

/// One row of `order_details`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OrderDetailsRow {
    /// The order.
    pub order_id: String,
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

/// The writes and reads of `order_details`, whatever holds it.
pub trait OrderDetailsStore: Send {
    /// Creates the tables if they do not exist.
    fn setup(&mut self) -> impl Future<Output = Result<(), HandlerError>> + Send;
    /// An order was created.
    fn created(
        &mut self,
        order_id: &str,
        customer_id: &str,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
    /// An order was placed.
    fn placed(
        &mut self,
        order_id: &str,
        shipping_address: &str,
        total: Cents,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
    /// An order shipped.
    fn shipped(
        &mut self,
        order_id: &str,
        tracking_number: &str,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
    /// An order arrived.
    fn delivered(
        &mut self,
        order_id: &str,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
    /// An order was cancelled.
    fn cancelled(
        &mut self,
        order_id: &str,
        reason: &str,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
    /// One order's row.
    fn details(
        &mut self,
        order_id: &str,
    ) -> impl Future<Output = Result<Option<OrderDetailsRow>, HandlerError>> + Send;
}

/// Where `order_details` handlers write in a context: `()` means the
/// projection's own map, a connection means that database.
pub trait DetailsContext: Send {
    /// The store to write to, given the projection's own map.
    fn details_store<'a>(
        &'a mut self,
        own: &'a mut BTreeMap<String, OrderDetailsRow>,
    ) -> impl OrderDetailsStore + 'a;
}

/// The `order_details` projection. Its own map is the read model when it
/// runs in memory (context `()`); in a database it keeps nothing itself.
#[derive(Debug, Default, Clone, Projection)]
#[projection(
    name = "order_details",
    events(
        OrderCreated,
        OrderPlaced,
        OrderShipped,
        OrderDelivered,
        OrderCancelled
    )
)]
pub struct OrderDetails {
    /// The rows by order id (in-memory runs only).
    pub orders: BTreeMap<String, OrderDetailsRow>,
}

impl OrderDetails {
    /// An order's row, in memory.
    pub fn get(&self, order_id: &str) -> Option<&OrderDetailsRow> {
        self.orders.get(order_id)
    }
}

impl<C: DetailsContext> On<OrderCreated, C> for OrderDetails {
    async fn on(&mut self, e: Recorded<OrderCreated>, ctx: &mut C) -> Result<(), HandlerError> {
        ctx.details_store(&mut self.orders)
            .created(order_id(&e.stream_id), &e.event.customer_id, e.recorded_at)
            .await
    }
}
impl<C: DetailsContext> On<OrderPlaced, C> for OrderDetails {
    async fn on(&mut self, e: Recorded<OrderPlaced>, ctx: &mut C) -> Result<(), HandlerError> {
        ctx.details_store(&mut self.orders)
            .placed(
                order_id(&e.stream_id),
                &e.event.shipping_address,
                e.event.total,
                e.recorded_at,
            )
            .await
    }
}
impl<C: DetailsContext> On<OrderShipped, C> for OrderDetails {
    async fn on(&mut self, e: Recorded<OrderShipped>, ctx: &mut C) -> Result<(), HandlerError> {
        ctx.details_store(&mut self.orders)
            .shipped(
                order_id(&e.stream_id),
                &e.event.tracking_number,
                e.recorded_at,
            )
            .await
    }
}
impl<C: DetailsContext> On<OrderDelivered, C> for OrderDetails {
    async fn on(&mut self, e: Recorded<OrderDelivered>, ctx: &mut C) -> Result<(), HandlerError> {
        ctx.details_store(&mut self.orders)
            .delivered(order_id(&e.stream_id), e.recorded_at)
            .await
    }
}
impl<C: DetailsContext> On<OrderCancelled, C> for OrderDetails {
    async fn on(&mut self, e: Recorded<OrderCancelled>, ctx: &mut C) -> Result<(), HandlerError> {
        ctx.details_store(&mut self.orders)
            .cancelled(order_id(&e.stream_id), &e.event.reason, e.recorded_at)
            .await
    }
}
pub(super) fn missing(order_id: &str) -> HandlerError {
    format!("order `{order_id}` has no order_details row (its OrderCreated was not projected)")
        .into()
}

impl OrderDetailsStore for BTreeMap<String, OrderDetailsRow> {
    async fn setup(&mut self) -> Result<(), HandlerError> {
        Ok(())
    }
    async fn created(
        &mut self,
        order_id: &str,
        customer_id: &str,
        at: Timestamp,
    ) -> Result<(), HandlerError> {
        self.insert(
            order_id.to_owned(),
            OrderDetailsRow {
                order_id: order_id.to_owned(),
                customer_id: customer_id.to_owned(),
                status: status_name(OrderStatus::Draft).to_owned(),
                total: None,
                shipping_address: None,
                tracking_number: None,
                cancel_reason: None,
                created_at: at,
                placed_at: None,
                shipped_at: None,
                delivered_at: None,
                cancelled_at: None,
            },
        );
        Ok(())
    }
    async fn placed(
        &mut self,
        order_id: &str,
        shipping_address: &str,
        total: Cents,
        at: Timestamp,
    ) -> Result<(), HandlerError> {
        let row = self.get_mut(order_id).ok_or_else(|| missing(order_id))?;
        row.status = status_name(OrderStatus::Placed).to_owned();
        row.shipping_address = Some(shipping_address.to_owned());
        row.total = Some(total);
        row.placed_at = Some(at);
        Ok(())
    }
    async fn shipped(
        &mut self,
        order_id: &str,
        tracking_number: &str,
        at: Timestamp,
    ) -> Result<(), HandlerError> {
        let row = self.get_mut(order_id).ok_or_else(|| missing(order_id))?;
        row.status = status_name(OrderStatus::Shipped).to_owned();
        row.tracking_number = Some(tracking_number.to_owned());
        row.shipped_at = Some(at);
        Ok(())
    }
    async fn delivered(&mut self, order_id: &str, at: Timestamp) -> Result<(), HandlerError> {
        let row = self.get_mut(order_id).ok_or_else(|| missing(order_id))?;
        row.status = status_name(OrderStatus::Delivered).to_owned();
        row.delivered_at = Some(at);
        Ok(())
    }
    async fn cancelled(
        &mut self,
        order_id: &str,
        reason: &str,
        at: Timestamp,
    ) -> Result<(), HandlerError> {
        let row = self.get_mut(order_id).ok_or_else(|| missing(order_id))?;
        row.status = status_name(OrderStatus::Cancelled).to_owned();
        row.cancel_reason = Some(reason.to_owned());
        row.cancelled_at = Some(at);
        Ok(())
    }
    async fn details(&mut self, order_id: &str) -> Result<Option<OrderDetailsRow>, HandlerError> {
        Ok(self.get(order_id).cloned())
    }
}

impl<T: OrderDetailsStore + ?Sized> OrderDetailsStore for &mut T {
    fn setup(&mut self) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).setup()
    }
    fn created(
        &mut self,
        order_id: &str,
        customer_id: &str,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).created(order_id, customer_id, at)
    }
    fn placed(
        &mut self,
        order_id: &str,
        shipping_address: &str,
        total: Cents,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).placed(order_id, shipping_address, total, at)
    }
    fn shipped(
        &mut self,
        order_id: &str,
        tracking_number: &str,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).shipped(order_id, tracking_number, at)
    }
    fn delivered(
        &mut self,
        order_id: &str,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).delivered(order_id, at)
    }
    fn cancelled(
        &mut self,
        order_id: &str,
        reason: &str,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).cancelled(order_id, reason, at)
    }
    fn details(
        &mut self,
        order_id: &str,
    ) -> impl Future<Output = Result<Option<OrderDetailsRow>, HandlerError>> + Send {
        (**self).details(order_id)
    }
}

impl DetailsContext for () {
    fn details_store<'a>(
        &'a mut self,
        own: &'a mut BTreeMap<String, OrderDetailsRow>,
    ) -> impl OrderDetailsStore + 'a {
        own
    }
}
