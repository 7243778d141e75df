use es_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
struct Subscribed {
    #[tag("course:id")]
    course_id: String,
    #[tag("")]
    student_id: String,
}

fn main() {}
