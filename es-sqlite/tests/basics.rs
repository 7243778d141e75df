//! The SQLite store's own tests: semantics, immutability, persistence,
//! wake-ups. (The shared conformance suite runs in `conformance.rs`.)

mod common;

use std::time::Duration;

use chrono::Utc;
use common::{TempDb, event, events};
use es_core::{
    EventStore, ExpectedVersion, Metadata, NewEvent, Snapshot, SnapshotStore, StoreError,
    StreamEnd, Uuid,
};
use es_sqlite::SqliteEventStore;

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[tokio::test]
async fn append_and_read_a_stream() -> TestResult {
    let store = SqliteEventStore::in_memory().await?;
    let r = store
        .append(
            "Account-1",
            ExpectedVersion::NoStream,
            events("Deposited", 3),
        )
        .await?;
    assert_eq!((r.first_version, r.last_version), (1, 3));
    assert_eq!(r.last_position, Some(3));
    assert!(!r.duplicate);

    let r = store
        .append(
            "Account-1",
            ExpectedVersion::Exact(3),
            events("Withdrawn", 2),
        )
        .await?;
    assert_eq!(
        (r.first_version, r.last_version, r.last_position),
        (4, 5, Some(5))
    );

    let read = store
        .read_stream("Account-1", 1, StreamEnd::Head, 100)
        .await?;
    let versions: Vec<u64> = read.iter().map(|e| e.stream_version).collect();
    assert_eq!(versions, [1, 2, 3, 4, 5]);
    assert_eq!(read[0].payload, br#"{"n":1}"#);
    assert_eq!(read[3].event_type, "Withdrawn");
    assert_eq!(read[0].stream_id, "Account-1");
    assert_eq!(read[0].category(), "Account");
    assert_eq!(read[4].global_position, 5);

    // Paging and bounds.
    let page = store
        .read_stream("Account-1", 2, StreamEnd::Head, 2)
        .await?;
    assert_eq!(
        page.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        [2, 3]
    );
    let upto = store
        .read_stream("Account-1", 0, StreamEnd::Version(2), 100)
        .await?;
    assert_eq!(upto.len(), 2);
    assert!(
        store
            .read_stream("Account-1", 6, StreamEnd::Head, 100)
            .await?
            .is_empty()
    );
    assert!(
        store
            .read_stream("Account-1", 1, StreamEnd::Head, 0)
            .await?
            .is_empty()
    );
    assert!(
        store
            .read_stream("Account-2", 1, StreamEnd::Head, 10)
            .await?
            .is_empty()
    );

    assert_eq!(store.stream_version("Account-1").await?, 5);
    assert_eq!(store.stream_version("Account-2").await?, 0);
    assert_eq!(store.head_position().await?, 5);
    Ok(())
}

#[tokio::test]
async fn events_keep_their_envelope() -> TestResult {
    let store = SqliteEventStore::in_memory().await?;
    let correlation = Uuid::now_v7();
    let metadata = Metadata::new()
        .correlation_id(correlation)
        .actor("user-7")
        .with("ip", "10.0.0.1");
    let e = NewEvent::from_raw("Opened", 3, br#"{"a": [1, 2]}"#.to_vec(), metadata.clone());
    let id = e.event_id;
    let before = Utc::now();
    store
        .append("Account-1", ExpectedVersion::Any, vec![e])
        .await?;
    let read = store
        .read_stream("Account-1", 1, StreamEnd::Head, 10)
        .await?;
    let got = &read[0];
    assert_eq!(got.event_id, id);
    assert_eq!(got.schema_version, 3);
    assert_eq!(got.metadata, metadata);
    assert_eq!(
        got.payload, br#"{"a": [1, 2]}"#,
        "payload bytes are kept as written"
    );
    assert!(got.recorded_at >= before - chrono::Duration::milliseconds(1));
    assert!(got.recorded_at <= Utc::now());

    // A payload that is not JSON (here not even UTF-8) would never decode:
    // it is refused, and nothing is stored.
    let raw = NewEvent::from_raw("Raw", 1, vec![0xff, 0x00, 0xfe], Metadata::new());
    let err = store
        .append("Raw-1", ExpectedVersion::Any, vec![raw])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::UnreadablePayload {
                part: "payload",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(store.stream_version("Raw-1").await?, 0);
    Ok(())
}

#[tokio::test]
async fn a_stale_expected_version_is_a_conflict_and_writes_nothing() -> TestResult {
    let store = SqliteEventStore::in_memory().await?;
    store
        .append(
            "Account-1",
            ExpectedVersion::NoStream,
            events("Deposited", 2),
        )
        .await?;

    for expected in [
        ExpectedVersion::NoStream,
        ExpectedVersion::Exact(0),
        ExpectedVersion::Exact(1),
        ExpectedVersion::Exact(3),
    ] {
        let err = store
            .append("Account-1", expected, events("Deposited", 2))
            .await
            .unwrap_err();
        match err {
            StoreError::VersionConflict {
                stream_id,
                expected: e,
                actual,
            } => {
                assert_eq!(stream_id, "Account-1");
                assert_eq!(e, expected);
                assert_eq!(actual, 2);
            }
            other => panic!("expected a version conflict, got {other}"),
        }
    }
    let err = store
        .append(
            "Account-2",
            ExpectedVersion::Exact(1),
            events("Deposited", 1),
        )
        .await
        .unwrap_err();
    assert!(err.is_conflict());
    assert!(err.to_string().contains("Account-2"), "{err}");

    assert_eq!(store.stream_version("Account-1").await?, 2);
    assert_eq!(store.head_position().await?, 2);

    // Exact(0) is NoStream; Any appends whatever the version.
    store
        .append(
            "Account-3",
            ExpectedVersion::Exact(0),
            events("Deposited", 1),
        )
        .await?;
    let r = store
        .append("Account-3", ExpectedVersion::Any, events("Deposited", 1))
        .await?;
    assert_eq!(r.last_version, 2);
    Ok(())
}

#[tokio::test]
async fn an_empty_batch_is_a_no_op() -> TestResult {
    let store = SqliteEventStore::in_memory().await?;
    let r = store
        .append("Account-1", ExpectedVersion::NoStream, vec![])
        .await?;
    assert_eq!(
        (r.first_version, r.last_version, r.last_position),
        (1, 0, None)
    );
    store
        .append(
            "Account-1",
            ExpectedVersion::NoStream,
            events("Deposited", 2),
        )
        .await?;
    let r = store
        .append("Account-1", ExpectedVersion::Exact(2), vec![])
        .await?;
    assert_eq!((r.first_version, r.last_version), (3, 2));
    let err = store
        .append("Account-1", ExpectedVersion::Exact(1), vec![])
        .await
        .unwrap_err();
    assert!(err.is_conflict());
    assert_eq!(store.head_position().await?, 2);
    Ok(())
}

#[tokio::test]
async fn a_repeated_command_id_appends_nothing() -> TestResult {
    let store = SqliteEventStore::in_memory().await?;
    store
        .append("Account-1", ExpectedVersion::Any, events("Opened", 1))
        .await?;
    let command = Uuid::now_v7();
    let with_command = |n| {
        (0..n)
            .map(|i| {
                NewEvent::from_raw(
                    "Deposited",
                    1,
                    b"{}".to_vec(),
                    Metadata::new().command_id(command).with("i", i),
                )
            })
            .collect::<Vec<_>>()
    };
    let first = store
        .append("Account-1", ExpectedVersion::Exact(1), with_command(2))
        .await?;
    assert_eq!((first.first_version, first.last_version), (2, 3));
    assert!(!first.duplicate);

    // Even with a stale expected version, the repeat answers from the record.
    let again = store
        .append("Account-1", ExpectedVersion::Exact(1), with_command(2))
        .await?;
    assert!(again.duplicate);
    assert_eq!((again.first_version, again.last_version), (2, 3));
    assert_eq!(again.last_position, None);
    assert_eq!(store.stream_version("Account-1").await?, 3);

    let record = store
        .find_command("Account-1", command)
        .await?
        .expect("recorded");
    assert_eq!((record.first_version, record.last_version), (2, 3));
    assert_eq!(store.find_command("Account-2", command).await?, None);
    assert_eq!(store.find_command("Account-1", Uuid::now_v7()).await?, None);

    // The same command id on another stream is another command.
    let other = store
        .append("Account-2", ExpectedVersion::NoStream, with_command(1))
        .await?;
    assert!(!other.duplicate);
    Ok(())
}

#[tokio::test]
async fn read_all_in_global_order_with_a_type_filter() -> TestResult {
    let store = SqliteEventStore::in_memory().await?;
    store
        .append("A-1", ExpectedVersion::Any, events("Opened", 1))
        .await?;
    store
        .append("B-1", ExpectedVersion::Any, events("Deposited", 2))
        .await?;
    store
        .append("A-1", ExpectedVersion::Any, events("Closed", 1))
        .await?;

    let all = store.read_all(0, 100, None).await?.events;
    let positions: Vec<u64> = all.iter().map(|e| e.global_position).collect();
    assert_eq!(positions, [1, 2, 3, 4]);
    let streams: Vec<&str> = all.iter().map(|e| e.stream_id.as_str()).collect();
    assert_eq!(streams, ["A-1", "B-1", "B-1", "A-1"]);

    let after = store.read_all(2, 1, None).await?.events;
    assert_eq!(after[0].global_position, 3);
    let typed = store
        .read_all(0, 100, Some(&["Opened", "Closed"]))
        .await?
        .events;
    assert_eq!(
        typed.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        [1, 4]
    );
    assert!(store.read_all(0, 100, Some(&[])).await?.events.is_empty());
    assert!(store.read_all(0, 0, None).await?.events.is_empty());
    assert!(store.read_all(4, 100, None).await?.events.is_empty());
    assert!(store.read_all(u64::MAX, 100, None).await?.events.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_large_batch_is_one_append() -> TestResult {
    let store = SqliteEventStore::in_memory().await?;
    let r = store
        .append("Big-1", ExpectedVersion::NoStream, events("Tick", 2_500))
        .await?;
    assert_eq!(
        (r.first_version, r.last_version, r.last_position),
        (1, 2_500, Some(2_500))
    );
    let read = store
        .read_stream("Big-1", 1, StreamEnd::Head, 10_000)
        .await?;
    assert_eq!(read.len(), 2_500);
    assert!(
        read.iter()
            .enumerate()
            .all(|(i, e)| e.stream_version == i as u64 + 1)
    );
    assert!(read.iter().all(|e| e.recorded_at == read[0].recorded_at));
    Ok(())
}

#[tokio::test]
async fn a_failed_batch_writes_nothing() -> TestResult {
    let store = SqliteEventStore::in_memory().await?;
    // The third event repeats the first's id: the unique key refuses it, and
    // the whole batch rolls back.
    let mut batch = events("Deposited", 3);
    batch[2].event_id = batch[0].event_id;
    let err = store
        .append("Account-1", ExpectedVersion::NoStream, batch)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err}");
    assert!(err.to_string().contains("Account-1"), "{err}");
    assert_eq!(store.stream_version("Account-1").await?, 0);
    assert_eq!(store.head_position().await?, 0);
    // The store still works, and the lock was released.
    store
        .append(
            "Account-1",
            ExpectedVersion::NoStream,
            events("Deposited", 1),
        )
        .await?;
    Ok(())
}

#[tokio::test]
async fn time_bounds_cut_a_stream() -> TestResult {
    let store = SqliteEventStore::in_memory().await?;
    store
        .append("Account-1", ExpectedVersion::Any, events("E", 2))
        .await?;
    let first = store
        .read_stream("Account-1", 1, StreamEnd::Head, 10)
        .await?;
    let t1 = first[1].recorded_at;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let between = Utc::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    store
        .append("Account-1", ExpectedVersion::Any, events("E", 1))
        .await?;

    let at_t1 = store
        .read_stream("Account-1", 1, StreamEnd::Time(t1), 10)
        .await?;
    assert_eq!(at_t1.len(), 2);
    let at_between = store
        .read_stream("Account-1", 1, StreamEnd::Time(between), 10)
        .await?;
    assert_eq!(at_between.len(), 2);
    let before = store
        .read_stream(
            "Account-1",
            1,
            StreamEnd::Time(t1 - chrono::Duration::microseconds(1)),
            10,
        )
        .await?;
    assert!(before.is_empty());
    let all = store
        .read_stream(
            "Account-1",
            1,
            StreamEnd::Time(chrono::DateTime::<Utc>::MAX_UTC),
            10,
        )
        .await?;
    assert_eq!(all.len(), 3);
    let none = store
        .read_stream(
            "Account-1",
            1,
            StreamEnd::Time(chrono::DateTime::<Utc>::MIN_UTC),
            10,
        )
        .await?;
    assert!(none.is_empty());
    // Recorded times never go backwards along the log.
    let log = store.read_all(0, 10, None).await?.events;
    assert!(log.windows(2).all(|w| w[0].recorded_at <= w[1].recorded_at));
    Ok(())
}

#[tokio::test]
async fn invalid_stream_ids_are_refused_before_anything_is_stored() -> TestResult {
    let store = SqliteEventStore::in_memory().await?;
    for bad in [String::new(), "a\0b".to_owned(), "x".repeat(256)] {
        let err = store
            .append(&bad, ExpectedVersion::Any, events("E", 1))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidStreamId(_)), "{err}");
        assert!(matches!(
            store.read_stream(&bad, 1, StreamEnd::Head, 1).await,
            Err(StoreError::InvalidStreamId(_))
        ));
    }
    assert_eq!(store.head_position().await?, 0);
    Ok(())
}

#[tokio::test]
async fn stream_ids_with_sql_metacharacters_are_kept_verbatim() -> TestResult {
    let store = SqliteEventStore::in_memory().await?;
    let ids = [
        "Order-'; DROP TABLE events; --",
        "Order-\"quoted\" `back` [bracket]",
        "Order-100%_like\\escape",
        "Order-ünïcödé-注文-🦀",
        "Order-?1 :name @p $x",
        "no-dash-at-start",
        "nodash",
    ];
    for (i, id) in ids.iter().enumerate() {
        let event_type = format!("Type'{i}\";--");
        store
            .append(
                id,
                ExpectedVersion::NoStream,
                vec![event(&event_type, i as u64)],
            )
            .await?;
    }
    for (i, id) in ids.iter().enumerate() {
        let read = store.read_stream(id, 1, StreamEnd::Head, 10).await?;
        assert_eq!(read.len(), 1, "{id}");
        assert_eq!(read[0].stream_id, *id);
        assert_eq!(read[0].event_type, format!("Type'{i}\";--"));
        assert_eq!(store.stream_version(id).await?, 1);
    }
    let t = "Type'0\";--";
    assert_eq!(store.read_all(0, 100, Some(&[t])).await?.events.len(), 1);
    assert_eq!(store.head_position().await?, ids.len() as u64);
    // The aggregate type is the part before the first '-'.
    let categories: Vec<String> =
        sqlx::query_scalar("SELECT aggregate_type FROM events ORDER BY global_position")
            .fetch_all(store.pool())
            .await?;
    assert_eq!(categories[0], "Order");
    assert_eq!(categories[5], "no");
    assert_eq!(categories[6], "nodash");
    Ok(())
}

#[tokio::test]
async fn triggers_refuse_update_and_delete() -> TestResult {
    let store = SqliteEventStore::in_memory().await?;
    store
        .append("Account-1", ExpectedVersion::Any, events("E", 2))
        .await?;
    let update = sqlx::query("UPDATE events SET payload = '{}' WHERE stream_version = 1")
        .execute(store.pool())
        .await
        .unwrap_err();
    assert!(update.to_string().contains("immutable"), "{update}");
    let delete = sqlx::query("DELETE FROM events WHERE stream_version = 2")
        .execute(store.pool())
        .await
        .unwrap_err();
    assert!(delete.to_string().contains("immutable"), "{delete}");
    let delete_all = sqlx::query("DELETE FROM events")
        .execute(store.pool())
        .await
        .unwrap_err();
    assert!(delete_all.to_string().contains("immutable"), "{delete_all}");
    let read = store
        .read_stream("Account-1", 1, StreamEnd::Head, 10)
        .await?;
    assert_eq!(read.len(), 2);
    assert_eq!(read[0].payload, br#"{"n":1}"#);
    Ok(())
}

#[tokio::test]
async fn snapshots_replace_per_stream() -> TestResult {
    let store = SqliteEventStore::in_memory().await?;
    assert_eq!(store.load_snapshot("Account-1").await?, None);
    let first = Snapshot {
        stream_id: "Account-1".into(),
        version: 10,
        snapshot_version: 1,
        payload: br#"{"balance":10}"#.to_vec(),
        taken_at: Utc::now(),
    };
    store.save_snapshot(first.clone()).await?;
    assert_eq!(store.load_snapshot("Account-1").await?, Some(first));
    let second = Snapshot {
        stream_id: "Account-1".into(),
        version: 20,
        snapshot_version: 2,
        payload: br#"{"balance":20}"#.to_vec(),
        taken_at: Utc::now(),
    };
    store.save_snapshot(second.clone()).await?;
    assert_eq!(store.load_snapshot("Account-1").await?, Some(second));
    assert_eq!(store.load_snapshot("Account-2").await?, None);
    Ok(())
}

#[tokio::test]
async fn checkpoints_are_saved_and_replaced() -> TestResult {
    let store = SqliteEventStore::in_memory().await?;
    assert_eq!(store.load_checkpoint("balances").await?, None);
    store.save_checkpoint("balances", 7).await?;
    store.save_checkpoint("balances", 9).await?;
    store.save_checkpoint("other's \"view\"", 1).await?;
    assert_eq!(store.load_checkpoint("balances").await?, Some(9));
    assert_eq!(store.load_checkpoint("other's \"view\"").await?, Some(1));

    // In a transaction with a read model: a rollback keeps neither.
    let mut tx = store.pool().begin().await?;
    es_sqlite::save_checkpoint_with(&mut *tx, "balances", 42).await?;
    assert_eq!(
        es_sqlite::load_checkpoint_with(&mut *tx, "balances").await?,
        Some(42)
    );
    tx.rollback().await?;
    assert_eq!(store.load_checkpoint("balances").await?, Some(9));
    Ok(())
}

#[tokio::test]
async fn data_survives_reopening_the_file() -> TestResult {
    let db = TempDb::new("reopen");
    {
        let store = SqliteEventStore::open(db.path()).await?;
        store
            .append(
                "Account-1",
                ExpectedVersion::NoStream,
                events("Deposited", 3),
            )
            .await?;
        store.save_checkpoint("view", 3).await?;
        store.close().await;
    }
    assert!(db.path().exists());
    {
        // Opening again runs the migrations again: a no-op.
        let store = SqliteEventStore::open(db.path()).await?;
        store.migrate().await?;
        assert_eq!(store.stream_version("Account-1").await?, 3);
        assert_eq!(store.load_checkpoint("view").await?, Some(3));
        let r = store
            .append(
                "Account-1",
                ExpectedVersion::Exact(3),
                events("Deposited", 1),
            )
            .await?;
        assert_eq!((r.last_version, r.last_position), (4, Some(4)));
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(store.pool())
            .await?;
        assert_eq!(mode, "wal");
        store.close().await;
    }
    Ok(())
}

#[tokio::test]
async fn in_memory_stores_are_separate_and_shared_by_clones() -> TestResult {
    let a = SqliteEventStore::in_memory().await?;
    let b = SqliteEventStore::in_memory().await?;
    let a2 = a.clone();
    a.append("S-1", ExpectedVersion::Any, events("E", 1))
        .await?;
    assert_eq!(a2.stream_version("S-1").await?, 1);
    assert_eq!(b.stream_version("S-1").await?, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_in_one_process_serialize() -> TestResult {
    let db = TempDb::new("tasks");
    let store = SqliteEventStore::open(db.path()).await?;
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0u32;
            let mut done = 0u32;
            while done < 25 {
                let v = store.stream_version("Shared-1").await?;
                match store
                    .append("Shared-1", ExpectedVersion::Exact(v), vec![event("E", w)])
                    .await
                {
                    Ok(_) => done += 1,
                    Err(e) if e.is_conflict() => conflicts += 1,
                    Err(e) => return Err(e),
                }
            }
            Ok::<_, StoreError>(conflicts)
        }));
    }
    for t in tasks {
        t.await??;
    }
    let read = store
        .read_stream("Shared-1", 1, StreamEnd::Head, 1000)
        .await?;
    assert_eq!(read.len(), 100);
    assert!(
        read.iter()
            .enumerate()
            .all(|(i, e)| e.stream_version == i as u64 + 1)
    );
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn watch_commits_wakes_on_commit() -> TestResult {
    let store = SqliteEventStore::in_memory().await?;
    store
        .append("S-1", ExpectedVersion::Any, events("E", 2))
        .await?;
    let mut watch = store.watch_commits().await?;
    assert_eq!(watch.latest(), 2);
    let writer = store.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        writer
            .append("S-1", ExpectedVersion::Any, events("E", 3))
            .await
            .unwrap();
    });
    let woke = tokio::time::timeout(Duration::from_secs(5), watch.changed()).await?;
    assert_eq!(woke, Some(5));
    Ok(())
}

#[tokio::test]
async fn watchers_learn_of_commits_by_another_connection_pool() -> TestResult {
    // Another pool on the same file stands for another process: its commits
    // reach this store's watchers through the polling backstop.
    let db = TempDb::new("poll");
    let store = SqliteEventStore::open(db.path()).await?;
    let other = SqliteEventStore::open(db.path()).await?;
    let mut watch = store.watch_commits().await?;
    assert_eq!(watch.latest(), 0);
    other
        .append("S-1", ExpectedVersion::Any, events("E", 2))
        .await?;
    let woke = tokio::time::timeout(Duration::from_secs(5), watch.changed()).await?;
    assert_eq!(woke, Some(2));

    // The polling task ends with the store: the watcher sees it go.
    store.close().await;
    drop(store);
    let gone = tokio::time::timeout(Duration::from_secs(5), watch.changed()).await?;
    assert_eq!(gone, None);
    other.close().await;
    Ok(())
}

#[tokio::test]
async fn a_subscription_catches_up_then_follows() -> TestResult {
    let store = SqliteEventStore::in_memory().await?;
    store
        .append("A-1", ExpectedVersion::Any, events("Opened", 1))
        .await?;
    store
        .append("A-1", ExpectedVersion::Any, events("Noise", 2))
        .await?;
    store
        .append("A-1", ExpectedVersion::Any, events("Opened", 1))
        .await?;

    let mut sub = store.subscribe(0).event_types(["Opened"]).batch_size(1);
    assert_eq!(sub.next().await?.global_position, 1);
    assert_eq!(sub.next().await?.global_position, 4);
    assert_eq!(sub.position(), 4);

    let writer = store.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        writer
            .append("B-1", ExpectedVersion::Any, events("Noise", 1))
            .await
            .unwrap();
        writer
            .append("B-1", ExpectedVersion::Any, events("Opened", 2))
            .await
            .unwrap();
    });
    let next = tokio::time::timeout(Duration::from_secs(5), sub.next()).await??;
    assert_eq!((next.global_position, next.stream_id.as_str()), (6, "B-1"));
    let rest = tokio::time::timeout(Duration::from_secs(5), sub.next_batch()).await??;
    assert_eq!(
        rest.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        [7]
    );
    assert_eq!(sub.position(), 7);

    // Resuming from a saved position yields only what follows it.
    let mut resumed = store.subscribe(6);
    assert_eq!(resumed.next().await?.global_position, 7);
    Ok(())
}

/// SQLite keeps the payload's text, so every finite f64 reads back bit for
/// bit, `-0.0` included (PostgreSQL's `jsonb` turns `-0.0` into `0.0`).
#[tokio::test]
async fn every_finite_f64_reads_back_bit_for_bit_negative_zero_included() -> TestResult {
    let mut values = vec![-0.0, 0.0, 0.1 + 0.2, 5e-324, f64::MAX, f64::MIN_POSITIVE];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while values.len() < 2_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = f64::from_bits(x);
        if v.is_finite() {
            values.push(v);
        }
    }
    let store = SqliteEventStore::in_memory().await?;
    let payload = serde_json::to_vec(&values)?;
    store
        .append(
            "Floats-1",
            ExpectedVersion::NoStream,
            vec![NewEvent::from_raw(
                "Sampled",
                1,
                payload.clone(),
                Metadata::new(),
            )],
        )
        .await?;
    let bits = |v: &[f64]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    let read = store.read_stream("Floats-1", 1, StreamEnd::Head, 1).await?;
    let back: Vec<f64> = serde_json::from_slice(&read[0].payload)?;
    assert_eq!(bits(&back), bits(&values), "event payload");
    assert!(back[0].is_sign_negative());
    store
        .save_snapshot(Snapshot {
            stream_id: "Floats-1".into(),
            version: 1,
            snapshot_version: 1,
            payload,
            taken_at: Utc::now(),
        })
        .await?;
    let snap = store.load_snapshot("Floats-1").await?.expect("saved");
    let back: Vec<f64> = serde_json::from_slice(&snap.payload)?;
    assert_eq!(bits(&back), bits(&values), "snapshot payload");
    Ok(())
}
