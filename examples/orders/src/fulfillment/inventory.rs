//! `Inventory` (id: the SKU): stock on hand, reserved for orders and
//! released again.

use std::collections::BTreeMap;

use es_core::{Aggregate, Apply, Event, Handle};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Stock arrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, JsonSchema)]
pub struct StockAdded {
    /// How many.
    pub quantity: u32,
}

/// Stock was set aside for an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, JsonSchema)]
pub struct StockReserved {
    /// The order.
    pub order_id: String,
    /// How many.
    pub quantity: u32,
}

/// An order's reservation was given back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, JsonSchema)]
pub struct StockReleased {
    /// The order.
    pub order_id: String,
    /// How many.
    pub quantity: u32,
}

/// Every event of a SKU's inventory.
#[derive(Debug, Clone, PartialEq, Event)]
pub enum InventoryEvent {
    /// See [`StockAdded`].
    Added(StockAdded),
    /// See [`StockReserved`].
    Reserved(StockReserved),
    /// See [`StockReleased`].
    Released(StockReleased),
}

/// A SKU's inventory.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize, Aggregate)]
#[aggregate(name = "Inventory", event = InventoryEvent)]
pub struct Inventory {
    /// On hand and not reserved.
    pub available: u32,
    /// Reserved, per order.
    pub reserved: BTreeMap<String, u32>,
}

impl Apply<StockAdded> for Inventory {
    fn apply(&mut self, e: &StockAdded) {
        self.available += e.quantity;
    }
}
impl Apply<StockReserved> for Inventory {
    fn apply(&mut self, e: &StockReserved) {
        self.available -= e.quantity;
        *self.reserved.entry(e.order_id.clone()).or_default() += e.quantity;
    }
}
impl Apply<StockReleased> for Inventory {
    fn apply(&mut self, e: &StockReleased) {
        self.available += e.quantity;
        self.reserved.remove(&e.order_id);
    }
}

/// Why the inventory refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryError {
    /// Too little on hand.
    #[error("out of stock: {available} available, {requested} requested")]
    OutOfStock {
        /// On hand.
        available: u32,
        /// Asked for.
        requested: u32,
    },
}

/// Adds stock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddStock {
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

/// Gives an order's reservation back (nothing, when it holds none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseStock {
    /// The order.
    pub order_id: String,
}

impl Handle<AddStock> for Inventory {
    type Error = InventoryError;
    fn handle(&self, c: AddStock) -> Result<Vec<InventoryEvent>, InventoryError> {
        Ok(vec![
            StockAdded {
                quantity: c.quantity,
            }
            .into(),
        ])
    }
}

impl Handle<ReserveStock> for Inventory {
    type Error = InventoryError;
    fn handle(&self, c: ReserveStock) -> Result<Vec<InventoryEvent>, InventoryError> {
        if c.quantity > self.available {
            return Err(InventoryError::OutOfStock {
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

impl Handle<ReleaseStock> for Inventory {
    type Error = InventoryError;
    fn handle(&self, c: ReleaseStock) -> Result<Vec<InventoryEvent>, InventoryError> {
        Ok(match self.reserved.get(&c.order_id) {
            Some(&quantity) => vec![
                StockReleased {
                    order_id: c.order_id,
                    quantity,
                }
                .into(),
            ],
            None => vec![],
        })
    }
}
