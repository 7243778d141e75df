//! `RelayStore` reads the page after a full one ahead; `read_all` through
//! it answers exactly as the store does, whatever is asked next, and a
//! page read ahead before later appends is still a true answer. (No NATS
//! server needed.)

use es_core::{EventStore, ExpectedVersion, InMemoryEventStore, Metadata, NewEvent};
use es_nats::RelayStore;

fn positions(page: &es_core::store::ReadAllPage) -> Vec<u64> {
    page.events.iter().map(|e| e.global_position).collect()
}

async fn append(store: &InMemoryEventStore, kind: &str, n: usize) {
    let events = (0..n)
        .map(|_| NewEvent::from_raw(kind, 1, b"{}".to_vec(), Metadata::new()))
        .collect();
    store
        .append("Pinger-1", ExpectedVersion::Any, events)
        .await
        .expect("append");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_all_through_the_relay_store_answers_as_the_store_does() {
    let inner = InMemoryEventStore::new();
    append(&inner, "Pinged", 10).await;
    let store = RelayStore::new(inner.clone());

    // Full pages: each next one was read ahead.
    let a = store.read_all(0, 4, None).await.expect("read");
    assert_eq!(positions(&a), vec![1, 2, 3, 4]);
    let b = store.read_all(a.scanned_to, 4, None).await.expect("read");
    assert_eq!(positions(&b), vec![5, 6, 7, 8]);
    // Something else than what was read ahead: read anew.
    let c = store.read_all(2, 4, None).await.expect("read");
    assert_eq!(positions(&c), vec![3, 4, 5, 6]);
    let c = store.read_all(6, 3, None).await.expect("read");
    assert_eq!(positions(&c), vec![7, 8, 9]);
    let only_pongs = store.read_all(9, 3, Some(&["Ponged"])).await.expect("read");
    assert!(only_pongs.events.is_empty());

    // A page read ahead, then appends: it is still a true (shorter) answer,
    // and the next read finds the rest.
    let d = store.read_all(4, 4, None).await.expect("read");
    assert_eq!(positions(&d), vec![5, 6, 7, 8]);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await; // the read ahead has run
    append(&inner, "Pinged", 5).await;
    // (9 and 10 when it was read before the appends, as it almost surely
    // was; 9 to 12 otherwise: both true.)
    let e = store.read_all(d.scanned_to, 4, None).await.expect("read");
    let mut rest = positions(&e);
    assert!(rest.starts_with(&[9, 10]), "{rest:?}");
    let mut after = e.scanned_to;
    while rest.last() != Some(&15) {
        let page = store.read_all(after, 4, None).await.expect("read");
        assert!(!page.events.is_empty(), "the appends are found: {rest:?}");
        rest.extend(positions(&page));
        after = page.scanned_to;
    }
    assert_eq!(rest, (9..=15).collect::<Vec<_>>());

    // Every event exactly once, in order, paging through as the engine does.
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = store
            .read_all(after, 2, Some(&["Pinged"]))
            .await
            .expect("read");
        if page.events.is_empty() {
            break;
        }
        seen.extend(positions(&page));
        after = page.scanned_to;
    }
    assert_eq!(seen, (1..=15).collect::<Vec<_>>());
}
