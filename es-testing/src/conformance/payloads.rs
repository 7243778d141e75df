//! What a store accepts: long streams, large payloads, and the refusal of what would not read back or is over the size limit.

use super::*;

/// A 10,000-event stream (appended in batches of 1,000) reads back whole,
/// in pages of 1,000, and from a late version.
pub async fn ten_thousand_event_stream<S: EventStore + SnapshotStore>(store: S) {
    let s = "Long-1";
    for batch in 0..10u64 {
        let first = batch * 1000 + 1;
        let r = append(
            &store,
            s,
            ExpectedVersion::Exact(first - 1),
            numbered("Tick", first..=first + 999),
        )
        .await;
        assert_eq!(r.last_version, first + 999);
    }
    assert_eq!(version(&store, s).await, 10_000);
    let mut from = 1;
    let mut count = 0u64;
    loop {
        let page = read(&store, s, from, StreamEnd::Head, 1000).await;
        if page.is_empty() {
            break;
        }
        assert_eq!(
            page.len(),
            1000,
            "store conformance: a full page of the 10,000-event stream"
        );
        for e in &page {
            count += 1;
            assert_eq!(
                e.stream_version, count,
                "store conformance: the 10,000-event stream has a gap"
            );
        }
        assert_eq!(payload(&page[999]), json!({ "n": count }));
        from = count + 1;
        assert!(count <= 10_000, "store conformance: paging never ends");
    }
    assert_eq!(
        count, 10_000,
        "store conformance: events of the 10,000-event stream"
    );
    let whole = read_whole(&store, s).await;
    assert_versions(&whole, 1..=10_000, "the whole 10,000-event stream");
    assert_increasing_positions(&whole, "the 10,000-event stream");
    assert_versions(
        &read(&store, s, 9_990, StreamEnd::Head, 100).await,
        9_990..=10_000,
        "the tail",
    );
}

/// A 1 MiB payload (with escapes and multi-byte characters) is stored and
/// read back unchanged.
pub async fn large_payload<S: EventStore + SnapshotStore>(store: S) {
    let mut blob = String::with_capacity(1 << 20);
    while blob.len() < (1 << 20) {
        blob.push_str("0123456789abcdef\"\\\n€🦀 ");
    }
    let value = json!({ "blob": blob, "n": 1 });
    let bytes = serde_json::to_vec(&value).expect("JSON");
    assert!(bytes.len() > 1 << 20);
    let e = NewEvent::from_raw("Big", 1, bytes, Metadata::new());
    append(&store, "Big-1", ExpectedVersion::NoStream, vec![e]).await;
    let events = read_whole(&store, "Big-1").await;
    assert_eq!(events.len(), 1);
    assert!(
        payload(&events[0]) == value,
        "store conformance: a 1 MiB payload changed when stored (read back {} bytes)",
        events[0].payload.len()
    );
    let all = read_all(&store, 0, 10, None).await;
    assert!(
        all.len() == 1 && payload(&all[0]) == value,
        "store conformance: a 1 MiB payload via read_all"
    );
}

/// Nested `depth` arrays: `[[…]]`.
fn nested(depth: usize) -> Vec<u8> {
    let mut out = vec![b'['; depth];
    out.extend(std::iter::repeat_n(b']', depth));
    out
}

/// Appends `bad` after a good event and expects the whole batch refused
/// before anything was stored, as [`StoreError::UnreadablePayload`].
async fn assert_unreadable<S: EventStore>(store: &S, what: &str, bad: NewEvent) {
    let batch = vec![event("Good", json!({ "n": 1 })), bad];
    match store
        .append("Unreadable-1", ExpectedVersion::Any, batch)
        .await
    {
        Err(StoreError::UnreadablePayload { stream_id, .. }) => assert_eq!(
            stream_id, "Unreadable-1",
            "store conformance: the refusal of {what} must name the stream"
        ),
        Ok(r) => panic!(
            "store conformance: {what} must be refused (it would never read back), but the append stored it at version {}",
            r.last_version
        ),
        Err(e) => panic!(
            "store conformance: {what} must be refused as StoreError::UnreadablePayload before anything is stored, got: {e}",
            e = es_core::ErrorChain(&e)
        ),
    }
    assert_eq!(
        version(store, "Unreadable-1").await,
        0,
        "store conformance: refusing {what} left part of its batch stored"
    );
}

/// What a store accepts reads back: a payload that is not JSON, has bytes
/// after its value, holds a number no decoder reads (`1e400`) or is nested
/// deeper than the decoder reads (128 levels) is refused with
/// [`StoreError::UnreadablePayload`], and so is metadata nested too deep; the
/// deepest payload the decoder reads (127 levels) is stored and read back.
pub async fn unreadable_payloads_refused<S: EventStore + SnapshotStore>(store: S) {
    let raw = |bytes: &[u8]| NewEvent::from_raw("Raw", 1, bytes.to_vec(), Metadata::new());
    for (what, bytes) in [
        ("an empty payload", b"".to_vec()),
        ("a payload that is not JSON", b"{nope".to_vec()),
        (
            "a payload with bytes after its value",
            br#"{"n":1} 2"#.to_vec(),
        ),
        (
            "a payload with a raw NUL byte in a string",
            b"\"a\0b\"".to_vec(),
        ),
        ("a payload that is not UTF-8", b"\"\xff\"".to_vec()),
        ("a payload with an out-of-range number", b"[1e400]".to_vec()),
        ("a payload nested 128 levels deep", nested(128)),
        ("a payload nested 100,000 levels deep", nested(100_000)),
    ] {
        assert_unreadable(&store, what, raw(&bytes)).await;
    }
    let mut deep = Value::Null;
    for _ in 0..200 {
        deep = Value::Array(vec![deep]);
    }
    let mut e = event("Deep", json!({}));
    e.metadata = Metadata::new().with("deep", deep);
    assert_unreadable(&store, "metadata nested 200 levels deep", e).await;

    // The deepest the decoder reads is stored and reads back.
    let deepest = nested(127);
    append(
        &store,
        "Deepest-1",
        ExpectedVersion::NoStream,
        vec![raw(&deepest)],
    )
    .await;
    let events = read_whole(&store, "Deepest-1").await;
    let expected: Value = serde_json::from_slice(&deepest).expect("127 levels parse");
    assert!(
        events.len() == 1 && payload(&events[0]) == expected,
        "store conformance: a payload nested 127 levels deep did not read back"
    );
}

/// An event type with a NUL character (which no store can keep) is
/// refused with [`StoreError::InvalidEventType`], its whole batch with it,
/// and a read filtered to such a type finds nothing, without an error.
pub async fn invalid_event_types_refused<S: EventStore + SnapshotStore>(store: S) {
    for kind in ["Pin\0ged", "\0", "Pinged\0"] {
        let bad = NewEvent::from_raw(kind, 1, b"{}".to_vec(), Metadata::new());
        let batch = vec![event("Good", json!({ "n": 1 })), bad];
        match store.append("NulType-1", ExpectedVersion::Any, batch).await {
            Err(StoreError::InvalidEventType {
                stream_id,
                event_type,
            }) => {
                assert_eq!(stream_id, "NulType-1");
                assert!(
                    !event_type.contains('\0'),
                    "store conformance: the refusal shows the NUL as \\0"
                );
            }
            Ok(_) => panic!("store conformance: an event type with a NUL must be refused"),
            Err(e) => panic!(
                "store conformance: an event type with a NUL must fail with StoreError::InvalidEventType, got: {e}",
                e = es_core::ErrorChain(&e)
            ),
        }
        assert_eq!(
            version(&store, "NulType-1").await,
            0,
            "store conformance: refusing an event type with a NUL left part of its batch stored"
        );
        let page = store
            .read_all(0, 10, Some(&[kind]))
            .await
            .expect("a read filtered to a type with a NUL finds nothing");
        assert!(page.events.is_empty());
    }
}

/// The size limit (the default, [`es_core::DEFAULT_MAX_PAYLOAD_BYTES`]) is
/// on what an event stores, payload and metadata together: a small payload
/// with metadata over the limit is refused with
/// [`StoreError::PayloadTooLarge`], and its batch with it.
pub async fn metadata_counts_toward_the_size_limit<S: EventStore + SnapshotStore>(store: S) {
    let limit = es_core::DEFAULT_MAX_PAYLOAD_BYTES;
    let mut e = event("Tagged", json!({ "n": 1 }));
    e.metadata = Metadata::new().actor("a".repeat(limit));
    let batch = vec![event("Good", json!({ "n": 1 })), e];
    match store.append("Meta-1", ExpectedVersion::Any, batch).await {
        Err(StoreError::PayloadTooLarge {
            stream_id,
            event_type,
            size,
            ..
        }) => {
            assert_eq!(
                (stream_id.as_str(), event_type.as_str()),
                ("Meta-1", "Tagged"),
                "store conformance: the size refusal must name the stream and the event type"
            );
            assert!(
                size > limit,
                "store conformance: the size refusal must count payload and metadata (said {size} bytes)"
            );
        }
        Ok(_) => panic!(
            "store conformance: an event with {limit} bytes of metadata must be refused as over the size limit (payload and metadata count), but it was stored"
        ),
        Err(e) => panic!(
            "store conformance: an event with {limit} bytes of metadata must be refused as StoreError::PayloadTooLarge, got: {e}",
            e = es_core::ErrorChain(&e)
        ),
    }
    assert_eq!(
        version(&store, "Meta-1").await,
        0,
        "store conformance: refusing an oversized event left part of its batch stored"
    );
}

/// The size limit (the store's default, [`es_core::DEFAULT_MAX_PAYLOAD_BYTES`],
/// counting payload and metadata): an event exactly at it is stored; one
/// byte over refuses its whole batch with `PayloadTooLarge`, naming the
/// stream, the event type, the size and the limit, and stores nothing of it.
pub async fn payload_over_the_limit_refuses_the_whole_batch<S: EventStore + SnapshotStore>(
    store: S,
) {
    let limit = es_core::DEFAULT_MAX_PAYLOAD_BYTES;
    // A JSON string of exactly `bytes` bytes.
    let sized = |event_type: &str, bytes: usize| {
        NewEvent::from_raw(
            event_type,
            1,
            format!("\"{}\"", "x".repeat(bytes - 2)).into_bytes(),
            Metadata::new(),
        )
    };
    append(
        &store,
        "Big-1",
        ExpectedVersion::NoStream,
        vec![sized("Fits", limit)],
    )
    .await;
    let batch = vec![
        sized("Small", 10),
        sized("Huge", limit + 1),
        sized("Small", 10),
    ];
    match store
        .append("Big-1", ExpectedVersion::Exact(1), batch)
        .await
    {
        Err(StoreError::PayloadTooLarge {
            stream_id,
            event_type,
            size,
            limit: said,
        }) => assert_eq!(
            (stream_id.as_str(), event_type.as_str(), size, said),
            ("Big-1", "Huge", limit + 1, limit),
            "store conformance: the size refusal must name the stream, the event, its size and the limit"
        ),
        Ok(_) => panic!(
            "store conformance: an event one byte over the limit of {limit} bytes was stored"
        ),
        Err(e) => panic!(
            "store conformance: an event over the size limit must be refused as StoreError::PayloadTooLarge, got: {e}",
            e = es_core::ErrorChain(&e)
        ),
    }
    assert_eq!(
        version(&store, "Big-1").await,
        1,
        "store conformance: refusing an oversized event left part of its batch stored"
    );
    assert_eq!(
        read_all(&store, 0, 100, None).await.len(),
        1,
        "store conformance: refusing an oversized event left part of its batch stored"
    );
}
