//! Concurrent appenders on one stream and on many.

use super::*;

/// 8 tasks × 25 appends on one stream, each with `Exact(version it read)`,
/// retrying on conflict: every successful append lands exactly at the
/// expected version + 1, and the stream ends at versions 1..=200, each
/// append present once.
pub async fn concurrent_appenders_one_stream<S: EventStore + SnapshotStore>(store: S) {
    const WRITERS: u64 = 8;
    const APPENDS: u64 = 25;
    let stream = "Contended-1";
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0u64;
            for seq in 0..APPENDS {
                loop {
                    let v = store
                        .stream_version(stream)
                        .await
                        .unwrap_or_else(|e| panic!("store conformance: stream_version failed: {e}", e = es_core::ErrorChain(&e)));
                    // Let the other writers run between the read and the
                    // write, as a store doing I/O would.
                    tokio::task::yield_now().await;
                    let e = event("Contended", json!({ "writer": writer, "seq": seq }));
                    match store.append(stream, ExpectedVersion::Exact(v), vec![e]).await {
                        Ok(r) => {
                            assert_eq!(
                                (r.first_version, r.last_version),
                                (v + 1, v + 1),
                                "store conformance: an append expecting version {v} succeeded but wrote version {}: the store ignored the expected version",
                                r.first_version
                            );
                            break;
                        }
                        Err(e) if e.is_conflict() => {
                            conflicts += 1;
                            assert!(
                                conflicts < 100_000,
                                "store conformance: a writer never got its append through"
                            );
                        }
                        Err(e) => panic!("store conformance: a concurrent append failed: {e}", e = es_core::ErrorChain(&e)),
                    }
                }
            }
            conflicts
        }));
    }
    for task in tasks {
        if let Err(e) = task.await {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic());
            }
            panic!(
                "store conformance: a writer task failed: {e}",
                e = es_core::ErrorChain(&e)
            );
        }
    }
    let events = read_whole(&store, stream).await;
    assert_versions(&events, 1..=WRITERS * APPENDS, "concurrent appenders");
    let mut seen = BTreeSet::new();
    let mut last_seq: BTreeMap<u64, u64> = BTreeMap::new();
    for e in &events {
        let p = payload(e);
        let (writer, seq) = (
            p["writer"].as_u64().unwrap_or(u64::MAX),
            p["seq"].as_u64().unwrap_or(u64::MAX),
        );
        assert!(
            seen.insert((writer, seq)),
            "store conformance: writer {writer}'s append {seq} was written twice"
        );
        if let Some(prev) = last_seq.insert(writer, seq) {
            assert!(
                prev < seq,
                "store conformance: writer {writer}'s appends are out of order"
            );
        }
    }
    assert_eq!(
        seen.len() as u64,
        WRITERS * APPENDS,
        "store conformance: appends lost"
    );
    assert_eq!(version(&store, stream).await, WRITERS * APPENDS);
    assert_increasing_positions(&events, "concurrent appenders");
}

/// 8 tasks × 25 appends, each task on its own stream: no conflicts (writers
/// of different streams never block each other out), every stream complete.
pub async fn concurrent_appenders_distinct_streams<S: EventStore + SnapshotStore>(store: S) {
    const WRITERS: u64 = 8;
    const APPENDS: u64 = 25;
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let stream = format!("Parallel-{writer}");
            for seq in 0..APPENDS {
                let e = event("Parallel", json!({ "writer": writer, "seq": seq }));
                if let Err(e) = store.append(&stream, ExpectedVersion::Exact(seq), vec![e]).await {
                    panic!("store conformance: append {seq} to `{stream}` (its only writer) failed: {e}", e = es_core::ErrorChain(&e));
                }
            }
        }));
    }
    for task in tasks {
        if let Err(e) = task.await {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic());
            }
            panic!(
                "store conformance: a writer task failed: {e}",
                e = es_core::ErrorChain(&e)
            );
        }
    }
    for writer in 0..WRITERS {
        let stream = format!("Parallel-{writer}");
        assert_versions(&read_whole(&store, &stream).await, 1..=APPENDS, &stream);
    }
    let all = read_all(&store, 0, usize::MAX, None).await;
    assert_eq!(
        all.len() as u64,
        WRITERS * APPENDS,
        "store conformance: read_all after parallel writers"
    );
    assert_increasing_positions(&all, "parallel writers");
}
