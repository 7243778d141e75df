use es_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
struct Subscribed {
    course_id: String,
}

#[derive(Event)]
enum CourseEvent {
    #[tag]
    Opened { course_id: String },
    Subscribed(#[tag("course")] Subscribed),
}

fn main() {}
