//! `bank-admin validate` (es_cli::Tool with bank::AccountEvent): event JSON
//! files checked against the bank's types, without a database.

use std::path::Path;

use assert_cmd::Command;
use serde_json::{Value, json};

/// `bank-admin` with no database anywhere: `validate` must not need one.
fn admin() -> Command {
    let mut cmd = Command::cargo_bin("bank-admin").expect("the bank-admin binary");
    cmd.env_remove("DATABASE_URL").env("RUST_LOG", "off");
    cmd
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn stdout_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(assert.get_output().stdout.clone()).unwrap()
}

/// A single event, an array (with a version-1 deposit, upcast, and one
/// without `schema_version`), and JSON lines (with `event_type` / `payload`):
/// 6 events that all decode. A subdirectory and a `.txt` file are not read.
fn good_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a-single.json",
        r#"{"type": "AccountOpened", "schema_version": 1, "data": {"owner_id": "alice", "initial_deposit": 100}}"#,
    );
    write(
        dir.path(),
        "b-array.json",
        r#"[
  {"type": "MoneyDeposited", "schema_version": 2,
   "data": {"amount": 5, "description": "pay", "category": "salary"}},
  {"type": "MoneyDeposited", "schema_version": 1, "data": {"amount": 7}},
  {"type": "MoneyWithdrawn", "data": {"amount": 1, "description": "tea"}}
]
"#,
    );
    write(
        dir.path(),
        "c-lines.jsonl",
        concat!(
            r#"{"event_type": "OverdraftLimitSet", "schema_version": 1, "payload": {"limit": 50}}"#,
            "\n",
            r#"{"event_type": "AccountClosed", "schema_version": 1, "payload": {}}"#,
            "\n",
        ),
    );
    write(dir.path(), "notes.txt", "not an event file");
    std::fs::create_dir(dir.path().join("nested")).unwrap();
    write(&dir.path().join("nested"), "bad.json", "{");
    dir
}

#[test]
fn valid_files_exit_0_with_counts_and_need_no_database() {
    let dir = good_dir();
    let assert = admin().arg("validate").arg(dir.path()).assert().code(0);
    let text = stdout_of(&assert);
    assert!(text.contains("validated 6 event(s) in 3 file(s)"), "{text}");
    assert!(
        text.contains("ok: every event decodes with this build's types"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("MoneyDeposited") && l.contains("  2       0")),
        "{text}"
    );

    // One file on its own.
    admin()
        .arg("validate")
        .arg(dir.path().join("b-array.json"))
        .assert()
        .code(0)
        .stdout(predicates::str::contains(
            "validated 3 event(s) in 1 file(s)",
        ));
}

/// Each kind of failure, at a known line.
fn bad_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "events.json",
        r#"[
  {"type": "AccountOpened", "schema_version": 1,
   "data": {"owner_id": "alice", "initial_deposit": 1}},

  {"type": "AccountOpened", "schema_version": 1,
   "data": {"initial_deposit": 3}},
  {"type": "MoneyDeposited", "schema_version": 9,
   "data": {"amount": 1, "description": "", "category": "x"}}
]"#,
    );
    write(
        dir.path(),
        "lines.jsonl",
        concat!(
            r#"{"type": "AccountOpened", "data": {"owner_id": "bob", "initial_deposit": 2}}"#,
            "\n\n",
            r#"{"type": "AccountFrozen", "schema_version": 1, "data": {}}"#,
            "\n",
        ),
    );
    write(
        dir.path(),
        "truncated.json",
        "{\"type\": \"AccountOpened\",\n \"data\": {\"owner_id\": \"c",
    );
    dir
}

#[test]
fn failures_exit_1_and_name_each_file_and_line() {
    let dir = bad_dir();
    let assert = admin().arg("validate").arg(dir.path()).assert().code(1);
    let text = stdout_of(&assert);
    assert!(
        text.contains("FAILED: 3 of 5 event(s) do not decode with this build's types; 1 file(s) are not valid JSON"),
        "{text}"
    );
    let file = |name: &str| dir.path().join(name).display().to_string();
    for line in [
        format!(
            "  {}:5  AccountOpened@1: cannot decode `AccountOpened` (schema version 1) at `.`: missing field `owner_id`",
            file("events.json")
        ),
        format!(
            "  {}:7  MoneyDeposited@9: event `MoneyDeposited` has schema version 9 but this code knows versions up to 2",
            file("events.json")
        ),
        format!(
            "  {}:3  AccountFrozen@1: unknown event type `AccountFrozen`",
            file("lines.jsonl")
        ),
        format!("  {}:2:", file("truncated.json")),
    ] {
        assert!(text.contains(&line), "{line}\n---\n{text}");
    }
    assert!(
        text.lines()
            .any(|l| l.contains("AccountFrozen") && l.trim_end().ends_with("unknown type")),
        "{text}"
    );
}

#[test]
fn json_output_lists_every_failure() {
    let dir = bad_dir();
    let assert = admin()
        .args(["validate", "--json"])
        .arg(dir.path())
        .assert()
        .code(1);
    let report: Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    assert_eq!(report["path"], dir.path().display().to_string());
    assert_eq!(
        (
            report["files"].clone(),
            report["checked"].clone(),
            report["failed"].clone(),
            report["invalid_files"].clone()
        ),
        (json!(3), json!(5), json!(3), json!(1))
    );
    let opened = report["per_type"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["event_type"] == "AccountOpened")
        .unwrap();
    assert_eq!(
        opened,
        &json!({"event_type": "AccountOpened", "known": true, "checked": 3, "failed": 1})
    );
    let failures = report["failures"].as_array().unwrap();
    let short: Vec<(String, u64, &str)> = failures
        .iter()
        .map(|f| {
            let name = Path::new(f["file"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (
                name,
                f["line"].as_u64().unwrap(),
                f["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        short,
        [
            ("events.json".to_owned(), 5, "decode"),
            ("events.json".to_owned(), 7, "newer_version"),
            ("lines.jsonl".to_owned(), 3, "unknown_type"),
            ("truncated.json".to_owned(), 2, "invalid_json"),
        ]
    );
    assert_eq!(
        failures[1],
        json!({
            "file": dir.path().join("events.json").display().to_string(), "line": 7,
            "event_type": "MoneyDeposited", "schema_version": 9, "kind": "newer_version",
            "error": failures[1]["error"],
        })
    );
    assert_eq!(failures[3]["event_type"], Value::Null);
    assert!(failures[3]["column"].as_u64().unwrap() > 0);
}

#[test]
fn a_missing_path_exits_3_with_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let assert = admin()
        .arg("validate")
        .arg(dir.path().join("nope"))
        .assert()
        .code(3);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("bank-admin: error: cannot read `"),
        "{stderr}"
    );
    assert!(assert.get_output().stdout.is_empty());

    // An empty directory: nothing fails, but it says so.
    admin()
        .arg("validate")
        .arg(dir.path())
        .assert()
        .code(0)
        .stdout(predicates::str::contains(
            "validated 0 event(s) in 0 file(s)",
        ))
        .stderr(predicates::str::contains(
            "bank-admin: warning: no *.json or *.jsonl files in",
        ));

    admin().arg("validate").assert().code(2);
    admin()
        .arg("--help")
        .assert()
        .code(0)
        .stdout(predicates::str::contains("validate"));
}
