use es_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct CourseId(String);

#[derive(Serialize, Deserialize, Event)]
struct Subscribed {
    #[tag]
    course_id: CourseId,
}

fn main() {}
