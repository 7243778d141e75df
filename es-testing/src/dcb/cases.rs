//! Reads by query and appends under a condition, one writer.

use std::fmt::{Debug, Display};

use es_core::dcb::{AppendCondition, DcbStore, Query, QueryItem, Tag, TaggedEvent};
use es_core::{ErrorChain, ExpectedVersion, Metadata, NewEvent, StoreError, StreamEnd};

/// A tag, known good.
pub(super) fn tag(s: &str) -> Tag {
    Tag::new(s).expect("a valid tag")
}

/// An event of `event_type` with `tags`.
pub(super) fn tagged(event_type: &str, tags: &[&str]) -> TaggedEvent {
    let e = NewEvent::from_raw(event_type, 1, b"{}".to_vec(), Metadata::new());
    TaggedEvent::new(e, tags.iter().map(|t| tag(t)))
}

pub(super) fn ok<T, E: std::error::Error + 'static>(what: impl Display, r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| {
        panic!(
            "dcb conformance: {what} failed, and should have succeeded: {}",
            ErrorChain(&e)
        )
    })
}

#[track_caller]
pub(super) fn same<T: PartialEq + Debug>(what: impl Display, actual: T, expected: T) {
    assert!(
        actual == expected,
        "dcb conformance: {what}: the store gave {actual:?}, and should have given {expected:?}"
    );
}

/// The stream versions (in its stream `Course-c1` and so on) of what
/// `query` reads from the start, as `type@position` strings.
async fn read<S: DcbStore>(s: &S, query: &Query) -> Vec<String> {
    let page = ok(
        format_args!("read_query({query:?})"),
        s.read_query(query, 0, 1000).await,
    );
    page.events
        .iter()
        .map(|e| format!("{}@{}", e.event.event_type, e.event.stream_id))
        .collect()
}

/// Items by type, by tags (all of them), by both, several items, every
/// event, no item; tags read back sorted and once.
pub async fn queries_select_by_types_and_tags<S: DcbStore>(s: S) {
    let put = |stream: &'static str, events: Vec<TaggedEvent>| {
        let s = s.clone();
        async move {
            ok(
                format_args!("append_tagged({stream})"),
                s.append_tagged(stream, events, None).await,
            )
        }
    };
    put("Course-c1", vec![tagged("CourseCreated", &["course:c1"])]).await;
    put("Course-c2", vec![tagged("CourseCreated", &["course:c2"])]).await;
    put(
        "Course-c1",
        vec![tagged(
            "StudentSubscribed",
            &["student:s1", "course:c1", "student:s1"],
        )],
    )
    .await;
    put(
        "Course-c2",
        vec![tagged("StudentSubscribed", &["course:c2", "student:s1"])],
    )
    .await;
    put(
        "Student-s2",
        vec![tagged("StudentRegistered", &["student:s2"])],
    )
    .await;

    let by_type = Query::item(QueryItem::new().types(["CourseCreated"]));
    same(
        "an item with a type",
        read(&s, &by_type).await,
        vec![
            "CourseCreated@Course-c1".to_owned(),
            "CourseCreated@Course-c2".to_owned(),
        ],
    );
    let by_tag = Query::item(QueryItem::new().tags([tag("student:s1")]));
    same(
        "an item with a tag",
        read(&s, &by_tag).await,
        vec![
            "StudentSubscribed@Course-c1".to_owned(),
            "StudentSubscribed@Course-c2".to_owned(),
        ],
    );
    let both_tags = Query::item(QueryItem::new().tags([tag("student:s1"), tag("course:c2")]));
    same(
        "an item with two tags (an event must carry both)",
        read(&s, &both_tags).await,
        vec!["StudentSubscribed@Course-c2".to_owned()],
    );
    let type_and_tag = Query::item(
        QueryItem::new()
            .types(["CourseCreated"])
            .tags([tag("course:c1")]),
    );
    same(
        "an item with a type and a tag",
        read(&s, &type_and_tag).await,
        vec!["CourseCreated@Course-c1".to_owned()],
    );
    let two_items = Query::items([
        QueryItem::new()
            .types(["CourseCreated"])
            .tags([tag("course:c2")]),
        QueryItem::new().types(["StudentRegistered"]),
    ]);
    same(
        "two items (either matches), in log order",
        read(&s, &two_items).await,
        vec![
            "CourseCreated@Course-c2".to_owned(),
            "StudentRegistered@Student-s2".to_owned(),
        ],
    );
    same("every event", read(&s, &Query::all()).await.len(), 5);
    same("no item", read(&s, &Query::items([])).await.len(), 0);
    let page = ok("read_query", s.read_query(&by_tag, 0, 10).await);
    same(
        "the tags of an event, sorted, each once",
        page.events[0].tags.clone(),
        vec![tag("course:c1"), tag("student:s1")],
    );
}

/// `after` and `limit` page a query; `scanned_to` lets the next page go on,
/// and a short page covers the log to its end.
pub async fn reads_page_and_vouch_for_what_they_scanned<S: DcbStore>(s: S) {
    for i in 0..7 {
        let t = if i % 2 == 0 { "even" } else { "odd" };
        ok(
            "append_tagged",
            s.append_tagged(
                "Counter-1",
                vec![tagged("Counted", &[&format!("parity:{t}")])],
                None,
            )
            .await,
        );
    }
    let even = Query::item(QueryItem::new().tags([tag("parity:even")]));
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = ok("read_query", s.read_query(&even, after, 2).await);
        assert!(
            page.scanned_to >= after,
            "dcb conformance: scanned_to {} went back from {after}",
            page.scanned_to
        );
        seen.extend(page.events.iter().map(|e| e.event.stream_version));
        if page.events.len() < 2 {
            let head = ok("head_position", s.head_position().await);
            same(
                "scanned_to of a short page: the head",
                page.scanned_to,
                head,
            );
            break;
        }
        after = page.scanned_to;
    }
    same("the even events, paged by 2", seen, vec![1, 3, 5, 7]);
}

/// Events appended by aggregates (no tags) match an item with types only,
/// never one with tags.
pub async fn untagged_events_match_items_without_tags<S: DcbStore>(s: S) {
    let plain = NewEvent::from_raw("CourseCreated", 1, b"{}".to_vec(), Metadata::new());
    ok(
        "append",
        s.append("Course-c9", ExpectedVersion::Any, vec![plain])
            .await,
    );
    same(
        "an untagged event, by its type",
        read(&s, &Query::item(QueryItem::new().types(["CourseCreated"]))).await,
        vec!["CourseCreated@Course-c9".to_owned()],
    );
    same(
        "an untagged event, by its type and a tag",
        read(
            &s,
            &Query::item(
                QueryItem::new()
                    .types(["CourseCreated"])
                    .tags([tag("course:c9")]),
            ),
        )
        .await,
        Vec::<String>::new(),
    );
    let page = ok("read_query", s.read_query(&Query::all(), 0, 10).await);
    same(
        "the tags of an untagged event",
        page.events[0].tags.clone(),
        vec![],
    );
}

/// A matching event after the position fails the append, which stores
/// nothing; one at or before it, or one that does not match, does not.
pub async fn a_condition_fails_when_a_matching_event_came_after<S: DcbStore>(s: S) {
    let c1 = Query::item(
        QueryItem::new()
            .types(["StudentSubscribed"])
            .tags([tag("course:c1")]),
    );
    ok(
        "append_tagged",
        s.append_tagged(
            "Course-c1",
            vec![tagged("StudentSubscribed", &["course:c1", "student:s1"])],
            None,
        )
        .await,
    );
    let read = ok("read_query", s.read_query(&c1, 0, 100).await);
    same("events the decision read", read.events.len(), 1);
    let condition = AppendCondition::new(c1.clone(), read.scanned_to);

    // Unrelated writes after the read: another course, another type.
    ok(
        "append_tagged",
        s.append_tagged(
            "Course-c2",
            vec![tagged("StudentSubscribed", &["course:c2"])],
            None,
        )
        .await,
    );
    ok(
        "append_tagged",
        s.append_tagged(
            "Course-c1",
            vec![tagged("CourseRenamed", &["course:c1"])],
            None,
        )
        .await,
    );
    let first = ok(
        "an append whose condition holds",
        s.append_tagged(
            "Course-c1",
            vec![tagged("StudentSubscribed", &["course:c1", "student:s2"])],
            Some(&condition),
        )
        .await,
    );
    let position = first.last_position.expect("a position");

    // The same condition again: the event just appended matches it.
    let before = ok("head_position", s.head_position().await);
    match s
        .append_tagged(
            "Course-c1",
            vec![tagged("StudentSubscribed", &["course:c1", "student:s3"])],
            Some(&condition),
        )
        .await
    {
        Err(StoreError::ConditionFailed {
            after,
            position: found,
        }) => {
            same("the failed condition's position", after, condition.after);
            same("the matching event it names", found, position);
        }
        other => panic!(
            "dcb conformance: an append whose condition's query matches a later event returned {other:?}, and should have failed with ConditionFailed"
        ),
    }
    same(
        "the head after the refused append",
        ok("head_position", s.head_position().await),
        before,
    );
    let stream = ok(
        "read_stream",
        s.read_stream("Course-c1", 1, StreamEnd::Head, 100).await,
    );
    same(
        "events of Course-c1 after the refused append",
        stream.len(),
        3,
    );

    // A condition after the newest matching event holds.
    let now = AppendCondition::new(c1, position);
    ok(
        "an append after the newest matching event",
        s.append_tagged(
            "Course-c1",
            vec![tagged("StudentSubscribed", &["course:c1", "student:s3"])],
            Some(&now),
        )
        .await,
    );
}

/// A condition of several items: one with two tags and a type, one with a
/// tag alone, one with a type alone. An event after the condition's
/// position fails the append only when it matches an item: all of the
/// item's tags, and one of its types when it names any; an untagged event
/// matches the item with a type alone.
pub async fn a_condition_checks_every_item_with_all_its_tags<S: DcbStore>(s: S) {
    let query = Query::items([
        QueryItem::new()
            .types(["StudentSubscribed"])
            .tags([tag("course:c1"), tag("student:s1")]),
        QueryItem::new().tags([tag("course:c9")]),
        QueryItem::new().types(["CourseArchived"]),
    ]);
    let attempt = |after: u64| {
        let condition = AppendCondition::new(query.clone(), after);
        let s = &s;
        async move {
            s.append_tagged(
                "Course-attempt",
                vec![tagged("StudentSubscribed", &["course:c1", "student:s1"])],
                Some(&condition),
            )
            .await
        }
    };
    let failed_on = |what: &str, r: Result<es_core::AppendResult, StoreError>, at: u64| match r {
        Err(StoreError::ConditionFailed { position, .. }) => {
            same(format_args!("the event named after {what}"), position, at);
        }
        other => panic!(
            "dcb conformance: an append under a condition after {what} returned {other:?}, and should have failed with ConditionFailed"
        ),
    };

    // Near misses: one of the item's two tags; both, of another type.
    let start = ok("head_position", s.head_position().await);
    for (stream, event_type, tags) in [
        ("Course-c1", "StudentSubscribed", &["course:c1"][..]),
        (
            "Student-s1",
            "StudentSubscribed",
            &["student:s1", "course:c2"][..],
        ),
        (
            "Course-c1",
            "CourseRenamed",
            &["course:c1", "student:s1"][..],
        ),
    ] {
        ok(
            "append_tagged",
            s.append_tagged(stream, vec![tagged(event_type, tags)], None)
                .await,
        );
    }
    let first = ok(
        "an append whose condition only near misses follow",
        attempt(start).await,
    );
    let first = first.last_position.expect("a position");
    // The event it appended has both tags and the type.
    failed_on("an event with both tags", attempt(start).await, first);

    // The second item: its tag, on an event of any type with more tags.
    let at = ok("head_position", s.head_position().await);
    let c9 = ok(
        "append_tagged",
        s.append_tagged(
            "Course-c9",
            vec![tagged("CourseCreated", &["course:c9", "term:t1"])],
            None,
        )
        .await,
    );
    failed_on(
        "an event with the second item's tag",
        attempt(at).await,
        c9.last_position.expect("a position"),
    );

    // The third item: its type, on an event without tags.
    let at = ok("head_position", s.head_position().await);
    let plain = ok(
        "append",
        s.append(
            "Course-c7",
            ExpectedVersion::Any,
            vec![NewEvent::from_raw(
                "CourseArchived",
                1,
                b"{}".to_vec(),
                Metadata::new(),
            )],
        )
        .await,
    );
    failed_on(
        "an untagged event of the third item's type",
        attempt(at).await,
        plain.last_position.expect("a position"),
    );

    // Nothing after the head: it holds.
    let at = ok("head_position", s.head_position().await);
    ok(
        "an append with nothing after its position",
        attempt(at).await,
    );
}
