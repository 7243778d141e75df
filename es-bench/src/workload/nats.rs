//! Publishing to NATS JetStream: the es-nats relay (the consumer engine over
//! the PostgreSQL store: read a batch, publish it with bounded in-flight
//! acknowledgements, move the checkpoint) against a raw async-nats loop
//! publishing the same messages (same subjects, headers and payloads, same
//! bound on acknowledgements in flight) from memory. Two rounds per side in
//! ABBA order, each into a JetStream stream of its own, deleted after.
//! Figure: `nats_relay` (events per second).

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use async_nats::jetstream::Context;
use async_nats::jetstream::message::PublishMessage;
use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent, RecordedEvent};
use es_nats::Relay;
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use serde_json::json;

use crate::env::{Env, scaled_step};
use crate::measure::{Side, abba, peak_rss_mb, per_sec, reset_peak_rss};
use crate::report::Figure;

const EVENT_TYPE: &str = "NatsBenchTicked";
const TYPES: &[&str] = &[EVENT_TYPE];
const IN_FLIGHT: usize = 1024;
const BATCH: usize = 5000;
const STREAMS: usize = 100;
const RELAY_NAMES: [&str; 2] = ["nats_bench_relay_0", "nats_bench_relay_1"];

/// A JetStream stream of one round; deleted by `drop_stream`.
async fn new_stream(js: &Context, tag: &str) -> Result<(String, String)> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = format!("ES_BENCH_{tag}_{nanos}");
    let prefix = format!("es_bench.{tag}_{nanos}");
    es_nats::ensure_stream(js, &name, &prefix, Duration::from_secs(120)).await?;
    Ok((name, prefix))
}

/// The raw loop: every message built beforehand, published with at most
/// `IN_FLIGHT` acknowledgements outstanding.
async fn raw_publish(
    js: &Context,
    prefix: &str,
    events: &[RecordedEvent],
    build: &mut Duration,
) -> Result<Duration> {
    let building = Instant::now();
    let messages: Vec<(String, PublishMessage)> = events
        .iter()
        .map(|e| {
            let headers = es_nats::event_headers(e)?;
            let msg = PublishMessage::build()
                .payload(bytes::Bytes::copy_from_slice(&e.payload))
                .headers(headers);
            Ok((es_nats::event_subject(prefix, e), msg))
        })
        .collect::<Result<_>>()?;
    *build += building.elapsed();
    let started = Instant::now();
    let mut pending = FuturesOrdered::new();
    for (subject, msg) in messages {
        while pending.len() >= IN_FLIGHT {
            if let Some(r) = pending.next().await {
                r?;
            }
        }
        let ack = js.send_publish(subject, msg).await?;
        pending.push_back(ack.into_future());
    }
    while let Some(r) = pending.next().await {
        r?;
    }
    Ok(started.elapsed())
}

/// The relay engine over the store, from a fresh checkpoint to the head.
async fn relay_publish(env: &Env, js: &Context, prefix: &str, round: usize) -> Result<Duration> {
    let mut engine = Relay::new(js.clone(), prefix)
        .consumer_name(RELAY_NAMES[round])
        .event_types(TYPES)
        .max_in_flight(IN_FLIGHT)
        .engine(env.par_store.clone())
        .batch_size(BATCH);
    let started = Instant::now();
    engine.catch_up().await?;
    let took = started.elapsed();
    engine.release().await;
    Ok(took)
}

/// The relay figure.
pub(crate) async fn nats(env: &Env, scale: f64) -> Result<Vec<Figure>> {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "127.0.0.1:4222".into());
    let client = async_nats::connect(&url).await.with_context(|| {
        format!("connecting to NATS at {url} (start it: nats-server -js, or set NATS_URL)")
    })?;
    let js = async_nats::jetstream::new(client);
    let n = scaled_step(100_000.0, scale, STREAMS);
    let store = &env.par_store;
    let payload = br#"{"order_id":"o-1","amount":1250,"currency":"EUR"}"#;
    for chunk in 0..n / STREAMS {
        let appends = (0..STREAMS).map(|s| {
            let events = vec![NewEvent::from_raw(
                EVENT_TYPE,
                1,
                payload.to_vec(),
                Metadata::new().actor("bench"),
            )];
            let stream = format!("NatsBench-{s}");
            async move { store.append(&stream, ExpectedVersion::Any, events).await }
        });
        for r in futures::future::join_all(appends).await {
            r?;
        }
        let _ = chunk;
    }
    // Read as the relay reads (pages of its batch size), timed: the store's
    // share of the relay's time per event.
    let mut events = Vec::with_capacity(n);
    let mut after = 0;
    let reading = Instant::now();
    loop {
        let page = store.read_all(after, BATCH, Some(TYPES)).await?;
        let Some(last) = page.events.last() else {
            break;
        };
        after = last.global_position;
        events.extend(page.events);
    }
    let read_time = reading.elapsed();

    let mut created = Vec::new();
    let (mut relay_time, mut raw_time) = (Duration::ZERO, Duration::ZERO);
    let mut build_time = Duration::ZERO;
    reset_peak_rss();
    let outcome: Result<()> = async {
        for round in 0..2 {
            for side in abba(round) {
                let (name, prefix) = new_stream(
                    &js,
                    if side == Side::Framework {
                        "relay"
                    } else {
                        "raw"
                    },
                )
                .await?;
                created.push(name);
                match side {
                    Side::Framework => {
                        relay_time += relay_publish(env, &js, &prefix, round).await?
                    }
                    Side::Baseline => {
                        raw_time += raw_publish(&js, &prefix, &events, &mut build_time).await?
                    }
                }
            }
        }
        Ok(())
    }
    .await;
    let rss = peak_rss_mb();
    for name in created {
        let _ = js.delete_stream(&name).await;
    }
    outcome?;
    let relay = per_sec(2 * events.len(), relay_time);
    let raw = per_sec(2 * events.len(), raw_time);
    let ratio = relay / raw;
    Ok(vec![Figure {
        workload: "nats_relay".into(),
        unit: "events/s",
        framework: relay,
        baseline: raw,
        ratio,
        target: ">= 0.8x the raw loop and >= 50000 events/s".into(),
        met: Some(ratio >= 0.8 && relay >= 50_000.0),
        rss_framework_mb: rss,
        rss_baseline_mb: rss,
        details: json!({
            "events": events.len(), "rounds": 2, "streams": STREAMS,
            "batch_size": BATCH, "max_in_flight": IN_FLIGHT,
            // Where the relay's time per event goes (µs): the store's read
            // and decode, building subject and headers, the raw publish.
            "us_per_event": {
                "relay": us_per(relay_time, 2 * events.len()),
                "read_all": us_per(read_time, events.len()),
                "build": us_per(build_time, 2 * events.len()),
                "publish_raw": us_per(raw_time, 2 * events.len()),
            },
            "framework": "es_nats::Relay on the consumer engine over PgEventStore: read_all, publish, checkpoint",
            "baseline": "async-nats send_publish of the same prebuilt messages from memory, same in-flight bound",
        }),
    }])
}

/// Microseconds per event, two decimals.
fn us_per(d: Duration, events: usize) -> f64 {
    (d.as_secs_f64() * 1e6 / events.max(1) as f64 * 100.0).round() / 100.0
}
