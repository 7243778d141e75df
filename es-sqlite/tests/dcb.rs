//! DCB on SQLite: the conformance suite of `es-testing` (a temp file per
//! case), the upgrade of a file made before tags, and a condition that
//! counts an untagged append (every append holds the file's write lock).

mod common;

use common::TempDb;
use es_core::dcb::{AppendCondition, DcbStore, Query, QueryItem, Tag, TaggedEvent};
use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent, StoreError, StreamEnd};
use es_sqlite::SqliteEventStore;

es_testing::dcb_conformance_tests!(common::file_store("dcb"));

fn ev(event_type: &str) -> NewEvent {
    NewEvent::from_raw(event_type, 1, b"{}".to_vec(), Metadata::new())
}

/// A file migrated by the version before tags (migrations 1 to 4), with an
/// event in it: opening it adds `event_tags`, the event stays, and tagged
/// appends and reads work on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_upgrades_a_file_without_event_tags() {
    let db = TempDb::new("dcb-upgrade");
    let old = common::older_file(&db, 5).await;
    old.append(
        "Course-c1",
        ExpectedVersion::NoStream,
        vec![ev("CourseCreated")],
    )
    .await
    .expect("append on the older schema");
    let tables = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'event_tags'";
    let before: i64 = sqlx::query_scalar(tables)
        .fetch_one(old.pool())
        .await
        .expect("tables");
    assert_eq!(before, 0, "the older file has no event_tags");
    old.close().await;

    let store = SqliteEventStore::open(db.path())
        .await
        .expect("open upgrades the file");
    let after: i64 = sqlx::query_scalar(tables)
        .fetch_one(store.pool())
        .await
        .expect("tables");
    assert_eq!(after, 1);
    let kept = store.read_stream("Course-c1", 1, StreamEnd::Head, 10).await;
    assert_eq!(kept.expect("read").len(), 1, "the older event is kept");
    let tag = Tag::new("course:c1").unwrap();
    store
        .append_tagged(
            "Course-c1",
            vec![TaggedEvent::new(ev("StudentSubscribed"), [tag.clone()])],
            None,
        )
        .await
        .expect("a tagged append");
    let page = store
        .read_query(&Query::item(QueryItem::new().tags([tag])), 0, 10)
        .await
        .expect("read by tag");
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0].event.stream_version, 2);
    store.close().await;
}

/// An untagged append (an aggregate's) of a type a condition's item names
/// fails a decision that read before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_condition_counts_an_untagged_append() {
    let db = TempDb::new("dcb-untagged");
    let store = SqliteEventStore::open(db.path()).await.expect("open");
    let names = Query::item(QueryItem::new().types(["UserRegistered"]));
    let read = store.read_query(&names, 0, 100).await.expect("read");
    store
        .append(
            "User-u1",
            ExpectedVersion::NoStream,
            vec![ev("UserRegistered")],
        )
        .await
        .expect("an untagged append");
    let condition = AppendCondition::new(names, read.scanned_to);
    let tagged = TaggedEvent::new(ev("UserRegistered"), [Tag::new("user:u2").unwrap()]);
    let refused = store
        .append_tagged("User-u2", vec![tagged], Some(&condition))
        .await;
    assert!(
        matches!(
            refused,
            Err(StoreError::ConditionFailed { position: 1, .. })
        ),
        "{refused:?}"
    );
    store.close().await;
}
