//! The bank app's state survives between runs of the binary (SQLite file
//! given with `--db`), the story runs again and again, refusals exit 1.

use assert_cmd::Command;
use predicates::prelude::*;

fn bank(db: &std::path::Path) -> Command {
    let mut cmd = Command::cargo_bin("bank").expect("the bank binary");
    cmd.env_remove("DATABASE_URL").arg("--db").arg(db);
    cmd
}

#[test]
fn state_survives_between_runs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bank.db");
    bank(&db)
        .args(["open", "acc-1", "alice", "100.00"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "opened acc-1 for alice with $100.00",
        ));
    bank(&db)
        .args(["deposit", "acc-1", "12.50", "lunch money"])
        .assert()
        .success()
        .stdout(predicate::str::contains("balance $112.50 (version 2)"));
    bank(&db)
        .args(["show", "acc-1"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "acc-1 (owner alice): balance $112.50, overdraft limit $0.00, open, version 2",
        ));
    bank(&db)
        .args(["as-of", "acc-1", "--version", "1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("balance $100.00"));
    bank(&db)
        .args(["history", "acc-1"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("AccountOpened")
                .and(predicate::str::contains(r#""description":"lunch money""#)),
        );
    bank(&db)
        .args(["summary", "--owner", "alice"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"acc-1\s+alice\s+\$112\.50\s+open\s+2").unwrap());
}

#[test]
fn a_refusal_is_one_line_and_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bank.db");
    bank(&db)
        .args(["open", "acc-1", "bob", "10"])
        .assert()
        .success();
    bank(&db)
        .args(["withdraw", "acc-1", "20.00"])
        .assert()
        .code(1)
        .stderr(predicate::eq(
            "refused: insufficient funds in acc-1: balance $10.00, requested $20.00\n",
        ));
    bank(&db)
        .args(["show", "nobody"])
        .assert()
        .code(1)
        .stderr(predicate::eq("refused: there is no account nobody\n"));
    bank(&db)
        .args(["deposit", "acc-1", "1.234"])
        .assert()
        .failure();
}

#[test]
fn the_story_runs_twice_in_a_row() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("story.db");
    for _ in 0..2 {
        bank(&db)
            .assert()
            .success()
            .stdout(predicate::str::contains(
                "deposited $35.00 (salary) and closed the account at version 6",
            ));
    }
    bank(&db)
        .args(["summary", "--owner", "alice"])
        .assert()
        .success()
        .stdout(predicate::str::contains("closed").count(2));
}

/// Piped into a reader that stops after the first line (`bank | head -1`),
/// the story ends quietly: status 0, no panic about a broken pipe.
#[test]
fn a_reader_that_stops_early_ends_the_story_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bank.db");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("bank"))
        .env_remove("DATABASE_URL")
        .arg("--db")
        .arg(&db)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the bank binary");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut first)
        .unwrap();
    // The reader is gone: the pipe is closed.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(first.starts_with("Store: "), "{first}");
    assert!(
        out.status.success(),
        "status {:?}, stderr: {stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
