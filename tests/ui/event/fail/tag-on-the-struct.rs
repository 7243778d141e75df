use es_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[tag]
struct Subscribed {
    course_id: String,
}

fn main() {}
