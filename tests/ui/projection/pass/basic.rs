use es_core::projection::{Dispatch, HandlerError};
use es_core::{Event, On, Projection, Recorded};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
struct Opened {
    owner: String,
}

#[derive(Serialize, Deserialize, Event)]
struct Placed {}

#[derive(Event)]
enum OrderEvent {
    Placed(Placed),
    Shipped { at: u64 },
}

/// Two aggregates' events, the name defaulted.
#[derive(Default, Projection)]
#[projection(events(Opened, OrderEvent))]
struct Overview {
    seen: u32,
}

impl On<Opened> for Overview {
    async fn on(&mut self, _: Recorded<Opened>, _: &mut ()) -> Result<(), HandlerError> {
        self.seen += 1;
        Ok(())
    }
}

impl On<OrderEvent> for Overview {
    async fn on(&mut self, _: Recorded<OrderEvent>, _: &mut ()) -> Result<(), HandlerError> {
        self.seen += 1;
        Ok(())
    }
}

/// A database-like context: handlers write through it.
struct Tx(Vec<String>);

#[derive(Projection)]
#[projection(name = "order-log.v2", events(Placed))]
struct OrderLog;

impl On<Placed, Tx> for OrderLog {
    async fn on(&mut self, e: Recorded<Placed>, tx: &mut Tx) -> Result<(), HandlerError> {
        tx.0.push(e.stream_id);
        Ok(())
    }
}

/// Generic, over types it does not list.
#[derive(Projection)]
#[projection(name = "counted", events(Opened))]
struct Counted<S: Send + 'static> {
    sink: S,
}

impl<S: Send + 'static + Extend<u64>> On<Opened> for Counted<S> {
    async fn on(&mut self, e: Recorded<Opened>, _: &mut ()) -> Result<(), HandlerError> {
        self.sink.extend([e.global_position]);
        Ok(())
    }
}

fn runs<P: Dispatch<Ctx>, Ctx: ?Sized>() -> &'static str {
    P::NAME
}

fn main() {
    assert_eq!(runs::<Overview, ()>(), "overview");
    assert_eq!(Overview::EVENT_TYPES, ["Opened", "Placed", "Shipped"]);
    assert_eq!(runs::<OrderLog, Tx>(), "order-log.v2");
    assert_eq!(runs::<Counted<Vec<u64>>, ()>(), "counted");
}
