#![deny(warnings)]

use es_core::dcb::{DecisionModel, Decisions};
use es_core::{Apply, Event, InMemoryEventStore};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
struct CourseDefined {
    #[tag]
    course_id: String,
    capacity: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
struct StudentSubscribed {
    #[tag]
    course_id: String,
    #[tag]
    student_id: String,
}

#[derive(Debug, Clone, Default, DecisionModel)]
#[decision(events(CourseDefined, StudentSubscribed))]
struct Capacity {
    #[tag]
    course_id: String,
    capacity: u32,
    subscribed: u32,
}

impl Apply<CourseDefined> for Capacity {
    fn apply(&mut self, e: &CourseDefined) {
        self.capacity = e.capacity;
    }
}
impl Apply<StudentSubscribed> for Capacity {
    fn apply(&mut self, _: &StudentSubscribed) {
        self.subscribed += 1;
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        let decisions = Decisions::new(InMemoryEventStore::new());
        let course = || Capacity { course_id: "c1".into(), ..Capacity::default() };
        let define = |_: &Capacity| Ok::<_, String>(vec![CourseDefined { course_id: "c1".into(), capacity: 1 }]);
        decisions.execute(course(), define).await.unwrap();
        let subscribe = |who: &'static str| {
            move |c: &Capacity| {
                if c.subscribed >= c.capacity {
                    return Err(format!("course full ({} of {})", c.subscribed, c.capacity));
                }
                Ok(vec![StudentSubscribed { course_id: c.course_id.clone(), student_id: who.into() }])
            }
        };
        decisions.execute(course(), subscribe("s1")).await.unwrap();
        let full = decisions.execute(course(), subscribe("s2")).await.unwrap_err();
        assert_eq!(full.rejection().map(String::as_str), Some("course full (1 of 1)"));
        let (model, _) = decisions.load(course()).await.unwrap();
        assert_eq!((model.capacity, model.subscribed), (1, 1));
        assert!(model.query().is_ok());
    });
}
