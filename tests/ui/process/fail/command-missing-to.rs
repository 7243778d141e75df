use es_core::process::ProcessCommand;
use es_core::{Aggregate, Apply, Event, Handle};
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
    Reserve(Reserve),
}

fn main() {}
