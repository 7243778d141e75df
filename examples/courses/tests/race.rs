//! The rules hold under concurrent decisions, end to end on PostgreSQL and
//! SQLite: students racing for the seats of a course, and one student
//! racing to take more courses than the limit.

use courses::decide::{define_course, register_student, subscribe, subscription_models};
use courses::{Course, CourseError, MAX_COURSES_PER_STUDENT, Student};
use es_core::dcb::{DcbStore, DecisionError, Decisions};
use es_postgres::PgEventStore;
use es_sqlite::SqliteEventStore;
use es_testing::postgres::TestDatabase;

/// Runs `tasks` subscriptions at once; how many were accepted.
async fn race<S: DcbStore>(d: &Decisions<S>, pairs: Vec<(String, String)>) -> usize {
    let mut tasks = Vec::new();
    for (course, student) in pairs {
        let d = d.clone();
        tasks.push(tokio::spawn(async move {
            d.execute(subscription_models(&course, &student), subscribe)
                .await
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.expect("a racer panicked") {
            Ok(_) => won += 1,
            Err(DecisionError::Rejected(
                CourseError::CourseFull { .. } | CourseError::TooManyCourses { .. },
            )) => {}
            Err(other) => panic!("a racer failed: {other:?}"),
        }
    }
    won
}

async fn seats_and_limits<S: DcbStore>(store: S) {
    let d = Decisions::new(store).retry_on_conflict(20);
    for round in 0..5 {
        let course = format!("c{round}");
        d.execute(Course::new(&course), |c| define_course(c, "Popular", 3))
            .await
            .unwrap();
        let mut pairs = Vec::new();
        for i in 0..10 {
            let s = format!("r{round}-s{i}");
            d.execute(Student::new(&s), |m| register_student(m, "racer"))
                .await
                .unwrap();
            pairs.push((course.clone(), s));
        }
        assert_eq!(
            race(&d, pairs).await,
            3,
            "round {round}: 10 students for 3 seats"
        );
        let (c, _) = d.load(Course::new(&course)).await.unwrap();
        assert_eq!(c.subscribed, 3);
    }
    // One student, six courses at once: the limit holds.
    d.execute(Student::new("greedy"), |m| register_student(m, "Greedy"))
        .await
        .unwrap();
    let mut pairs = Vec::new();
    for i in 0..6 {
        let course = format!("g{i}");
        d.execute(Course::new(&course), |c| define_course(c, "Any", 10))
            .await
            .unwrap();
        pairs.push((course, "greedy".to_owned()));
    }
    assert_eq!(race(&d, pairs).await, MAX_COURSES_PER_STUDENT as usize);
    let (s, _) = d.load(Student::new("greedy")).await.unwrap();
    assert_eq!(s.courses, MAX_COURSES_PER_STUDENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seats_and_limits_hold_under_racing_decisions_on_postgres() {
    let db = TestDatabase::create().await;
    let store = PgEventStore::connect(db.url()).await.unwrap();
    store.migrate().await.unwrap();
    seats_and_limits(store.clone()).await;
    store.pool().close().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seats_and_limits_hold_under_racing_decisions_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteEventStore::open(dir.path().join("courses.db"))
        .await
        .unwrap();
    seats_and_limits(store.clone()).await;
    store.close().await;
}
