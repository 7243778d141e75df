//! Stream reads: version and time bounds, paging, and replay through a visitor.

use super::*;

/// `read_stream` from a version (0 reads from the start), up to a version,
/// both, beyond the end, and on a missing stream.
pub async fn read_stream_from_and_to_version<S: EventStore + SnapshotStore>(store: S) {
    let s = "Range-1";
    append(&store, s, ExpectedVersion::NoStream, numbered("E", 1..=10)).await;
    let cases: [(u64, StreamEnd, std::ops::RangeInclusive<u64>); 8] = [
        (1, StreamEnd::Head, 1..=10),
        (0, StreamEnd::Head, 1..=10),
        (4, StreamEnd::Head, 4..=10),
        (1, StreamEnd::Version(6), 1..=6),
        (4, StreamEnd::Version(6), 4..=6),
        (10, StreamEnd::Version(10), 10..=10),
        (3, StreamEnd::Version(100), 3..=10),
        (6, StreamEnd::Version(6), 6..=6),
    ];
    for (from, to, expected) in cases {
        let events = read(&store, s, from, to, 1000).await;
        assert_versions(
            &events,
            expected,
            &format!("read_stream from {from} to {to:?}"),
        );
        for e in &events {
            assert_eq!(
                payload(e),
                json!({ "n": e.stream_version }),
                "store conformance: event {} read back with another event's payload",
                e.stream_version
            );
        }
    }
    for (from, to) in [
        (11, StreamEnd::Head),
        (1, StreamEnd::Version(0)),
        (7, StreamEnd::Version(3)),
    ] {
        let events = read(&store, s, from, to, 1000).await;
        assert_versions(
            &events,
            [],
            &format!("read_stream from {from} to {to:?} must be empty"),
        );
    }
    assert_versions(
        &read_whole(&store, "Range-missing").await,
        [],
        "a stream with no events reads empty",
    );
}

/// `read_stream` up to a time returns the events recorded at or before it.
pub async fn read_stream_up_to_time<S: EventStore + SnapshotStore>(store: S) {
    let s = "Time-1";
    append(&store, s, ExpectedVersion::NoStream, numbered("E", 1..=3)).await;
    let t_first = read_whole(&store, s).await[2].recorded_at;
    tokio::time::sleep(Duration::from_millis(50)).await;
    append(&store, s, ExpectedVersion::Exact(3), numbered("E", 4..=5)).await;
    let all = read_whole(&store, s).await;
    let t_second = all[4].recorded_at;
    assert!(
        all[3].recorded_at > t_first,
        "store conformance: a batch appended 50 ms later must be recorded later ({} vs {t_first})",
        all[3].recorded_at
    );
    let cases: [(u64, StreamEnd, std::ops::RangeInclusive<u64>); 4] = [
        (1, StreamEnd::Time(t_first), 1..=3),
        (2, StreamEnd::Time(t_first), 2..=3),
        (1, StreamEnd::Time(t_second), 1..=5),
        (
            1,
            StreamEnd::Time(chrono::Utc::now() + chrono::Duration::hours(1)),
            1..=5,
        ),
    ];
    for (from, to, expected) in cases {
        let events = read(&store, s, from, to, 1000).await;
        assert_versions(
            &events,
            expected,
            &format!("read_stream from {from} to {to:?}"),
        );
    }
    let before = read(
        &store,
        s,
        1,
        StreamEnd::Time(t_first - chrono::Duration::days(1)),
        1000,
    )
    .await;
    assert_versions(
        &before,
        [],
        "read_stream up to a time before the first event",
    );
    let limited = read(&store, s, 1, StreamEnd::Time(t_second), 2).await;
    assert_versions(&limited, 1..=2, "read_stream up to a time with limit 2");
}

/// `read_stream` pages with `limit`: from the last version + 1 until empty;
/// `limit` 0 reads nothing and `usize::MAX` reads everything.
pub async fn read_stream_paging<S: EventStore + SnapshotStore>(store: S) {
    let s = "Paged-1";
    append(&store, s, ExpectedVersion::NoStream, numbered("E", 1..=25)).await;
    let mut from = 1;
    let mut sizes = Vec::new();
    let mut seen = Vec::new();
    loop {
        let page = read(&store, s, from, StreamEnd::Head, 10).await;
        if page.is_empty() {
            break;
        }
        assert!(
            sizes.len() < 10,
            "store conformance: paging through 25 events never ends"
        );
        sizes.push(page.len());
        from = page.last().map_or(from, |e| e.stream_version + 1);
        seen.extend(page);
    }
    assert_eq!(
        sizes,
        [10, 10, 5],
        "store conformance: pages of 10 over 25 events"
    );
    assert_versions(&seen, 1..=25, "paging through a stream");
    assert_versions(&read(&store, s, 1, StreamEnd::Head, 0).await, [], "limit 0");
    assert_versions(
        &read(&store, s, 1, StreamEnd::Head, usize::MAX).await,
        1..=25,
        "limit usize::MAX",
    );
    assert_versions(
        &read(&store, s, 5, StreamEnd::Version(20), 3).await,
        5..=7,
        "from 5 to version 20 with limit 3",
    );
}

/// `replay_stream` lends exactly the version, type, schema version and
/// payload `read_stream` returns for the same range (from/to versions, a
/// time, a limit), counts what it lent, stops at the first
/// `ControlFlow::Break`, and refuses an invalid stream id.
pub async fn replay_stream_matches_read_stream<S: EventStore + SnapshotStore>(store: S) {
    type Lent = (u64, String, u32, Vec<u8>);
    async fn replay<S: EventStore>(
        store: &S,
        stream: &str,
        from: u64,
        to: StreamEnd,
        limit: usize,
        stop_at: Option<u64>,
    ) -> (usize, Vec<Lent>) {
        let mut lent = Vec::new();
        let n = store
            .replay_stream(stream, from, to, limit, |e| {
                lent.push((
                    e.stream_version,
                    e.event_type.to_owned(),
                    e.schema_version,
                    e.payload.to_vec(),
                ));
                if stop_at == Some(e.stream_version) {
                    std::ops::ControlFlow::Break(())
                } else {
                    std::ops::ControlFlow::Continue(())
                }
            })
            .await
            .unwrap_or_else(|e| {
                panic!("store conformance: replay_stream(`{stream}`, from {from}, to {to:?}, limit {limit}) failed: {e}", e = es_core::ErrorChain(&e))
            });
        (n, lent)
    }
    let s = "Replay-1";
    let mut batch = numbered("Added", 1..=12);
    batch[3].schema_version = 2;
    batch[4].event_type = "Removed".into();
    append(&store, s, ExpectedVersion::NoStream, batch).await;
    let t_first = read_whole(&store, s).await[11].recorded_at;
    tokio::time::sleep(Duration::from_millis(50)).await;
    append(
        &store,
        s,
        ExpectedVersion::Exact(12),
        numbered("Added", 13..=15),
    )
    .await;
    let cases = [
        (1, StreamEnd::Head, 100),
        (0, StreamEnd::Head, 100),
        (1, StreamEnd::Head, 7),
        (5, StreamEnd::Version(9), 100),
        (2, StreamEnd::Time(t_first), 100),
        (14, StreamEnd::Head, 100),
        (16, StreamEnd::Head, 100),
        (1, StreamEnd::Head, 0),
    ];
    for (from, to, limit) in cases {
        let expected: Vec<Lent> = read(&store, s, from, to, limit)
            .await
            .into_iter()
            .map(|e| (e.stream_version, e.event_type, e.schema_version, e.payload))
            .collect();
        let (n, lent) = replay(&store, s, from, to, limit, None).await;
        assert_eq!(
            lent, expected,
            "store conformance: replay_stream from {from} to {to:?} limit {limit} must lend what read_stream returns"
        );
        assert_eq!(
            n,
            lent.len(),
            "store conformance: replay_stream must return how many events it lent"
        );
    }
    let (_, all) = replay(&store, s, 1, StreamEnd::Head, 100, None).await;
    assert_eq!(
        (all[3].2, all[4].1.as_str()),
        (2, "Removed"),
        "store conformance: replay_stream lends each event's own schema version and type"
    );
    let (n, lent) = replay(&store, s, 1, StreamEnd::Head, 100, Some(4)).await;
    assert_eq!(
        (n, lent.len()),
        (4, 4),
        "store conformance: replay_stream stops at the event whose visit breaks"
    );
    let (n, _) = replay(&store, "Replay-missing", 1, StreamEnd::Head, 100, None).await;
    assert_eq!(n, 0, "store conformance: a missing stream replays nothing");
    let refused = store
        .replay_stream("", 1, StreamEnd::Head, 10, |_| {
            std::ops::ControlFlow::Continue(())
        })
        .await;
    assert!(
        matches!(refused, Err(StoreError::InvalidStreamId(_))),
        "store conformance: replay_stream(\"\") must fail with InvalidStreamId, got {refused:?}"
    );
}
