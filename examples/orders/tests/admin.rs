//! `orders-admin` (es_cli::Tool with the orders example's events, `Order`
//! aggregate and both read models) after a run of the `orders` binary: on
//! an SQLite file, and on PostgreSQL (a database of its own on the
//! DATABASE_URL server, by default postgres://postgres@127.0.0.1:5432/postgres).

use assert_cmd::Command;
use serde_json::Value;

/// Runs the `orders` demo (one placed order) on `url`.
fn run_orders(url: &str, sqlite_file: Option<&std::path::Path>) {
    let mut cmd = Command::cargo_bin("orders").expect("the orders binary");
    match sqlite_file {
        Some(path) => cmd.env_remove("DATABASE_URL").env("ORDERS_DB", path),
        None => cmd.env("DATABASE_URL", url),
    };
    cmd.env("RUST_LOG", "off").assert().success();
}

fn admin(url: &str) -> Command {
    let mut cmd = Command::cargo_bin("orders-admin").expect("the orders-admin binary");
    cmd.env_remove("DATABASE_URL")
        .env("RUST_LOG", "off")
        .arg("--database-url")
        .arg(url);
    cmd
}

fn json_of(assert: &assert_cmd::assert::Assert) -> Value {
    serde_json::from_slice(&assert.get_output().stdout).unwrap()
}

/// check, status, inspect and rebuild on a store the demo wrote.
fn smoke(url: &str) {
    let report = json_of(&admin(url).args(["check", "--json"]).assert().success());
    assert_eq!(report["failed"], 0, "{report}");
    let checked = report["checked"].as_u64().unwrap();
    assert!(checked >= 5, "{report}");

    // The demo caught both read models up.
    let rows = json_of(&admin(url).args(["status", "--json"]).assert().success());
    let names: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["projection"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["order_details", "order_items"]);
    assert!(
        rows.as_array().unwrap().iter().all(|r| r["lag"] == 0),
        "{rows}"
    );

    // The order's stream, by its id only (one aggregate is registered).
    let stream = first_order_stream(url);
    let id = stream.strip_prefix("Order-").unwrap();
    let a = admin(url)
        .args(["inspect", id, "--at", "2", "--json"])
        .assert()
        .success();
    let inspected = json_of(&a);
    assert_eq!(inspected["stream_id"], stream.as_str());
    assert_eq!(inspected["version"], 2);
    assert_eq!(inspected["steps"][0]["event_type"], "OrderCreated");
    assert!(
        inspected["steps"][1]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["path"] == "lines[0]" && c["kind"] == "added"),
        "{inspected}"
    );

    for name in ["order_details", "order_items"] {
        let done = json_of(
            &admin(url)
                .args(["rebuild", name, "--json"])
                .assert()
                .success(),
        );
        assert_eq!(done["lag"], 0, "{done}");
        assert!(done["replayed"].as_u64().unwrap() >= 1, "{done}");
    }
    let rows = json_of(&admin(url).args(["status", "--json"]).assert().success());
    assert!(
        rows.as_array().unwrap().iter().all(|r| r["lag"] == 0),
        "{rows}"
    );
}

/// The stream of the first `OrderCreated` (the demo names its order at
/// random), asked of the store.
fn first_order_stream(url: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use es_core::EventStore;
        let page = if let Some(path) = url.strip_prefix("sqlite:") {
            let store = es_sqlite::SqliteEventStore::open(path).await.unwrap();
            let page = store.read_all(0, 1, Some(&["OrderCreated"])).await.unwrap();
            store.close().await;
            page
        } else {
            let store = es_postgres::PgEventStore::connect(url).await.unwrap();
            let page = store.read_all(0, 1, Some(&["OrderCreated"])).await.unwrap();
            store.pool().close().await;
            page
        };
        page.events[0].stream_id.clone()
    })
}

#[test]
fn orders_admin_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.db");
    let url = format!("sqlite:{}", path.display());
    run_orders(&url, Some(&path));
    smoke(&url);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_admin_on_postgres() {
    let db = es_testing::postgres::TestDatabase::create().await;
    let url = db.url().to_owned();
    tokio::task::spawn_blocking(move || {
        run_orders(&url, None);
        smoke(&url);
    })
    .await
    .unwrap();
    db.drop_db().await;
}
