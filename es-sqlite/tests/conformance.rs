//! The store conformance suite of `es-testing`, on an in-memory database and
//! on a database file (WAL, a pool of connections), one fresh store per case.

mod common;

use es_sqlite::SqliteEventStore;

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

    es_testing::store_conformance_tests!(common::file_store("conformance"));
}
