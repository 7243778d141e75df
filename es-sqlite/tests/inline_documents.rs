//! Inline document projections on SQLite (`with_inline_document`): the
//! shared cases of `es_testing::document_store`, a temp file per test.

mod common;

use common::TempDb;
use es_sqlite::SqliteEventStore;
use es_testing::document_store::{self, Card, Tally};

macro_rules! cases {
    ($($case:ident)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let db = TempDb::new("inline-documents");
            let store = SqliteEventStore::open(db.path())
                .await
                .expect("a SQLite store in a temp file")
                .with_inline_document::<Card>()
                .with_inline_document::<Tally>();
            store.migrate().await.expect("migrate");
            document_store::$case(store.clone()).await;
            store.close().await;
        }
    )*};
}

cases!(
    inline_documents_are_current_after_each_append
    an_event_an_inline_document_cannot_read_fails_the_append
    concurrent_appends_to_one_inline_document_lose_no_update
);
