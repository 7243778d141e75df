//! DCB on PostgreSQL: the conformance suite of `es-testing` (a database per
//! case, dropped afterwards), the upgrade of a schema made before tags, and
//! the plans of a tag query.

mod common;

use es_core::dcb::{DcbStore, Query, QueryItem, Tag, TaggedEvent};
use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent, StreamEnd};
use es_postgres::PgEventStore;
use es_testing::postgres::TestDatabase;

es_testing::dcb_conformance_tests!(common::conformance_store());

/// A schema migrated by the version before tags (the first four
/// migrations), with an event in it: `migrate` adds `event_tags`, the event
/// stays, and tagged appends and reads work on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_upgrades_a_schema_without_event_tags() {
    let db = TestDatabase::create().await;
    common::older_schema(&db, 20250101000005).await;
    let store = PgEventStore::from_pool(db.pool().clone());
    let e = common::ev("CourseCreated", serde_json::json!({ "id": "c1" }));
    store
        .append("Course-c1", ExpectedVersion::NoStream, vec![e])
        .await
        .expect("append on the older schema");
    let exists = || {
        sqlx::query_scalar::<_, bool>("SELECT to_regclass('es.event_tags') IS NOT NULL")
            .fetch_one(db.pool())
    };
    assert!(
        !exists().await.expect("regclass"),
        "the older schema has no event_tags"
    );
    store.migrate().await.expect("migrate upgrades the schema");
    assert!(
        exists().await.expect("regclass"),
        "migrate creates event_tags"
    );

    let kept = store.read_stream("Course-c1", 1, StreamEnd::Head, 10).await;
    assert_eq!(kept.expect("read").len(), 1, "the older event is kept");
    let tag = Tag::new("course:c1").unwrap();
    let e = NewEvent::from_raw("StudentSubscribed", 1, b"{}".to_vec(), Metadata::new());
    store
        .append_tagged("Course-c1", vec![TaggedEvent::new(e, [tag.clone()])], None)
        .await
        .expect("a tagged append");
    let page = store
        .read_query(&Query::item(QueryItem::new().tags([tag])), 0, 10)
        .await
        .expect("read by tag");
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0].event.stream_version, 2);
    drop(store);
    db.drop_db().await;
}

/// A tag's events are read through the primary key of `event_tags` (a
/// B-tree), not by scanning the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_query_reads_the_tag_index() {
    let (db, store) = common::store().await;
    let mut conn = db.connect().await;
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut conn)
        .await
        .expect("set");
    let plan: Vec<(String,)> = sqlx::query_as(
        "EXPLAIN SELECT global_position FROM es.event_tags \
         WHERE tag = ANY(ARRAY['course:c1']) AND global_position > 0 \
         GROUP BY global_position HAVING count(*) = 1",
    )
    .fetch_all(&mut conn)
    .await
    .expect("explain");
    let plan: Vec<String> = plan.into_iter().map(|(l,)| l).collect();
    assert!(
        plan.iter().any(|l| l.contains("event_tags_pkey")),
        "{}",
        plan.join("\n")
    );
    drop(conn);
    drop(store);
    db.drop_db().await;
}
