//! `Shipment` (id: the order id): the carrier takes the parcel, or refuses
//! an address it cannot deliver to.

use es_core::{Aggregate, Apply, Event, Handle};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The carrier took the parcel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, JsonSchema)]
pub struct ShipmentDispatched {
    /// The order.
    pub order_id: String,
    /// The carrier's tracking number.
    pub tracking_number: String,
}

/// Every event of a shipment.
#[derive(Debug, Clone, PartialEq, Event)]
pub enum ShipmentEvent {
    /// See [`ShipmentDispatched`].
    Dispatched(ShipmentDispatched),
}

/// A shipment.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize, Aggregate)]
#[aggregate(name = "Shipment", event = ShipmentEvent)]
pub struct Shipment {
    /// The tracking number, once dispatched.
    pub tracking_number: Option<String>,
}

impl Apply<ShipmentDispatched> for Shipment {
    fn apply(&mut self, e: &ShipmentDispatched) {
        self.tracking_number = Some(e.tracking_number.clone());
    }
}

/// Why the carrier refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShipmentError {
    /// The carrier does not deliver there.
    #[error("the carrier does not deliver to {0:?}")]
    Undeliverable(String),
    /// Already on its way.
    #[error("already dispatched")]
    AlreadyDispatched,
}

/// Hands the parcel to the carrier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DispatchShipment {
    /// The order.
    pub order_id: String,
    /// Where it goes.
    pub address: String,
}

impl Handle<DispatchShipment> for Shipment {
    type Error = ShipmentError;
    fn handle(&self, c: DispatchShipment) -> Result<Vec<ShipmentEvent>, ShipmentError> {
        if self.tracking_number.is_some() {
            return Err(ShipmentError::AlreadyDispatched);
        }
        // The carrier of this example delivers to no PO boxes.
        if c.address.to_ascii_lowercase().contains("po box") {
            return Err(ShipmentError::Undeliverable(c.address));
        }
        Ok(vec![
            ShipmentDispatched {
                tracking_number: format!("TRK-{}", c.order_id),
                order_id: c.order_id,
            }
            .into(),
        ])
    }
}
