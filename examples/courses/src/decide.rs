//! The commands, as decide functions on decision models: each returns the
//! events to append, or why not. [`Decisions::execute`] runs them.
//!
//! [`Decisions::execute`]: es_core::dcb::Decisions::execute

use crate::events::{
    CourseCapacityChanged, CourseDefined, CourseEvent, CourseRenamed, StudentRegistered,
    StudentSubscribed, StudentUnsubscribed,
};
use crate::models::{Course, Student, Subscription};

/// How many courses a student may take at once.
pub const MAX_COURSES_PER_STUDENT: u32 = 3;

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CourseError {
    /// The course exists already.
    #[error("course {0} already exists")]
    CourseExists(String),
    /// No such course.
    #[error("there is no course {0}")]
    NoCourse(String),
    /// A capacity of zero.
    #[error("a course takes at least one student")]
    NoCapacity,
    /// Fewer seats than subscriptions.
    #[error("course {course} has {subscribed} students; its capacity cannot go below that")]
    BelowSubscriptions {
        /// The course.
        course: String,
        /// Its subscriptions.
        subscribed: u32,
    },
    /// The student registered already.
    #[error("student {0} is already registered")]
    StudentExists(String),
    /// No such student.
    #[error("there is no student {0}")]
    NoStudent(String),
    /// The course is full.
    #[error("course {course} is full ({capacity} students)")]
    CourseFull {
        /// The course.
        course: String,
        /// Its capacity.
        capacity: u32,
    },
    /// The student takes the most courses they may.
    #[error("student {student} takes {MAX_COURSES_PER_STUDENT} courses already")]
    TooManyCourses {
        /// The student.
        student: String,
    },
    /// Subscribed already.
    #[error("student {student} is already subscribed to {course}")]
    AlreadySubscribed {
        /// The course.
        course: String,
        /// The student.
        student: String,
    },
    /// Not subscribed.
    #[error("student {student} is not subscribed to {course}")]
    NotSubscribed {
        /// The course.
        course: String,
        /// The student.
        student: String,
    },
}

/// Defines a course.
pub fn define_course(
    c: &Course,
    title: &str,
    capacity: u32,
) -> Result<Vec<CourseEvent>, CourseError> {
    if c.exists {
        return Err(CourseError::CourseExists(c.course_id.clone()));
    }
    if capacity == 0 {
        return Err(CourseError::NoCapacity);
    }
    Ok(vec![
        CourseDefined {
            course_id: c.course_id.clone(),
            title: title.to_owned(),
            capacity,
        }
        .into(),
    ])
}

/// Changes a course's capacity (never below its subscriptions).
pub fn change_capacity(c: &Course, capacity: u32) -> Result<Vec<CourseEvent>, CourseError> {
    if !c.exists {
        return Err(CourseError::NoCourse(c.course_id.clone()));
    }
    if capacity == 0 {
        return Err(CourseError::NoCapacity);
    }
    if capacity < c.subscribed {
        return Err(CourseError::BelowSubscriptions {
            course: c.course_id.clone(),
            subscribed: c.subscribed,
        });
    }
    if capacity == c.capacity {
        return Ok(Vec::new());
    }
    Ok(vec![
        CourseCapacityChanged {
            course_id: c.course_id.clone(),
            capacity,
        }
        .into(),
    ])
}

/// Renames a course.
pub fn rename_course(c: &Course, title: &str) -> Result<Vec<CourseEvent>, CourseError> {
    if !c.exists {
        return Err(CourseError::NoCourse(c.course_id.clone()));
    }
    if c.title == title {
        return Ok(Vec::new());
    }
    Ok(vec![
        CourseRenamed {
            course_id: c.course_id.clone(),
            title: title.to_owned(),
        }
        .into(),
    ])
}

/// Registers a student.
pub fn register_student(s: &Student, name: &str) -> Result<Vec<CourseEvent>, CourseError> {
    if s.registered {
        return Err(CourseError::StudentExists(s.student_id.clone()));
    }
    Ok(vec![
        StudentRegistered {
            student_id: s.student_id.clone(),
            name: name.to_owned(),
        }
        .into(),
    ])
}

/// Subscribes a student to a course: one decision on three models (the
/// course's capacity, the student's limit, the subscription itself).
pub fn subscribe(
    (course, student, subscription): &(Course, Student, Subscription),
) -> Result<Vec<CourseEvent>, CourseError> {
    if !course.exists {
        return Err(CourseError::NoCourse(course.course_id.clone()));
    }
    if !student.registered {
        return Err(CourseError::NoStudent(student.student_id.clone()));
    }
    if subscription.active {
        return Err(CourseError::AlreadySubscribed {
            course: course.course_id.clone(),
            student: student.student_id.clone(),
        });
    }
    if course.subscribed >= course.capacity {
        return Err(CourseError::CourseFull {
            course: course.course_id.clone(),
            capacity: course.capacity,
        });
    }
    if student.courses >= MAX_COURSES_PER_STUDENT {
        return Err(CourseError::TooManyCourses {
            student: student.student_id.clone(),
        });
    }
    Ok(vec![
        StudentSubscribed {
            course_id: course.course_id.clone(),
            student_id: student.student_id.clone(),
        }
        .into(),
    ])
}

/// Cancels a subscription.
pub fn unsubscribe(s: &Subscription) -> Result<Vec<CourseEvent>, CourseError> {
    if !s.active {
        return Err(CourseError::NotSubscribed {
            course: s.course_id.clone(),
            student: s.student_id.clone(),
        });
    }
    Ok(vec![
        StudentUnsubscribed {
            course_id: s.course_id.clone(),
            student_id: s.student_id.clone(),
        }
        .into(),
    ])
}

/// The three models a subscription decides on.
pub fn subscription_models(course: &str, student: &str) -> (Course, Student, Subscription) {
    (
        Course::new(course),
        Student::new(student),
        Subscription::new(course, student),
    )
}
