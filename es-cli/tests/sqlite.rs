//! The `es` binary against an SQLite file (no server needed): each test
//! writes a file of its own in a temporary directory through
//! `es_sqlite::SqliteEventStore` and its projection runner.

use std::path::{Path, PathBuf};

use assert_cmd::cargo::cargo_bin_cmd;
use es_core::projection::{Dispatch, Projection, ProjectionError};
use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent, RecordedEvent};
use es_sqlite::{ErrorPolicy, ProjectionRunner, SqliteEventStore, SqliteProjection};
use serde_json::{Value, json};
use sqlx::SqliteConnection;

/// `es --database-url URL`, with the environment's DATABASE_URL removed.
fn es(url: &str) -> assert_cmd::Command {
    let mut cmd = cargo_bin_cmd!("es");
    cmd.env_remove("DATABASE_URL")
        .env("RUST_LOG", "off")
        .arg("--database-url")
        .arg(url);
    cmd
}

fn url(path: &Path) -> String {
    format!("sqlite:{}", path.display())
}

fn stdout_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(assert.get_output().stdout.clone()).unwrap()
}

fn stderr_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(assert.get_output().stderr.clone()).unwrap()
}

/// An error is one line on stderr, with no panic and no Debug dump.
fn assert_one_line_error(stderr: &str) {
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("es: error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Error {"), "{stderr}");
}

fn event(name: &str, payload: Value) -> NewEvent {
    NewEvent::from_raw(name, 1, payload.to_string().into_bytes(), Metadata::new())
}

async fn append(store: &SqliteEventStore, stream: &str, events: Vec<NewEvent>) {
    store
        .append(stream, ExpectedVersion::Any, events)
        .await
        .unwrap();
}

/// Refuses `OrderPlaced` (a dead letter under `ErrorPolicy::DeadLetter`),
/// accepts the rest and writes nothing.
struct Orders;

impl Projection for Orders {
    const NAME: &'static str = "orders";
    const EVENT_TYPES: &'static [&'static str] = &["OrderCreated", "ItemAdded", "OrderPlaced"];
}

impl Dispatch<SqliteConnection> for Orders {
    async fn dispatch(
        &mut self,
        e: &RecordedEvent,
        _conn: &mut SqliteConnection,
    ) -> Result<(), ProjectionError> {
        if e.event_type == "OrderPlaced" {
            return Err(ProjectionError::handler::<Self>(
                e,
                "refused by the test".into(),
            ));
        }
        Ok(())
    }
}

impl SqliteProjection for Orders {}

/// A temporary directory and the store file in it.
struct Seeded {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

/// A file with 6 events in 3 streams of 2 aggregate types, the checkpoint
/// of projection `orders` (run by its runner, which dead-letters the
/// `OrderPlaced` event) after the first 5 events, and none other.
async fn seeded() -> Seeded {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = SqliteEventStore::open(&path).await.unwrap();
    append(
        &store,
        "Order-1",
        vec![
            event("OrderCreated", json!({"order": 1})),
            event("ItemAdded", json!({"sku": "A-1", "qty": 2})),
            event("OrderPlaced", json!({"total": 1200})),
        ],
    )
    .await;
    append(
        &store,
        "Order-2",
        vec![event("OrderCreated", json!({"order": 2}))],
    )
    .await;
    let meta = Metadata::new().correlation_id(uuid::Uuid::nil());
    append(
        &store,
        "Customer-7",
        vec![NewEvent::from_raw(
            "CustomerRegistered",
            1,
            br#"{"name":"Ada"}"#.to_vec(),
            meta,
        )],
    )
    .await;
    let mut runner =
        ProjectionRunner::new(store.clone(), Orders).error_policy(ErrorPolicy::DeadLetter);
    runner.catch_up().await.unwrap();
    runner.release().await;
    drop(runner);
    assert_eq!(store.dead_letters("orders").await.unwrap().len(), 1);
    append(
        &store,
        "Customer-7",
        vec![event("CustomerRenamed", json!({"name": "Ada L."}))],
    )
    .await;
    store.close().await;
    Seeded { _dir: dir, path }
}

/// Runs SQL on the file (for states the store's API does not make).
async fn exec(path: &Path, sql: &str) {
    let store = SqliteEventStore::open(path).await.unwrap();
    sqlx::query(sql).execute(store.pool()).await.unwrap();
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_creates_the_file_then_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    let first = es(&url(&path)).arg("migrate").assert().success();
    let out = stdout_of(&first);
    assert!(
        out.contains(&format!("created database `{}`", path.display())),
        "{out}"
    );
    // Every embedded migration, the first and the last named.
    let all = es_sqlite::MIGRATOR.iter().count();
    let last = es_sqlite::MIGRATOR.iter().last().expect("a migration");
    assert!(out.contains("applied 1 event store"), "{out}");
    assert!(
        out.contains(&format!("applied {} {}", last.version, last.description)),
        "{out}"
    );
    assert!(
        out.contains(&format!("{all} migrations applied, {all} in all")),
        "{out}"
    );
    assert!(path.is_file());
    let second = es(&url(&path)).arg("migrate").assert().success();
    let out = stdout_of(&second);
    assert!(
        out.contains(&format!("is up to date ({all} migrations applied)")),
        "{out}"
    );
    assert!(!out.contains("created"), "{out}");
    // `sqlite://PATH` and a plain path to the existing file name the same.
    es(&format!("sqlite://{}", path.display()))
        .arg("migrate")
        .assert()
        .success();
    es(&path.display().to_string())
        .arg("migrate")
        .assert()
        .success();
    // A plain path is never created.
    let plain = dir.path().join("plain.db");
    let a = es(&plain.display().to_string())
        .arg("migrate")
        .assert()
        .code(3);
    assert_one_line_error(&stderr_of(&a));
    assert!(!plain.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_counts_what_is_stored() {
    let db = seeded().await;
    let a = es(&url(&db.path)).arg("stats").assert().success();
    let out = stdout_of(&a);
    assert!(
        out.starts_with(&format!("database       {}\n", db.path.display())),
        "{out}"
    );
    assert!(out.contains("events         6"), "{out}");
    assert!(out.contains("streams        3"), "{out}");
    assert!(out.contains("OrderCreated"), "{out}");
    assert!(out.contains("longest streams (top 10):"), "{out}");

    let a = es(&url(&db.path))
        .args(["stats", "--json"])
        .assert()
        .success();
    let v: Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert_eq!(v["schema"], "main");
    assert_eq!(v["database"], db.path.display().to_string());
    assert_eq!(v["events"], 6);
    assert_eq!(v["streams"], 3);
    assert!(v["payload_bytes"].as_i64().unwrap() > 0);
    assert!(v["oldest"].as_str().unwrap().ends_with('Z'));
    assert_eq!(v["event_types"][0]["event_type"], "OrderCreated");
    assert_eq!(v["event_types"][0]["events"], 2);
    assert_eq!(v["aggregate_types"][0]["aggregate_type"], "Order");
    assert_eq!(v["aggregate_types"][0]["events"], 4);
    assert_eq!(v["aggregate_types"][0]["streams"], 2);
    assert_eq!(v["longest_streams"][0]["stream_id"], "Order-1");
    assert_eq!(v["longest_streams"][0]["version"], 3);

    // A plain path to the file works as the URL does.
    let plain = es(&db.path.display().to_string())
        .args(["stats", "--json"])
        .assert()
        .success();
    let w: Value = serde_json::from_str(&stdout_of(&plain)).unwrap();
    assert_eq!(w["events"], 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_shows_the_events_of_one_stream() {
    let db = seeded().await;
    let a = es(&url(&db.path))
        .args(["stream", "Order-1"])
        .assert()
        .success();
    let out = stdout_of(&a);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("   1  "), "{out}");
    assert!(lines[0].contains("OrderCreated@1"), "{out}");
    assert!(lines[2].contains(r#"{"total":1200}"#), "{out}");

    let a = es(&url(&db.path))
        .args([
            "stream",
            "Order-1",
            "--from",
            "2",
            "--until-version",
            "2",
            "--json",
        ])
        .assert()
        .success();
    let out = stdout_of(&a);
    assert_eq!(out.lines().count(), 1, "{out}");
    let v: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(v["stream_version"], 2);
    assert_eq!(v["event_type"], "ItemAdded");
    assert_eq!(v["payload"]["sku"], "A-1");

    let a = es(&url(&db.path))
        .args(["stream", "Customer-7", "--json"])
        .assert()
        .success();
    let first: Value = serde_json::from_str(stdout_of(&a).lines().next().unwrap()).unwrap();
    assert_eq!(
        first["metadata"]["correlation_id"],
        uuid::Uuid::nil().to_string()
    );

    let a = es(&url(&db.path))
        .args(["stream", "Order-9"])
        .assert()
        .code(4);
    let err = stderr_of(&a);
    assert_one_line_error(&err);
    assert!(
        err.contains(&format!(
            "stream `Order-9` not found in database `{}`",
            db.path.display()
        )),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lint_passes_a_clean_file_and_reports_findings() {
    let db = seeded().await;
    let a = es(&url(&db.path)).arg("lint").assert().success();
    let out = stdout_of(&a);
    assert!(
        out.contains("no findings in database")
            && out.contains("(6 events, 5 event types checked)"),
        "{out}"
    );

    let store = SqliteEventStore::open(&db.path).await.unwrap();
    append(&store, "Order-3", vec![event("PlaceOrder", json!({}))]).await;
    append(
        &store,
        "Order-4",
        vec![event("OrderCreated", json!({"pad": "x".repeat(300)}))],
    )
    .await;
    let old = NewEvent::from_raw(
        "OrderCreated",
        2,
        br#"{"order":5}"#.to_vec(),
        Metadata::new(),
    );
    append(&store, "Order-5", vec![old]).await;
    store.close().await;

    let a = es(&url(&db.path))
        .args(["lint", "--max-payload-bytes", "200"])
        .assert()
        .code(1);
    let out = stdout_of(&a);
    assert!(out.contains("PlaceOrder (1 event)"), "{out}");
    assert!(out.contains("perhaps `OrderPlaced`"), "{out}");
    assert!(out.contains("Order-4 version 1 (OrderCreated)"), "{out}");
    assert!(out.contains("OrderCreated: v1 × 3, v2 × 1"), "{out}");
    assert!(out.contains("2 findings in database"), "{out}");

    let a = es(&url(&db.path))
        .args(["lint", "--max-payload-bytes", "200", "--json"])
        .assert()
        .code(1);
    let v: Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert_eq!(v["schema"], "main");
    assert_eq!(v["database"], db.path.display().to_string());
    assert_eq!(v["findings"], 2);
    assert_eq!(v["event_names"][0]["event_type"], "PlaceOrder");
    assert_eq!(v["large_payloads_total"], 1);
    assert_eq!(v["large_payloads"][0]["stream_id"], "Order-4");
    assert!(v["large_payloads"][0]["bytes"].as_i64().unwrap() > 300);
    assert_eq!(v["version_gaps"], json!([]));
    assert_eq!(v["mixed_schema_versions"][0]["event_type"], "OrderCreated");
}

/// A live lease of `name`, as a runner in another process holds it.
async fn hold_lease(path: &Path, name: &str) {
    let later = chrono::Utc::now().timestamp_millis() + 3_600_000;
    exec(
        path,
        &format!("INSERT INTO leases (name, owner, expires_at) VALUES ('{name}', 'x', {later})"),
    )
    .await;
}

/// `es projections SUB NAME` refuses (exit 5) while a runner holds the lease.
fn refused_while_running(url: &str, sub: &str, name: &str) {
    let a = es(url).args(["projections", sub, name]).assert().code(5);
    let err = stderr_of(&a);
    assert_one_line_error(&err);
    assert!(err.contains("has a running runner"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projections_list_and_reset() {
    let db = seeded().await;
    let a = es(&url(&db.path))
        .args(["projections", "list", "--json"])
        .assert()
        .success();
    let v: Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["name"], "orders");
    // The runner read up to the `CustomerRegistered` event or stopped at
    // its last own one: the lag counts every event after the checkpoint.
    let position = v[0]["position"].as_i64().unwrap();
    assert!(position == 4 || position == 5, "{v}");
    assert_eq!(v[0]["lag"], 6 - position);
    assert_eq!(v[0]["dead_letters"], 1);
    assert_eq!(v[0]["active"], false);
    assert!(v[0]["updated_at"].as_str().unwrap().ends_with('Z'));

    let a = es(&url(&db.path))
        .args(["projections", "list"])
        .assert()
        .success();
    let out = stdout_of(&a);
    assert!(out.contains("projection"), "{out}");
    let row = out.lines().find(|l| l.contains("orders")).unwrap();
    assert!(row.contains("stopped"), "{out}");

    // A live lease (a runner in another process): listed as running, and
    // reset refuses with exit 5, changing nothing.
    hold_lease(&db.path, "orders").await;
    let a = es(&url(&db.path))
        .args(["projections", "list"])
        .assert()
        .success();
    let out = stdout_of(&a);
    assert!(
        out.lines()
            .any(|l| l.contains("orders") && l.contains("running")),
        "{out}"
    );
    refused_while_running(&url(&db.path), "reset", "orders");

    // An expired lease is a stopped runner.
    exec(&db.path, "UPDATE leases SET expires_at = 1").await;
    let a = es(&url(&db.path))
        .args(["projections", "reset", "orders"])
        .assert()
        .success();
    let out = stdout_of(&a);
    assert!(
        out.contains(&format!(
            "reset projection `orders`: checkpoint at position {position} deleted, \
             1 dead letter(s) cleared"
        )),
        "{out}"
    );
    let store = SqliteEventStore::open(&db.path).await.unwrap();
    assert_eq!(store.load_checkpoint("orders").await.unwrap(), None);
    assert!(store.dead_letters("orders").await.unwrap().is_empty());
    store.save_checkpoint("summary", 2).await.unwrap();
    store.close().await;

    let a = es(&url(&db.path))
        .args(["projections", "reset", "nope"])
        .assert()
        .code(4);
    let err = stderr_of(&a);
    assert_one_line_error(&err);
    assert!(err.contains("no projection `nope` in database"), "{err}");
    assert!(err.contains("(known: summary)"), "{err}");
}

/// `es projections rebuild`: the reset (refused while a runner holds the
/// lease), then a plain statement of what es did not do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projections_rebuild_resets_and_says_what_it_cannot_do() {
    let db = seeded().await;
    hold_lease(&db.path, "orders").await;
    refused_while_running(&url(&db.path), "rebuild", "orders");

    exec(&db.path, "UPDATE leases SET expires_at = 1").await;
    let a = es(&url(&db.path))
        .args(["projections", "rebuild", "orders"])
        .assert()
        .success();
    let out = stdout_of(&a);
    assert!(out.contains("reset projection `orders`"), "{out}");
    assert!(out.contains("1 dead letter(s) cleared"), "{out}");
    assert!(
        out.contains("did NOT clear the read model and did NOT replay"),
        "{out}"
    );
    assert!(out.contains("`<app>-admin rebuild orders`"), "{out}");
    let store = SqliteEventStore::open(&db.path).await.unwrap();
    assert_eq!(store.load_checkpoint("orders").await.unwrap(), None);
    store.close().await;

    let a = es(&url(&db.path))
        .args(["projections", "rebuild", "orders"])
        .assert()
        .code(4);
    assert_one_line_error(&stderr_of(&a));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_file_is_a_clear_error_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.db");
    for args in [
        vec!["stats"],
        vec!["stream", "Order-1"],
        vec!["lint"],
        vec!["projections", "list"],
        vec!["projections", "reset", "x"],
    ] {
        let a = es(&url(&path)).args(&args).assert().code(3);
        let err = stderr_of(&a);
        assert_one_line_error(&err);
        assert!(
            err.contains(&format!(
                "SQLite database file `{}` does not exist",
                path.display()
            )),
            "{args:?}: {err}"
        );
        assert!(err.contains("migrate`"), "{args:?}: {err}");
        assert!(!path.exists(), "{args:?} created the file");
    }
    // A plain path that names no file.
    let a = es(&path.display().to_string())
        .arg("stats")
        .assert()
        .code(3);
    let err = stderr_of(&a);
    assert_one_line_error(&err);
    assert!(err.contains("invalid database URL"), "{err}");
    assert!(!path.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_files_and_urls_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    // An SQLite file without the event store's tables.
    let empty = dir.path().join("empty.db");
    std::fs::File::create(&empty).unwrap();
    for args in [
        vec!["stats"],
        vec!["stream", "Order-1"],
        vec!["lint"],
        vec!["projections", "list"],
        vec!["projections", "reset", "x"],
    ] {
        let a = es(&url(&empty)).args(&args).assert().code(3);
        let err = stderr_of(&a);
        assert_one_line_error(&err);
        assert!(err.contains("run `es migrate`"), "{args:?}: {err}");
        assert!(err.contains("has no event store"), "{args:?}: {err}");
    }
    // Not an SQLite file at all.
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "x".repeat(4096)).unwrap();
    let a = es(&url(&text)).arg("stats").assert().code(3);
    let err = stderr_of(&a);
    assert_one_line_error(&err);
    assert!(err.contains("not a database"), "{err}");
    // A directory.
    let a = es(&url(dir.path())).arg("stats").assert().code(3);
    let err = stderr_of(&a);
    assert_one_line_error(&err);
    assert!(err.contains("is a directory"), "{err}");

    for (url, what) in [
        ("sqlite::memory:", "gone when es exits"),
        ("sqlite:", "names no file"),
        ("sqlite:x.db?mode=ro", "no parameters"),
    ] {
        let a = es(url).arg("stats").assert().code(3);
        let err = stderr_of(&a);
        assert_one_line_error(&err);
        assert!(err.contains(what), "{url}: {err}");
    }

    let db = seeded().await;
    let a = es(&url(&db.path))
        .args(["--schema", "other", "stats"])
        .assert()
        .code(3);
    let err = stderr_of(&a);
    assert_one_line_error(&err);
    assert!(err.contains("--schema applies to PostgreSQL only"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_runs_in_a_throwaway_file_beside_the_store() {
    let db = seeded().await;
    let dir = db.path.parent().unwrap().to_path_buf();
    let a = es(&url(&db.path))
        .args([
            "bench",
            "--events",
            "40",
            "--streams",
            "4",
            "--concurrency",
            "2",
            "--batch",
            "10",
            "--json",
        ])
        .assert()
        .success();
    let v: Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert_eq!(v["schema"], "main");
    let file = v["database"].as_str().unwrap();
    assert!(file.contains("es_bench_"), "{v}");
    assert_eq!(v["schema_dropped"], true);
    let names: Vec<&str> = v["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "single_append",
            "batched_append",
            "concurrent_append",
            "stream_read",
            "read_all"
        ]
    );
    assert_eq!(v["workloads"][0]["events"], 40);
    assert_eq!(v["workloads"][4]["events"], 120);

    let a = es(&url(&db.path))
        .args(["bench", "--events", "10", "--streams", "2"])
        .assert()
        .success();
    let out = stdout_of(&a);
    assert!(
        out.contains("es_bench_") && out.contains(", deleted)"),
        "{out}"
    );
    // Nothing left behind, and the store itself untouched.
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("es_bench_"))
        .collect();
    left.sort();
    assert_eq!(left, Vec::<String>::new());
    let a = es(&url(&db.path))
        .args(["stats", "--json"])
        .assert()
        .success();
    let v: Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert_eq!(v["events"], 6);

    // Its directory must exist.
    let a = es(&url(&dir.join("no-such-dir").join("x.db")))
        .arg("bench")
        .assert()
        .code(3);
    let err = stderr_of(&a);
    assert_one_line_error(&err);
    assert!(err.contains("does not exist"), "{err}");
}
