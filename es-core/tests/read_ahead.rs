//! The engine reads the page after a full batch while it handles the
//! batch. Whatever happens meanwhile (appends, a failed batch), the
//! consumer sees every event once, in log order.

use std::time::Duration;

use es_core::consumer::{Engine, MemoryTx};
use es_core::projection::ProjectionError;
use es_core::{EventStore, ExpectedVersion, InMemoryEventStore, Metadata, NewEvent, RecordedEvent};

/// Records the positions it handles; fails once at `fail_at`.
#[derive(Default)]
struct Record {
    seen: Vec<u64>,
    fail_at: Option<u64>,
}

impl es_core::consumer::Consumer<MemoryTx> for Record {
    fn name(&self) -> &'static str {
        "record"
    }

    fn event_types(&self) -> Option<&'static [&'static str]> {
        Some(&["Pinged"])
    }

    async fn handle(&mut self, e: &RecordedEvent, _: &mut MemoryTx) -> Result<(), ProjectionError> {
        if self.fail_at == Some(e.global_position) {
            self.fail_at = None;
            return Err(ProjectionError::handler_of(
                "record",
                e,
                "refused once".into(),
            ));
        }
        // Let a read ahead run, and appends land, mid-batch.
        tokio::task::yield_now().await;
        self.seen.push(e.global_position);
        Ok(())
    }
}

async fn append(store: &InMemoryEventStore, n: usize) {
    let events = (0..n)
        .map(|i| {
            let kind = if i % 3 == 2 { "Ponged" } else { "Pinged" };
            NewEvent::from_raw(kind, 1, b"{}".to_vec(), Metadata::new())
        })
        .collect();
    store
        .append("Pinger-1", ExpectedVersion::Any, events)
        .await
        .unwrap();
}

async fn pinged(store: &InMemoryEventStore) -> Vec<u64> {
    let page = store
        .read_all(0, usize::MAX, Some(&["Pinged"]))
        .await
        .unwrap();
    page.events.iter().map(|e| e.global_position).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_during_a_read_ahead_are_all_handled_once_in_order() {
    let store = InMemoryEventStore::new();
    append(&store, 60).await;
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for _ in 0..40 {
                append(&store, 7).await;
                tokio::task::yield_now().await;
            }
        })
    };
    let mut engine = Engine::new(store.clone(), Record::default()).batch_size(4);
    loop {
        engine.catch_up().await.unwrap();
        if writer.is_finished() && engine.consumer().seen == pinged(&store).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    writer.await.unwrap();
    engine.catch_up().await.unwrap();
    assert_eq!(engine.consumer().seen, pinged(&store).await);
    assert_eq!(engine.consumer().seen.len(), 40 + 40 * 5);
}

#[tokio::test]
async fn a_failed_batch_drops_its_read_ahead_and_resumes_at_the_checkpoint() {
    let store = InMemoryEventStore::new();
    append(&store, 30).await;
    let all = pinged(&store).await;
    // The 7th event fails: in the second batch of 4, after its read ahead
    // of the third began.
    let record = Record {
        fail_at: Some(all[6]),
        ..Record::default()
    };
    let mut engine = Engine::new(store.clone(), record).batch_size(4);
    assert!(engine.catch_up().await.is_err());
    let handled = engine.consumer().seen.clone();
    assert_eq!(handled, all[..6]);
    assert_eq!(engine.catch_up().await.unwrap(), (all.len() - 6) as u64);
    assert_eq!(engine.consumer().seen, all);
}
