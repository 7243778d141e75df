//! The repository reports through `tracing`: spans on execute, load and
//! append, with the stream, version and event counts as fields.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use es_core::{
    Aggregate, Apply, DecodeError, EncodeError, Event, EventTypeInfo, Handle, InMemoryEventStore,
    Repository,
};
use serde::{Deserialize, Serialize};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::Registry;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Pinged;

impl Event for Pinged {
    const EVENT_TYPES: &'static [EventTypeInfo] = &[EventTypeInfo::new("Pinged", 1, &[])];
    fn event_type(&self) -> &'static str {
        "Pinged"
    }
    fn schema_version(&self) -> u32 {
        1
    }
    fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        Ok(b"null".to_vec())
    }
    fn decode(t: &str, v: u32, _: &[u8]) -> Result<Self, DecodeError> {
        es_core::event::json::check_known::<Self>(t, v)?;
        Ok(Pinged)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Pinger {
    pings: u64,
}

impl Aggregate for Pinger {
    const NAME: &'static str = "Pinger";
    const SNAPSHOT_VERSION: u32 = 1;
    type Event = Pinged;
    fn apply_event(&mut self, e: &Pinged) {
        <Self as Apply<Pinged>>::apply(self, e);
    }
}

impl Apply<Pinged> for Pinger {
    fn apply(&mut self, _: &Pinged) {
        self.pings += 1;
    }
}

#[derive(Clone)]
struct Ping(usize);

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

impl Handle<Ping> for Pinger {
    type Error = Never;
    fn handle(&self, Ping(n): Ping) -> Result<Vec<Pinged>, Never> {
        Ok(vec![Pinged; n])
    }
}

/// A span's id, name and fields as text (recorded later too).
type SeenSpan = (Id, &'static str, BTreeMap<String, String>);

/// Every span opened.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<SeenSpan>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        self.0
            .lock()
            .unwrap()
            .push((id.clone(), attrs.metadata().name(), fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut spans = self.0.lock().unwrap();
        if let Some((_, _, fields)) = spans.iter_mut().rev().find(|(i, _, _)| i == id) {
            values.record(&mut Fields(fields));
        }
    }
}

impl Spans {
    fn named(&self, name: &str) -> Vec<BTreeMap<String, String>> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, n, _)| *n == name)
            .map(|(_, _, f)| f.clone())
            .collect()
    }
}

#[test]
fn execute_load_and_append_open_spans_with_stream_version_and_event_counts() {
    let spans = Spans::default();
    let subscriber = Registry::default().with(spans.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let pingers = Repository::<Pinger, _>::new(InMemoryEventStore::new());
            pingers.execute("p-1", Ping(2)).await.unwrap();
            pingers.execute("p-1", Ping(3)).await.unwrap();
            pingers.load("p-1").await.unwrap().unwrap();
        });
    });

    let executes = spans.named("es.execute");
    assert_eq!(executes.len(), 2, "{executes:?}");
    let last = &executes[1];
    assert_eq!(last["stream"], "Pinger-p-1");
    assert_eq!(last["version"], "5");
    assert_eq!(last["events"], "3");

    let appends = spans.named("es.append");
    assert_eq!(appends.len(), 2);
    assert_eq!(appends[1]["stream"], "Pinger-p-1");
    assert_eq!(appends[1]["events"], "3");
    assert_eq!(appends[1]["expected"], "version 2");

    let loads = spans.named("es.load");
    let load = loads.last().expect("a load span");
    assert_eq!(load["stream"], "Pinger-p-1");
    assert_eq!(load["version"], "5");
    assert_eq!(load["events"], "5");
}
