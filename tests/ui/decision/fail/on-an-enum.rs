use es_core::dcb::DecisionModel;
use es_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct CourseDefined {
    #[tag]
    course_id: String,
    capacity: u32,
}

#[derive(DecisionModel)]
#[decision(events(CourseDefined))]
enum Capacity {
    Open,
}

fn main() {}
