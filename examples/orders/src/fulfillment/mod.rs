//! Fulfillment: the process that takes a placed order through stock,
//! payment and shipping, and undoes what was done when a step fails.
//!
//! ```text
//! OrderPlaced ─▶ reserve each line's stock (Inventory)
//!   any line refused ─▶ release the reserved lines, cancel the order
//! all reserved ─▶ request payment (Payment), payment deadline
//!   declined ─▶ release the stock, cancel the order
//!   deadline passed ─▶ void the request; once voided: release, cancel
//!                      (paid just before the void: ship after all)
//! paid ─▶ dispatch the parcel (Shipment)
//!   carrier refuses ─▶ refund, release the stock, cancel the order
//! dispatched ─▶ ship the order (Order) ─▶ OrderShipped: done
//! ```
//!
//! Each arrow out of the process is a command in [`FulfillmentCommand`]; the
//! runner records them with the process's state and checkpoint, then
//! executes each once. [`Fulfillment`] only decides.

pub mod inventory;
pub mod payment;
pub mod shipment;

use std::time::Duration;

use es_core::Recorded;
use es_core::process::{
    OnDeadline, OnRejected, ProcessCommand, ProcessManager, React, Rejected, Then,
};
use serde::{Deserialize, Serialize};

use crate::domain::{
    CancelOrder, Cents, OrderItemAdded, OrderItemRemoved, OrderPlaced, OrderShipped, ShipOrder,
};
use inventory::{Inventory, ReleaseStock, ReserveStock, StockReserved};
use payment::{
    Payment, PaymentCaptured, PaymentDeclined, PaymentVoided, RefundPayment, RequestPayment,
    VoidPayment,
};
use shipment::{DispatchShipment, Shipment, ShipmentDispatched};

/// How long a customer has to pay once asked. (Two seconds, so that
/// `cargo run -p orders` shows the deadline firing; a shop would give
/// minutes or days.)
pub const PAYMENT_WINDOW: Duration = Duration::from_secs(2);

/// The commands fulfillment sends, each to one aggregate type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ProcessCommand)]
pub enum FulfillmentCommand {
    /// Reserve a line's stock.
    #[command(to = Inventory)]
    Reserve(ReserveStock),
    /// Give a reservation back.
    #[command(to = Inventory)]
    Release(ReleaseStock),
    /// Ask the customer to pay.
    #[command(to = Payment)]
    RequestPayment(RequestPayment),
    /// Withdraw an unpaid request.
    #[command(to = Payment)]
    Void(VoidPayment),
    /// Pay back.
    #[command(to = Payment)]
    Refund(RefundPayment),
    /// Hand the parcel to the carrier.
    #[command(to = Shipment)]
    Dispatch(DispatchShipment),
    /// Mark the order shipped.
    #[command(to = crate::domain::Order)]
    Ship(ShipOrder),
    /// Cancel the order.
    #[command(to = crate::domain::Order)]
    Cancel(CancelOrder),
}

/// Fulfillment's deadlines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FulfillmentDeadline {
    /// The customer had [`PAYMENT_WINDOW`] to pay.
    PaymentDue,
}

/// Where a fulfillment is.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// The order is a draft: its lines are noted.
    #[default]
    Draft,
    /// Waiting for every line's stock.
    Reserving,
    /// Waiting for the customer's payment.
    AwaitingPayment,
    /// The payment window passed; the request is being voided.
    Voiding,
    /// Paid; waiting for the carrier.
    Dispatching,
    /// Dispatched; waiting for the order to be marked shipped.
    Shipping,
}

/// A line to reserve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Wanted {
    /// The product.
    pub sku: String,
    /// How many.
    pub quantity: u32,
    /// Reserved (`Some(true)`), refused (`Some(false)`), or no answer yet.
    pub reserved: Option<bool>,
}

/// The fulfillment of one order (the process's state, stored after each
/// event).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize, ProcessManager)]
#[process(
    name = "fulfillment",
    commands = FulfillmentCommand,
    deadlines = FulfillmentDeadline,
    key = order_id,
    events(
        OrderItemAdded(key_with = order_of),
        OrderItemRemoved(key_with = order_of),
        OrderPlaced(key_with = order_of),
        OrderShipped(key_with = order_of),
        StockReserved,
        PaymentCaptured,
        PaymentDeclined,
        PaymentVoided,
        ShipmentDispatched,
    )
)]
pub struct Fulfillment {
    /// The order.
    pub order_id: String,
    /// Where it is.
    pub step: Step,
    /// The order's lines and their reservations.
    pub lines: Vec<Wanted>,
    /// Where the parcel goes.
    pub address: String,
    /// What the customer pays, in cents.
    pub total: Cents,
    /// Why a line's stock was refused, if one was.
    pub refused: Option<String>,
}

/// The order an order's event belongs to: its stream's id.
fn order_of<E>(e: &Recorded<E>) -> String {
    e.stream_id
        .strip_prefix("Order-")
        .unwrap_or(&e.stream_id)
        .to_owned()
}

impl Fulfillment {
    /// Gives back every line reserved so far and cancels the order.
    fn undo(&self, reason: String, then: &mut Then<Self>) {
        for line in self.lines.iter().filter(|l| l.reserved == Some(true)) {
            then.send(
                &line.sku,
                ReleaseStock {
                    order_id: self.order_id.clone(),
                },
            );
        }
        then.send(&self.order_id, CancelOrder { reason });
        then.complete();
    }

    fn dispatch(&mut self, then: &mut Then<Self>) {
        self.step = Step::Dispatching;
        then.send(
            &self.order_id,
            DispatchShipment {
                order_id: self.order_id.clone(),
                address: self.address.clone(),
            },
        );
    }
}

impl React<OrderItemAdded> for Fulfillment {
    fn react(&mut self, e: &Recorded<OrderItemAdded>, _: &mut Then<Self>) {
        self.order_id = order_of(e);
        let added = &e.event;
        match self.lines.iter_mut().find(|l| l.sku == added.sku) {
            Some(line) => line.quantity += added.quantity,
            None => self.lines.push(Wanted {
                sku: added.sku.clone(),
                quantity: added.quantity,
                reserved: None,
            }),
        }
    }
}

impl React<OrderItemRemoved> for Fulfillment {
    fn react(&mut self, e: &Recorded<OrderItemRemoved>, _: &mut Then<Self>) {
        self.lines.retain(|l| l.sku != e.event.sku);
    }
}

impl React<OrderPlaced> for Fulfillment {
    fn react(&mut self, e: &Recorded<OrderPlaced>, then: &mut Then<Self>) {
        self.order_id = order_of(e);
        self.address.clone_from(&e.event.shipping_address);
        self.total = e.event.total;
        self.step = Step::Reserving;
        for line in &self.lines {
            then.send(
                &line.sku,
                ReserveStock {
                    order_id: self.order_id.clone(),
                    quantity: line.quantity,
                },
            );
        }
    }
}

impl React<StockReserved> for Fulfillment {
    fn react(&mut self, e: &Recorded<StockReserved>, then: &mut Then<Self>) {
        let sku = e.stream_id.strip_prefix("Inventory-").unwrap_or_default();
        if let Some(line) = self.lines.iter_mut().find(|l| l.sku == sku) {
            line.reserved = Some(true);
        }
        self.after_stock_answer(then);
    }
}

impl Fulfillment {
    /// Once every line has an answer: pay, or undo.
    fn after_stock_answer(&mut self, then: &mut Then<Self>) {
        if self.step != Step::Reserving || self.lines.iter().any(|l| l.reserved.is_none()) {
            return;
        }
        if let Some(why) = self.refused.clone() {
            self.undo(why, then);
            return;
        }
        self.step = Step::AwaitingPayment;
        then.send(
            &self.order_id,
            RequestPayment {
                order_id: self.order_id.clone(),
                amount: self.total,
            },
        );
        then.schedule(FulfillmentDeadline::PaymentDue, PAYMENT_WINDOW);
    }
}

impl React<PaymentCaptured> for Fulfillment {
    fn react(&mut self, _: &Recorded<PaymentCaptured>, then: &mut Then<Self>) {
        // Also in `Voiding`: paid just before the void, so ship after all.
        if matches!(self.step, Step::AwaitingPayment | Step::Voiding) {
            then.cancel(FulfillmentDeadline::PaymentDue);
            self.dispatch(then);
        }
    }
}

impl React<PaymentDeclined> for Fulfillment {
    fn react(&mut self, e: &Recorded<PaymentDeclined>, then: &mut Then<Self>) {
        then.cancel(FulfillmentDeadline::PaymentDue);
        self.undo(format!("payment declined: {}", e.event.reason), then);
    }
}

impl React<PaymentVoided> for Fulfillment {
    fn react(&mut self, _: &Recorded<PaymentVoided>, then: &mut Then<Self>) {
        self.undo("payment not received in time".to_owned(), then);
    }
}

impl React<ShipmentDispatched> for Fulfillment {
    fn react(&mut self, e: &Recorded<ShipmentDispatched>, then: &mut Then<Self>) {
        self.step = Step::Shipping;
        then.send(
            &self.order_id,
            ShipOrder {
                tracking_number: e.event.tracking_number.clone(),
            },
        );
    }
}

impl React<OrderShipped> for Fulfillment {
    fn react(&mut self, _: &Recorded<OrderShipped>, then: &mut Then<Self>) {
        then.complete();
    }
}

impl OnRejected for Fulfillment {
    fn rejected(&mut self, r: &Rejected<FulfillmentCommand>, then: &mut Then<Self>) {
        match &r.command {
            FulfillmentCommand::Reserve(_) => {
                if let Some(line) = self.lines.iter_mut().find(|l| l.sku == r.id) {
                    line.reserved = Some(false);
                }
                self.refused
                    .get_or_insert_with(|| format!("{}: {}", r.id, r.reason));
                self.after_stock_answer(then);
            }
            FulfillmentCommand::Dispatch(_) => {
                then.send(&self.order_id, RefundPayment);
                self.undo(format!("shipping failed: {}", r.reason), then);
            }
            FulfillmentCommand::Ship(_) => {
                // The order was cancelled meanwhile (by the customer): give
                // the money and the stock back.
                then.send(&self.order_id, RefundPayment);
                for line in self.lines.iter().filter(|l| l.reserved == Some(true)) {
                    then.send(
                        &line.sku,
                        ReleaseStock {
                            order_id: self.order_id.clone(),
                        },
                    );
                }
                then.complete();
            }
            // Voiding a request that was paid meanwhile: `PaymentCaptured`
            // ships it. The others (a release, a refund, a cancel) are the
            // compensation itself; nothing is left to undo.
            FulfillmentCommand::Void(_)
            | FulfillmentCommand::Release(_)
            | FulfillmentCommand::RequestPayment(_)
            | FulfillmentCommand::Refund(_)
            | FulfillmentCommand::Cancel(_) => {}
        }
    }
}

impl OnDeadline for Fulfillment {
    fn deadline(&mut self, deadline: &FulfillmentDeadline, then: &mut Then<Self>) {
        match deadline {
            FulfillmentDeadline::PaymentDue if self.step == Step::AwaitingPayment => {
                self.step = Step::Voiding;
                then.send(&self.order_id, VoidPayment);
            }
            FulfillmentDeadline::PaymentDue => {}
        }
    }
}
