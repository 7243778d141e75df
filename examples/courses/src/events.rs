//! The events, each tagged with what it is about.

use es_core::Event;
use serde::{Deserialize, Serialize};

/// A course was defined with a title and a capacity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Event)]
pub struct CourseDefined {
    /// The course.
    #[tag]
    pub course_id: String,
    /// Its title.
    pub title: String,
    /// How many students it takes.
    pub capacity: u32,
}

/// A course's capacity changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Event)]
pub struct CourseCapacityChanged {
    /// The course.
    #[tag]
    pub course_id: String,
    /// The new capacity.
    pub capacity: u32,
}

/// A course was renamed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Event)]
pub struct CourseRenamed {
    /// The course.
    #[tag]
    pub course_id: String,
    /// The new title.
    pub title: String,
}

/// A student registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Event)]
pub struct StudentRegistered {
    /// The student.
    #[tag]
    pub student_id: String,
    /// Their name.
    pub name: String,
}

/// A student subscribed to a course: about both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Event)]
pub struct StudentSubscribed {
    /// The course.
    #[tag]
    pub course_id: String,
    /// The student.
    #[tag]
    pub student_id: String,
}

/// A student cancelled a subscription: about both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Event)]
pub struct StudentUnsubscribed {
    /// The course.
    #[tag]
    pub course_id: String,
    /// The student.
    #[tag]
    pub student_id: String,
}

/// Every event of the example (for tools and tests that read them all).
#[derive(Debug, Clone, PartialEq, Eq, Event)]
pub enum CourseEvent {
    /// See [`CourseDefined`].
    Defined(CourseDefined),
    /// See [`CourseCapacityChanged`].
    CapacityChanged(CourseCapacityChanged),
    /// See [`CourseRenamed`].
    Renamed(CourseRenamed),
    /// See [`StudentRegistered`].
    Registered(StudentRegistered),
    /// See [`StudentSubscribed`].
    Subscribed(StudentSubscribed),
    /// See [`StudentUnsubscribed`].
    Unsubscribed(StudentUnsubscribed),
}
