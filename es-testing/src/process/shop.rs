//! The domain the process manager suite runs: orders, stock, and the
//! checkout process between them.
//!
//! - `Order` (id: the order id): placed, approved, then confirmed or
//!   cancelled (once: confirming or cancelling a closed order is rejected).
//! - `Stock` (id: the SKU): restocked, and reservations that are rejected
//!   when too little is left.
//! - [`Checkout`] (key: the order id): a placed order reserves its stock
//!   (at once, or once approved, if its approval window is set); reserved
//!   stock confirms the order; a rejected reservation cancels it (the
//!   compensation); an approval window that passes cancels it (the
//!   deadline). Each path completes the instance.

use std::time::Duration;

use es_core::process::{
    OnDeadline, OnRejected, ProcessCommand, ProcessManager, React, Rejected, Then,
};
use es_core::{Aggregate, Apply, Event, Handle, Recorded};
use serde::{Deserialize, Serialize};

/// An order was placed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub struct OrderPlaced {
    /// The order.
    pub order_id: String,
    /// What it buys.
    pub sku: String,
    /// How many.
    pub quantity: u32,
    /// When set, the order waits this long for an approval before its
    /// stock is reserved.
    pub approve_within_ms: Option<u64>,
}

/// An order waiting for approval was approved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub struct OrderApproved {
    /// The order.
    pub order_id: String,
}

/// An order was confirmed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub struct OrderConfirmed {
    /// The order.
    pub order_id: String,
}

/// An order was cancelled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub struct OrderCancelled {
    /// The order.
    pub order_id: String,
    /// Why.
    pub reason: String,
}

/// The events of an order.
#[derive(Debug, Clone, PartialEq, Event)]
pub enum OrderEvent {
    /// Placed.
    Placed(OrderPlaced),
    /// Approved.
    Approved(OrderApproved),
    /// Confirmed.
    Confirmed(OrderConfirmed),
    /// Cancelled.
    Cancelled(OrderCancelled),
}

/// Where an order is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Not placed.
    #[default]
    New,
    /// Placed, open.
    Placed,
    /// Confirmed.
    Confirmed,
    /// Cancelled.
    Cancelled,
}

/// An order.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Aggregate)]
#[aggregate(name = "Order", event = OrderEvent)]
pub struct Order {
    /// Its id.
    pub id: String,
    /// Where it is.
    pub status: OrderStatus,
    /// Why it was cancelled.
    pub reason: Option<String>,
}

impl Apply<OrderPlaced> for Order {
    fn apply(&mut self, e: &OrderPlaced) {
        self.id = e.order_id.clone();
        self.status = OrderStatus::Placed;
    }
}
impl Apply<OrderApproved> for Order {
    fn apply(&mut self, _: &OrderApproved) {}
}
impl Apply<OrderConfirmed> for Order {
    fn apply(&mut self, _: &OrderConfirmed) {
        self.status = OrderStatus::Confirmed;
    }
}
impl Apply<OrderCancelled> for Order {
    fn apply(&mut self, e: &OrderCancelled) {
        self.status = OrderStatus::Cancelled;
        self.reason = Some(e.reason.clone());
    }
}

/// Why an order refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// It is already confirmed or cancelled (or was never placed).
    #[error("order is not open")]
    NotOpen,
}

/// Places an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaceOrder(pub OrderPlaced);
/// Approves an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApproveOrder;
/// Confirms an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfirmOrder;
/// Cancels an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CancelOrder {
    /// Why.
    pub reason: String,
}

impl Order {
    fn open(&self) -> Result<(), OrderError> {
        match self.status {
            OrderStatus::Placed => Ok(()),
            _ => Err(OrderError::NotOpen),
        }
    }
}

impl Handle<PlaceOrder> for Order {
    type Error = OrderError;
    fn handle(&self, c: PlaceOrder) -> Result<Vec<OrderEvent>, OrderError> {
        match self.status {
            OrderStatus::New => Ok(vec![c.0.into()]),
            _ => Err(OrderError::NotOpen),
        }
    }
}
impl Handle<ApproveOrder> for Order {
    type Error = OrderError;
    fn handle(&self, _: ApproveOrder) -> Result<Vec<OrderEvent>, OrderError> {
        self.open()?;
        Ok(vec![
            OrderApproved {
                order_id: self.id.clone(),
            }
            .into(),
        ])
    }
}
impl Handle<ConfirmOrder> for Order {
    type Error = OrderError;
    fn handle(&self, _: ConfirmOrder) -> Result<Vec<OrderEvent>, OrderError> {
        self.open()?;
        Ok(vec![
            OrderConfirmed {
                order_id: self.id.clone(),
            }
            .into(),
        ])
    }
}
impl Handle<CancelOrder> for Order {
    type Error = OrderError;
    fn handle(&self, c: CancelOrder) -> Result<Vec<OrderEvent>, OrderError> {
        self.open()?;
        Ok(vec![
            OrderCancelled {
                order_id: self.id.clone(),
                reason: c.reason,
            }
            .into(),
        ])
    }
}

/// Stock arrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub struct Restocked {
    /// How many.
    pub quantity: u32,
}

/// Stock was reserved for an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub struct StockReserved {
    /// The order.
    pub order_id: String,
    /// How many.
    pub quantity: u32,
}

/// The events of a SKU's stock.
#[derive(Debug, Clone, PartialEq, Event)]
pub enum StockEvent {
    /// Restocked.
    Restocked(Restocked),
    /// Reserved.
    Reserved(StockReserved),
}

/// A SKU's stock.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Aggregate)]
#[aggregate(name = "Stock", event = StockEvent)]
pub struct Stock {
    /// How many are left.
    pub available: u32,
}

impl Apply<Restocked> for Stock {
    fn apply(&mut self, e: &Restocked) {
        self.available += e.quantity;
    }
}
impl Apply<StockReserved> for Stock {
    fn apply(&mut self, e: &StockReserved) {
        self.available -= e.quantity;
    }
}

/// Too little stock.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("insufficient stock: {available} available, {requested} requested")]
pub struct InsufficientStock {
    /// What is left.
    pub available: u32,
    /// What was asked.
    pub requested: u32,
}

/// Adds stock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Restock {
    /// How many.
    pub quantity: u32,
}
/// Reserves stock for an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReserveStock {
    /// The order.
    pub order_id: String,
    /// How many.
    pub quantity: u32,
}

impl Handle<Restock> for Stock {
    type Error = std::convert::Infallible;
    fn handle(&self, c: Restock) -> Result<Vec<StockEvent>, Self::Error> {
        Ok(vec![
            Restocked {
                quantity: c.quantity,
            }
            .into(),
        ])
    }
}
impl Handle<ReserveStock> for Stock {
    type Error = InsufficientStock;
    fn handle(&self, c: ReserveStock) -> Result<Vec<StockEvent>, InsufficientStock> {
        if c.quantity > self.available {
            return Err(InsufficientStock {
                available: self.available,
                requested: c.quantity,
            });
        }
        Ok(vec![
            StockReserved {
                order_id: c.order_id,
                quantity: c.quantity,
            }
            .into(),
        ])
    }
}

/// The commands [`Checkout`] sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ProcessCommand)]
pub enum CheckoutCommand {
    /// To the order's SKU.
    #[command(to = Stock)]
    Reserve(ReserveStock),
    /// To the order.
    #[command(to = Order)]
    Confirm(ConfirmOrder),
    /// To the order.
    #[command(to = Order)]
    Cancel(CancelOrder),
}

/// The deadlines of [`Checkout`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CheckoutDeadline {
    /// The approval window of an order passed.
    ApprovalDue,
}

/// Where a checkout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum CheckoutStep {
    /// Nothing heard yet.
    #[default]
    Started,
    /// Waiting for an approval.
    AwaitingApproval,
    /// Waiting for the stock.
    Reserving,
}

/// The checkout of one order: reserve, then confirm; cancel on a rejected
/// reservation or a missed approval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ProcessManager)]
#[process(
    name = "checkout",
    commands = CheckoutCommand,
    deadlines = CheckoutDeadline,
    key = order_id,
    events(OrderPlaced, OrderApproved, StockReserved)
)]
pub struct Checkout {
    /// The order.
    pub order_id: String,
    /// Its SKU.
    pub sku: String,
    /// How many.
    pub quantity: u32,
    /// Where it is.
    pub step: CheckoutStep,
}

impl Checkout {
    fn reserve(&mut self, then: &mut Then<Self>) {
        self.step = CheckoutStep::Reserving;
        then.send(
            &self.sku,
            ReserveStock {
                order_id: self.order_id.clone(),
                quantity: self.quantity,
            },
        );
    }

    fn cancel(&self, reason: String, then: &mut Then<Self>) {
        then.send(&self.order_id, CancelOrder { reason });
        then.complete();
    }
}

impl OnRejected for Checkout {
    fn rejected(&mut self, rejected: &Rejected<CheckoutCommand>, then: &mut Then<Self>) {
        if let CheckoutCommand::Reserve(_) = rejected.command {
            self.cancel(rejected.reason.clone(), then);
        }
    }
}

impl OnDeadline for Checkout {
    fn deadline(&mut self, deadline: &CheckoutDeadline, then: &mut Then<Self>) {
        match deadline {
            CheckoutDeadline::ApprovalDue if self.step == CheckoutStep::AwaitingApproval => {
                self.cancel("approval timed out".to_owned(), then);
            }
            CheckoutDeadline::ApprovalDue => {}
        }
    }
}

impl React<OrderPlaced> for Checkout {
    fn react(&mut self, e: &Recorded<OrderPlaced>, then: &mut Then<Self>) {
        let placed = &e.event;
        self.order_id = placed.order_id.clone();
        self.sku = placed.sku.clone();
        self.quantity = placed.quantity;
        match placed.approve_within_ms {
            Some(ms) => {
                self.step = CheckoutStep::AwaitingApproval;
                then.schedule(CheckoutDeadline::ApprovalDue, Duration::from_millis(ms));
            }
            None => self.reserve(then),
        }
    }
}

impl React<OrderApproved> for Checkout {
    fn react(&mut self, _: &Recorded<OrderApproved>, then: &mut Then<Self>) {
        if self.step == CheckoutStep::AwaitingApproval {
            then.cancel(CheckoutDeadline::ApprovalDue);
            self.reserve(then);
        }
    }
}

impl React<StockReserved> for Checkout {
    fn react(&mut self, _: &Recorded<StockReserved>, then: &mut Then<Self>) {
        then.send(&self.order_id, ConfirmOrder);
        then.complete();
    }
}
