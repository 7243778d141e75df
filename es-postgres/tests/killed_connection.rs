//! A connection killed in the middle of an append: the append fails and
//! writes nothing. (In a binary of its own: its long insert would hold back
//! the readers of the other tests.)

mod common;

use std::time::Duration;

use common::{ev, store};
use es_core::{EventStore, ExpectedVersion, StreamEnd};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_killed_mid_append_leaves_no_partial_batch() {
    let (db, store) = store().await;
    store
        .append(
            "Big-1",
            ExpectedVersion::NoStream,
            vec![ev("Before", json!({}))],
        )
        .await
        .unwrap();

    let killer = {
        let pool = db.pool().clone();
        tokio::spawn(async move {
            for _ in 0..2_000 {
                let pids: Vec<(i32,)> = sqlx::query_as(
                    "SELECT pid FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid() \
                       AND state = 'active' AND query LIKE '%INSERT INTO \"es\".events%'",
                )
                .fetch_all(&pool)
                .await
                .unwrap();
                if let Some(&(pid,)) = pids.first() {
                    // Let it insert for a moment, then kill it before it commits.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let (killed,): (bool,) = sqlx::query_as("SELECT pg_terminate_backend($1)")
                        .bind(pid)
                        .fetch_one(&pool)
                        .await
                        .unwrap();
                    return killed;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            false
        })
    };
    let batch: Vec<_> = (0..150_000)
        .map(|i| {
            ev(
                "Bulk",
                json!({"i": i, "text": "some payload to make the insert take a while"}),
            )
        })
        .collect();
    let result = store
        .append("Big-1", ExpectedVersion::Exact(1), batch)
        .await;
    let killed = killer.await.unwrap();
    assert!(killed, "the killer never found the append's backend");
    let err = result.expect_err("a killed append must fail");
    assert!(err.to_string().contains("Big-1"), "{err}");

    // Nothing of the batch is there; the store still works.
    assert_eq!(store.stream_version("Big-1").await.unwrap(), 1);
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM es.events")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(count, 1);
    assert_eq!(store.read_all(0, 10, None).await.unwrap().events.len(), 1);
    let r = store
        .append(
            "Big-1",
            ExpectedVersion::Exact(1),
            vec![ev("After", json!({}))],
        )
        .await
        .unwrap();
    assert_eq!(r.last_version, 2);
    assert_eq!(
        store
            .read_stream("Big-1", 1, StreamEnd::Head, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    db.drop_db().await;
}
