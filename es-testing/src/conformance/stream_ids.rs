//! Stream ids: refused when invalid, stored verbatim (and never executed) when unusual.

use super::*;

/// Empty ids, ids with a NUL byte, and ids over 255 bytes (10 KB of SQL
/// among them) are refused by every call with `StoreError::InvalidStreamId`,
/// and nothing is stored.
pub async fn invalid_stream_ids_refused<S: EventStore + SnapshotStore>(store: S) {
    let long_ascii = "x".repeat(256);
    let long_multibyte = "é".repeat(128); // 256 bytes, 128 chars
    let ten_kb_of_sql = "'; DROP TABLE events; --".repeat(10 * 1024 / 24 + 1);
    let invalid = [
        "",
        "a\0b",
        "\0",
        long_ascii.as_str(),
        long_multibyte.as_str(),
        ten_kb_of_sql.as_str(),
    ];
    for id in invalid {
        let shown: String = id
            .chars()
            .take(20)
            .collect::<String>()
            .escape_debug()
            .to_string();
        let what = format!("stream id \"{shown}\" ({} bytes)", id.len());
        let check = |call: &str, r: Result<(), StoreError>| match r {
            Err(StoreError::InvalidStreamId(_)) => {}
            Err(e) => panic!(
                "store conformance: {call} with the invalid {what} must fail with StoreError::InvalidStreamId, got: {e}",
                e = es_core::ErrorChain(&e)
            ),
            Ok(()) => panic!(
                "store conformance: {call} with the invalid {what} must be refused, but it succeeded"
            ),
        };
        check(
            "append",
            store
                .append(id, ExpectedVersion::Any, numbered("E", 1..=1))
                .await
                .map(drop),
        );
        check(
            "read_stream",
            store
                .read_stream(id, 1, StreamEnd::Head, 10)
                .await
                .map(drop),
        );
        check("stream_version", store.stream_version(id).await.map(drop));
        check(
            "save_snapshot",
            store
                .save_snapshot(Snapshot {
                    stream_id: id.to_owned(),
                    version: 1,
                    snapshot_version: 1,
                    payload: b"{}".to_vec(),
                    taken_at: chrono::Utc::now(),
                })
                .await,
        );
    }
    assert_eq!(
        head(&store).await,
        0,
        "store conformance: an invalid stream id stored an event"
    );
    assert!(
        read_all(&store, 0, 1000, None).await.is_empty(),
        "store conformance: an invalid stream id stored an event"
    );
}

/// Stream ids with unicode, quotes, semicolons, SQL (statements that would
/// drop, delete or truncate the log if executed), placeholders, LIKE
/// wildcards, backslashes, control and right-to-left characters, the lossy
/// form of invalid UTF-8, case and trailing-space differences, and exactly
/// 255 bytes are stored verbatim, kept apart, and never executed: the log
/// holds exactly their events afterwards.
pub async fn unusual_stream_ids_stored_verbatim<S: EventStore + SnapshotStore>(store: S) {
    let max_len = format!("{}x", "é".repeat(127)); // 255 bytes
    // Invalid UTF-8 cannot reach a store as a `&str` (safe Rust refuses to
    // build one); what a caller can send is the lossy conversion.
    let lossy = String::from_utf8_lossy(b"Lossy-\xff\xfe-\xc3\x28").into_owned();
    let ids: Vec<String> = [
        "Ünïcødé-日本語-🦀",
        "Quote-it's \"quoted\"",
        "Semi-a;b;c",
        "Sql-'); DROP TABLE events; --",
        "Sql-x'); DROP TABLE es.events; --",
        "Sql-\"; DELETE FROM events; --",
        "Sql-Robert'); TRUNCATE es.events CASCADE;--",
        "Sql-' OR '1'='1",
        "Placeholders-$1 ?1 :name @x %_ \\'",
        "Rtl-\u{202e}🦀",
        lossy.as_str(),
        "Wild-%",
        "Wild-_",
        "Wild-ab",
        "Back-\\slash\\",
        "Case-a",
        "Case-A",
        "Space-x",
        "Space-x ",
        " Space-x",
        "Tab-\t\n\r",
        "Json-{\"a\":[1]}",
        "Dollar-$1 $$ ?",
        max_len.as_str(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for (i, id) in ids.iter().enumerate() {
        append(
            &store,
            id,
            ExpectedVersion::NoStream,
            vec![event("Odd", json!({ "i": i }))],
        )
        .await;
    }
    for (i, id) in ids.iter().enumerate() {
        let events = read_whole(&store, id).await;
        assert_eq!(
            events.len(),
            1,
            "store conformance: stream {id:?} must read back exactly its one event, got {}",
            events.len()
        );
        assert_eq!(
            events[0].stream_id, *id,
            "store conformance: stream id not stored verbatim"
        );
        assert_eq!(
            payload(&events[0]),
            json!({ "i": i }),
            "store conformance: stream {id:?} read another stream's event"
        );
        assert_eq!(
            version(&store, id).await,
            1,
            "store conformance: stream_version of {id:?}"
        );
        // A second append sees its own stream, not another's.
        match store
            .append(id, ExpectedVersion::NoStream, vec![event("Odd", json!({}))])
            .await
        {
            Err(e) if e.is_conflict() => {}
            other => panic!(
                "store conformance: a second NoStream append to {id:?} must conflict, got {other:?}"
            ),
        }
    }
    let all = read_all(&store, 0, 1000, None).await;
    assert_eq!(
        all.iter().map(|e| e.stream_id.clone()).collect::<Vec<_>>(),
        ids,
        "store conformance: read_all must show the stream ids verbatim"
    );
    for id in ["Wild-x", "Case-", "Space-", "Sql-"] {
        assert!(
            read_whole(&store, id).await.is_empty(),
            "store conformance: stream {id:?} was never written but reads events"
        );
    }
    for id in &ids {
        store
            .save_snapshot(Snapshot {
                stream_id: id.clone(),
                version: 1,
                snapshot_version: 1,
                payload: b"{}".to_vec(),
                taken_at: chrono::Utc::now(),
            })
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "store conformance: save_snapshot({id:?}) failed: {e}",
                    e = es_core::ErrorChain(&e)
                )
            });
        let loaded = store.load_snapshot(id).await.unwrap_or_else(|e| {
            panic!(
                "store conformance: load_snapshot({id:?}) failed: {e}",
                e = es_core::ErrorChain(&e)
            )
        });
        assert_eq!(
            loaded.map(|s| s.stream_id),
            Some(id.clone()),
            "store conformance: snapshot stream id"
        );
    }
}
