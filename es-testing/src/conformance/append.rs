//! Appends: expected versions, conflicts, empty batches and idempotent command ids; what an append stores reads back.

use super::*;

/// Appended events read back with every field preserved: event id, stream
/// id, versions from 1, type, schema version, payload (JSON-equal),
/// metadata, increasing global positions, a plausible `recorded_at`; the
/// same records come back from `read_all`.
pub async fn append_and_read_back<S: EventStore + SnapshotStore>(store: S) {
    let correlation = Uuid::now_v7();
    let meta = Metadata::new()
        .correlation_id(correlation)
        .causation_id(Uuid::now_v7())
        .command_id(Uuid::now_v7())
        .actor("user-17")
        .with("ip", "10.0.0.1")
        .with("nested", json!({"a": [1, 2, {"b": null}], "ü": "ß"}));
    let mut sent = vec![
        NewEvent::from_raw(
            "AccountOpened",
            1,
            br#"{"owner_id":"u1","initial_deposit":100}"#.to_vec(),
            meta.clone(),
        ),
        NewEvent::from_raw(
            "MoneyDeposited",
            3,
            br#"{"amount":5,"description":"caf\u00e9 \"latte\"","tags":["a","b"],"n":null}"#
                .to_vec(),
            meta.clone(),
        ),
        NewEvent::from_raw("AccountClosed", 2, b"{}".to_vec(), meta.clone()),
    ];
    sent[2].metadata = Metadata::new(); // an event with empty metadata
    let stream = "BankAccount-1";
    let r = append(&store, stream, ExpectedVersion::NoStream, sent.clone()).await;
    assert_eq!(
        (r.first_version, r.last_version, r.duplicate),
        (1, 3, false),
        "store conformance: appending 3 events to a new stream must report versions 1..=3, got {r:?}"
    );
    let read_back = read_whole(&store, stream).await;
    assert_eq!(
        read_back.len(),
        3,
        "store conformance: 3 appended events must read back, got {}",
        read_back.len()
    );
    assert_versions(&read_back, 1..=3, "append and read back");
    assert_increasing_positions(&read_back, "append and read back");
    assert_eq!(
        r.last_position,
        Some(read_back[2].global_position),
        "store conformance: AppendResult::last_position must be the global position of the batch's last event"
    );
    for (s, e) in sent.iter().zip(&read_back) {
        let what = format!("event {} of `{stream}`", e.stream_version);
        assert_eq!(
            e.event_id, s.event_id,
            "store conformance: {what}: event_id changed"
        );
        assert_eq!(
            e.stream_id, stream,
            "store conformance: {what}: stream_id changed"
        );
        assert_eq!(
            e.event_type, s.event_type,
            "store conformance: {what}: event_type changed"
        );
        assert_eq!(
            e.schema_version, s.schema_version,
            "store conformance: {what}: schema_version changed"
        );
        let sent_payload: Value =
            serde_json::from_slice(&s.payload).expect("test payloads are JSON");
        assert_eq!(
            payload(e),
            sent_payload,
            "store conformance: {what}: payload changed"
        );
        assert_eq!(
            e.metadata, s.metadata,
            "store conformance: {what}: metadata changed"
        );
        close_to_now(e.recorded_at, &what);
    }
    for pair in read_back.windows(2) {
        assert!(
            pair[0].recorded_at <= pair[1].recorded_at,
            "store conformance: recorded_at must not go backwards within a stream"
        );
    }

    let other = append(
        &store,
        "BankAccount-2",
        ExpectedVersion::NoStream,
        numbered("MoneyDeposited", 1..=2),
    )
    .await;
    assert_eq!((other.first_version, other.last_version), (1, 2));
    let all = read_all(&store, 0, 1000, None).await;
    assert_eq!(
        all.len(),
        5,
        "store conformance: read_all must return the 5 appended events, got {}",
        all.len()
    );
    assert_increasing_positions(&all, "read_all after two appends");
    assert_eq!(
        &all[..3],
        &read_back[..],
        "store conformance: read_all and read_stream must return the same records"
    );
    assert_eq!(
        other.last_position,
        Some(all[4].global_position),
        "store conformance: the second batch's last_position"
    );
    assert!(
        all[3].global_position > all[2].global_position,
        "store conformance: a later batch must get higher global positions"
    );

    // Without a command id, one event and several, with and without
    // metadata (a store may take another path for each).
    let plain = Metadata::new().correlation_id(correlation).actor("user-18");
    let batches = [
        ("BankAccount-3", vec![("Pinged", 1, plain.clone())]),
        ("BankAccount-4", vec![("Pinged", 2, Metadata::new())]),
        (
            "BankAccount-5",
            vec![("Pinged", 1, plain.clone()), ("Ponged", 4, Metadata::new())],
        ),
    ];
    for (stream, events) in batches {
        let sent: Vec<NewEvent> = events
            .into_iter()
            .enumerate()
            .map(|(i, (t, v, m))| {
                NewEvent::from_raw(t, v, format!(r#"{{"i":{i}}}"#).into_bytes(), m)
            })
            .collect();
        let r = append(&store, stream, ExpectedVersion::NoStream, sent.clone()).await;
        let back = read_whole(&store, stream).await;
        assert_eq!(
            (r.first_version, r.last_version, r.last_position),
            (1, sent.len() as u64, back.last().map(|e| e.global_position)),
            "store conformance: the result of appending {} event(s) to `{stream}`",
            sent.len()
        );
        let got: Vec<_> = back
            .iter()
            .map(|e| {
                (
                    e.event_id,
                    e.event_type.as_str(),
                    e.schema_version,
                    payload(e),
                    &e.metadata,
                )
            })
            .collect();
        let want: Vec<_> = sent
            .iter()
            .map(|e| {
                let p: Value = serde_json::from_slice(&e.payload).expect("test payloads are JSON");
                (
                    e.event_id,
                    e.event_type.as_str(),
                    e.schema_version,
                    p,
                    &e.metadata,
                )
            })
            .collect();
        assert_eq!(
            got, want,
            "store conformance: `{stream}` must read back as appended (ids, types, schema versions, payloads, metadata)"
        );
    }
}

/// `ExpectedVersion::Any` appends to a new stream and to an existing one.
pub async fn expected_any<S: EventStore + SnapshotStore>(store: S) {
    let r = append(&store, "Any-1", ExpectedVersion::Any, numbered("E", 1..=1)).await;
    assert_eq!(
        (r.first_version, r.last_version),
        (1, 1),
        "Any on a new stream: {r:?}"
    );
    let r = append(&store, "Any-1", ExpectedVersion::Any, numbered("E", 2..=3)).await;
    assert_eq!(
        (r.first_version, r.last_version),
        (2, 3),
        "store conformance: Any on a stream at 1 must write versions 2..=3, got {r:?}"
    );
    assert_eq!(version(&store, "Any-1").await, 3);
}

/// `ExpectedVersion::NoStream` appends to a stream that has no events.
pub async fn expected_no_stream_on_new_stream<S: EventStore + SnapshotStore>(store: S) {
    let r = append(
        &store,
        "New-1",
        ExpectedVersion::NoStream,
        numbered("E", 1..=2),
    )
    .await;
    assert_eq!(
        (r.first_version, r.last_version, r.duplicate),
        (1, 2, false),
        "store conformance: NoStream on a new stream must write versions 1..=2, got {r:?}"
    );
    assert_eq!(version(&store, "New-1").await, 2);
}

/// `ExpectedVersion::NoStream` on a stream with events is a conflict that
/// writes nothing.
pub async fn expected_no_stream_on_existing_stream<S: EventStore + SnapshotStore>(store: S) {
    append(
        &store,
        "Existing-1",
        ExpectedVersion::NoStream,
        numbered("E", 1..=1),
    )
    .await;
    expect_conflict(
        &store,
        "Existing-1",
        ExpectedVersion::NoStream,
        numbered("E", 2..=2),
        1,
    )
    .await;
}

/// `ExpectedVersion::Exact(n)` on a stream at `n` appends from `n + 1`.
pub async fn expected_exact_right<S: EventStore + SnapshotStore>(store: S) {
    append(
        &store,
        "Exact-1",
        ExpectedVersion::NoStream,
        numbered("E", 1..=2),
    )
    .await;
    let r = append(
        &store,
        "Exact-1",
        ExpectedVersion::Exact(2),
        numbered("E", 3..=4),
    )
    .await;
    assert_eq!(
        (r.first_version, r.last_version),
        (3, 4),
        "store conformance: Exact(2) on a stream at 2 must write versions 3..=4, got {r:?}"
    );
    let r = append(
        &store,
        "Exact-1",
        ExpectedVersion::Exact(4),
        numbered("E", 5..=5),
    )
    .await;
    assert_eq!((r.first_version, r.last_version), (5, 5));
    assert_versions(
        &read_whole(&store, "Exact-1").await,
        1..=5,
        "Exact(n) appends",
    );
}

/// `ExpectedVersion::Exact(n)` on a stream not at `n` (behind, ahead, or
/// missing) is a conflict that writes nothing.
pub async fn expected_exact_wrong<S: EventStore + SnapshotStore>(store: S) {
    append(
        &store,
        "Wrong-1",
        ExpectedVersion::NoStream,
        numbered("E", 1..=2),
    )
    .await;
    expect_conflict(
        &store,
        "Wrong-1",
        ExpectedVersion::Exact(1),
        numbered("E", 3..=3),
        2,
    )
    .await;
    expect_conflict(
        &store,
        "Wrong-1",
        ExpectedVersion::Exact(3),
        numbered("E", 3..=3),
        2,
    )
    .await;
    expect_conflict(
        &store,
        "Wrong-2",
        ExpectedVersion::Exact(5),
        numbered("E", 1..=1),
        0,
    )
    .await;
    assert_eq!(
        read_whole(&store, "Wrong-2").await.len(),
        0,
        "store conformance: a conflicting append must not create the stream"
    );
}

/// `ExpectedVersion::Exact(0)` means "no stream": it appends to a new
/// stream and conflicts on an existing one.
pub async fn expected_exact_zero<S: EventStore + SnapshotStore>(store: S) {
    let r = append(
        &store,
        "Zero-1",
        ExpectedVersion::Exact(0),
        numbered("E", 1..=1),
    )
    .await;
    assert_eq!(
        (r.first_version, r.last_version),
        (1, 1),
        "store conformance: Exact(0) on a new stream must write version 1, got {r:?}"
    );
    expect_conflict(
        &store,
        "Zero-1",
        ExpectedVersion::Exact(0),
        numbered("E", 2..=2),
        1,
    )
    .await;
}

/// A batch that conflicts writes none of its events; the stream then
/// accepts the batch at the right version.
pub async fn conflicting_batch_writes_nothing<S: EventStore + SnapshotStore>(store: S) {
    append(
        &store,
        "Batch-1",
        ExpectedVersion::NoStream,
        numbered("E", 1..=1),
    )
    .await;
    let all_before = read_all(&store, 0, 1000, None).await;
    expect_conflict(
        &store,
        "Batch-1",
        ExpectedVersion::Exact(0),
        numbered("Bad", 1..=3),
        1,
    )
    .await;
    expect_conflict(
        &store,
        "Batch-1",
        ExpectedVersion::NoStream,
        numbered("Bad", 1..=3),
        1,
    )
    .await;
    assert_eq!(
        read_all(&store, 0, 1000, None).await,
        all_before,
        "store conformance: a conflicting batch must write nothing (read_all changed)"
    );
    let r = append(
        &store,
        "Batch-1",
        ExpectedVersion::Exact(1),
        numbered("Good", 2..=4),
    )
    .await;
    assert_eq!((r.first_version, r.last_version), (2, 4));
    let events = read_whole(&store, "Batch-1").await;
    assert_versions(&events, 1..=4, "after a conflict and a good batch");
    assert!(
        events.iter().all(|e| e.event_type != "Bad"),
        "store conformance: an event of a conflicting batch was stored"
    );
}

/// An empty batch writes nothing and returns the stream's current version.
pub async fn empty_batch_is_a_noop<S: EventStore + SnapshotStore>(store: S) {
    let r = append(&store, "Empty-1", ExpectedVersion::NoStream, Vec::new()).await;
    assert_eq!(
        (r.first_version, r.last_version, r.last_position),
        (1, 0, None),
        "store conformance: an empty batch on a new stream must return last_version 0, first_version 1, no position; got {r:?}"
    );
    assert_eq!(version(&store, "Empty-1").await, 0);
    assert_eq!(
        head(&store).await,
        0,
        "store conformance: an empty batch must write nothing"
    );

    append(
        &store,
        "Empty-1",
        ExpectedVersion::NoStream,
        numbered("E", 1..=2),
    )
    .await;
    let head_before = head(&store).await;
    for expected in [ExpectedVersion::Exact(2), ExpectedVersion::Any] {
        let r = append(&store, "Empty-1", expected, Vec::new()).await;
        assert_eq!(
            (r.first_version, r.last_version, r.last_position),
            (3, 2, None),
            "store conformance: an empty batch ({expected}) on a stream at 2 must return last_version 2, first_version 3, no position; got {r:?}"
        );
    }
    assert_eq!(version(&store, "Empty-1").await, 2);
    assert_eq!(
        head(&store).await,
        head_before,
        "store conformance: an empty batch must write nothing"
    );
}

/// A batch whose command id the stream already recorded appends nothing and
/// returns the earlier batch's versions with `duplicate: true`, whatever it
/// expected (a client retry carries its original expectation); the same id
/// on another stream is a new command.
pub async fn repeated_command_id_appends_nothing<S: EventStore + SnapshotStore>(store: S) {
    let command = Uuid::now_v7();
    let with_command = |n: u64| {
        numbered("E", n..=n + 1)
            .into_iter()
            .map(|mut e| {
                e.metadata = Metadata::new().command_id(command);
                e
            })
            .collect::<Vec<_>>()
    };
    let first = append(&store, "Cmd-1", ExpectedVersion::NoStream, with_command(1)).await;
    assert_eq!(
        (first.first_version, first.last_version, first.duplicate),
        (1, 2, false)
    );
    append(
        &store,
        "Cmd-1",
        ExpectedVersion::Exact(2),
        numbered("E", 3..=3),
    )
    .await;
    let head_before = head(&store).await;

    for expected in [
        ExpectedVersion::NoStream,
        ExpectedVersion::Any,
        ExpectedVersion::Exact(3),
    ] {
        let r = match store.append("Cmd-1", expected, with_command(1)).await {
            Ok(r) => r,
            Err(e) => panic!(
                "store conformance: a repeated command id (retry expecting {expected}) must return the earlier outcome, got an error: {e}",
                e = es_core::ErrorChain(&e)
            ),
        };
        assert_eq!(
            (r.first_version, r.last_version, r.duplicate),
            (1, 2, true),
            "store conformance: a repeated command id (retry expecting {expected}) must return the earlier versions 1..=2 with duplicate: true, got {r:?}"
        );
    }
    assert_eq!(
        version(&store, "Cmd-1").await,
        3,
        "store conformance: a repeated command id must append nothing"
    );
    assert_eq!(
        head(&store).await,
        head_before,
        "store conformance: a repeated command id must append nothing (head moved)"
    );
    let found = store
        .find_command("Cmd-1", command)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "store conformance: find_command failed: {e}",
                e = es_core::ErrorChain(&e)
            )
        });
    assert_eq!(
        found.map(|c| (c.first_version, c.last_version)),
        Some((1, 2)),
        "store conformance: find_command must return the versions the command wrote"
    );
    let missing = store
        .find_command("Cmd-1", Uuid::now_v7())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "store conformance: find_command failed: {e}",
                e = es_core::ErrorChain(&e)
            )
        });
    assert_eq!(
        missing, None,
        "store conformance: find_command of an unknown id"
    );

    let elsewhere = append(&store, "Cmd-2", ExpectedVersion::NoStream, with_command(1)).await;
    assert_eq!(
        (
            elsewhere.first_version,
            elsewhere.last_version,
            elsewhere.duplicate
        ),
        (1, 2, false),
        "store conformance: a command id is recorded per stream; on another stream it appends, got {elsewhere:?}"
    );
}
