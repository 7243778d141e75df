//! The store conformance suite of `es-testing`, on an in-memory database and
//! on a database file (WAL, a pool of connections), one fresh store per case.

mod common;

use common::TempDb;
use es_sqlite::SqliteEventStore;
use es_testing::conformance::{TestStore, WithTeardown};

mod in_memory {
    use super::*;

    es_testing::store_conformance_tests!(async {
        SqliteEventStore::in_memory()
            .await
            .expect("an in-memory SQLite store")
    });
}

mod file {
    use super::*;

    async fn fresh_store() -> impl TestStore<Store = SqliteEventStore> {
        let db = TempDb::new("conformance");
        let store = SqliteEventStore::open(db.path())
            .await
            .expect("a SQLite store in a temp file");
        WithTeardown::new(store, move |store: SqliteEventStore| async move {
            store.close().await;
            drop(store);
            drop(db); // removes the file and its WAL
        })
    }

    es_testing::store_conformance_tests!(fresh_store());
}
