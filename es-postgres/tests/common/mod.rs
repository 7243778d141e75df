//! Helpers shared by the PostgreSQL tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

use es_core::{Metadata, NewEvent};
use es_postgres::PgEventStore;
use es_testing::postgres::TestDatabase;

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
