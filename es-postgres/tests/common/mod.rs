//! Helpers shared by the PostgreSQL tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::pin::Pin;

use es_core::{Metadata, NewEvent};
use es_postgres::PgEventStore;
use es_testing::conformance::WithTeardown;
use es_testing::postgres::TestDatabase;

/// What [`conformance_store`] cleans up with.
pub type DropDatabase = Box<dyn FnOnce(PgEventStore) -> Pin<Box<dyn Future<Output = ()>>>>;

/// A fresh database with the store migrated, for one conformance case: the
/// database is dropped after the case, also when it failed.
pub async fn conformance_store() -> WithTeardown<PgEventStore, DropDatabase> {
    let (db, store) = store().await;
    let teardown: DropDatabase = Box::new(move |store: PgEventStore| {
        Box::pin(async move {
            drop(store);
            db.drop_db().await;
        })
    });
    WithTeardown::new(store, teardown)
}

/// A fresh database with the store migrated in schema `es`.
pub async fn store() -> (TestDatabase, PgEventStore) {
    let db = TestDatabase::create().await;
    let store = PgEventStore::from_pool(db.pool().clone());
    store.migrate().await.expect("migrate");
    (db, store)
}

pub fn ev(event_type: &str, payload: serde_json::Value) -> NewEvent {
    NewEvent::from_raw(
        event_type,
        1,
        serde_json::to_vec(&payload).unwrap(),
        Metadata::new(),
    )
}

pub fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}
