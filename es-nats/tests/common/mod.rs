//! What the es-nats tests share: the NATS server, a JetStream stream per
//! test (deleted when the test ends, pass or fail), reading a stream back.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use async_nats::jetstream::{self, Context};
use es_core::RecordedEvent;
use uuid::Uuid;

/// The server every test but the restart test uses.
pub fn nats_url() -> String {
    std::env::var("NATS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "127.0.0.1:4222".to_owned())
}

pub const START_NATS: &str = "start-stop-daemon --start --oknodo --background \
    --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server";

/// A JetStream context on `url`; fails the test, saying how to start the
/// server, when it does not answer.
pub async fn connect_to(url: &str) -> (async_nats::Client, Context) {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(3))
        .connect(url)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot reach the NATS server at {url} ({e}).\n\
                 The es-nats tests need nats-server with JetStream. Start it with\n    \
                 {START_NATS}\n\
                 (Debian: apt-get install nats-server), or set NATS_URL."
            )
        });
    let js = jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(2))
        .build(client.clone());
    (client, js)
}

pub async fn connect() -> (async_nats::Client, Context) {
    connect_to(&nats_url()).await
}

/// A JetStream stream and subject prefix of one test; deleted on drop.
pub struct TestStream {
    pub name: String,
    pub prefix: String,
    pub js: Context,
    url: String,
}

impl TestStream {
    pub async fn create(js: &Context, url: &str, window: Duration) -> Self {
        let id = Uuid::now_v7().simple().to_string();
        let name = format!("ES_TEST_{}", id.to_uppercase());
        let prefix = format!("es_test.{id}");
        es_nats::ensure_stream(js, &name, &prefix, window)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "cannot create a JetStream stream on {url} ({}); is JetStream on (-js)?\n    {START_NATS}",
                    es_core::ErrorChain(&e)
                )
            });
        Self {
            name,
            prefix,
            js: js.clone(),
            url: url.to_owned(),
        }
    }

    /// Every message of the stream, in stream order, as the events they
    /// carry (with the subject and the Nats-Msg-Id header).
    pub async fn read(&self) -> Vec<(String, String, RecordedEvent)> {
        read_stream(&self.js, &self.name).await
    }

    pub async fn messages(&self) -> u64 {
        let mut s = self.js.get_stream(&self.name).await.expect("stream");
        s.info().await.expect("stream info").state.messages
    }
}

pub async fn read_stream(js: &Context, name: &str) -> Vec<(String, String, RecordedEvent)> {
    let mut stream = js.get_stream(name).await.expect("stream");
    let state = stream.info().await.expect("stream info").state.clone();
    let mut out = Vec::new();
    if state.messages == 0 {
        return out;
    }
    for seq in state.first_sequence..=state.last_sequence {
        let m = stream.get_raw_message(seq).await.expect("message");
        let id = m
            .headers
            .get("Nats-Msg-Id")
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        let e = es_nats::decode_event(&m.subject, Some(&m.headers), &m.payload)
            .expect("a published event");
        out.push((m.subject.to_string(), id, e));
    }
    out
}

impl Drop for TestStream {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // Drop cannot await: a thread with a runtime of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let client = async_nats::connect(url).await.ok()?;
                jetstream::new(client).delete_stream(&name).await.ok()
            })
        })
        .join();
    }
}

/// `n` events over `streams` streams of `aggregate`, appended one or two at a time.
pub fn new_event(kind: &str, n: u64) -> es_core::NewEvent {
    es_core::NewEvent::from_raw(
        kind,
        1,
        format!(r#"{{"n":{n}}}"#).into_bytes(),
        es_core::Metadata::new(),
    )
}

/// Checks per-stream order and no duplicates; returns the events in stream order.
pub fn assert_per_stream_order(events: &[RecordedEvent]) {
    let mut last = std::collections::HashMap::<&str, u64>::new();
    for e in events {
        let prev = last.insert(&e.stream_id, e.stream_version).unwrap_or(0);
        assert_eq!(
            e.stream_version,
            prev + 1,
            "{}: version {} after {} (out of order, duplicated or missing)",
            e.stream_id,
            e.stream_version,
            prev
        );
    }
}
