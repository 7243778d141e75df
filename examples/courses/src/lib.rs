//! The courses example: students subscribe to courses. A course has a
//! capacity, a student a limit of courses; both rules span several
//! streams, so no aggregate holds them. Each decision instead reads the
//! events its rules need (a query by event types and tags), decides, and
//! appends on the condition that none of those events changed since
//! (consistency boundaries by query, [`es_core::dcb`]).
//!
//! - [`events`]: the events, tagged by the course and the student they
//!   are about (`#[tag]`).
//! - [`models`]: the decision models: a course, a student, one
//!   subscription.
//! - [`decide`]: the commands as decide functions on those models.

pub mod decide;
pub mod events;
pub mod models;

pub use decide::{CourseError, MAX_COURSES_PER_STUDENT};
pub use events::*;
pub use models::{Course, Student, Subscription};
