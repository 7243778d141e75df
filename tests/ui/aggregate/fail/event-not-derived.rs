use es_core::{Aggregate, EncodeError, DecodeError, Event, EventTypeInfo};
use serde::{Deserialize, Serialize};

struct Handwritten;

impl Event for Handwritten {
    const EVENT_TYPES: &'static [EventTypeInfo] = &[];
    fn event_type(&self) -> &'static str { "" }
    fn schema_version(&self) -> u32 { 1 }
    fn encode(&self) -> Result<Vec<u8>, EncodeError> { Ok(vec![]) }
    fn decode(t: &str, _: u32, _: &[u8]) -> Result<Self, DecodeError> {
        Err(es_core::__private::unknown_event_type::<Self>(t))
    }
}

#[derive(Default, Serialize, Deserialize, Aggregate)]
#[aggregate(event = Handwritten)]
struct Account {
    open: bool,
}

fn main() {}
