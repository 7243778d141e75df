//! DCB on PostgreSQL: the conformance suite of `es-testing` (a database per
//! case, dropped afterwards), the upgrade of a schema made before tags, and
//! the plans of a tag query.

mod common;

use std::time::Duration;

use es_core::dcb::{AppendCondition, DcbStore, Query, QueryItem, Tag, TaggedEvent};
use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent, StoreError, StreamEnd};
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

/// A tag's events are read through the tag index (`event_tags_pkey`), not
/// by scanning every tag row in a range of positions, even when the
/// server plans the store's prepared statements once for all parameters
/// (a generic plan, which PostgreSQL switches to after five executions):
/// here forced for the database, 30,000 tag rows, reads of 10 events each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_reads_use_the_tag_index_under_generic_plans() {
    let (db, store) = common::store().await;
    for i in 0..3000 {
        let tag = Tag::new(format!("counter:c{i}")).unwrap();
        let events = (0..10)
            .map(|_| {
                let e = NewEvent::from_raw("Tallied", 1, b"{}".to_vec(), Metadata::new());
                TaggedEvent::new(e, [tag.clone()])
            })
            .collect();
        store
            .append_tagged(&format!("counter-c{i}"), events, None)
            .await
            .unwrap();
    }
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(db.pool())
        .await
        .unwrap();
    sqlx::query(&format!(
        "ALTER DATABASE \"{name}\" SET plan_cache_mode = force_generic_plan"
    ))
    .execute(db.pool())
    .await
    .unwrap();
    sqlx::query("ANALYZE").execute(db.pool()).await.unwrap();
    // A new pool of one session (whose statistics are flushed below),
    // which starts with the setting.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(db.url())
        .await
        .unwrap();
    let generic = PgEventStore::builder().build(pool);
    let mode: String = sqlx::query_scalar("SHOW plan_cache_mode")
        .fetch_one(generic.pool())
        .await
        .unwrap();
    assert_eq!(mode, "force_generic_plan");
    let before = common::rows_read(&db, generic.pool(), "event_tags").await;
    const READS: i64 = 20;
    for i in 0..READS {
        let tag = Tag::new(format!("counter:c{}", i * 7)).unwrap();
        let q = Query::item(QueryItem::new().types(["Tallied"]).tags([tag]));
        let page = generic.read_query(&q, 0, 1000).await.unwrap();
        assert_eq!(page.events.len(), 10);
    }
    // The reading sessions flush their statistics; the numbers are read
    // from another session.
    let read = common::rows_read(&db, generic.pool(), "event_tags").await - before;
    // Per read: the tag's 10 index entries for the page and one for its
    // newest matching position (an event's tags come from its row).
    assert!(
        read > 0 && read <= READS * 20,
        "{read} tag index entries read for {READS} reads of 10 events (a range scan of the position index reads all 30,000 per read)"
    );
    // And queries of two items.
    let before = common::rows_read(&db, generic.pool(), "event_tags").await;
    for i in 0..READS {
        let item = |k: i64| {
            let tag = Tag::new(format!("counter:c{}", i * 7 + k)).unwrap();
            QueryItem::new().types(["Tallied"]).tags([tag])
        };
        let page = generic
            .read_query(&Query::items([item(0), item(1)]), 0, 1000)
            .await
            .unwrap();
        assert_eq!(page.events.len(), 20);
    }
    let read = common::rows_read(&db, generic.pool(), "event_tags").await - before;
    // Per read: each item's 10 index entries, twice (the page and its
    // newest matching position).
    assert!(
        read > 0 && read <= READS * 60,
        "{read} tag index entries read for {READS} reads of two items"
    );
    generic.pool().close().await;
    drop(store);
    db.drop_db().await;
}

/// Reads stay gap-safe: while a transaction that writes a tagged event is
/// still open, a read by its tag returns nothing past it, not even an event
/// committed later by a newer transaction, and vouches only for positions
/// below it; once it commits, reading on from `scanned_to` returns both,
/// in log order. (A decision that read before would have its condition
/// fail on them.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_by_tag_never_skips_an_event_that_commits_late() {
    let (db, store) = common::store().await;
    let tag = Tag::new("seat:s1").unwrap();
    let query = Query::item(QueryItem::new().types(["SeatTaken"]).tags([tag.clone()]));
    // A writer whose transaction stays open (as an append between its
    // insert and its commit).
    let mut held = db.connect().await;
    sqlx::query("BEGIN").execute(&mut held).await.unwrap();
    let late: i64 = sqlx::query_scalar(
        "WITH e AS (INSERT INTO es.events (global_position, event_id, stream_id, stream_version, \
           aggregate_type, event_type, schema_version, payload, tx_id) \
         VALUES ((pg_current_xact_id()::text::bigint << 20) + 1, gen_random_uuid(), 'seat-late', 1, \
           'seat', 'SeatTaken', 1, '{}', pg_current_xact_id()) RETURNING global_position) \
         INSERT INTO es.event_tags (tag, global_position, event_type) \
         SELECT 'seat:s1', global_position, 'SeatTaken' FROM e RETURNING global_position",
    )
    .fetch_one(&mut held)
    .await
    .unwrap();
    // A newer transaction commits an event of the same tag.
    let e = NewEvent::from_raw("SeatTaken", 1, b"{}".to_vec(), Metadata::new());
    let newer = store
        .append_tagged("seat-new", vec![TaggedEvent::new(e, [tag.clone()])], None)
        .await
        .unwrap()
        .last_position
        .unwrap();
    assert!(newer > late as u64, "positions follow transaction ids");

    let before = store.read_query(&query, 0, 100).await.unwrap();
    assert!(
        before.events.is_empty(),
        "a read while an older writer is open returned {:?}",
        before.events
    );
    assert!(
        before.scanned_to < late as u64,
        "it vouched past the open writer"
    );

    sqlx::query("COMMIT").execute(&mut held).await.unwrap();
    let after = store
        .read_query(&query, before.scanned_to, 100)
        .await
        .unwrap();
    let positions: Vec<u64> = after
        .events
        .iter()
        .map(|e| e.event.global_position)
        .collect();
    assert_eq!(positions, [late as u64, newer]);
    drop(held);
    drop(store);
    db.drop_db().await;
}

/// A schema migrated before the append function `dcb_lock_and_check`
/// (the first five migrations, tags included), with a tagged event in it:
/// `migrate` adds the function, and an append under a condition works on
/// it, refused and then accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_upgrades_a_schema_without_the_append_function() {
    let db = TestDatabase::create().await;
    common::older_schema(&db, 20250101000006).await;
    let store = PgEventStore::from_pool(db.pool().clone());
    let tag = Tag::new("seat:s1").unwrap();
    let seat = || {
        let e = NewEvent::from_raw("SeatTaken", 1, b"{}".to_vec(), Metadata::new());
        vec![TaggedEvent::new(e, [tag.clone()])]
    };
    // A tagged event written by the version before the function.
    let e = NewEvent::from_raw("SeatTaken", 1, b"{}".to_vec(), Metadata::new());
    let written = store
        .append("seat-1", ExpectedVersion::NoStream, vec![e])
        .await
        .expect("an append on the older schema");
    sqlx::query("INSERT INTO es.event_tags (tag, global_position, event_type) VALUES ('seat:s1', $1, 'SeatTaken')")
        .bind(written.last_position.unwrap() as i64)
        .execute(db.pool())
        .await
        .expect("its tag");
    store.migrate().await.expect("migrate upgrades the schema");

    let query = Query::item(QueryItem::new().tags([tag.clone()]));
    let stale = AppendCondition::new(query.clone(), 0);
    let refused = store.append_tagged("seat-2", seat(), Some(&stale)).await;
    assert!(
        matches!(refused, Err(StoreError::ConditionFailed { after: 0, .. })),
        "{refused:?}"
    );
    let page = store.read_query(&query, 0, 10).await.unwrap();
    assert_eq!(page.events.len(), 1, "the older event is kept");
    let fresh = AppendCondition::new(query, page.scanned_to);
    store
        .append_tagged("seat-2", seat(), Some(&fresh))
        .await
        .expect("an append under a condition that holds");
    drop(store);
    db.drop_db().await;
}

/// A schema of the version before tags were kept on the event's row, with
/// a tagged event in it: `migrate` puts its tags (sorted) on its row from
/// `event_tags`, leaves an untagged event without, and the log refuses
/// changes again afterwards; reads by query return the tags, and a
/// condition still checks the older event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_puts_the_tags_of_older_events_on_their_rows() {
    let db = TestDatabase::create().await;
    common::older_schema(&db, 20250101000007).await;
    let store = PgEventStore::from_pool(db.pool().clone());
    let raw = |t: &str| NewEvent::from_raw(t, 1, b"{}".to_vec(), Metadata::new());
    let written = store
        .append(
            "seat-1",
            ExpectedVersion::NoStream,
            vec![raw("SeatTaken"), raw("SeatFreed")],
        )
        .await
        .expect("an append on the older schema");
    let tagged_at = written.last_position.unwrap() as i64 - 1;
    for tag in ["seat:s1", "hall:h1"] {
        sqlx::query("INSERT INTO es.event_tags (tag, global_position, event_type) VALUES ($1, $2, 'SeatTaken')")
            .bind(tag)
            .bind(tagged_at)
            .execute(db.pool())
            .await
            .expect("its tag");
    }
    store.migrate().await.expect("migrate upgrades the schema");

    let rows: Vec<(String, Option<Vec<String>>)> =
        sqlx::query_as("SELECT event_type, tags FROM es.events ORDER BY global_position")
            .fetch_all(db.pool())
            .await
            .unwrap();
    assert_eq!(
        rows,
        vec![
            (
                "SeatTaken".to_owned(),
                Some(vec!["hall:h1".to_owned(), "seat:s1".to_owned()])
            ),
            ("SeatFreed".to_owned(), None),
        ]
    );
    let update = sqlx::query("UPDATE es.events SET tags = NULL")
        .execute(db.pool())
        .await;
    assert!(
        update.is_err(),
        "the log refuses changes after the migration: {update:?}"
    );

    let seat = Query::item(QueryItem::new().tags([Tag::new("seat:s1").unwrap()]));
    let page = store.read_query(&seat, 0, 10).await.unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!(
        page.events[0].tags,
        vec![Tag::new("hall:h1").unwrap(), Tag::new("seat:s1").unwrap()]
    );
    let next = || {
        let e = raw("SeatTaken");
        vec![TaggedEvent::new(e, [Tag::new("seat:s1").unwrap()])]
    };
    let stale = AppendCondition::new(seat.clone(), 0);
    let refused = store.append_tagged("seat-2", next(), Some(&stale)).await;
    assert!(
        matches!(refused, Err(StoreError::ConditionFailed { position, .. }) if position == tagged_at as u64),
        "{refused:?}"
    );
    store
        .append_tagged(
            "seat-2",
            next(),
            Some(&AppendCondition::new(seat, page.scanned_to)),
        )
        .await
        .expect("an append under a condition that holds");
    drop(store);
    db.drop_db().await;
}

/// A plain append (an aggregate's, taking no advisory lock) of an event a
/// condition's item matches by type alone, in flight while the
/// conditional append runs: the conditional append waits for it to commit
/// and then fails on it. A condition whose items all have tags does not
/// wait for the same plain append (tagged writers meet on their tags).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_condition_without_tags_counts_a_plain_append_in_flight() {
    let (db, store) = common::store().await;
    let by_type = Query::item(QueryItem::new().types(["SeatTaken"]));
    let read = store.read_query(&by_type, 0, 100).await.unwrap();
    assert!(read.events.is_empty());

    // An aggregate's append between its insert and its commit.
    let mut held = db.connect().await;
    sqlx::query("BEGIN").execute(&mut held).await.unwrap();
    let plain: i64 = sqlx::query_scalar(
        "INSERT INTO es.events (global_position, event_id, stream_id, stream_version, \
           aggregate_type, event_type, schema_version, payload, tx_id) \
         VALUES ((pg_current_xact_id()::text::bigint << 20) + 1, gen_random_uuid(), 'seat-plain', 1, \
           'seat', 'SeatTaken', 1, '{}', pg_current_xact_id()) RETURNING global_position",
    )
    .fetch_one(&mut held)
    .await
    .unwrap();

    let taken = |n: &str, event_type: &str| {
        let e = NewEvent::from_raw(event_type, 1, b"{}".to_vec(), Metadata::new());
        vec![TaggedEvent::new(
            e,
            [Tag::new(format!("seat:{n}")).unwrap()],
        )]
    };
    // All items tagged: no wait for the plain append.
    let tagged = Query::item(
        QueryItem::new()
            .types(["SeatHeld"])
            .tags([Tag::new("seat:t").unwrap()]),
    );
    tokio::time::timeout(
        Duration::from_secs(5),
        store.append_tagged(
            "seat-t",
            taken("t", "SeatHeld"),
            Some(&AppendCondition::new(tagged, read.scanned_to)),
        ),
    )
    .await
    .expect("a condition with tags waited for an untagged writer")
    .expect("its condition holds");

    let conditional = tokio::spawn({
        let store = store.clone();
        let condition = AppendCondition::new(by_type, read.scanned_to);
        async move {
            store
                .append_tagged("seat-c", taken("c", "SeatTaken"), Some(&condition))
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !conditional.is_finished(),
        "the conditional append did not wait for the plain append in flight: {:?}",
        conditional.await
    );
    sqlx::query("COMMIT").execute(&mut held).await.unwrap();
    let result = conditional.await.unwrap();
    assert!(
        matches!(
            result,
            Err(StoreError::ConditionFailed { position, .. }) if position == plain as u64
        ),
        "{result:?}"
    );
    drop(held);
    drop(store);
    db.drop_db().await;
}

/// A tagged append with a command id (the full append statement, with the
/// locks, the check and the tags): sent again, it is found recorded, and
/// its event and tags are stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tagged_append_with_a_command_id_is_stored_once() {
    let (db, store) = common::store().await;
    let tag = Tag::new("seat:s1").unwrap();
    let query = Query::item(QueryItem::new().tags([tag.clone()]));
    let command = es_core::Uuid::now_v7();
    let append = || {
        let e = NewEvent::from_raw(
            "SeatTaken",
            1,
            b"{}".to_vec(),
            Metadata::new().command_id(command),
        );
        let condition = AppendCondition::new(query.clone(), 0);
        let store = store.clone();
        let tag = tag.clone();
        async move {
            store
                .append_tagged("seat-1", vec![TaggedEvent::new(e, [tag])], Some(&condition))
                .await
        }
    };
    let first = append().await.expect("the first append");
    assert!(!first.duplicate);
    let again = append().await.expect("the same command again");
    assert!(again.duplicate, "{again:?}");
    assert_eq!(again.last_version, first.last_version);
    let page = store.read_query(&query, 0, 10).await.unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0].tags, [tag]);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM es.event_tags")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(rows, 1);
    drop(store);
    db.drop_db().await;
}
