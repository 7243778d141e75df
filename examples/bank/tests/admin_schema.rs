//! `bank-admin schema`: the JSON Schemas of the bank's event types (es-cli's
//! feature `schema`, the event structs derive schemars::JsonSchema). No
//! database.

mod common;

use assert_cmd::Command;
use common::json_of;
use serde_json::Value;

fn admin() -> Command {
    let mut cmd = Command::cargo_bin("bank-admin").expect("the bank-admin binary");
    cmd.env_remove("DATABASE_URL").env("RUST_LOG", "off");
    cmd
}

/// A JSON Schema (draft 2020-12) of an object whose required fields are
/// among its properties; returns the property names.
fn object_schema(schema: &Value, event_type: &str) -> Vec<String> {
    assert_eq!(
        schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
        "{schema}"
    );
    assert_eq!(schema["type"], "object", "{schema}");
    assert_eq!(schema["x-event-type"], event_type, "{schema}");
    assert!(
        schema["x-schema-version"].as_u64().unwrap() >= 1,
        "{schema}"
    );
    let properties = schema["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for required in schema["required"].as_array().cloned().unwrap_or_default() {
        assert!(
            properties.contains_key(required.as_str().unwrap()),
            "{schema}"
        );
    }
    properties.keys().cloned().collect()
}

#[test]
fn every_event_type_has_a_schema_naming_its_fields() {
    let all = json_of(&admin().arg("schema").assert().success());
    let all = all.as_object().unwrap();
    let mut names: Vec<&str> = all.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "AccountClosed",
            "AccountOpened",
            "MoneyDeposited",
            "MoneyWithdrawn",
            "OverdraftLimitSet"
        ]
    );
    assert_eq!(
        object_schema(&all["AccountOpened"], "AccountOpened"),
        ["initial_deposit", "owner_id"]
    );
    assert_eq!(
        object_schema(&all["AccountClosed"], "AccountClosed"),
        Vec::<String>::new()
    );
}

#[test]
fn one_type_at_its_current_version_on_stdout_or_in_files() {
    let one = json_of(
        &admin()
            .args(["schema", "MoneyDeposited"])
            .assert()
            .success(),
    );
    assert_eq!(
        object_schema(&one, "MoneyDeposited"),
        ["amount", "category", "description"]
    );
    assert_eq!(one["x-schema-version"], 2);
    assert_eq!(one["properties"]["amount"]["type"], "integer");
    assert_eq!(one["properties"]["amount"]["description"], "In cents.");

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("schemas");
    let a = admin()
        .args(["schema", "--out"])
        .arg(&out)
        .assert()
        .success();
    let said = String::from_utf8(a.get_output().stdout.clone()).unwrap();
    assert_eq!(said.lines().count(), 5, "{said}");
    let file: Value =
        serde_json::from_slice(&std::fs::read(out.join("MoneyWithdrawn.json")).unwrap()).unwrap();
    assert_eq!(
        object_schema(&file, "MoneyWithdrawn"),
        ["amount", "description"]
    );

    let a = admin().args(["schema", "Nope"]).assert().code(4);
    let err = String::from_utf8(a.get_output().stderr.clone()).unwrap();
    assert!(
        err.starts_with("bank-admin: error: no registered event type `Nope`"),
        "{err}"
    );
}
