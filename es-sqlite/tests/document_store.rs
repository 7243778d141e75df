//! The document store conformance suite of `es-testing` on SQLite: a fresh
//! database file per case, removed afterwards; the upgrade of a file made
//! before the documents table; bodies kept byte for byte; and the indexes
//! the filters use.

mod common;

use common::TempDb;
use es_core::consumer::Backend;
use es_core::document::{DocumentBackend, DocumentQuery, Write};
use es_sqlite::SqliteEventStore;

es_testing::document_store_conformance_tests!(common::file_store("document-store"));

/// A file migrated by the version before document projections (migrations
/// 1 to 3), with an event in it: opening it adds the documents table, the
/// event stays, and document projections run on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_upgrades_a_file_without_the_documents_table() {
    use es_core::{EventStore, ExpectedVersion, StreamEnd};

    let db = TempDb::new("document-upgrade");
    let old = common::older_file(&db, 4).await;
    old.append(
        "Pinger-1",
        ExpectedVersion::NoStream,
        vec![common::event("Pinged", 1)],
    )
    .await
    .expect("append on the older schema");
    let table = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'documents'";
    let before: i64 = sqlx::query_scalar(table)
        .fetch_one(old.pool())
        .await
        .expect("tables");
    assert_eq!(before, 0, "the older file has no documents table");
    old.close().await;

    let store = SqliteEventStore::open(db.path())
        .await
        .expect("open upgrades the file");
    let after: i64 = sqlx::query_scalar(table)
        .fetch_one(store.pool())
        .await
        .expect("tables");
    assert_eq!(after, 1, "opening the file creates the documents table");
    let kept = store.read_stream("Pinger-1", 1, StreamEnd::Head, 10).await;
    assert_eq!(kept.expect("read").len(), 1, "the older event is kept");
    es_testing::document_store::documents_are_created_updated_and_deleted(store.clone()).await;
    store.close().await;
}

/// A body comes back exactly as written: spacing, key order, escapes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_kept_byte_for_byte() {
    let store = SqliteEventStore::in_memory().await.expect("a store");
    let body = br#"{ "z":1,  "a" : "\u00e9\"\\ \ud83d\ude00", "a":2 }"#.to_vec();
    let mut tx = store.begin().await.expect("begin");
    let put = Write::Put {
        key: "k".into(),
        body: body.clone(),
    };
    store
        .write_documents(&mut tx, "raw", &[put])
        .await
        .expect("write");
    store.commit(tx).await.expect("commit");
    let query = DocumentQuery {
        limit: 10,
        ..DocumentQuery::default()
    };
    let found = store.query_documents("raw", &query).await.expect("query");
    assert_eq!(found.len(), 1);
    assert_eq!(
        String::from_utf8_lossy(&found[0].body),
        String::from_utf8_lossy(&body)
    );
}

/// `setup_documents` makes one expression index per declared field,
/// partial on the projection, which a filter's query can use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_fields_get_partial_expression_indexes_the_filters_use() {
    let store = SqliteEventStore::in_memory().await.expect("a store");
    es_testing::document_store::filters_compare_numbers_and_strings(store.clone()).await;
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, sql FROM sqlite_master \
         WHERE type = 'index' AND tbl_name = 'documents' AND sql IS NOT NULL ORDER BY name",
    )
    .fetch_all(store.pool())
    .await
    .expect("sqlite_master");
    let names: Vec<&str> = indexes.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "documents.21.doc_conformance_cards.owner",
            "documents.21.doc_conformance_cards.points",
            "documents.21.doc_conformance_cards.tag"
        ]
    );
    // `INDEXED BY` fails the statement when the index cannot serve it:
    // the query's own expression and projection literal match the index.
    for (field, filter) in [
        (
            "points",
            "IN ('integer', 'real') AND json_extract(body, '$.\"points\"') < 10",
        ),
        (
            "owner",
            "IN ('text') AND json_extract(body, '$.\"owner\"') >= 'b'",
        ),
    ] {
        let sql = format!(
            "SELECT key FROM documents INDEXED BY \"documents.21.doc_conformance_cards.{field}\" \
             WHERE projection = 'doc_conformance_cards' \
             AND json_type(body, '$.\"{field}\"') {filter} ORDER BY key LIMIT 5"
        );
        let keys: Vec<String> = sqlx::query_scalar(&sql)
            .fetch_all(store.pool())
            .await
            .unwrap_or_else(|e| panic!("the filter on {field} cannot use its index: {e}"));
        assert!(!keys.is_empty(), "{sql}");
    }
}
