//! Hostile input on PostgreSQL: payloads over the configured limit are
//! refused before they reach the database, with nothing of their batch
//! written. (Hostile stream ids are cases of the store conformance suite,
//! `invalid_stream_ids_refused` and `unusual_stream_ids_stored_verbatim`,
//! which every store runs.)

use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent, StoreError};
use es_postgres::{DEFAULT_MAX_PAYLOAD_BYTES, PgEventStore};
use es_testing::postgres::TestDatabase;
use sqlx::postgres::PgPoolOptions;

/// An event of `payload` payload bytes whose metadata encodes to exactly
/// `metadata` bytes (at least 13: `{"actor":""}` plus one).
fn with_metadata(event_type: &str, payload: usize, metadata: usize) -> NewEvent {
    let mut e = sized(event_type, payload);
    e.metadata = Metadata::new().actor("a".repeat(metadata - 12));
    assert_eq!(serde_json::to_vec(&e.metadata).unwrap().len(), metadata);
    e
}

fn sized(event_type: &str, bytes: usize) -> NewEvent {
    // A JSON string of exactly `bytes` bytes: `"xxx…"`.
    let payload = format!("\"{}\"", "x".repeat(bytes - 2)).into_bytes();
    assert_eq!(payload.len(), bytes);
    NewEvent::from_raw(event_type, 1, payload, Metadata::new())
}

/// The limit is on what an event stores: its payload and its metadata
/// together. Metadata alone cannot carry an event past it.
#[tokio::test]
async fn metadata_counts_toward_the_limit() {
    let db = TestDatabase::create().await;
    let store = PgEventStore::builder()
        .max_payload_bytes(1024)
        .build(db.pool().clone());
    store.migrate().await.unwrap();
    // Payload and metadata together exactly at the limit: stored.
    store
        .append(
            "Meta-1",
            ExpectedVersion::NoStream,
            vec![with_metadata("Fits", 1000, 24)],
        )
        .await
        .unwrap();
    // One byte of metadata more: refused, naming the sum.
    let err = store
        .append(
            "Meta-1",
            ExpectedVersion::Exact(1),
            vec![with_metadata("Over", 1000, 25)],
        )
        .await
        .unwrap_err();
    match &err {
        StoreError::PayloadTooLarge {
            stream_id,
            event_type,
            size,
            limit,
        } => assert_eq!(
            (stream_id.as_str(), event_type.as_str(), *size, *limit),
            ("Meta-1", "Over", 1025, 1024)
        ),
        other => panic!("expected PayloadTooLarge, got {other:?}"),
    }
    assert!(err.to_string().contains("payload and metadata"), "{err}");
    // A tiny payload with 64 KiB of metadata: refused, the batch with it.
    let err = store
        .append(
            "Meta-1",
            ExpectedVersion::Any,
            vec![sized("Small", 10), with_metadata("Tiny", 2, 64 << 10)],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::PayloadTooLarge { size, .. } if size == 2 + (64 << 10)),
        "{err:?}"
    );
    assert_eq!(store.stream_version("Meta-1").await.unwrap(), 1);
    db.drop_db().await;
}

#[tokio::test]
async fn payloads_over_the_limit_are_refused_before_the_database() {
    // The default admits the conformance suite's 1 MiB payload.
    const { assert!(DEFAULT_MAX_PAYLOAD_BYTES > (1 << 20) + 4096) };

    let db = TestDatabase::create().await;
    let store = PgEventStore::builder()
        .max_payload_bytes(1024)
        .build(db.pool().clone());
    store.migrate().await.unwrap();

    // Exactly at the limit: stored.
    store
        .append(
            "Big-1",
            ExpectedVersion::NoStream,
            vec![sized("Fits", 1024)],
        )
        .await
        .unwrap();
    // One event over it refuses the whole batch, naming it.
    let batch = vec![sized("Small", 10), sized("Huge", 1025), sized("Small", 10)];
    let err = store
        .append("Big-1", ExpectedVersion::Exact(1), batch)
        .await
        .unwrap_err();
    match &err {
        StoreError::PayloadTooLarge {
            stream_id,
            event_type,
            size,
            limit,
        } => assert_eq!(
            (stream_id.as_str(), event_type.as_str(), *size, *limit),
            ("Big-1", "Huge", 1025, 1024)
        ),
        other => panic!("expected PayloadTooLarge, got {other:?}"),
    }
    assert!(err.to_string().contains("Big-1"), "{err}");
    assert_eq!(store.stream_version("Big-1").await.unwrap(), 1);
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM es.events")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(count, 1);
    // Also for a new stream.
    let err = store
        .append("Big-2", ExpectedVersion::Any, vec![sized("Huge", 5000)])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::PayloadTooLarge { .. }), "{err:?}");
    assert_eq!(store.stream_version("Big-2").await.unwrap(), 0);
    db.drop_db().await;

    // "Before the database": a store whose server does not exist answers
    // PayloadTooLarge, not a connection error (no round trip was tried).
    let nowhere = PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_millis(500))
        .connect_lazy("postgres://nobody@127.0.0.1:1/nothing")
        .unwrap();
    let offline = PgEventStore::builder()
        .max_payload_bytes(100)
        .build(nowhere);
    let err = offline
        .append("Big-3", ExpectedVersion::Any, vec![sized("Huge", 101)])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::PayloadTooLarge { .. }), "{err:?}");
}
