//! Snapshots: save, load, replace, every key.

use super::*;

/// Snapshots: none at first; a saved one loads back whole; a newer one
/// replaces it; every u32 snapshot key loads unchanged; streams' snapshots
/// are independent.
pub async fn snapshots_save_load_replace<S: EventStore + SnapshotStore>(store: S) {
    use chrono::SubsecRound as _;
    let load = |stream: &'static str| {
        let store = store.clone();
        async move {
            store.load_snapshot(stream).await.unwrap_or_else(|e| {
                panic!(
                    "store conformance: load_snapshot(`{stream}`) failed: {e}",
                    e = es_core::ErrorChain(&e)
                )
            })
        }
    };
    let save = |snapshot: Snapshot| {
        let store = store.clone();
        async move {
            let stream = snapshot.stream_id.clone();
            store.save_snapshot(snapshot).await.unwrap_or_else(|e| {
                panic!(
                    "store conformance: save_snapshot(`{stream}`) failed: {e}",
                    e = es_core::ErrorChain(&e)
                )
            })
        }
    };
    assert_eq!(
        load("Snap-1").await,
        None,
        "store conformance: no snapshot saved yet"
    );
    let first = Snapshot {
        stream_id: "Snap-1".to_owned(),
        version: 5,
        snapshot_version: 1,
        payload: serde_json::to_vec(&json!({"balance": 100, "owner": "zoë"})).expect("JSON"),
        taken_at: chrono::Utc::now().trunc_subsecs(6),
    };
    save(first.clone()).await;
    let loaded = load("Snap-1")
        .await
        .expect("store conformance: a saved snapshot must load");
    assert_eq!(
        (&loaded.stream_id, loaded.version, loaded.snapshot_version),
        (&first.stream_id, first.version, first.snapshot_version),
        "store conformance: the loaded snapshot's stream, version and snapshot version"
    );
    let as_json = |p: &[u8]| {
        serde_json::from_slice::<Value>(p).expect("store conformance: snapshot payload is not JSON")
    };
    assert_eq!(
        as_json(&loaded.payload),
        as_json(&first.payload),
        "store conformance: snapshot payload changed"
    );
    assert_eq!(
        loaded.taken_at, first.taken_at,
        "store conformance: snapshot taken_at changed"
    );

    let second = Snapshot {
        version: 10,
        snapshot_version: 2,
        payload: serde_json::to_vec(&json!({"balance": 7})).expect("JSON"),
        taken_at: chrono::Utc::now().trunc_subsecs(6),
        ..first.clone()
    };
    save(second.clone()).await;
    let loaded = load("Snap-1")
        .await
        .expect("store conformance: a replaced snapshot must load");
    assert_eq!(
        (
            loaded.version,
            loaded.snapshot_version,
            as_json(&loaded.payload)
        ),
        (10, 2, json!({"balance": 7})),
        "store conformance: a saved snapshot must replace the stream's previous one"
    );
    // A snapshot key is any u32 (`es_core::snapshot_key` mixes a state
    // fingerprint into it), so all 32 bits must come back.
    for key in [u32::MAX, 0x8000_0000, 0] {
        save(Snapshot {
            snapshot_version: key,
            ..second.clone()
        })
        .await;
        assert_eq!(
            load("Snap-1").await.map(|s| s.snapshot_version),
            Some(key),
            "store conformance: a snapshot key of {key:#x} must load unchanged"
        );
    }
    assert_eq!(
        load("Snap-2").await,
        None,
        "store conformance: snapshots are per stream"
    );
    save(Snapshot {
        stream_id: "Snap-2".to_owned(),
        ..first.clone()
    })
    .await;
    assert_eq!(load("Snap-2").await.map(|s| s.version), Some(5));
    assert_eq!(
        load("Snap-1").await.map(|s| s.version),
        Some(10),
        "store conformance: saving another stream's snapshot changed this one"
    );
}
