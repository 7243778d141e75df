//! Four writers and a tailing reader: the reader sees every event exactly
//! once, in increasing global position.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{ev, store};
use es_core::{EventStore, ExpectedVersion, Uuid};
use serde_json::json;

const WRITERS: usize = 4;
const PER_WRITER: usize = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tailing_reader_sees_every_event_once_in_order() {
    let (db, store) = store().await;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut written = Vec::with_capacity(PER_WRITER);
                let mut seed = 0x9E37_79B9_u64 + w as u64;
                let mut n = 0;
                while n < PER_WRITER {
                    seed = seed
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    let size = ((seed >> 33) % 20 + 1) as usize;
                    let size = size.min(PER_WRITER - n);
                    // A few streams per writer plus one shared by all, so
                    // writers also collide on stream versions (Any retries).
                    let stream = if seed.is_multiple_of(5) {
                        "Shared-1".to_owned()
                    } else {
                        format!("W{w}-{}", seed % 7)
                    };
                    let batch: Vec<_> = (0..size)
                        .map(|i| ev("Wrote", json!({"w": w, "n": n + i})))
                        .collect();
                    written.extend(batch.iter().map(|e| e.event_id));
                    store
                        .append(&stream, ExpectedVersion::Any, batch)
                        .await
                        .unwrap();
                    n += size;
                }
                written
            })
        })
        .collect();

    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut seen = Vec::with_capacity(WRITERS * PER_WRITER);
            let mut after = 0u64;
            let deadline = Instant::now() + Duration::from_secs(120);
            while seen.len() < WRITERS * PER_WRITER {
                assert!(
                    Instant::now() < deadline,
                    "the reader saw only {} events",
                    seen.len()
                );
                let page = store.read_all(after, 7, None).await.unwrap().events;
                if page.is_empty() {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    continue;
                }
                for e in page {
                    assert!(
                        e.global_position > after,
                        "position {} after {after}",
                        e.global_position
                    );
                    after = e.global_position;
                    seen.push(e.event_id);
                }
            }
            seen
        })
    };

    let mut written: HashSet<Uuid> = HashSet::new();
    for w in writers {
        written.extend(w.await.unwrap());
    }
    let seen = reader.await.unwrap();
    let unique: HashSet<Uuid> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "the reader saw an event twice");
    assert_eq!(unique, written);
    assert_eq!(
        store
            .read_all(store.head_position().await.unwrap(), 10, None)
            .await
            .unwrap()
            .events,
        vec![]
    );
    db.drop_db().await;
}
