//! Hostile input on SQLite, what only this store can show: a configured
//! size limit (payload and metadata together) is the one enforced, before
//! the transaction; a row that only a hand-edited file can hold fails a
//! replay as corrupt. The limit at its default, metadata counting toward
//! it, whole batches refused, unreadable payloads and hostile stream ids are
//! cases of the store conformance suite, which every store runs.

use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent, StoreError, StreamEnd};
use es_sqlite::{DEFAULT_MAX_PAYLOAD_BYTES, SqliteEventStore};

/// An event of `payload` payload bytes whose metadata encodes to exactly
/// `metadata` bytes (at least 13: `{"actor":""}` plus one).
fn with_metadata(event_type: &str, payload: usize, metadata: usize) -> NewEvent {
    let mut e = sized(event_type, payload);
    e.metadata = Metadata::new().actor("a".repeat(metadata - 12));
    assert_eq!(serde_json::to_vec(&e.metadata).unwrap().len(), metadata);
    e
}

fn sized(event_type: &str, bytes: usize) -> NewEvent {
    let payload = format!("\"{}\"", "x".repeat(bytes - 2)).into_bytes();
    assert_eq!(payload.len(), bytes);
    NewEvent::from_raw(event_type, 1, payload, Metadata::new())
}

fn poke() -> NewEvent {
    NewEvent::from_raw("Poked", 1, b"{}".to_vec(), Metadata::new())
}

/// How many events the log holds (the whole of `read_all`).
async fn count(store: &SqliteEventStore) -> usize {
    store.read_all(0, 10_000, None).await.unwrap().events.len()
}

#[tokio::test]
async fn a_configured_limit_is_enforced_before_the_transaction() {
    const { assert!(DEFAULT_MAX_PAYLOAD_BYTES > (1 << 20) + 4096) };
    let store = SqliteEventStore::in_memory()
        .await
        .unwrap()
        .with_max_payload_bytes(1024);
    // Payload and metadata together exactly at the limit: stored.
    store
        .append(
            "Big-1",
            ExpectedVersion::NoStream,
            vec![with_metadata("Fits", 1000, 24)],
        )
        .await
        .unwrap();
    // One byte of metadata more: refused, naming the sum.
    let err = store
        .append(
            "Big-1",
            ExpectedVersion::Exact(1),
            vec![with_metadata("Over", 1000, 25)],
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
    assert_eq!(count(&store).await, 1);

    // Before the transaction: a closed store still answers PayloadTooLarge.
    store.close().await;
    let err = store
        .append("Big-2", ExpectedVersion::Any, vec![sized("Huge", 2048)])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::PayloadTooLarge { .. }), "{err:?}");
}

/// Rows that only a hand-edited file can hold (a type name that is not
/// UTF-8, a schema version beyond `u32`): a replay reports the stream as
/// corrupt, naming it, instead of panicking or skipping the row.
#[tokio::test]
async fn a_corrupt_row_fails_the_replay_with_the_stream_named() {
    let store = SqliteEventStore::in_memory().await.unwrap();
    store.migrate().await.unwrap();
    for (stream, event_type, schema_version) in [
        ("Tampered-1", "CAST(X'FF' AS TEXT)", "1"),
        ("Tampered-2", "'Poked'", "8589934592"),
    ] {
        store
            .append(stream, ExpectedVersion::NoStream, vec![poke()])
            .await
            .unwrap();
        sqlx::query(&format!(
            "INSERT INTO events (event_id, stream_id, stream_version, aggregate_type, \
               event_type, schema_version, payload, metadata, recorded_at) \
             VALUES ('{}', '{stream}', 2, 'Tampered', {event_type}, {schema_version}, '{{}}', '{{}}', \
               '2026-01-01T00:00:00.000000Z')",
            uuid::Uuid::now_v7()
        ))
        .execute(store.pool())
        .await
        .unwrap();
        let mut seen = Vec::new();
        let replayed = store
            .replay_stream(stream, 1, StreamEnd::Head, 100, |e| {
                seen.push(e.stream_version);
                std::ops::ControlFlow::Continue(())
            })
            .await;
        match replayed {
            Err(StoreError::Corrupt { stream_id, message }) => {
                assert_eq!(stream_id, stream);
                assert!(message.contains("event"), "{message}");
            }
            other => panic!("expected StoreError::Corrupt for `{stream}`, got {other:?}"),
        }
        assert_eq!(seen, [1], "the good event before the corrupt one was lent");
    }
}
