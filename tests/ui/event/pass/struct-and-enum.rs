use es_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "AccountOpened", version = 3, alias = "Opened",
        upcast(from = 1, with = v1_to_v2), upcast(from = 2, via = OpenedV2))]
struct Opened {
    owner: String,
}

fn v1_to_v2(v: serde_json::Value) -> Result<serde_json::Value, es_core::UpcastError> {
    Ok(v)
}

#[derive(Deserialize)]
struct OpenedV2 {
    owner: String,
}

impl From<OpenedV2> for Opened {
    fn from(v: OpenedV2) -> Self {
        Self { owner: v.owner }
    }
}

#[derive(Debug, Event)]
enum AccountEvent {
    Opened(Opened),
    #[event(name = "AccountClosed", version = 2)]
    Closed {
        #[serde(default)]
        reason: String,
    },
    Frozen,
}

fn main() {
    let e = AccountEvent::from(Opened { owner: "a".into() });
    assert_eq!(e.event_type(), "AccountOpened");
    assert_eq!(AccountEvent::EVENT_TYPES.len(), 3);
}
