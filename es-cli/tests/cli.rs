//! The `es` binary against a real PostgreSQL server: each test gets a
//! database of its own (`TestDatabase`, on the server `DATABASE_URL` names).

use assert_cmd::cargo::cargo_bin_cmd;
use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent};
use es_postgres::PgEventStore;
use es_testing::postgres::TestDatabase;
use predicates::prelude::*;
use serde_json::{Value, json};

/// `es --database-url URL`, with the environment's DATABASE_URL removed.
fn es(url: &str) -> assert_cmd::Command {
    let mut cmd = cargo_bin_cmd!("es");
    cmd.env_remove("DATABASE_URL")
        .env("RUST_LOG", "off")
        .arg("--database-url")
        .arg(url);
    cmd
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

async fn append(store: &PgEventStore, stream: &str, events: Vec<NewEvent>) {
    store
        .append(stream, ExpectedVersion::Any, events)
        .await
        .unwrap();
}

/// A migrated database with 6 events in 3 streams of 2 aggregate types.
async fn seeded() -> (TestDatabase, PgEventStore) {
    let db = TestDatabase::create().await;
    let store = PgEventStore::from_pool(db.pool().clone());
    store.migrate().await.unwrap();
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
        vec![
            NewEvent::from_raw("CustomerRegistered", 1, br#"{"name":"Ada"}"#.to_vec(), meta),
            event("CustomerRenamed", json!({"name": "Ada L."})),
        ],
    )
    .await;
    (db, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_creates_the_schema_then_is_a_no_op() {
    let db = TestDatabase::create().await;
    let first = es(db.url()).arg("migrate").assert().success();
    let out = stdout_of(&first);
    assert!(out.contains("created schema `es`"), "{out}");
    assert!(out.contains("applied 20250101000001"), "{out}");
    assert!(out.contains("applied 20250101000004 documents"), "{out}");
    let second = es(db.url()).arg("migrate").assert().success();
    let out = stdout_of(&second);
    assert!(out.contains("schema `es` is up to date"), "{out}");
    assert!(!out.contains("applied 2"), "{out}");

    // Another schema, by flag.
    es(db.url())
        .args(["--schema", "billing", "migrate"])
        .assert()
        .success()
        .stdout(predicate::str::contains("created schema `billing`"));
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM billing.events")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_counts_what_is_stored() {
    let (db, _store) = seeded().await;
    let a = es(db.url()).arg("stats").assert().success();
    let out = stdout_of(&a);
    assert!(out.contains("events         6"), "{out}");
    assert!(out.contains("streams        3"), "{out}");
    assert!(out.contains("OrderCreated"), "{out}");
    assert!(out.contains("longest streams"), "{out}");
    assert!(out.contains("Order-1"), "{out}");

    let a = es(db.url()).args(["stats", "--json"]).assert().success();
    let v: Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert_eq!(v["schema"], "es");
    assert_eq!(v["events"], 6);
    assert_eq!(v["streams"], 3);
    assert!(v["payload_bytes"].as_i64().unwrap() > 50);
    assert!(v["oldest"].is_string() && v["newest"].is_string());
    let types = v["event_types"].as_array().unwrap();
    assert_eq!(types.len(), 5);
    assert_eq!(types[0]["event_type"], "OrderCreated");
    assert_eq!(types[0]["events"], 2);
    let aggs = v["aggregate_types"].as_array().unwrap();
    assert_eq!(aggs[0]["aggregate_type"], "Order");
    assert_eq!(aggs[0]["events"], 4);
    assert_eq!(aggs[0]["streams"], 2);
    assert_eq!(aggs[1]["aggregate_type"], "Customer");
    let longest = v["longest_streams"].as_array().unwrap();
    assert_eq!(longest[0]["stream_id"], "Order-1");
    assert_eq!(longest[0]["events"], 3);
    assert_eq!(longest.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_of_an_empty_store() {
    let db = TestDatabase::create().await;
    es(db.url()).arg("migrate").assert().success();
    es(db.url())
        .arg("stats")
        .assert()
        .success()
        .stdout(predicate::str::contains("events         0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_shows_the_events_of_one_stream() {
    let (db, _store) = seeded().await;
    let a = es(db.url()).args(["stream", "Order-1"]).assert().success();
    let out = stdout_of(&a);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("   1  "), "{out}");
    assert!(lines[0].contains("OrderCreated@1"), "{out}");
    assert!(lines[0].ends_with(r#"{"order":1}"#), "{out}");
    assert!(lines[2].contains("OrderPlaced@1"), "{out}");
    assert!(!out.contains("metadata"), "{out}");

    // Metadata only when there is some.
    let a = es(db.url())
        .args(["stream", "Customer-7"])
        .assert()
        .success();
    let out = stdout_of(&a);
    assert!(
        out.contains(
            r#"      metadata: {"correlation_id":"00000000-0000-0000-0000-000000000000"}"#
        ),
        "{out}"
    );
    assert_eq!(out.matches("metadata").count(), 1, "{out}");

    let a = es(db.url())
        .args(["stream", "Order-1", "--json"])
        .assert()
        .success();
    let events: Vec<Value> = stdout_of(&a)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 3);
    assert_eq!(events[1]["stream_id"], "Order-1");
    assert_eq!(events[1]["stream_version"], 2);
    assert_eq!(events[1]["event_type"], "ItemAdded");
    assert_eq!(events[1]["schema_version"], 1);
    assert_eq!(events[1]["payload"], json!({"sku": "A-1", "qty": 2}));
    assert_eq!(events[1]["metadata"], json!({}));
    assert!(events[1]["global_position"].as_u64().unwrap() > 0);
    assert!(events[1]["recorded_at"].is_string());

    let a = es(db.url())
        .args(["stream", "Order-1", "--json", "--from", "2"])
        .assert()
        .success();
    let versions: Vec<u64> = stdout_of(&a)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["stream_version"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(versions, [2, 3]);

    let a = es(db.url())
        .args(["stream", "Order-1", "--until-version", "2"])
        .assert()
        .success();
    let out = stdout_of(&a);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(!out.contains("OrderPlaced"), "{out}");

    // --until: a time before everything shows nothing, a later one all.
    es(db.url())
        .args(["stream", "Order-1", "--until", "2000-01-01T00:00:00Z"])
        .assert()
        .success()
        .stdout(predicate::str::contains("no events in that range"));
    let a = es(db.url())
        .args([
            "stream",
            "Order-1",
            "--json",
            "--until",
            "2999-01-01T00:00:00+02:00",
        ])
        .assert()
        .success();
    assert_eq!(stdout_of(&a).lines().count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_errors() {
    let (db, _store) = seeded().await;
    let a = es(db.url()).args(["stream", "Order-404"]).assert().code(4);
    let err = stderr_of(&a);
    assert_one_line_error(&err);
    assert!(err.contains("stream `Order-404` not found"), "{err}");

    // Usage errors are clap's: exit 2.
    es(db.url())
        .args(["stream", "Order-1", "--until", "yesterday"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("RFC 3339"));
    es(db.url())
        .args([
            "stream",
            "Order-1",
            "--until",
            "2999-01-01T00:00:00Z",
            "--until-version",
            "2",
        ])
        .assert()
        .code(2);
    es(db.url())
        .args(["stream", "Order-1", "--from", "0"])
        .assert()
        .code(2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lint_passes_a_clean_store() {
    let (db, store) = seeded().await;
    // Two schema versions of one type: information, not a finding.
    append(
        &store,
        "Customer-8",
        vec![NewEvent::from_raw(
            "CustomerRenamed",
            2,
            br#"{"name":"B"}"#.to_vec(),
            Metadata::new(),
        )],
    )
    .await;
    let a = es(db.url()).arg("lint").assert().code(0);
    let out = stdout_of(&a);
    assert!(out.contains("no findings"), "{out}");
    assert!(
        out.contains("info: event types stored at several schema versions"),
        "{out}"
    );
    assert!(out.contains("CustomerRenamed: v1 × 1, v2 × 1"), "{out}");

    let a = es(db.url()).args(["lint", "--json"]).assert().code(0);
    let v: Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert_eq!(v["findings"], 0);
    assert_eq!(v["events_checked"], 7);
    assert_eq!(
        v["mixed_schema_versions"][0]["event_type"],
        "CustomerRenamed"
    );
}

/// After a bulk load the server has no statistics of the log: `es lint`
/// says so (information, not a finding), and no longer after ANALYZE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lint_says_when_the_statistics_of_the_log_are_missing() {
    let (db, _store) = seeded().await;
    sqlx::query("ALTER TABLE es.events SET (autovacuum_enabled = false)")
        .execute(db.pool())
        .await
        .unwrap();
    // A bulk load of 250,000 events (over the 8 MB below which the store
    // keeps its usual plans), never analyzed.
    sqlx::query(
        "INSERT INTO es.events (global_position, event_id, stream_id, stream_version, \
           aggregate_type, event_type, schema_version, payload) \
         SELECT (pg_current_xact_id()::text::bigint << 20) + n, gen_random_uuid(), \
           'Clock-' || (n % 1000), n / 1000 + 1, 'Clock', 'Ticked', 1, '{\"n\":1}' \
         FROM generate_series(0, 249999) n",
    )
    .execute(db.pool())
    .await
    .unwrap();
    let a = es(db.url()).arg("lint").assert().code(0);
    let out = stdout_of(&a);
    assert!(
        out.contains("info: the server's statistics of the log are missing or stale")
            && out.contains("`ANALYZE es.events`"),
        "{out}"
    );
    let a = es(db.url()).args(["lint", "--json"]).assert().code(0);
    let v: Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert_eq!(v["statistics_stale"], true);
    assert_eq!(v["findings"], 0);

    sqlx::query("ANALYZE es.events")
        .execute(db.pool())
        .await
        .unwrap();
    let a = es(db.url()).args(["lint", "--json"]).assert().code(0);
    let v: Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert_eq!(v["statistics_stale"], false);
    let a = es(db.url()).arg("lint").assert().code(0);
    assert!(!stdout_of(&a).contains("statistics"), "{}", stdout_of(&a));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lint_reports_names_sizes_and_gaps() {
    let (db, store) = seeded().await;
    append(
        &store,
        "Order-3",
        vec![event("CreateOrder", json!({"order": 3}))],
    )
    .await;
    let blob = "x".repeat(70_000);
    append(
        &store,
        "Blob-1",
        vec![event("BlobStored", json!({ "blob": blob }))],
    )
    .await;
    // The store never leaves a gap; plain INSERTs can (positions below any
    // transaction-based one).
    sqlx::query(
        "INSERT INTO es.events (global_position, event_id, stream_id, stream_version, \
             aggregate_type, event_type, schema_version, payload) VALUES \
         (1, gen_random_uuid(), 'Gap-1', 1, 'Gap', 'GapOpened', 1, '{}'), \
         (2, gen_random_uuid(), 'Gap-1', 3, 'Gap', 'GapClosed', 1, '{}')",
    )
    .execute(db.pool())
    .await
    .unwrap();

    let a = es(db.url()).arg("lint").assert().code(1);
    let out = stdout_of(&a);
    assert!(
        out.contains("CreateOrder (1 event): the last word `Order` is not a past participle"),
        "{out}"
    );
    assert!(out.contains("perhaps `OrderCreated`"), "{out}");
    assert!(out.contains("payloads over 65,536 bytes (1):"), "{out}");
    assert!(
        out.contains("Blob-1 version 1 (BlobStored): 70,012 bytes"),
        "{out}"
    );
    assert!(
        out.contains("Gap-1: version 1 is followed by 3 (version 2 is missing)"),
        "{out}"
    );
    assert!(out.contains("3 findings"), "{out}");

    let a = es(db.url()).args(["lint", "--json"]).assert().code(1);
    let v: Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert_eq!(v["findings"], 3);
    assert_eq!(v["event_names"][0]["event_type"], "CreateOrder");
    assert!(
        v["event_names"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("past participle")
    );
    assert_eq!(v["large_payloads"][0]["stream_id"], "Blob-1");
    assert_eq!(v["version_gaps"][0]["stream_id"], "Gap-1");
    assert_eq!(v["version_gaps"][0]["missing"], 1);

    // A higher limit lets the blob pass.
    let a = es(db.url())
        .args(["lint", "--json", "--max-payload-bytes", "100000"])
        .assert()
        .code(1);
    let v: Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert_eq!(v["findings"], 2);
    assert_eq!(v["large_payloads"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_runs_in_a_throwaway_schema() {
    let db = TestDatabase::create().await;
    let a = es(db.url())
        .args([
            "bench",
            "--events",
            "24",
            "--streams",
            "3",
            "--concurrency",
            "2",
            "--batch",
            "5",
            "--json",
        ])
        .assert()
        .success();
    let v: Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    let schema = v["schema"].as_str().unwrap();
    assert!(schema.starts_with("es_bench_"), "{schema}");
    assert_eq!(v["schema_dropped"], true);
    assert_eq!(v["events"], 24);
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
    for w in v["workloads"].as_array().unwrap() {
        assert!(w["events_per_sec"].as_f64().unwrap() > 0.0, "{w}");
        let l = &w["latency_ms"];
        assert!(
            l["p50"].as_f64().unwrap() <= l["p95"].as_f64().unwrap(),
            "{w}"
        );
        assert!(
            l["p95"].as_f64().unwrap() <= l["p99"].as_f64().unwrap(),
            "{w}"
        );
        assert!(w["operations"].as_u64().unwrap() > 0, "{w}");
    }
    let w = &v["workloads"];
    assert_eq!(w[0]["operations"], 24);
    assert_eq!(w[1]["operations"], 5); // 24 events in batches of 5
    assert_eq!(w[2]["events"], 24);
    assert_eq!(w[3]["operations"], 20); // at least 20 stream reads
    assert_eq!(w[4]["events"], 72); // read_all sees all three workloads
    // No progress bar when stderr is not a terminal.
    assert_eq!(stderr_of(&a), "");

    let (left,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'es_bench_%'")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(left, 0, "the bench schema was not dropped");

    // The table form.
    es(db.url())
        .args([
            "bench",
            "--events",
            "4",
            "--streams",
            "2",
            "--concurrency",
            "2",
            "--batch",
            "2",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("concurrent_append"))
        .stdout(predicate::str::contains("p99 ms"));
}

/// The advisory lock a runner of `name` holds (schema `es`), on a
/// connection of its own; dropping it frees the lease.
async fn hold_lease(db: &TestDatabase, name: &str) -> sqlx::PgConnection {
    let mut lease = db.connect().await;
    sqlx::query("SELECT pg_advisory_lock(hashtext('es'), hashtext($1))")
        .bind(name)
        .execute(&mut lease)
        .await
        .unwrap();
    lease
}

/// `es projections SUB NAME` refuses (exit 5) while a runner holds the lease.
fn refused_while_running(url: &str, sub: &str, name: &str) {
    let a = es(url).args(["projections", sub, name]).assert().code(5);
    let err = stderr_of(&a);
    assert_one_line_error(&err);
    assert!(err.contains("running runner"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projections_list_and_reset() {
    let (db, store) = seeded().await;
    es(db.url())
        .args(["projections", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("no projection checkpoints"));

    // order_details has seen the first 4 events, account_summary none.
    let all = store.read_all(0, 100, None).await.unwrap().events;
    assert_eq!(all.len(), 6);
    store
        .save_checkpoint(db.pool(), "order_details", all[3].global_position)
        .await
        .unwrap();
    store
        .save_checkpoint(db.pool(), "account_summary", 0)
        .await
        .unwrap();

    // A dead letter, when this version of the store has the table.
    let (has_dead_letters,): (bool,) =
        sqlx::query_as("SELECT to_regclass('es.dead_letters') IS NOT NULL")
            .fetch_one(db.pool())
            .await
            .unwrap();
    if has_dead_letters {
        sqlx::query(
            "INSERT INTO es.dead_letters (projection, global_position, event_id, stream_id, \
                 stream_version, event_type, schema_version, error) \
             VALUES ('order_details', $1, $2, 'Order-1', 2, 'ItemAdded', 1, 'boom')",
        )
        .bind(i64::try_from(all[1].global_position).unwrap())
        .bind(all[1].event_id)
        .execute(db.pool())
        .await
        .unwrap();
    }

    let a = es(db.url())
        .args(["projections", "list"])
        .assert()
        .success();
    let out = stdout_of(&a);
    assert!(out.contains("projection"), "{out}");
    assert!(out.contains("lag (events)"), "{out}");
    let row = out.lines().find(|l| l.contains("order_details")).unwrap();
    assert!(row.contains(&all[3].global_position.to_string()), "{row}");

    let a = es(db.url())
        .args(["projections", "list", "--json"])
        .assert()
        .success();
    let v: Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert_eq!(v[0]["name"], "account_summary");
    assert_eq!(v[0]["position"], 0);
    assert_eq!(v[0]["lag"], 6);
    assert_eq!(v[1]["name"], "order_details");
    assert_eq!(v[1]["lag"], 2);
    assert!(v[1]["updated_at"].is_string());
    assert_eq!(v[1]["dead_letters"], i64::from(has_dead_letters));
    assert_eq!(v[1]["active"], false);

    // A running runner (it holds the lease) is not reset under its feet.
    let lease = hold_lease(&db, "order_details").await;
    let a = es(db.url())
        .args(["projections", "list", "--json"])
        .assert()
        .success();
    let v: Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert_eq!(v[1]["active"], true);
    refused_while_running(db.url(), "reset", "order_details");
    drop(lease);

    es(db.url())
        .args(["projections", "reset", "order_details"])
        .assert()
        .success()
        .stdout(predicate::str::contains("reset projection `order_details`"));
    if has_dead_letters {
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM es.dead_letters")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(n, 0);
    }
    assert_eq!(store.load_checkpoint("order_details").await.unwrap(), None);
    let a = es(db.url())
        .args(["projections", "list", "--json"])
        .assert()
        .success();
    let v: Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);

    let a = es(db.url())
        .args(["projections", "reset", "order_details"])
        .assert()
        .code(4);
    let err = stderr_of(&a);
    assert_one_line_error(&err);
    assert!(err.contains("no projection `order_details`"), "{err}");
    assert!(err.contains("known: account_summary"), "{err}");
}

/// `es projections rebuild`: the reset (refused while a runner holds the
/// lease), then a plain statement of what es did not do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projections_rebuild_resets_and_says_what_it_cannot_do() {
    let (db, store) = seeded().await;
    store
        .save_checkpoint(db.pool(), "order_details", 3)
        .await
        .unwrap();
    let lease = hold_lease(&db, "order_details").await;
    refused_while_running(db.url(), "rebuild", "order_details");
    drop(lease);

    let a = es(db.url())
        .args(["projections", "rebuild", "order_details"])
        .assert()
        .success();
    let out = stdout_of(&a);
    assert!(
        out.contains("reset projection `order_details`: checkpoint at position 3 deleted"),
        "{out}"
    );
    assert!(
        out.contains("did NOT clear the read model and did NOT replay"),
        "{out}"
    );
    assert!(out.contains("rebuild order_details"), "{out}");
    assert_eq!(store.load_checkpoint("order_details").await.unwrap(), None);

    let a = es(db.url())
        .args(["projections", "rebuild", "order_details"])
        .assert()
        .code(4);
    assert_one_line_error(&stderr_of(&a));
    let help = es(db.url())
        .args(["projections", "rebuild", "--help"])
        .assert()
        .success();
    let help = stdout_of(&help);
    assert!(help.contains("cannot clear the read model"), "{help}");
    assert!(help.contains("admin tool"), "{help}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_and_config_errors_exit_3() {
    // Not a URL.
    let a = es("not a url").arg("stats").assert().code(3);
    let err = stderr_of(&a);
    assert_one_line_error(&err);
    assert!(err.contains("invalid database URL"), "{err}");

    // Another scheme.
    let a = es("mysql://root@localhost/db")
        .arg("stats")
        .assert()
        .code(3);
    assert_one_line_error(&stderr_of(&a));

    // Nobody listens on port 1; the password is not echoed.
    let a = es("postgres://postgres:s3cret@127.0.0.1:1/app")
        .arg("stats")
        .assert()
        .code(3);
    let err = stderr_of(&a);
    assert_one_line_error(&err);
    assert!(
        err.contains("cannot reach PostgreSQL at 127.0.0.1:1/app"),
        "{err}"
    );
    assert!(err.contains("DATABASE_URL"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");

    // No URL at all.
    let a = cargo_bin_cmd!("es")
        .env_remove("DATABASE_URL")
        .arg("stats")
        .assert()
        .code(3);
    let err = stderr_of(&a);
    assert_one_line_error(&err);
    assert!(err.contains("DATABASE_URL"), "{err}");

    // DATABASE_URL is read from the environment.
    let db = TestDatabase::create().await;
    cargo_bin_cmd!("es")
        .env("DATABASE_URL", db.url())
        .arg("migrate")
        .assert()
        .success();

    // A database that does not exist.
    let missing = db.url().replace(db.name(), "es_no_such_database");
    let a = es(&missing).arg("stats").assert().code(3);
    let err = stderr_of(&a);
    assert_one_line_error(&err);
    assert!(err.contains("es_no_such_database"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmigrated_schema_says_run_es_migrate() {
    let db = TestDatabase::create().await;
    for args in [
        vec!["stats"],
        vec!["stream", "Order-1"],
        vec!["lint"],
        vec!["projections", "list"],
        vec!["projections", "reset", "x"],
    ] {
        let a = es(db.url()).args(&args).assert().code(3);
        let err = stderr_of(&a);
        assert_one_line_error(&err);
        assert!(err.contains("run `es migrate`"), "{args:?}: {err}");
        assert!(err.contains("schema `es`"), "{args:?}: {err}");
    }
    // A bad schema name is a usage error.
    es(db.url())
        .args(["--schema", "no-dashes", "stats"])
        .assert()
        .code(2);
}

#[test]
fn help_documents_the_exit_codes() {
    cargo_bin_cmd!("es")
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Exit codes:"))
        .stdout(predicate::str::contains("4    not found"))
        .stdout(predicate::str::contains("migrate"))
        .stdout(predicate::str::contains("projections"));
    cargo_bin_cmd!("es").assert().code(2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_urls_connect_or_say_tls_failed() {
    let db = TestDatabase::create().await;
    let ssl: String = sqlx::query_scalar("SHOW ssl")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(
        ssl, "on",
        "the PostgreSQL server at DATABASE_URL has `ssl = off`; this test needs TLS on the server"
    );
    let sep = if db.url().contains('?') { '&' } else { '?' };
    let require = format!("{}{sep}sslmode=require", db.url());
    es(&require).arg("migrate").assert().success();
    es(&require).arg("stats").assert().success();

    // The server's certificate is self-signed, so verify-full fails: as TLS.
    let verify = format!("{}{sep}sslmode=verify-full", db.url());
    let a = es(&verify).arg("stats").assert().code(3);
    let err = stderr_of(&a);
    assert_one_line_error(&err);
    assert!(err.contains("TLS to the PostgreSQL server failed"), "{err}");
    assert!(!err.contains("invalid database URL"), "{err}");
}
