//! The PostgreSQL store's behaviour against the real server.

mod common;

use std::time::Duration;

use common::{ev, json, store};
use es_core::{
    Aggregate, Apply, DecodeError, EncodeError, Event, EventStore, EventTypeInfo, ExpectedVersion,
    Handle, Metadata, Repository, SnapshotStore, StoreError, StreamEnd, Uuid,
};
use es_postgres::PgEventStore;
use es_testing::postgres::TestDatabase;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[tokio::test]
async fn append_then_read_back() {
    let (db, store) = store().await;
    let meta = Metadata::new().actor("user-1").with("ip", "10.0.0.1");
    let mut batch = vec![
        ev("Opened", json!({"owner": "u1", "n": 1})),
        ev("Deposited", json!({"amount": 10})),
        ev("Deposited", json!({"amount": 20})),
    ];
    batch[0].metadata = meta.clone();
    let ids: Vec<Uuid> = batch.iter().map(|e| e.event_id).collect();
    let r = store
        .append("Account-1", ExpectedVersion::NoStream, batch)
        .await
        .unwrap();
    assert_eq!(
        (r.first_version, r.last_version, r.duplicate),
        (1, 3, false)
    );
    let last_position = r.last_position.unwrap();

    let read = store
        .read_stream("Account-1", 1, StreamEnd::Head, 100)
        .await
        .unwrap();
    assert_eq!(read.len(), 3);
    assert_eq!(read.iter().map(|e| e.event_id).collect::<Vec<_>>(), ids);
    assert_eq!(
        read.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(json(&read[0].payload), json!({"owner": "u1", "n": 1}));
    assert_eq!(read[0].metadata, meta);
    assert_eq!(read[0].event_type, "Opened");
    assert_eq!(read[0].schema_version, 1);
    assert!(
        read.windows(2)
            .all(|w| w[0].global_position < w[1].global_position)
    );
    assert_eq!(read[2].global_position, last_position);

    assert_eq!(store.stream_version("Account-1").await.unwrap(), 3);
    assert_eq!(store.stream_version("Account-2").await.unwrap(), 0);
    assert_eq!(store.head_position().await.unwrap(), last_position);
    let all = store.read_all(0, 100, None).await.unwrap().events;
    assert_eq!(all, read);
    let deposits = store
        .read_all(0, 100, Some(&["Deposited"]))
        .await
        .unwrap()
        .events;
    assert_eq!(deposits.len(), 2);
    let after_first = store
        .read_all(read[0].global_position, 1, None)
        .await
        .unwrap()
        .events;
    assert_eq!(after_first, vec![read[1].clone()]);

    // Paging and the two kinds of end.
    let page = store
        .read_stream("Account-1", 2, StreamEnd::Head, 1)
        .await
        .unwrap();
    assert_eq!(page[0].stream_version, 2);
    let upto = store
        .read_stream("Account-1", 1, StreamEnd::Version(2), 100)
        .await
        .unwrap();
    assert_eq!(upto.len(), 2);
    let before = read[0].recorded_at - chrono::Duration::seconds(1);
    let none = store
        .read_stream("Account-1", 1, StreamEnd::Time(before), 100)
        .await
        .unwrap();
    assert!(none.is_empty());
    let at = store
        .read_stream("Account-1", 1, StreamEnd::Time(read[2].recorded_at), 100)
        .await
        .unwrap();
    assert_eq!(at.len(), 3);
    db.drop_db().await;
}

#[tokio::test]
async fn conflicts_write_nothing_and_name_the_actual_version() {
    let (db, store) = store().await;
    store
        .append("S-1", ExpectedVersion::Exact(0), vec![ev("A", json!({}))])
        .await
        .unwrap();
    for expected in [
        ExpectedVersion::NoStream,
        ExpectedVersion::Exact(0),
        ExpectedVersion::Exact(5),
    ] {
        let err = store
            .append(
                "S-1",
                expected,
                vec![ev("B", json!({})), ev("C", json!({}))],
            )
            .await
            .unwrap_err();
        match err {
            StoreError::VersionConflict {
                stream_id,
                expected: e,
                actual,
            } => {
                assert_eq!((stream_id.as_str(), e, actual), ("S-1", expected, 1));
            }
            other => panic!("expected a conflict, got {other}"),
        }
    }
    assert_eq!(store.stream_version("S-1").await.unwrap(), 1);
    let r = store
        .append("S-1", ExpectedVersion::Exact(1), vec![ev("B", json!({}))])
        .await
        .unwrap();
    assert_eq!(r.last_version, 2);
    let r = store
        .append("S-1", ExpectedVersion::Any, vec![ev("B", json!({}))])
        .await
        .unwrap();
    assert_eq!(r.last_version, 3);

    // An empty batch is a no-op that still checks the expectation.
    let r = store
        .append("S-1", ExpectedVersion::Exact(3), vec![])
        .await
        .unwrap();
    assert_eq!(
        (r.first_version, r.last_version, r.last_position),
        (4, 3, None)
    );
    assert!(
        store
            .append("S-1", ExpectedVersion::NoStream, vec![])
            .await
            .unwrap_err()
            .is_conflict()
    );
    db.drop_db().await;
}

#[tokio::test]
async fn a_repeated_command_id_appends_nothing() {
    let (db, store) = store().await;
    let command = Uuid::now_v7();
    let batch = |n: usize| {
        (0..n)
            .map(|i| {
                let mut e = ev("Done", json!({ "i": i }));
                e.metadata = Metadata::new().command_id(command);
                e
            })
            .collect::<Vec<_>>()
    };
    store
        .append("C-1", ExpectedVersion::Any, vec![ev("First", json!({}))])
        .await
        .unwrap();
    let first = store
        .append("C-1", ExpectedVersion::Exact(1), batch(2))
        .await
        .unwrap();
    assert_eq!(
        (first.first_version, first.last_version, first.duplicate),
        (2, 3, false)
    );
    // Same command again, even with a stale expectation: nothing is written.
    let again = store
        .append("C-1", ExpectedVersion::Exact(1), batch(2))
        .await
        .unwrap();
    assert_eq!(
        (again.first_version, again.last_version, again.duplicate),
        (2, 3, true)
    );
    assert_eq!(again.last_position, None);
    assert_eq!(store.stream_version("C-1").await.unwrap(), 3);
    let found = store.find_command("C-1", command).await.unwrap().unwrap();
    assert_eq!((found.first_version, found.last_version), (2, 3));
    assert!(store.find_command("C-2", command).await.unwrap().is_none());
    // The same command id on another stream is another command.
    let other = store
        .append("C-2", ExpectedVersion::Any, batch(1))
        .await
        .unwrap();
    assert!(!other.duplicate);

    // Concurrent retries of one command: exactly one writes.
    let command = Uuid::now_v7();
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut e = ev("Once", json!({}));
                e.metadata = Metadata::new().command_id(command);
                store.append("C-3", ExpectedVersion::Any, vec![e]).await
            })
        })
        .collect();
    let mut written = 0;
    for t in tasks {
        let r = t.await.unwrap().unwrap();
        assert_eq!((r.first_version, r.last_version), (1, 1));
        written += usize::from(!r.duplicate);
    }
    assert_eq!(written, 1);
    assert_eq!(store.stream_version("C-3").await.unwrap(), 1);
    db.drop_db().await;
}

#[tokio::test]
async fn concurrent_any_appends_on_one_stream_all_land() {
    let (db, store) = store().await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                for j in 0..10 {
                    store
                        .append(
                            "Hot-1",
                            ExpectedVersion::Any,
                            vec![ev("Hit", json!({"i": i, "j": j}))],
                        )
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.stream_version("Hot-1").await.unwrap(), 80);
    db.drop_db().await;
}

#[tokio::test]
async fn odd_stream_ids_are_stored_verbatim() {
    let (db, store) = store().await;
    let ids = [
        "Quote-it's \"quoted\"",
        "Semi-a; DROP TABLE es.events; --",
        "Uni-Ünïcødé ✓ 事件 🚀",
        "Back-slash\\n$1 %s",
    ];
    for id in ids {
        store
            .append(
                id,
                ExpectedVersion::NoStream,
                vec![ev("E", json!({"id": id}))],
            )
            .await
            .unwrap();
        let read = store.read_stream(id, 1, StreamEnd::Head, 10).await.unwrap();
        assert_eq!(read.len(), 1, "{id}");
        assert_eq!(read[0].stream_id, id);
        assert_eq!(json(&read[0].payload), json!({"id": id}));
        assert_eq!(store.stream_version(id).await.unwrap(), 1);
    }
    let all = store.read_all(0, 100, None).await.unwrap().events;
    assert_eq!(
        all.iter().map(|e| e.stream_id.as_str()).collect::<Vec<_>>(),
        ids
    );
    let (category,): (String,) =
        sqlx::query_as("SELECT aggregate_type FROM es.events WHERE stream_id = $1")
            .bind(ids[2])
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(category, "Uni");
    db.drop_db().await;
}

#[tokio::test]
async fn bad_input_is_a_clear_error() {
    let (db, store) = store().await;
    assert!(matches!(
        store
            .append("", ExpectedVersion::Any, vec![ev("E", json!({}))])
            .await,
        Err(StoreError::InvalidStreamId(_))
    ));
    assert!(matches!(
        store.read_stream("a\0b", 1, StreamEnd::Head, 1).await,
        Err(StoreError::InvalidStreamId(_))
    ));
    let nul =
        es_core::NewEvent::from_raw("E", 1, br#"{"text":"a\u0000b"}"#.to_vec(), Metadata::new());
    let err = store
        .append("N-1", ExpectedVersion::Any, vec![ev("E", json!({})), nul])
        .await
        .unwrap_err();
    let msg = err.to_string()
        + &std::error::Error::source(&err)
            .map(|s| s.to_string())
            .unwrap_or_default();
    assert!(msg.contains("N-1") && msg.contains("u0000"), "{msg}");
    let raw_nul = es_core::NewEvent::from_raw("E", 1, b"\"a\0b\"".to_vec(), Metadata::new());
    assert!(
        store
            .append("N-1", ExpectedVersion::Any, vec![raw_nul])
            .await
            .is_err()
    );
    let not_json = es_core::NewEvent::from_raw("E", 1, b"{nope".to_vec(), Metadata::new());
    assert!(
        store
            .append("N-1", ExpectedVersion::Any, vec![not_json])
            .await
            .is_err()
    );
    // All or nothing: the good event of the first batch is not there either.
    assert_eq!(store.stream_version("N-1").await.unwrap(), 0);
    db.drop_db().await;
}

#[tokio::test]
async fn the_trigger_refuses_update_delete_and_truncate() {
    let (db, store) = store().await;
    store
        .append("T-1", ExpectedVersion::Any, vec![ev("E", json!({"v": 1}))])
        .await
        .unwrap();
    for sql in [
        "UPDATE es.events SET payload = '{}'",
        "DELETE FROM es.events",
        "TRUNCATE es.events",
    ] {
        let err = sqlx::query(sql).execute(store.pool()).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    let read = store
        .read_stream("T-1", 1, StreamEnd::Head, 10)
        .await
        .unwrap();
    assert_eq!(json(&read[0].payload), json!({"v": 1}));
    db.drop_db().await;
}

#[tokio::test]
async fn migrations_run_twice_and_concurrently() {
    let db = TestDatabase::create().await;
    // Two stores on two pools: two connections racing to create the schema
    // and run the migrations.
    let a = PgEventStore::from_pool(db.pool().clone());
    let b = PgEventStore::connect(db.url()).await.unwrap();
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    ra.unwrap();
    rb.unwrap();
    a.migrate().await.unwrap();
    let (applied,): (i64,) = sqlx::query_as("SELECT count(*) FROM es._sqlx_migrations")
        .fetch_one(a.pool())
        .await
        .unwrap();
    assert_eq!(applied, es_postgres::MIGRATOR.iter().count() as i64);

    // Another schema in the same database, racing too.
    let c = PgEventStore::builder()
        .schema("Other_Schema")
        .unwrap()
        .build(db.pool().clone());
    let d = PgEventStore::builder()
        .schema("Other_Schema")
        .unwrap()
        .build(b.pool().clone());
    let (rc, rd) = tokio::join!(c.migrate(), d.migrate());
    rc.unwrap();
    rd.unwrap();
    c.append("X-1", ExpectedVersion::NoStream, vec![ev("E", json!({}))])
        .await
        .unwrap();
    assert_eq!(c.stream_version("X-1").await.unwrap(), 1);
    assert_eq!(a.stream_version("X-1").await.unwrap(), 0);
    // The pool's search_path was not changed by the migration.
    let (path,): (String,) = sqlx::query_as("SHOW search_path")
        .fetch_one(a.pool())
        .await
        .unwrap();
    assert!(!path.contains("Other_Schema"), "{path}");
    assert!(PgEventStore::builder().schema("bad; name").is_err());
    assert!(PgEventStore::builder().schema("1abc").is_err());
    b.pool().close().await;
    db.drop_db().await;
}

// --- a tiny aggregate, written by hand -------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Added {
    amount: i64,
}

impl Event for Added {
    const EVENT_TYPES: &'static [EventTypeInfo] = &[EventTypeInfo::new("Added", 1, &[])];
    fn event_type(&self) -> &'static str {
        "Added"
    }
    fn schema_version(&self) -> u32 {
        1
    }
    fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        es_core::event::json::encode_json("Added", self)
    }
    fn decode(t: &str, v: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        es_core::event::json::check_known::<Self>(t, v)?;
        es_core::event::json::decode_json(t, v, payload)
    }
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Counter {
    total: i64,
    adds: u64,
}

impl Aggregate for Counter {
    const NAME: &'static str = "Counter";
    const SNAPSHOT_VERSION: u32 = 1;
    type Event = Added;
    fn apply_event(&mut self, e: &Added) {
        <Self as Apply<Added>>::apply(self, e)
    }
}

impl Apply<Added> for Counter {
    fn apply(&mut self, e: &Added) {
        self.total += e.amount;
        self.adds += 1;
    }
}

#[derive(Clone)]
struct Add(i64, usize);

#[derive(Debug)]
struct Never;
impl std::fmt::Display for Never {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("never")
    }
}
impl std::error::Error for Never {}

impl Handle<Add> for Counter {
    type Error = Never;
    fn handle(&self, cmd: Add) -> Result<Vec<Added>, Never> {
        Ok((0..cmd.1)
            .map(|i| Added {
                amount: cmd.0 + i as i64,
            })
            .collect())
    }
}

#[tokio::test]
async fn the_repository_with_snapshots_loads_what_it_loads_without() {
    let (db, store) = store().await;
    let with = Repository::<Counter, _>::new(store.clone()).snapshot_every(3);
    let without = Repository::<Counter, _>::new(store.clone());
    for i in 0..10 {
        with.execute("c-1", Add(i, (i as usize % 3) + 1))
            .await
            .unwrap();
    }
    let snapshot = store
        .load_snapshot("Counter-c-1")
        .await
        .unwrap()
        .expect("a snapshot was taken");
    assert!(snapshot.version > 0 && snapshot.snapshot_version == 1);
    let a = with.load("c-1").await.unwrap().unwrap();
    let b = without.load("c-1").await.unwrap().unwrap();
    assert_eq!((&a.state, a.version), (&b.state, b.version));
    assert_eq!(a.version, 19);
    // A snapshot replaces the previous one.
    let mut newer = snapshot.clone();
    newer.version = 1;
    newer.payload = serde_json::to_vec(&Counter { total: 0, adds: 1 }).unwrap();
    store.save_snapshot(newer).await.unwrap();
    assert_eq!(
        store
            .load_snapshot("Counter-c-1")
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
    // Idempotent commands through the repository.
    let cmd = Uuid::now_v7();
    let first = with
        .execute_with("c-2", Add(5, 2), Metadata::new().command_id(cmd))
        .await
        .unwrap();
    let again = with
        .execute_with("c-2", Add(5, 2), Metadata::new().command_id(cmd))
        .await
        .unwrap();
    assert!(!first.duplicate && again.duplicate);
    assert_eq!(again.version, 2);
    assert_eq!(store.stream_version("Counter-c-2").await.unwrap(), 2);
    db.drop_db().await;
}

#[tokio::test]
async fn a_subscription_catches_up_follows_and_stops_when_dropped() {
    let db = TestDatabase::create().await;
    let store = PgEventStore::builder()
        .poll_interval(Duration::from_secs(30)) // only NOTIFY can wake it quickly
        .build(db.pool().clone());
    store.migrate().await.unwrap();
    for i in 0..5 {
        store
            .append(
                "Sub-1",
                ExpectedVersion::Any,
                vec![ev("Tick", json!({"i": i})), ev("Tock", json!({}))],
            )
            .await
            .unwrap();
    }
    let mut sub = store.subscribe(0, Some(vec!["Tick".to_owned()]));
    for i in 0..5 {
        let e = tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(json(&e.payload), json!({"i": i}));
    }
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 5..10 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                store
                    .append(
                        "Sub-2",
                        ExpectedVersion::Any,
                        vec![ev("Tick", json!({"i": i}))],
                    )
                    .await
                    .unwrap();
            }
        })
    };
    let started = std::time::Instant::now();
    let mut last = sub.position();
    for i in 5..10 {
        let e = tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("woken by NOTIFY")
            .unwrap()
            .unwrap();
        assert_eq!(json(&e.payload), json!({"i": i}));
        assert!(e.global_position > last);
        last = e.global_position;
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    writer.await.unwrap();

    let listeners = || async {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        )
        .fetch_one(db.pool())
        .await
        .unwrap();
        n
    };
    assert_eq!(listeners().await, 1);
    drop(sub);
    let mut gone = false;
    for _ in 0..100 {
        if listeners().await == 0 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the listener connection outlived the subscription");

    // As a Stream, and watch_commits on its own.
    use futures::StreamExt;
    let mut watch = store.watch_commits().await.unwrap();
    let stream = store.subscribe(0, None).into_stream();
    let all: Vec<_> = stream.take(15).collect().await;
    assert_eq!(all.len(), 15);
    let r = store
        .append("Sub-3", ExpectedVersion::Any, vec![ev("Tick", json!({}))])
        .await
        .unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let p = watch.changed().await.unwrap();
            if p >= r.last_position.unwrap() {
                return p;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(seen, r.last_position.unwrap());
    drop(watch);
    db.drop_db().await;
}
