//! The decision models: each reads the events of one course, one student
//! or one subscription (its `#[tag]` fields bind the query).

use es_core::Apply;
use es_core::dcb::DecisionModel;

use crate::events::{
    CourseCapacityChanged, CourseDefined, CourseRenamed, StudentRegistered, StudentSubscribed,
    StudentUnsubscribed,
};

/// A course: whether it exists, its title, capacity and subscriptions.
#[derive(Debug, Clone, Default, PartialEq, Eq, DecisionModel)]
#[decision(events(
    CourseDefined,
    CourseCapacityChanged,
    CourseRenamed,
    StudentSubscribed,
    StudentUnsubscribed
))]
pub struct Course {
    /// The course this model is about.
    #[tag]
    pub course_id: String,
    /// Whether it was defined.
    pub exists: bool,
    /// Its title.
    pub title: String,
    /// How many students it takes.
    pub capacity: u32,
    /// How many are subscribed.
    pub subscribed: u32,
}

impl Course {
    /// The model of course `id`, before its events.
    pub fn new(id: &str) -> Self {
        Self {
            course_id: id.to_owned(),
            ..Self::default()
        }
    }
}

impl Apply<CourseDefined> for Course {
    fn apply(&mut self, e: &CourseDefined) {
        self.exists = true;
        self.title.clone_from(&e.title);
        self.capacity = e.capacity;
    }
}
impl Apply<CourseCapacityChanged> for Course {
    fn apply(&mut self, e: &CourseCapacityChanged) {
        self.capacity = e.capacity;
    }
}
impl Apply<CourseRenamed> for Course {
    fn apply(&mut self, e: &CourseRenamed) {
        self.title.clone_from(&e.title);
    }
}
impl Apply<StudentSubscribed> for Course {
    fn apply(&mut self, _: &StudentSubscribed) {
        self.subscribed += 1;
    }
}
impl Apply<StudentUnsubscribed> for Course {
    fn apply(&mut self, _: &StudentUnsubscribed) {
        self.subscribed = self.subscribed.saturating_sub(1);
    }
}

/// A student: whether registered, and how many courses they take.
#[derive(Debug, Clone, Default, PartialEq, Eq, DecisionModel)]
#[decision(events(StudentRegistered, StudentSubscribed, StudentUnsubscribed))]
pub struct Student {
    /// The student this model is about.
    #[tag]
    pub student_id: String,
    /// Whether they registered.
    pub registered: bool,
    /// How many courses they take.
    pub courses: u32,
}

impl Student {
    /// The model of student `id`, before their events.
    pub fn new(id: &str) -> Self {
        Self {
            student_id: id.to_owned(),
            ..Self::default()
        }
    }
}

impl Apply<StudentRegistered> for Student {
    fn apply(&mut self, _: &StudentRegistered) {
        self.registered = true;
    }
}
impl Apply<StudentSubscribed> for Student {
    fn apply(&mut self, _: &StudentSubscribed) {
        self.courses += 1;
    }
}
impl Apply<StudentUnsubscribed> for Student {
    fn apply(&mut self, _: &StudentUnsubscribed) {
        self.courses = self.courses.saturating_sub(1);
    }
}

/// One student's subscription to one course (the events tagged with both).
#[derive(Debug, Clone, Default, PartialEq, Eq, DecisionModel)]
#[decision(events(StudentSubscribed, StudentUnsubscribed))]
pub struct Subscription {
    /// The course.
    #[tag]
    pub course_id: String,
    /// The student.
    #[tag]
    pub student_id: String,
    /// Whether the student is subscribed now.
    pub active: bool,
}

impl Subscription {
    /// The model of `student`'s subscription to `course`.
    pub fn new(course: &str, student: &str) -> Self {
        Self {
            course_id: course.to_owned(),
            student_id: student.to_owned(),
            active: false,
        }
    }
}

impl Apply<StudentSubscribed> for Subscription {
    fn apply(&mut self, _: &StudentSubscribed) {
        self.active = true;
    }
}
impl Apply<StudentUnsubscribed> for Subscription {
    fn apply(&mut self, _: &StudentUnsubscribed) {
        self.active = false;
    }
}
