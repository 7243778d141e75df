//! `cargo run -p courses` on a SQLite file, twice in a row (fresh ids each
//! run): the story's refusals and the race's result are as it says.

use std::process::Command;

#[test]
fn the_story_runs_twice_in_a_row() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = Command::new(env!("CARGO_BIN_EXE_courses"))
            .env_remove("DATABASE_URL")
            .env("COURSES_DB", dir.path().join("courses.db"))
            .output()
            .expect("the courses binary runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for expected in [
            "is full (2 students)",
            "its capacity cannot go below that",
            "takes 3 courses already",
            "8 students raced for 2 seats",
            ": 2 subscribed, 6 refused",
            "\"Databases II\", 1 of 10 seats taken",
        ] {
            assert!(stdout.contains(expected), "`{expected}` not in:\n{stdout}");
        }
    }
}
