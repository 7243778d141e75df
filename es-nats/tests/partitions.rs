//! `RelayStore` passes a partitioned consumer's store calls to the store it
//! wraps: on PostgreSQL the partition reads are the store's SQL and the
//! lease survey reads `pg_locks` (the defaults would filter in the process
//! and answer "cannot tell"). No NATS server needed.

use es_core::consumer::{Backend, Partition};
use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent};
use es_nats::RelayStore;
use es_postgres::PgEventStore;
use es_testing::postgres::TestDatabase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_calls_reach_the_wrapped_store() {
    let db = TestDatabase::create().await;
    let inner = PgEventStore::from_pool(db.pool().clone());
    inner.migrate().await.expect("migrate");
    for i in 0..20 {
        let e = NewEvent::from_raw("Pinged", 1, b"{}".to_vec(), Metadata::new());
        inner
            .append(&format!("Pinger-{i}"), ExpectedVersion::Any, vec![e])
            .await
            .expect("append");
    }
    let store = RelayStore::new(inner.clone());

    let mut seen = 0;
    for p in Partition::all(4) {
        let through = store.read_partition(0, 100, None, p).await.expect("read");
        let direct = inner.read_partition(0, 100, None, p).await.expect("read");
        let positions = |page: &es_core::store::ReadAllPage| {
            page.events
                .iter()
                .map(|e| e.global_position)
                .collect::<Vec<_>>()
        };
        assert_eq!(positions(&through), positions(&direct));
        assert!(through.events.iter().all(|e| p.owns(&e.stream_id)));
        seen += through.events.len();
    }
    assert_eq!(seen, 20, "every event in exactly one partition");

    let names = vec!["relay#worker/0".to_owned(), "relay#worker/1".to_owned()];
    let lease = inner
        .try_lease(&names[0])
        .await
        .expect("lease")
        .expect("free");
    assert_eq!(
        store.leases_held(&names).await.expect("survey"),
        Some(vec![true, false])
    );
    inner.release_lease(lease).await;
    drop((store, inner));
    db.drop_db().await;
}
