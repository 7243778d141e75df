#![deny(warnings)]

use std::time::Duration;

use es_core::process::{
    OnDeadline, OnRejected, ProcessCommand, ProcessManager, React, Rejected, Then,
};
use es_core::{Aggregate, Apply, Event, Handle, Recorded};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
struct OrderPlaced {
    order_id: u64,
    sku: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
struct Reserved {
    order: u64,
}

#[derive(Debug, Clone, Event)]
enum PaymentEvent {
    Captured { reference: String },
}

#[derive(Debug, Default, Serialize, Deserialize, Aggregate)]
#[aggregate(event = Reserved)]
struct Stock;

impl Apply<Reserved> for Stock {
    fn apply(&mut self, _: &Reserved) {}
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Reserve {
    order: u64,
}

impl Handle<Reserve> for Stock {
    type Error = std::convert::Infallible;
    fn handle(&self, c: Reserve) -> Result<Vec<Reserved>, Self::Error> {
        Ok(vec![Reserved { order: c.order }])
    }
}

/// The commands, the target given by path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ProcessCommand)]
enum FulfillmentCommand {
    #[command(to = self::Stock)]
    Reserve(Reserve),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Due {
    Payment,
}

fn order_of_payment(e: &Recorded<PaymentEvent>) -> String {
    match &e.event {
        PaymentEvent::Captured { reference } => reference.clone(),
    }
}

/// A default key, a per-event key, a key function, deadlines.
#[derive(Default, Serialize, Deserialize, ProcessManager)]
#[process(
    name = "fulfillment.v2",
    commands = FulfillmentCommand,
    deadlines = Due,
    key = order_id,
    events(OrderPlaced, Reserved(key = order), PaymentEvent(key_with = order_of_payment))
)]
struct Fulfillment {
    paid: bool,
}

impl React<OrderPlaced> for Fulfillment {
    fn react(&mut self, e: &Recorded<OrderPlaced>, then: &mut Then<Self>) {
        then.send(&e.event.sku, Reserve { order: e.event.order_id });
        then.schedule(Due::Payment, Duration::from_secs(60));
    }
}

impl React<Reserved> for Fulfillment {
    fn react(&mut self, _: &Recorded<Reserved>, _: &mut Then<Self>) {}
}

impl React<PaymentEvent> for Fulfillment {
    fn react(&mut self, _: &Recorded<PaymentEvent>, then: &mut Then<Self>) {
        self.paid = true;
        then.cancel(Due::Payment);
        then.complete();
    }
}

impl OnRejected for Fulfillment {
    fn rejected(&mut self, _: &Rejected<FulfillmentCommand>, then: &mut Then<Self>) {
        then.complete();
    }
}

impl OnDeadline for Fulfillment {
    fn deadline(&mut self, _: &Due, then: &mut Then<Self>) {
        then.complete();
    }
}

fn main() {
    assert_eq!(Fulfillment::NAME, "fulfillment.v2");
    assert_eq!(
        Fulfillment::EVENT_TYPES,
        ["OrderPlaced", "Reserved", "Captured"]
    );
    assert_eq!(FulfillmentCommand::from(Reserve { order: 1 }).aggregate(), "Stock");
    let _ = Fulfillment::default().paid;
}
