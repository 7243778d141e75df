//! The relay against the real NATS server: end to end on the in-memory
//! store, dedupe of a republished batch, following live commits.

#![allow(
    clippy::print_stdout,
    reason = "a test prints what it saw (with --nocapture)"
)]

mod common;

use std::time::Duration;

use common::{TestStream, connect, nats_url, new_event};
use es_core::{EventStore, ExpectedVersion, InMemoryEventStore, Metadata, NewEvent, Uuid};
use es_nats::Relay;

/// Appends `per_stream` events to each stream, interleaved, 3 at a time.
async fn write(store: &InMemoryEventStore, streams: &[&str], per_stream: u64) {
    let mut v = 0;
    while v < per_stream {
        for s in streams {
            let batch: Vec<NewEvent> = (v..(v + 3).min(per_stream))
                .map(|n| new_event("Ticked", n))
                .collect();
            store
                .append(s, ExpectedVersion::Any, batch)
                .await
                .expect("append");
        }
        v += 3;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_once_in_order_with_its_envelope() {
    let (_client, js) = connect().await;
    let ts = TestStream::create(&js, &nats_url(), Duration::from_secs(120)).await;
    let store = InMemoryEventStore::new();
    write(&store, &["Order-1", "Order-2", "Customer-7"], 40).await;
    // A stream and a type whose names NATS subjects cannot hold as they are,
    // and metadata of every kind.
    let meta = Metadata::new()
        .correlation_id(Uuid::now_v7())
        .causation_id(Uuid::now_v7())
        .actor("ann")
        .with("tenant", "t1");
    store
        .append(
            "Odd.Kind*>-1",
            ExpectedVersion::Any,
            vec![NewEvent::from_raw(
                "Was Made.v2",
                2,
                br#"{"x":[1,2]}"#.to_vec(),
                meta,
            )],
        )
        .await
        .expect("append");

    let relay = Relay::new(js.clone(), ts.prefix.clone())
        .consumer_name("e2e_relay")
        .max_in_flight(16);
    let monitor = relay.monitor();
    let mut engine = relay.engine(store.clone()).batch_size(50);
    let handled = engine.catch_up().await.expect("relay catch-up");
    assert_eq!(handled, 121);

    let expected = store.read_all(0, 1000, None).await.expect("read").events;
    let got = ts.read().await;
    assert_eq!(got.len(), expected.len(), "one message per event");
    for ((subject, msg_id, e), want) in got.iter().zip(&expected) {
        assert_eq!(e, want, "the message carries the event as recorded");
        assert_eq!(
            msg_id,
            &want.event_id.to_string(),
            "Nats-Msg-Id is the event id"
        );
        let aggregate = want.category().replace(['.', '*', '>'], "_");
        let kind = want.event_type.replace(['.', ' '], "_");
        assert_eq!(subject, &format!("{}.{aggregate}.{kind}", ts.prefix));
    }
    assert_eq!(
        got.last().map(|g| g.0.as_str()),
        Some(format!("{}.Odd_Kind__.Was_Made_v2", ts.prefix).as_str())
    );

    let status = monitor.status(&store).await.expect("status");
    println!("status after catch-up: {status:?}");
    assert_eq!(status.checkpoint.position, 121);
    assert_eq!(status.checkpoint.lag, 0);
    assert_eq!(
        (status.health.published, status.health.duplicates),
        (121, 0)
    );
    assert_eq!(
        (status.health.failures, status.health.last_position),
        (0, 121)
    );

    // Following live commits.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        engine
            .run(async {
                stopped.await.ok();
            })
            .await
            .map(|()| engine)
    });
    write(&store, &["Order-3"], 30).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while ts.messages().await < 151 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "live events not published within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).ok();
    running.await.expect("join").expect("run");
    let got = ts.read().await;
    assert_eq!(got.len(), 151);
    let events: Vec<_> = got.into_iter().map(|g| g.2).collect();
    common::assert_per_stream_order(&events);
    let positions: Vec<u64> = events.iter().map(|e| e.global_position).collect();
    assert_eq!(
        positions,
        (1..=151).collect::<Vec<_>>(),
        "the stream holds the log's order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_republished_batch_is_dropped_by_the_duplicate_window() {
    let (_client, js) = connect().await;
    let ts = TestStream::create(&js, &nats_url(), Duration::from_secs(120)).await;
    let store = InMemoryEventStore::new();
    write(&store, &["Order-1", "Order-2"], 60).await;

    let first = Relay::new(js.clone(), ts.prefix.clone()).consumer_name("dedupe_a");
    let first_health = first.monitor();
    first
        .engine(store.clone())
        .batch_size(25)
        .catch_up()
        .await
        .expect("first relay");
    assert_eq!(first_health.health().published, 120);

    // A crash between the acknowledgements and the checkpoint's commit
    // leaves the events published and the checkpoint where it was: a relay
    // whose checkpoint is 0 publishes them all again.
    let again = Relay::new(js.clone(), ts.prefix.clone()).consumer_name("dedupe_b");
    let again_health = again.monitor();
    again
        .engine(store.clone())
        .batch_size(40)
        .catch_up()
        .await
        .expect("second relay");
    let h = again_health.health();
    println!("republishing relay: {h:?}");
    assert_eq!(
        (h.published, h.duplicates),
        (0, 120),
        "every republished event was a duplicate"
    );
    assert_eq!(ts.messages().await, 120, "the stream holds each event once");

    // A new event after them is published as usual.
    store
        .append(
            "Order-1",
            ExpectedVersion::Any,
            vec![new_event("Ticked", 99)],
        )
        .await
        .expect("append");
    Relay::new(js.clone(), ts.prefix.clone())
        .consumer_name("dedupe_b")
        .engine(store.clone())
        .catch_up()
        .await
        .expect("third run");
    assert_eq!(ts.messages().await, 121);
}
