//! The store conformance suite of `es-testing`, on PostgreSQL: a fresh
//! database per case, dropped afterwards (also when the case failed).

use es_postgres::PgEventStore;
use es_testing::conformance::WithTeardown;
use es_testing::postgres::TestDatabase;

async fn fresh_store() -> WithTeardown<
    PgEventStore,
    impl FnOnce(PgEventStore) -> std::pin::Pin<Box<dyn Future<Output = ()>>>,
> {
    let db = TestDatabase::create().await;
    let store = PgEventStore::from_pool(db.pool().clone());
    store.migrate().await.expect("migrate");
    WithTeardown::new(store, move |store: PgEventStore| {
        Box::pin(async move {
            drop(store);
            db.drop_db().await;
        }) as std::pin::Pin<Box<dyn Future<Output = ()>>>
    })
}

es_testing::store_conformance_tests!(fresh_store());
