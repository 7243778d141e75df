//! The document store conformance suite of `es-testing` on PostgreSQL: a
//! fresh database per case, migrated, dropped afterwards (also when the
//! case failed); the upgrade of a schema made before the documents table;
//! and the indexes the filters use.

mod common;

use es_postgres::PgEventStore;
use es_testing::postgres::TestDatabase;

es_testing::document_store_conformance_tests!(common::conformance_store());

const TABLE: &str = "SELECT to_regclass('es.documents') IS NOT NULL";

/// A schema migrated by the version before document projections (the
/// first three migrations), with an event in it: `migrate` adds the
/// documents table, the event stays, and document projections run on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_upgrades_a_schema_without_the_documents_table() {
    use es_core::{EventStore, ExpectedVersion, StreamEnd};

    let db = TestDatabase::create().await;
    common::older_schema(&db, 20250101000004).await;
    let store = PgEventStore::from_pool(db.pool().clone());
    let e = common::ev("Pinged", serde_json::json!({ "n": 1 }));
    store
        .append("Pinger-1", ExpectedVersion::NoStream, vec![e])
        .await
        .expect("append on the older schema");
    let exists = || sqlx::query_scalar::<_, bool>(TABLE).fetch_one(db.pool());
    assert!(
        !exists().await.expect("regclass"),
        "the older schema has no documents table"
    );
    store.migrate().await.expect("migrate upgrades the schema");
    assert!(
        exists().await.expect("regclass"),
        "migrate creates the documents table"
    );

    let kept = store.read_stream("Pinger-1", 1, StreamEnd::Head, 10).await;
    assert_eq!(kept.expect("read").len(), 1, "the older event is kept");
    es_testing::document_store::documents_are_created_updated_and_deleted(store.clone()).await;
    drop(store);
    db.drop_db().await;
}

/// `setup_documents` makes a numeric and a string expression index per
/// declared field, partial on the projection, once; the planner uses them
/// for a filter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_fields_get_partial_expression_indexes_the_filters_use() {
    let (db, store) = common::store().await;
    es_testing::document_store::filters_compare_numbers_and_strings(store.clone()).await;
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT indexname, indexdef FROM pg_indexes \
         WHERE schemaname = 'es' AND tablename = 'documents' AND indexname <> 'documents_pkey' \
         ORDER BY indexname",
    )
    .fetch_all(db.pool())
    .await
    .expect("pg_indexes");
    // Card indexes owner, points and tag: two each.
    assert_eq!(indexes.len(), 6, "{indexes:#?}");
    for (name, def) in &indexes {
        assert!(
            def.contains("WHERE (projection = 'doc_conformance_cards'::text)"),
            "{name}: {def}"
        );
    }
    assert!(
        indexes.iter().any(|(_, d)| d.contains("::numeric")),
        "{indexes:#?}"
    );
    assert!(
        indexes.iter().any(|(_, d)| d.contains("COLLATE \"C\"")),
        "{indexes:#?}"
    );

    // With sequential scans off, each kind of filter reads an index.
    let mut conn = db.connect().await;
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut conn)
        .await
        .expect("set");
    for filter in [
        "(CASE WHEN jsonb_typeof(body -> 'points') = 'number' THEN (body ->> 'points')::numeric END) < 10::numeric",
        "(CASE WHEN jsonb_typeof(body -> 'owner') = 'string' THEN body ->> 'owner' END) COLLATE \"C\" >= 'b'::text",
    ] {
        let plan: Vec<(String,)> = sqlx::query_as(&format!(
            "EXPLAIN SELECT key FROM es.documents \
             WHERE projection = 'doc_conformance_cards' AND {filter} ORDER BY key LIMIT 5"
        ))
        .fetch_all(&mut conn)
        .await
        .expect("explain");
        let plan: Vec<String> = plan.into_iter().map(|(l,)| l).collect();
        assert!(
            plan.iter()
                .any(|l| l.contains("documents_") && !l.contains("documents_pkey")),
            "the filter {filter} reads no expression index:\n{}",
            plan.join("\n")
        );
    }
    drop(conn);
    drop(store);
    db.drop_db().await;
}

/// Keys and string filters compare by bytes whatever the database's own
/// collation: on a database whose default is ICU's `en-US` (where `a < B <
/// b < ä`), pages and filters keep the byte order of the other stores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_order_holds_under_a_linguistic_default_collation() {
    let db = TestDatabase::create_with(
        "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'",
    )
    .await;
    let store = PgEventStore::from_pool(db.pool().clone());
    store.migrate().await.expect("migrate");
    let (before,): (bool,) = sqlx::query_as("SELECT 'B' < 'a'")
        .fetch_one(db.pool())
        .await
        .expect("compare");
    assert!(!before, "the database's default collation is linguistic");
    es_testing::document_store::pages_follow_key_order_after_a_key(store.clone()).await;
    // The next case's engine goes on from the checkpoint: it starts from
    // no documents, with its own events only.
    sqlx::query("DELETE FROM es.documents")
        .execute(db.pool())
        .await
        .expect("delete");
    es_testing::document_store::filters_compare_numbers_and_strings(store.clone()).await;
    drop(store);
    db.drop_db().await;
}
