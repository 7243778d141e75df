//! Inline document projections on PostgreSQL (`with_inline_document`): the
//! shared cases of `es_testing::document_store`, a database per test, and
//! the indexes `migrate` makes for them.

mod common;

use es_postgres::PgEventStore;
use es_testing::document_store::{self, Card, Tally};
use es_testing::postgres::TestDatabase;

/// A fresh database whose store runs `Card` and `Tally` inline, migrated.
async fn inline_store() -> (TestDatabase, PgEventStore) {
    let db = TestDatabase::create().await;
    let store = PgEventStore::from_pool(db.pool().clone())
        .with_inline_document::<Card>()
        .with_inline_document::<Tally>();
    store.migrate().await.expect("migrate");
    (db, store)
}

macro_rules! cases {
    ($($case:ident)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let (db, store) = inline_store().await;
            document_store::$case(store.clone()).await;
            drop(store);
            db.drop_db().await;
        }
    )*};
}

cases!(
    inline_documents_are_current_after_each_append
    an_event_an_inline_document_cannot_read_fails_the_append
    concurrent_appends_to_one_inline_document_lose_no_update
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_projections_are_listed_and_their_indexes_made_by_migrate() {
    let (db, store) = inline_store().await;
    assert_eq!(
        store.inline_projections(),
        ["doc_conformance_cards", "doc_conformance_tallies"]
    );
    let indexes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_indexes WHERE schemaname = 'es' AND tablename = 'documents' \
         AND indexdef LIKE '%doc_conformance_%'",
    )
    .fetch_one(db.pool())
    .await
    .expect("pg_indexes");
    // Card: owner, points, tag; Tally: cards. Two each.
    assert_eq!(indexes, 8);
    drop(store);
    db.drop_db().await;
}
