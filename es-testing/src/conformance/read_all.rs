//! The global log: order, paging, type filters, how far a read scanned; the head and stream versions.

use super::*;

/// `read_all` returns every stream's events in strictly increasing global
/// position, in commit order, each with the position its append reported.
pub async fn read_all_in_global_order<S: EventStore + SnapshotStore>(store: S) {
    let streams = [
        "Order-a", "Order-b", "Order-a", "Order-c", "Order-b", "Order-a",
    ];
    let mut appended = Vec::new();
    let mut versions_of: BTreeMap<&str, u64> = BTreeMap::new();
    for (i, s) in streams.iter().enumerate() {
        let v = versions_of.entry(s).or_default();
        let batch = numbered("E", (i as u64 * 2 + 1)..=(i as u64 * 2 + 2));
        let batch_ids: Vec<Uuid> = batch.iter().map(|e| e.event_id).collect();
        let r = append(&store, s, ExpectedVersion::from_version(*v), batch).await;
        *v = r.last_version;
        appended.push((batch_ids, r.last_position));
    }
    let all = read_all(&store, 0, 1000, None).await;
    assert_increasing_positions(&all, "read_all");
    let expected_ids: Vec<Uuid> = appended.iter().flat_map(|(ids, _)| ids.clone()).collect();
    assert_eq!(
        ids(&all),
        expected_ids,
        "store conformance: read_all must return the events in the order they were committed"
    );
    for (i, (_, last_position)) in appended.iter().enumerate() {
        assert_eq!(
            *last_position,
            Some(all[i * 2 + 1].global_position),
            "store conformance: append {} reported a last_position that read_all does not show",
            i + 1
        );
    }
    assert_eq!(
        all.iter().map(|e| e.stream_id.as_str()).collect::<Vec<_>>(),
        streams.iter().flat_map(|s| [*s, *s]).collect::<Vec<_>>(),
        "store conformance: read_all: stream ids"
    );
}

/// `read_all` after a position, with a limit, and paged to the end.
pub async fn read_all_after_position_and_limit<S: EventStore + SnapshotStore>(store: S) {
    let mut positions = Vec::new();
    for i in 1..=10u64 {
        let stream = format!("After-{}", i % 3);
        let v = version(&store, &stream).await;
        let r = append(
            &store,
            &stream,
            ExpectedVersion::from_version(v),
            numbered("E", i..=i),
        )
        .await;
        positions.push(
            r.last_position
                .expect("an append of one event reports its position"),
        );
    }
    let all = read_all(&store, 0, 1000, None).await;
    assert_eq!(
        all.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        positions
    );
    let after3 = read_all(&store, positions[2], 1000, None).await;
    assert_eq!(
        ids(&after3),
        ids(&all[3..]),
        "store conformance: read_all after the 3rd event's position must return events 4..=10"
    );
    let two = read_all(&store, positions[2], 2, None).await;
    assert_eq!(
        ids(&two),
        ids(&all[3..5]),
        "store conformance: read_all after 3rd with limit 2"
    );
    assert!(
        read_all(&store, positions[9], 1000, None).await.is_empty(),
        "store conformance: read_all after the last position must be empty"
    );
    assert!(
        read_all(&store, 0, 0, None).await.is_empty(),
        "store conformance: read_all with limit 0 must be empty"
    );
    let mut after = 0;
    let mut paged = Vec::new();
    for _ in 0..20 {
        let page = read_all(&store, after, 3, None).await;
        let Some(last) = page.last() else { break };
        assert!(
            page.len() <= 3,
            "store conformance: read_all returned more than its limit"
        );
        after = last.global_position;
        paged.extend(page);
    }
    assert_eq!(
        ids(&paged),
        ids(&all),
        "store conformance: paging read_all by 3"
    );
}

/// `read_all` with a type filter returns only those types, in order, and
/// combines with the position and the limit; an empty filter matches
/// nothing.
pub async fn read_all_type_filter<S: EventStore + SnapshotStore>(store: S) {
    let types = ["Alpha", "Beta", "Gamma", "Alpha", "Beta", "Alpha", "Gamma"];
    for (i, t) in types.iter().enumerate() {
        let n = i as u64 + 1;
        append(
            &store,
            "Types-1",
            ExpectedVersion::Exact(n - 1),
            vec![event(t, json!({ "n": n }))],
        )
        .await;
    }
    let all = read_all(&store, 0, 1000, None).await;
    let select = |wanted: &[&str]| -> Vec<Uuid> {
        all.iter()
            .filter(|e| wanted.contains(&e.event_type.as_str()))
            .map(|e| e.event_id)
            .collect()
    };
    for wanted in [&["Alpha"][..], &["Alpha", "Gamma"], &["Beta", "Nope"]] {
        let got = read_all(&store, 0, 1000, Some(wanted)).await;
        assert_eq!(
            ids(&got),
            select(wanted),
            "store conformance: read_all filtered by {wanted:?}"
        );
        assert_increasing_positions(&got, "filtered read_all");
    }
    assert!(
        read_all(&store, 0, 1000, Some(&["Nope"])).await.is_empty(),
        "store conformance: read_all filtered by an unknown type must be empty"
    );
    assert!(
        read_all(&store, 0, 1000, Some(&[])).await.is_empty(),
        "store conformance: read_all with an empty type filter must be empty"
    );
    let alphas = read_all(&store, 0, 1000, Some(&["Alpha"])).await;
    let second = read_all(&store, alphas[0].global_position, 1, Some(&["Alpha"])).await;
    assert_eq!(
        ids(&second),
        ids(&alphas[1..2]),
        "store conformance: read_all filtered by Alpha after the first Alpha with limit 1 must return the second Alpha"
    );
}

/// `read_all` says how far it scanned: a full page to its last event, a
/// short one past the events its filter left out, to the newest event; an
/// empty store or an empty read never moves backwards.
pub async fn read_all_says_how_far_it_scanned<S: EventStore + SnapshotStore>(store: S) {
    let empty = read_page(&store, 0, 10, None).await;
    assert_eq!(
        (empty.len(), empty.scanned_to),
        (0, 0),
        "store conformance: read_all of an empty store must scan to 0"
    );
    let types = ["Alpha", "Beta", "Beta", "Alpha", "Beta"];
    let mut last = None;
    for (i, t) in types.iter().enumerate() {
        let r = append(
            &store,
            "Scan-1",
            ExpectedVersion::Exact(i as u64),
            vec![event(t, json!({ "n": i }))],
        )
        .await;
        last = r.last_position;
    }
    let head = last.expect("an append returns its position");
    let all = read_all(&store, 0, 100, None).await;

    let alphas = read_page(&store, 0, 100, Some(&["Alpha"])).await;
    assert_eq!(alphas.len(), 2, "store conformance: two Alphas");
    assert_eq!(
        alphas.scanned_to, head,
        "store conformance: a short filtered read_all must scan past the Betas after the last Alpha, to the newest event"
    );
    let full = read_page(&store, 0, 2, Some(&["Beta"])).await;
    assert_eq!(
        full.scanned_to, all[2].global_position,
        "store conformance: a full page must scan to its last event, not further"
    );
    let rest = read_page(&store, full.scanned_to, 2, Some(&["Beta"])).await;
    assert_eq!(
        (ids(&rest.events), rest.scanned_to),
        (vec![all[4].event_id], head),
        "store conformance: read_all after a full page must return the next Beta and scan to the head"
    );
    let none = read_page(&store, head, 10, Some(&["Alpha"])).await;
    assert_eq!(
        (none.len(), none.scanned_to),
        (0, head),
        "store conformance: read_all after the head must be empty and stay at the head"
    );
    let gone = read_page(&store, 0, 10, Some(&["Nope"])).await;
    assert_eq!(
        (gone.len(), gone.scanned_to),
        (0, head),
        "store conformance: read_all of an unknown type must be empty and scan to the head"
    );
    let zero = read_page(&store, 0, 0, None).await;
    assert_eq!(
        (zero.len(), zero.scanned_to),
        (0, 0),
        "store conformance: read_all with limit 0 reads nothing and scans nothing"
    );
}

/// `head_position` is 0 on an empty store, then the position of the newest
/// event; a conflict does not move it.
pub async fn head_position_follows_appends<S: EventStore + SnapshotStore>(store: S) {
    assert_eq!(
        head(&store).await,
        0,
        "store conformance: head_position of an empty store"
    );
    let r = append(
        &store,
        "Head-1",
        ExpectedVersion::NoStream,
        numbered("E", 1..=3),
    )
    .await;
    assert_eq!(
        Some(head(&store).await),
        r.last_position,
        "store conformance: head_position after an append must be its last_position"
    );
    let before = head(&store).await;
    let _ = store
        .append("Head-1", ExpectedVersion::NoStream, numbered("E", 4..=4))
        .await;
    assert_eq!(
        head(&store).await,
        before,
        "store conformance: a conflict moved head_position"
    );
    let r = append(
        &store,
        "Head-2",
        ExpectedVersion::NoStream,
        numbered("E", 1..=1),
    )
    .await;
    let h = head(&store).await;
    assert!(
        h > before,
        "store conformance: head_position must grow with an append"
    );
    assert_eq!(Some(h), r.last_position);
    let all = read_all(&store, 0, 1000, None).await;
    assert_eq!(
        all.last().map(|e| e.global_position),
        Some(h),
        "store conformance: head_position must be the position of read_all's last event"
    );
}

/// `stream_version` is 0 for a missing stream, then the stream's newest
/// version; streams are independent.
pub async fn stream_version_per_stream<S: EventStore + SnapshotStore>(store: S) {
    assert_eq!(
        version(&store, "Ver-1").await,
        0,
        "store conformance: stream_version of a missing stream"
    );
    append(
        &store,
        "Ver-1",
        ExpectedVersion::NoStream,
        numbered("E", 1..=3),
    )
    .await;
    append(
        &store,
        "Ver-2",
        ExpectedVersion::NoStream,
        numbered("E", 1..=1),
    )
    .await;
    append(
        &store,
        "Ver-1",
        ExpectedVersion::Exact(3),
        numbered("E", 4..=5),
    )
    .await;
    assert_eq!(
        version(&store, "Ver-1").await,
        5,
        "store conformance: stream_version after 3 + 2 events"
    );
    assert_eq!(
        version(&store, "Ver-2").await,
        1,
        "store conformance: another stream's version"
    );
    assert_eq!(version(&store, "Ver-3").await, 0);
}
