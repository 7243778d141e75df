//! Every rule of the courses example, given/when/then with `DecisionFixture`.

use courses::decide::{
    change_capacity, define_course, register_student, rename_course, subscribe,
    subscription_models, unsubscribe,
};
use courses::{
    Course, CourseCapacityChanged, CourseDefined, CourseError, CourseEvent, CourseRenamed,
    MAX_COURSES_PER_STUDENT, Student, StudentRegistered, StudentSubscribed, StudentUnsubscribed,
    Subscription,
};
use es_testing::DecisionFixture;

fn defined(course: &str, capacity: u32) -> CourseEvent {
    CourseDefined {
        course_id: course.into(),
        title: format!("Course {course}"),
        capacity,
    }
    .into()
}

fn registered(student: &str) -> CourseEvent {
    StudentRegistered {
        student_id: student.into(),
        name: student.to_uppercase(),
    }
    .into()
}

fn subscribed(course: &str, student: &str) -> CourseEvent {
    StudentSubscribed {
        course_id: course.into(),
        student_id: student.into(),
    }
    .into()
}

fn unsubscribed(course: &str, student: &str) -> CourseEvent {
    StudentUnsubscribed {
        course_id: course.into(),
        student_id: student.into(),
    }
    .into()
}

#[test]
fn a_course_is_defined_once() {
    DecisionFixture::new(Course::new("c1"))
        .when(|c| define_course(c, "Rust", 2))
        .then_expect_events([defined_with("c1", "Rust", 2)]);
    DecisionFixture::new(Course::new("c1"))
        .given([defined("c1", 2)])
        .when(|c| define_course(c, "Rust", 2))
        .then_expect_rejected(|e| *e == CourseError::CourseExists("c1".into()));
}

fn defined_with(course: &str, title: &str, capacity: u32) -> CourseEvent {
    CourseDefined {
        course_id: course.into(),
        title: title.into(),
        capacity,
    }
    .into()
}

#[test]
fn another_course_does_not_count() {
    DecisionFixture::new(Course::new("c1"))
        .given([defined("c2", 2)])
        .when(|c| define_course(c, "Rust", 2))
        .then_expect_model(|c| !c.exists)
        .then_expect_events([defined_with("c1", "Rust", 2)]);
}

#[test]
fn a_student_subscribes_while_seats_are_left() {
    DecisionFixture::new(subscription_models("c1", "s1"))
        .given([defined("c1", 2), registered("s1"), registered("s2")])
        .given([subscribed("c1", "s2")])
        .when(subscribe)
        .then_expect_model(|(c, s, sub)| c.subscribed == 1 && s.courses == 0 && !sub.active)
        .then_expect_events([subscribed("c1", "s1")]);
}

#[test]
fn a_full_course_refuses() {
    DecisionFixture::new(subscription_models("c1", "s3"))
        .given([defined("c1", 2), registered("s3")])
        .given([subscribed("c1", "s1"), subscribed("c1", "s2")])
        .when(subscribe)
        .then_expect_rejected(|e| {
            *e == CourseError::CourseFull {
                course: "c1".into(),
                capacity: 2,
            }
        });
}

#[test]
fn a_cancelled_subscription_frees_its_seat() {
    DecisionFixture::new(subscription_models("c1", "s3"))
        .given([defined("c1", 2), registered("s3")])
        .given([subscribed("c1", "s1"), subscribed("c1", "s2")])
        .given([unsubscribed("c1", "s1")])
        .when(subscribe)
        .then_expect_events([subscribed("c1", "s3")]);
}

#[test]
fn a_student_takes_at_most_the_limit() {
    let mut given = vec![registered("s1"), defined("c9", 5)];
    for i in 0..MAX_COURSES_PER_STUDENT {
        let c = format!("c{i}");
        given.push(defined(&c, 5));
        given.push(subscribed(&c, "s1"));
    }
    DecisionFixture::new(subscription_models("c9", "s1"))
        .given(given)
        .when(subscribe)
        .then_expect_model(|(_, s, _)| s.courses == MAX_COURSES_PER_STUDENT)
        .then_expect_rejected(|e| {
            *e == CourseError::TooManyCourses {
                student: "s1".into(),
            }
        });
}

#[test]
fn subscribing_twice_and_unknowns_are_refused() {
    DecisionFixture::new(subscription_models("c1", "s1"))
        .given([defined("c1", 5), registered("s1"), subscribed("c1", "s1")])
        .when(subscribe)
        .then_expect_rejected(|e| matches!(e, CourseError::AlreadySubscribed { .. }));
    DecisionFixture::new(subscription_models("c1", "s1"))
        .given([registered("s1")])
        .when(subscribe)
        .then_expect_rejected(|e| *e == CourseError::NoCourse("c1".into()));
    DecisionFixture::new(subscription_models("c1", "s1"))
        .given([defined("c1", 5)])
        .when(subscribe)
        .then_expect_rejected(|e| *e == CourseError::NoStudent("s1".into()));
}

#[test]
fn unsubscribing_needs_a_subscription() {
    DecisionFixture::new(Subscription::new("c1", "s1"))
        .given([subscribed("c1", "s1")])
        .when(unsubscribe)
        .then_expect_events([unsubscribed("c1", "s1")]);
    DecisionFixture::new(Subscription::new("c1", "s1"))
        .given([subscribed("c1", "s2"), subscribed("c2", "s1")])
        .when(unsubscribe)
        .then_expect_rejected(|e| matches!(e, CourseError::NotSubscribed { .. }));
}

#[test]
fn capacity_changes_never_go_below_the_subscriptions() {
    DecisionFixture::new(Course::new("c1"))
        .given([
            defined("c1", 3),
            subscribed("c1", "s1"),
            subscribed("c1", "s2"),
        ])
        .when(|c| change_capacity(c, 1))
        .then_expect_rejected(|e| {
            *e == CourseError::BelowSubscriptions {
                course: "c1".into(),
                subscribed: 2,
            }
        });
    DecisionFixture::new(Course::new("c1"))
        .given([defined("c1", 3)])
        .when(|c| change_capacity(c, 5))
        .then_expect_events([CourseEvent::from(CourseCapacityChanged {
            course_id: "c1".into(),
            capacity: 5,
        })]);
    DecisionFixture::new(Course::new("c1"))
        .given([defined("c1", 3)])
        .when(|c| change_capacity(c, 3))
        .then_expect_nothing();
}

#[test]
fn a_course_is_renamed_and_a_student_registers_once() {
    DecisionFixture::new(Course::new("c1"))
        .given([defined("c1", 3)])
        .when(|c| rename_course(c, "Rust II"))
        .then_expect_events([CourseEvent::from(CourseRenamed {
            course_id: "c1".into(),
            title: "Rust II".into(),
        })]);
    DecisionFixture::new(Student::new("s1"))
        .given([registered("s1")])
        .when(|s| register_student(s, "Ada"))
        .then_expect_rejected(|e| *e == CourseError::StudentExists("s1".into()));
}
