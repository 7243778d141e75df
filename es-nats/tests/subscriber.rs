//! The JetStream side: a durable consumer feeding a projection's handlers.

mod common;

use std::time::Duration;

use common::{TestStream, connect, nats_url, new_event};
use es_core::projection::{Dispatch, Projection, ProjectionError};
use es_core::{EventStore, ExpectedVersion, InMemoryEventStore, RecordedEvent};
use es_nats::{JetStreamSubscriber, Relay, SubscribeError};

/// Records what it handles; fails once on the event at `fail_at`.
#[derive(Default)]
struct Seen {
    events: Vec<RecordedEvent>,
    fail_at: Option<u64>,
    failed: u32,
}

impl Projection for Seen {
    const NAME: &'static str = "seen.events";
    const EVENT_TYPES: &'static [&'static str] = &["Ticked"];
}

impl Dispatch for Seen {
    async fn dispatch(&mut self, e: &RecordedEvent, _: &mut ()) -> Result<(), ProjectionError> {
        if self.fail_at == Some(e.global_position) {
            self.fail_at = None;
            self.failed += 1;
            return Err(ProjectionError::handler_of(
                Self::NAME,
                e,
                "read model unavailable".into(),
            ));
        }
        self.events.push(e.clone());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscriber_feeds_a_projection_in_order_and_redelivers_a_failed_event() {
    let (_client, js) = connect().await;
    let ts = TestStream::create(&js, &nats_url(), Duration::from_secs(120)).await;
    let store = InMemoryEventStore::new();
    for n in 0..30 {
        let stream = format!("Order-{}", n % 4);
        store
            .append(&stream, ExpectedVersion::Any, vec![new_event("Ticked", n)])
            .await
            .expect("append");
    }
    Relay::new(js.clone(), ts.prefix.clone())
        .engine(store.clone())
        .catch_up()
        .await
        .expect("relay");

    let seen = Seen {
        fail_at: Some(12),
        ..Seen::default()
    };
    let mut sub = JetStreamSubscriber::bind(&js, &ts.name, &ts.prefix, seen)
        .await
        .expect("bind")
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(100));
    let err = sub
        .catch_up()
        .await
        .expect_err("the handler fails at position 12");
    assert!(matches!(err, SubscribeError::Handler(_)), "{err:?}");
    assert_eq!(
        sub.projection().events.len(),
        11,
        "nothing after the failed event was handled"
    );
    assert_eq!(sub.failures(), 1);

    let n = sub.catch_up().await.expect("catch-up after the failure");
    assert_eq!(n, 19);
    let expected = store.read_all(0, 100, None).await.expect("read").events;
    assert_eq!(
        sub.projection().events,
        expected,
        "every event once, in the log's order"
    );
    assert_eq!(sub.failures(), 0);

    // The durable consumer remembers: a second binding (another process)
    // sees only what comes after.
    drop(sub);
    store
        .append(
            "Order-9",
            ExpectedVersion::Any,
            vec![new_event("Ticked", 99)],
        )
        .await
        .expect("append");
    Relay::new(js.clone(), ts.prefix.clone())
        .engine(store.clone())
        .catch_up()
        .await
        .expect("relay");
    let mut again = JetStreamSubscriber::bind(&js, &ts.name, &ts.prefix, Seen::default())
        .await
        .expect("bind again");
    assert_eq!(again.catch_up().await.expect("catch-up"), 1);
    assert_eq!(again.projection().events[0].stream_id, "Order-9");
}
