//! The engine reports through the `metrics` facade: events handled, dead
//! letters, batch time and position, each labelled with the consumer.

use std::collections::HashMap;

use es_core::consumer::{Engine, ErrorPolicy, MemoryProjection};
use es_core::projection::{Dispatch, Projection, ProjectionError};
use es_core::{EventStore, ExpectedVersion, InMemoryEventStore, Metadata, NewEvent, RecordedEvent};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

/// Counts `Pinged` events; refuses the one at `refuse`.
struct Count {
    n: u64,
    refuse: u64,
}

impl Projection for Count {
    const NAME: &'static str = "count";
    const EVENT_TYPES: &'static [&'static str] = &["Pinged"];
}

impl Dispatch for Count {
    async fn dispatch(&mut self, e: &RecordedEvent, _: &mut ()) -> Result<(), ProjectionError> {
        if e.global_position == self.refuse {
            return Err(ProjectionError::handler::<Self>(e, "refused".into()));
        }
        self.n += 1;
        Ok(())
    }
}

#[test]
fn the_engine_reports_events_dead_letters_batch_time_and_position() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let store = InMemoryEventStore::new();
            let ping = || NewEvent::from_raw("Pinged", 1, b"{}".to_vec(), Metadata::new());
            let pong = || NewEvent::from_raw("Ponged", 1, b"{}".to_vec(), Metadata::new());
            let events = vec![ping(), pong(), ping(), ping(), pong(), ping()];
            store
                .append("Pinger-1", ExpectedVersion::Any, events)
                .await
                .unwrap();
            let mut engine = Engine::new(store, MemoryProjection::new(Count { n: 0, refuse: 3 }))
                .batch_size(2)
                .error_policy(ErrorPolicy::DeadLetter);
            assert_eq!(engine.catch_up().await.unwrap(), 4);
            assert_eq!(engine.consumer().get().n, 3);
            engine.status().await.unwrap();
        });
    });
    let metrics: HashMap<String, (Vec<(String, String)>, DebugValue)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key().clone();
            let labels = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            (key.name().to_owned(), (labels, value))
        })
        .collect();
    let get = |name: &str| {
        let (labels, value) = metrics
            .get(name)
            .unwrap_or_else(|| panic!("no metric {name}; got {:?}", metrics.keys()));
        assert_eq!(
            labels,
            &[("consumer".to_owned(), "count".to_owned())],
            "{name}"
        );
        value
    };
    // Four `Pinged` events went through the consumer (in memory, one
    // transaction each); one of them became a dead letter.
    assert_eq!(get("es_consumer_events_total"), &DebugValue::Counter(4));
    assert_eq!(
        get("es_consumer_dead_letters_total"),
        &DebugValue::Counter(1)
    );
    match get("es_consumer_batch_seconds") {
        DebugValue::Histogram(samples) => assert!(!samples.is_empty()),
        other => panic!("batch time is a histogram, got {other:?}"),
    }
    match get("es_consumer_position") {
        DebugValue::Gauge(p) => assert_eq!(p.into_inner(), 6.0),
        other => panic!("position is a gauge, got {other:?}"),
    }
    match get("es_consumer_lag_events") {
        DebugValue::Gauge(p) => assert_eq!(p.into_inner(), 0.0),
        other => panic!("lag is a gauge, got {other:?}"),
    }
}
