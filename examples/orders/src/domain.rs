//! `Order`: created as a draft, items added and removed, placed with a
//! shipping address and its total, shipped with a tracking number, delivered;
//! cancellable until it ships.

use es_core::{Aggregate, Apply, Event, Handle};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Money in cents.
pub type Cents = i64;

/// An order was started for a customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, JsonSchema)]
pub struct OrderCreated {
    /// Who orders.
    pub customer_id: String,
}

/// Items were added (to a line of the same SKU, when there is one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, JsonSchema)]
pub struct OrderItemAdded {
    /// The product.
    pub sku: String,
    /// How many were added.
    pub quantity: u32,
    /// The price of one, in cents.
    pub unit_price: Cents,
}

/// A line was removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, JsonSchema)]
pub struct OrderItemRemoved {
    /// The product.
    pub sku: String,
}

/// The order was placed: the items are fixed and the total is due.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, JsonSchema)]
pub struct OrderPlaced {
    /// Where it goes.
    pub shipping_address: String,
    /// The sum of the lines, in cents.
    pub total: Cents,
}

/// The order left the warehouse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, JsonSchema)]
pub struct OrderShipped {
    /// The carrier's tracking number.
    pub tracking_number: String,
}

/// The order arrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, JsonSchema)]
pub struct OrderDelivered {}

/// The order was cancelled before it shipped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, JsonSchema)]
pub struct OrderCancelled {
    /// Why.
    pub reason: String,
}

/// Every event an order emits.
#[derive(Debug, Clone, PartialEq, Event)]
pub enum OrderEvent {
    /// See [`OrderCreated`].
    Created(OrderCreated),
    /// See [`OrderItemAdded`].
    ItemAdded(OrderItemAdded),
    /// See [`OrderItemRemoved`].
    ItemRemoved(OrderItemRemoved),
    /// See [`OrderPlaced`].
    Placed(OrderPlaced),
    /// See [`OrderShipped`].
    Shipped(OrderShipped),
    /// See [`OrderDelivered`].
    Delivered(OrderDelivered),
    /// See [`OrderCancelled`].
    Cancelled(OrderCancelled),
}

/// Where an order is in its life.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Not created yet.
    #[default]
    New,
    /// Created; items may change.
    Draft,
    /// Placed; waiting to ship.
    Placed,
    /// On its way.
    Shipped,
    /// Arrived.
    Delivered,
    /// Cancelled.
    Cancelled,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// The product.
    pub sku: String,
    /// How many.
    pub quantity: u32,
    /// The price of one, in cents.
    pub unit_price: Cents,
}

/// An order's state.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize, Aggregate)]
#[aggregate(name = "Order", event = OrderEvent, snapshot_version = 1)]
pub struct Order {
    /// Who orders.
    pub customer_id: String,
    /// Where it is in its life.
    pub status: OrderStatus,
    /// Its lines, in the order they were first added.
    pub lines: Vec<Line>,
    /// Where it goes, once placed.
    pub shipping_address: Option<String>,
    /// The carrier's tracking number, once shipped.
    pub tracking_number: Option<String>,
}

impl Order {
    /// The sum of the lines, in cents.
    pub fn total(&self) -> Cents {
        self.lines
            .iter()
            .map(|l| Cents::from(l.quantity) * l.unit_price)
            .sum()
    }
}

impl Apply<OrderCreated> for Order {
    fn apply(&mut self, e: &OrderCreated) {
        self.customer_id.clone_from(&e.customer_id);
        self.status = OrderStatus::Draft;
    }
}
impl Apply<OrderItemAdded> for Order {
    fn apply(&mut self, e: &OrderItemAdded) {
        match self.lines.iter_mut().find(|l| l.sku == e.sku) {
            Some(line) => line.quantity += e.quantity,
            None => self.lines.push(Line {
                sku: e.sku.clone(),
                quantity: e.quantity,
                unit_price: e.unit_price,
            }),
        }
    }
}
impl Apply<OrderItemRemoved> for Order {
    fn apply(&mut self, e: &OrderItemRemoved) {
        self.lines.retain(|l| l.sku != e.sku);
    }
}
impl Apply<OrderPlaced> for Order {
    fn apply(&mut self, e: &OrderPlaced) {
        self.status = OrderStatus::Placed;
        self.shipping_address = Some(e.shipping_address.clone());
    }
}
impl Apply<OrderShipped> for Order {
    fn apply(&mut self, e: &OrderShipped) {
        self.status = OrderStatus::Shipped;
        self.tracking_number = Some(e.tracking_number.clone());
    }
}
impl Apply<OrderDelivered> for Order {
    fn apply(&mut self, _: &OrderDelivered) {
        self.status = OrderStatus::Delivered;
    }
}
impl Apply<OrderCancelled> for Order {
    fn apply(&mut self, _: &OrderCancelled) {
        self.status = OrderStatus::Cancelled;
    }
}

/// Why an order refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// Create on an order that exists.
    #[error("the order already exists")]
    AlreadyCreated,
    /// The command needs another status.
    #[error("cannot {action} an order that is {status:?}")]
    WrongStatus {
        /// What was attempted.
        action: &'static str,
        /// The order's status.
        status: OrderStatus,
    },
    /// A quantity of zero.
    #[error("quantity must be at least 1")]
    ZeroQuantity,
    /// A negative price.
    #[error("unit price cannot be negative, got {0}")]
    NegativePrice(Cents),
    /// The SKU is on the order at another price.
    #[error("{sku} is already on the order at {existing} cents, not {requested}")]
    PriceMismatch {
        /// The product.
        sku: String,
        /// The price on the order.
        existing: Cents,
        /// The price asked for.
        requested: Cents,
    },
    /// Removing a SKU the order does not have.
    #[error("{0} is not on the order")]
    UnknownItem(String),
    /// Placing an order with no lines.
    #[error("an order needs at least one item to be placed")]
    Empty,
    /// A blank shipping address or tracking number.
    #[error("{0} cannot be blank")]
    Blank(&'static str),
}

/// Starts an order.
#[derive(Debug, Clone)]
pub struct CreateOrder {
    /// Who orders.
    pub customer_id: String,
}

/// Adds items.
#[derive(Debug, Clone)]
pub struct AddItem {
    /// The product.
    pub sku: String,
    /// How many.
    pub quantity: u32,
    /// The price of one, in cents.
    pub unit_price: Cents,
}

/// Removes a line.
#[derive(Debug, Clone)]
pub struct RemoveItem {
    /// The product.
    pub sku: String,
}

/// Places the order.
#[derive(Debug, Clone)]
pub struct PlaceOrder {
    /// Where it goes.
    pub shipping_address: String,
}

/// Ships the order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShipOrder {
    /// The carrier's tracking number.
    pub tracking_number: String,
}

/// Marks the order delivered.
#[derive(Debug, Clone)]
pub struct DeliverOrder;

/// Cancels the order before it ships.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CancelOrder {
    /// Why.
    pub reason: String,
}

impl Order {
    fn require(&self, status: OrderStatus, action: &'static str) -> Result<(), OrderError> {
        if self.status == status {
            Ok(())
        } else {
            Err(OrderError::WrongStatus {
                action,
                status: self.status,
            })
        }
    }
}

impl Handle<CreateOrder> for Order {
    type Error = OrderError;
    fn handle(&self, cmd: CreateOrder) -> Result<Vec<OrderEvent>, OrderError> {
        if self.status != OrderStatus::New {
            return Err(OrderError::AlreadyCreated);
        }
        if cmd.customer_id.trim().is_empty() {
            return Err(OrderError::Blank("the customer id"));
        }
        Ok(vec![
            OrderCreated {
                customer_id: cmd.customer_id,
            }
            .into(),
        ])
    }
}

impl Handle<AddItem> for Order {
    type Error = OrderError;
    fn handle(&self, cmd: AddItem) -> Result<Vec<OrderEvent>, OrderError> {
        self.require(OrderStatus::Draft, "add items to")?;
        if cmd.quantity == 0 {
            return Err(OrderError::ZeroQuantity);
        }
        if cmd.unit_price < 0 {
            return Err(OrderError::NegativePrice(cmd.unit_price));
        }
        if let Some(line) = self
            .lines
            .iter()
            .find(|l| l.sku == cmd.sku && l.unit_price != cmd.unit_price)
        {
            return Err(OrderError::PriceMismatch {
                sku: cmd.sku,
                existing: line.unit_price,
                requested: cmd.unit_price,
            });
        }
        Ok(vec![
            OrderItemAdded {
                sku: cmd.sku,
                quantity: cmd.quantity,
                unit_price: cmd.unit_price,
            }
            .into(),
        ])
    }
}

impl Handle<RemoveItem> for Order {
    type Error = OrderError;
    fn handle(&self, cmd: RemoveItem) -> Result<Vec<OrderEvent>, OrderError> {
        self.require(OrderStatus::Draft, "remove items from")?;
        if !self.lines.iter().any(|l| l.sku == cmd.sku) {
            return Err(OrderError::UnknownItem(cmd.sku));
        }
        Ok(vec![OrderItemRemoved { sku: cmd.sku }.into()])
    }
}

impl Handle<PlaceOrder> for Order {
    type Error = OrderError;
    fn handle(&self, cmd: PlaceOrder) -> Result<Vec<OrderEvent>, OrderError> {
        self.require(OrderStatus::Draft, "place")?;
        if self.lines.is_empty() {
            return Err(OrderError::Empty);
        }
        if cmd.shipping_address.trim().is_empty() {
            return Err(OrderError::Blank("the shipping address"));
        }
        Ok(vec![
            OrderPlaced {
                shipping_address: cmd.shipping_address,
                total: self.total(),
            }
            .into(),
        ])
    }
}

impl Handle<ShipOrder> for Order {
    type Error = OrderError;
    fn handle(&self, cmd: ShipOrder) -> Result<Vec<OrderEvent>, OrderError> {
        self.require(OrderStatus::Placed, "ship")?;
        if cmd.tracking_number.trim().is_empty() {
            return Err(OrderError::Blank("the tracking number"));
        }
        Ok(vec![
            OrderShipped {
                tracking_number: cmd.tracking_number,
            }
            .into(),
        ])
    }
}

impl Handle<DeliverOrder> for Order {
    type Error = OrderError;
    fn handle(&self, _: DeliverOrder) -> Result<Vec<OrderEvent>, OrderError> {
        self.require(OrderStatus::Shipped, "deliver")?;
        Ok(vec![OrderDelivered {}.into()])
    }
}

impl Handle<CancelOrder> for Order {
    type Error = OrderError;
    fn handle(&self, cmd: CancelOrder) -> Result<Vec<OrderEvent>, OrderError> {
        match self.status {
            OrderStatus::Draft | OrderStatus::Placed => {
                Ok(vec![OrderCancelled { reason: cmd.reason }.into()])
            }
            status => Err(OrderError::WrongStatus {
                action: "cancel",
                status,
            }),
        }
    }
}
