#![deny(warnings)]

use es_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct CourseDefined {
    #[tag]
    course_id: String,
    capacity: u32,
}

#[derive(Debug, Serialize, Deserialize, Event)]
struct Subscribed(#[tag("course")] String, #[tag("student")] u64);

#[derive(Debug, Event)]
enum CourseEvent {
    Defined(CourseDefined),
    Subscribed(Subscribed),
    Renamed {
        #[tag]
        course_id: String,
        name: String,
    },
    Moved(u32, #[tag("room")] String),
    Closed,
}

fn main() {
    let tags = |e: &dyn Fn() -> CourseEvent| -> Vec<String> {
        e().tags().unwrap().iter().map(ToString::to_string).collect()
    };
    let defined = || CourseDefined { course_id: "c1".into(), capacity: 3 }.into();
    assert_eq!(tags(&defined), ["course:c1"]);
    assert_eq!(tags(&|| Subscribed("c1".into(), 7).into()), ["course:c1", "student:7"]);
    assert_eq!(tags(&|| CourseEvent::Renamed { course_id: "c2".into(), name: "x".into() }), ["course:c2"]);
    assert_eq!(tags(&|| CourseEvent::Moved(1, "r9".into())), ["room:r9"]);
    assert!(tags(&|| CourseEvent::Closed).is_empty());
    let bad = CourseDefined { course_id: String::new(), capacity: 1 };
    assert!(bad.tags().is_err());
}
