use es_core::dcb::DecisionModel;
use es_core::{Apply, Event};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct CourseDefined {
    #[tag]
    course_id: String,
    capacity: u32,
}

#[derive(DecisionModel)]
#[decision(events(CourseDefined(key = course_id)))]
struct Capacity {
    #[tag]
    course_id: String,
}

impl Apply<CourseDefined> for Capacity {
    fn apply(&mut self, _: &CourseDefined) {}
}

fn main() {}
