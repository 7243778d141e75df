use es_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
struct Subscribed {
    #[tag]
    #[tag("lesson")]
    course_id: String,
}

fn main() {}
