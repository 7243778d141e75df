//! Hostile input on PostgreSQL, what only this store can show: a configured
//! size limit (payload and metadata together) is the one enforced, and the
//! check runs before the database (a store whose server does not exist
//! still answers `PayloadTooLarge`). The limit at its default, metadata
//! counting toward it, whole batches refused, unreadable payloads and
//! hostile stream ids are cases of the store conformance suite, which every
//! store runs.

use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent, StoreError};
use es_postgres::{DEFAULT_MAX_PAYLOAD_BYTES, PgEventStore};
use es_testing::postgres::TestDatabase;
use sqlx::postgres::PgPoolOptions;

/// An event of `payload` payload bytes whose metadata encodes to exactly
/// `metadata` bytes (0: none; else at least 13, `{"actor":""}` plus one).
fn event(event_type: &str, payload: usize, metadata: usize) -> NewEvent {
    let bytes = format!("\"{}\"", "x".repeat(payload - 2)).into_bytes();
    let mut e = NewEvent::from_raw(event_type, 1, bytes, Metadata::new());
    if metadata > 0 {
        e.metadata = Metadata::new().actor("a".repeat(metadata - 12));
        assert_eq!(serde_json::to_vec(&e.metadata).unwrap().len(), metadata);
    }
    e
}

#[tokio::test]
async fn a_configured_limit_is_enforced_before_the_database() {
    // The default admits the conformance suite's 1 MiB payload.
    const { assert!(DEFAULT_MAX_PAYLOAD_BYTES > (1 << 20) + 4096) };

    let db = TestDatabase::create().await;
    let store = PgEventStore::builder()
        .max_payload_bytes(1024)
        .build(db.pool().clone());
    store.migrate().await.unwrap();
    // Payload and metadata together exactly at the limit: stored.
    store
        .append(
            "Big-1",
            ExpectedVersion::NoStream,
            vec![event("Fits", 1000, 24)],
        )
        .await
        .unwrap();
    // One byte of metadata more: refused, naming the sum.
    let err = store
        .append(
            "Big-1",
            ExpectedVersion::Exact(1),
            vec![event("Over", 1000, 25)],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::PayloadTooLarge {
                size: 1025,
                limit: 1024,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("payload and metadata"), "{err}");
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM es.events")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(count, 1);
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
        .append("Big-3", ExpectedVersion::Any, vec![event("Huge", 101, 0)])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::PayloadTooLarge { .. }), "{err:?}");
}
