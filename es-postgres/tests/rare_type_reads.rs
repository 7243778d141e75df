//! A type-filtered `read_all` of a rare type reads the type's index on
//! every call. As a prepared statement it did for five calls; then
//! PostgreSQL switched to a plan made once for all parameters (a generic
//! plan), which walked the position index through every event after the
//! checkpoint and filtered by type (22-26 ms a page against 1-9 ms, and
//! growing with the log). A filtered read now has its types written into
//! its statement, so every plan, generic ones included, knows how common
//! they are; the types are escaped, so any type name reads back as itself.

mod common;

use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent};
use es_postgres::PgEventStore;
use sqlx::postgres::PgPoolOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rare_type_is_read_through_its_index_on_every_call() {
    let (db, store) = common::store().await;
    // 40,000 common events, and a rare one in every 2,000th place.
    common::bulk_load(
        &db,
        40_000,
        "'Clock-' || (n % 400), n / 400 + 1, 'Clock', \
         CASE WHEN n % 2000 = 0 THEN 'Rare' ELSE 'Ticked' END, 1, '{}'",
    )
    .await;
    sqlx::query("ANALYZE es.events")
        .execute(db.pool())
        .await
        .unwrap();
    // One session, so every read reuses its statements.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(db.url())
        .await
        .unwrap();
    let one = PgEventStore::builder().build(pool);
    // A stream the reads must see too (an append through the store).
    let rare = NewEvent::from_raw("Rare", 1, b"{}".to_vec(), Metadata::new());
    one.append("Clock-x", ExpectedVersion::NoStream, vec![rare])
        .await
        .unwrap();

    const READS: i64 = 12;
    let before = common::rows_read(&db, one.pool(), "events").await;
    for _ in 0..READS {
        let page = one.read_all(0, 1000, Some(&["Rare"])).await.unwrap();
        assert_eq!(page.events.len(), 21);
        assert!(page.events.iter().all(|e| e.event_type == "Rare"));
    }
    let read = common::rows_read(&db, one.pool(), "events").await - before;
    // Per read: the type's 21 index entries and the two positions the
    // page's head and newest position probe.
    assert!(
        read <= READS * 50,
        "{read} index entries and rows read for {READS} reads of a rare type's 21 events \
         (a walk of the position index reads all 40,000 per read)"
    );
    one.pool().close().await;
    drop(store);
    db.drop_db().await;
}

/// The types a filtered read writes into its statement are escaped: a type
/// with quotes, backslashes, braces or commas selects exactly its own
/// events, on a prepared statement reused across calls.
#[tokio::test]
async fn types_with_quotes_and_backslashes_are_read_as_written() {
    let (db, store) = common::store().await;
    let types = [
        "it's",
        "back\\slash",
        "\\'); DROP TABLE es.events; --",
        "quote\"brace{,}",
        "plain",
    ];
    for (i, t) in types.iter().enumerate() {
        let e = NewEvent::from_raw(*t, 1, b"{}".to_vec(), Metadata::new());
        store
            .append(&format!("Odd-{i}"), ExpectedVersion::NoStream, vec![e])
            .await
            .unwrap();
    }
    for _ in 0..7 {
        for t in types {
            let page = store.read_all(0, 100, Some(&[t])).await.unwrap();
            let got: Vec<&str> = page.events.iter().map(|e| e.event_type.as_str()).collect();
            assert_eq!(got, [t], "reading type {t:?}");
        }
        let page = store.read_all(0, 100, Some(&types[..2])).await.unwrap();
        assert_eq!(page.events.len(), 2);
        let none = store.read_all(0, 100, Some(&[])).await.unwrap();
        assert!(none.events.is_empty());
        // No stored type holds a NUL (PostgreSQL's text cannot): it matches
        // nothing, and the connection goes on serving reads.
        let nul = store
            .read_all(0, 100, Some(&["plain\0'", "plain"]))
            .await
            .unwrap();
        assert_eq!(nul.events.len(), 1);
    }
    // And an event of such a type is refused with an error, not stored.
    let e = NewEvent::from_raw("nul\0type", 1, b"{}".to_vec(), Metadata::new());
    let refused = store
        .append("Odd-nul", ExpectedVersion::NoStream, vec![e])
        .await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(store.read_all(0, 100, None).await.unwrap().events.len(), 5);
    drop(store);
    db.drop_db().await;
}
