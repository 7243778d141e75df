//! The courses example as a demo on a persistent store: the SQLite file
//! `courses.db` in the working directory (the path in `COURSES_DB` for
//! another), or PostgreSQL when `DATABASE_URL` is set. Each run uses fresh
//! ids, so it runs again and again.
//!
//! The course's capacity and the student's limit of courses each span many
//! streams; every subscription is one decision on three models (the
//! course, the student, the subscription), appended on the condition that
//! none of their events changed since it read them.
// Amounts of students are small; a demo prints.
#![allow(clippy::print_stdout)]

#[path = "../../common/backend.rs"]
#[allow(dead_code, unreachable_pub)]
mod backend;
#[path = "../../common/say.rs"]
mod say;

use std::path::PathBuf;

use courses::decide::{
    change_capacity, define_course, register_student, rename_course, subscribe,
    subscription_models, unsubscribe,
};
use courses::{Course, CourseError, MAX_COURSES_PER_STUDENT, Subscription};
use es_core::dcb::{DcbStore, DecisionError, Decisions};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if let Some(url) = backend::database_url() {
        let store = backend::open_postgres(&url).await?;
        story(store, "PostgreSQL (DATABASE_URL)").await
    } else {
        let path =
            std::env::var_os("COURSES_DB").map_or_else(|| "courses.db".into(), PathBuf::from);
        let store = backend::open_sqlite(&path).await?;
        let result = story(store.clone(), &format!("SQLite file {}", path.display())).await;
        store.close().await;
        result
    }
}

/// The refusal's text, or the failure.
fn refused<T>(r: Result<T, DecisionError<CourseError>>) -> anyhow::Result<String> {
    match r {
        Err(DecisionError::Rejected(why)) => Ok(why.to_string()),
        Err(other) => Err(other.into()),
        Ok(_) => anyhow::bail!("the decision should have been refused"),
    }
}

async fn story<S: DcbStore>(store: S, name: &str) -> anyhow::Result<()> {
    say!("Store: {name}");
    let run = uuid::Uuid::now_v7().simple().to_string();
    let run = &run[run.len() - 6..];
    let id = |what: &str| format!("{what}-{run}");
    let decisions = Decisions::new(store).retry_on_conflict(5);

    let (rust, db) = (id("rust"), id("databases"));
    decisions
        .execute(Course::new(&rust), |c| define_course(c, "Rust", 2))
        .await?;
    decisions
        .execute(Course::new(&db), |c| define_course(c, "Databases", 10))
        .await?;
    say!("defined {rust} (capacity 2) and {db} (capacity 10)");
    let students: Vec<String> = ["ada", "bob", "cy"].iter().map(|s| id(s)).collect();
    for s in &students {
        let name = s.split('-').next().unwrap_or(s).to_owned();
        decisions
            .execute(courses::Student::new(s), |m| register_student(m, &name))
            .await?;
    }
    say!("registered {}", students.join(", "));

    for s in &students[..2] {
        decisions
            .execute(subscription_models(&rust, s), subscribe)
            .await?;
        say!("{s} subscribed to {rust}");
    }
    let full = decisions
        .execute(subscription_models(&rust, &students[2]), subscribe)
        .await;
    say!(
        "{} subscribing to {rust}: refused: {}",
        students[2],
        refused(full)?
    );

    decisions
        .execute(Course::new(&rust), |c| change_capacity(c, 3))
        .await?;
    say!("{rust}'s capacity raised to 3");
    decisions
        .execute(subscription_models(&rust, &students[2]), subscribe)
        .await?;
    say!("{} subscribed to {rust}", students[2]);
    let lower = decisions
        .execute(Course::new(&rust), |c| change_capacity(c, 1))
        .await;
    say!(
        "lowering {rust}'s capacity to 1: refused: {}",
        refused(lower)?
    );

    // Ada takes the most courses she may; a fourth is refused.
    let ada = &students[0];
    decisions
        .execute(subscription_models(&db, ada), subscribe)
        .await?;
    let third = id("networks");
    decisions
        .execute(Course::new(&third), |c| define_course(c, "Networks", 10))
        .await?;
    decisions
        .execute(subscription_models(&third, ada), subscribe)
        .await?;
    let fourth = id("compilers");
    decisions
        .execute(Course::new(&fourth), |c| define_course(c, "Compilers", 10))
        .await?;
    let limit = decisions
        .execute(subscription_models(&fourth, ada), subscribe)
        .await;
    say!(
        "{ada} takes {MAX_COURSES_PER_STUDENT} courses; a fourth: refused: {}",
        refused(limit)?
    );
    decisions
        .execute(Subscription::new(&third, ada), unsubscribe)
        .await?;
    decisions
        .execute(subscription_models(&fourth, ada), subscribe)
        .await?;
    say!("{ada} cancelled {third} and subscribed to {fourth}");
    decisions
        .execute(Course::new(&db), |c| rename_course(c, "Databases II"))
        .await?;

    // Eight students race for the last two seats of a course: exactly two win.
    let race = id("race");
    decisions
        .execute(Course::new(&race), |c| define_course(c, "Popular", 2))
        .await?;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let student = id(&format!("s{i}"));
        decisions
            .execute(courses::Student::new(&student), |m| {
                register_student(m, "racer")
            })
            .await?;
        let (d, race) = (decisions.clone(), race.clone());
        tasks.push(tokio::spawn(async move {
            d.execute(subscription_models(&race, &student), subscribe)
                .await
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await? {
            Ok(_) => won += 1,
            Err(DecisionError::Rejected(CourseError::CourseFull { .. })) => {}
            Err(other) => return Err(other.into()),
        }
    }
    say!(
        "8 students raced for 2 seats of {race}: {won} subscribed, {} refused",
        8 - won
    );
    anyhow::ensure!(won == 2, "{won} students got the 2 seats");

    let (course, _) = decisions.load(Course::new(&rust)).await?;
    say!(
        "{rust}: \"{}\", {} of {} seats taken",
        course.title,
        course.subscribed,
        course.capacity
    );
    let (db_course, _) = decisions.load(Course::new(&db)).await?;
    say!(
        "{db}: \"{}\", {} of {} seats taken",
        db_course.title,
        db_course.subscribed,
        db_course.capacity
    );
    Ok(())
}
