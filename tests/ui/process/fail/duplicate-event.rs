use es_core::process::{OnRejected, ProcessCommand, ProcessManager, React, Rejected, Then};
use es_core::{Aggregate, Apply, Event, Handle, Recorded};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
struct OrderPlaced {
    order_id: String,
}

#[derive(Debug, Default, Serialize, Deserialize, Aggregate)]
#[aggregate(event = OrderPlaced)]
struct Stock;

impl Apply<OrderPlaced> for Stock {
    fn apply(&mut self, _: &OrderPlaced) {}
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Reserve;

impl Handle<Reserve> for Stock {
    type Error = std::convert::Infallible;
    fn handle(&self, _: Reserve) -> Result<Vec<OrderPlaced>, Self::Error> {
        Ok(vec![])
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ProcessCommand)]
enum Cmd {
    #[command(to = Stock)]
    Reserve(Reserve),
}

#[derive(Default, Serialize, Deserialize, ProcessManager)]
#[process(commands = Cmd, key = order_id, events(OrderPlaced, OrderPlaced))]
struct Checkout;

impl React<OrderPlaced> for Checkout {
    fn react(&mut self, _: &Recorded<OrderPlaced>, then: &mut Then<Self>) {
        then.send("sku", Reserve);
    }
}

impl OnRejected for Checkout {
    fn rejected(&mut self, _: &Rejected<Cmd>, _: &mut Then<Self>) {}
}

fn main() {}
