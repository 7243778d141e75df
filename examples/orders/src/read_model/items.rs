//! `order_items`: the lines of each order, their trait, their projection
//! and the in-memory model.

use std::future::Future;

use es_core::projection::{HandlerError, On};
use es_core::{Projection, Recorded};

use super::order_id;
use crate::domain::{Cents, OrderItemAdded, OrderItemRemoved};

/// One row of `order_items`: a line of an order.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OrderItemRow {
    /// The order.
    pub order_id: String,
    /// The product.
    pub sku: String,
    /// How many.
    pub quantity: i64,
    /// The price of one, in cents.
    pub unit_price: Cents,
    /// The stream version that first added the line (lines sort by it).
    pub line_no: i64,
}

/// The writes and reads of `order_items`, whatever holds it.
pub trait OrderItemsStore: Send {
    /// Creates the tables if they do not exist.
    fn setup(&mut self) -> impl Future<Output = Result<(), HandlerError>> + Send;
    /// Items were added: a new line, or more of an existing one.
    fn added(
        &mut self,
        order_id: &str,
        sku: &str,
        quantity: i64,
        unit_price: Cents,
        line_no: i64,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
    /// A line was removed.
    fn removed(
        &mut self,
        order_id: &str,
        sku: &str,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
    /// An order's lines, in the order they were first added.
    fn items(
        &mut self,
        order_id: &str,
    ) -> impl Future<Output = Result<Vec<OrderItemRow>, HandlerError>> + Send;
}

/// Where `order_items` handlers write in a context: `()` means the
/// projection's own lines, a connection means that database.
pub trait ItemsContext: Send {
    /// The store to write to, given the projection's own lines.
    fn items_store<'a>(&'a mut self, own: &'a mut Vec<OrderItemRow>) -> impl OrderItemsStore + 'a;
}

/// The `order_items` projection. Its own lines are the read model when it
/// runs in memory (context `()`).
#[derive(Debug, Default, Clone, Projection)]
#[projection(name = "order_items", events(OrderItemAdded, OrderItemRemoved))]
pub struct OrderItems {
    /// Every order's lines (in-memory runs only).
    pub lines: Vec<OrderItemRow>,
}

impl OrderItems {
    /// An order's lines, in memory.
    pub fn of(&self, order_id: &str) -> Vec<&OrderItemRow> {
        self.lines
            .iter()
            .filter(|l| l.order_id == order_id)
            .collect()
    }
}

impl<C: ItemsContext> On<OrderItemAdded, C> for OrderItems {
    async fn on(&mut self, e: Recorded<OrderItemAdded>, ctx: &mut C) -> Result<(), HandlerError> {
        let line_no = i64::try_from(e.stream_version)?;
        ctx.items_store(&mut self.lines)
            .added(
                order_id(&e.stream_id),
                &e.event.sku,
                i64::from(e.event.quantity),
                e.event.unit_price,
                line_no,
            )
            .await
    }
}
impl<C: ItemsContext> On<OrderItemRemoved, C> for OrderItems {
    async fn on(&mut self, e: Recorded<OrderItemRemoved>, ctx: &mut C) -> Result<(), HandlerError> {
        ctx.items_store(&mut self.lines)
            .removed(order_id(&e.stream_id), &e.event.sku)
            .await
    }
}

impl OrderItemsStore for Vec<OrderItemRow> {
    async fn setup(&mut self) -> Result<(), HandlerError> {
        Ok(())
    }
    async fn added(
        &mut self,
        order_id: &str,
        sku: &str,
        quantity: i64,
        unit_price: Cents,
        line_no: i64,
    ) -> Result<(), HandlerError> {
        match self
            .iter_mut()
            .find(|l| l.order_id == order_id && l.sku == sku)
        {
            Some(line) => line.quantity += quantity,
            None => self.push(OrderItemRow {
                order_id: order_id.to_owned(),
                sku: sku.to_owned(),
                quantity,
                unit_price,
                line_no,
            }),
        }
        Ok(())
    }
    async fn removed(&mut self, order_id: &str, sku: &str) -> Result<(), HandlerError> {
        self.retain(|l| !(l.order_id == order_id && l.sku == sku));
        Ok(())
    }
    async fn items(&mut self, order_id: &str) -> Result<Vec<OrderItemRow>, HandlerError> {
        let mut lines: Vec<_> = self
            .iter()
            .filter(|l| l.order_id == order_id)
            .cloned()
            .collect();
        lines.sort_by_key(|l| l.line_no);
        Ok(lines)
    }
}

impl<T: OrderItemsStore + ?Sized> OrderItemsStore for &mut T {
    fn setup(&mut self) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).setup()
    }
    fn added(
        &mut self,
        order_id: &str,
        sku: &str,
        quantity: i64,
        unit_price: Cents,
        line_no: i64,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).added(order_id, sku, quantity, unit_price, line_no)
    }
    fn removed(
        &mut self,
        order_id: &str,
        sku: &str,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).removed(order_id, sku)
    }
    fn items(
        &mut self,
        order_id: &str,
    ) -> impl Future<Output = Result<Vec<OrderItemRow>, HandlerError>> + Send {
        (**self).items(order_id)
    }
}

impl ItemsContext for () {
    fn items_store<'a>(&'a mut self, own: &'a mut Vec<OrderItemRow>) -> impl OrderItemsStore + 'a {
        own
    }
}
