//! What a derived event encodes decodes again: a non-finite float (which
//! JSON writes as `null`) or nesting deeper than the decoder reads is an
//! encoding error naming the event type and the field path, and the stream
//! it was meant for stays loadable.

use es_core::{
    Aggregate, Apply, EncodeError, ErrorChain, Event, Handle, InMemoryEventStore, Repository,
    RepositoryError,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Reading {
    value: f64,
    unit: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
struct Measured {
    sensor: String,
    reading: Reading,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
struct Annotated {
    note: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Event)]
enum SensorEvent {
    Measured(Measured),
    Annotated(Annotated),
    Calibrated { offset: f32 },
}

#[derive(Debug, Default, Clone, Serialize, Deserialize, Aggregate)]
#[aggregate(name = "Sensor", event = SensorEvent, snapshot_version = 1)]
struct Sensor {
    readings: u64,
    last: f64,
}

impl Apply<Measured> for Sensor {
    fn apply(&mut self, e: &Measured) {
        self.readings += 1;
        self.last = e.reading.value;
    }
}

impl Apply<Annotated> for Sensor {
    fn apply(&mut self, _: &Annotated) {}
}

impl Apply<SensorEvent> for Sensor {
    fn apply(&mut self, _: &SensorEvent) {}
}

#[derive(Debug, Clone)]
enum Command {
    Measure(f64),
    Annotate(serde_json::Value),
    Calibrate(f32),
}

impl Handle<Command> for Sensor {
    type Error = std::convert::Infallible;
    fn handle(&self, cmd: Command) -> Result<Vec<SensorEvent>, Self::Error> {
        Ok(vec![match cmd {
            Command::Measure(value) => SensorEvent::Measured(Measured {
                sensor: "s".into(),
                reading: Reading {
                    value,
                    unit: "°C".into(),
                },
            }),
            Command::Annotate(note) => SensorEvent::Annotated(Annotated { note }),
            Command::Calibrate(offset) => SensorEvent::Calibrated { offset },
        }])
    }
}

fn nested(depth: usize) -> serde_json::Value {
    let mut v = serde_json::Value::Null;
    for _ in 0..depth {
        v = serde_json::Value::Array(vec![v]);
    }
    v
}

/// Executes `cmd` on a stream that holds one good reading, expects an
/// encoding error that names `event_type` and a path starting with `path`,
/// and checks the stream still loads at version 1.
async fn refused(label: &str, cmd: Command, event_type: &str, path: &str) {
    let sensors = Repository::<Sensor, _>::new(InMemoryEventStore::new());
    sensors.execute("1", Command::Measure(20.5)).await.unwrap();
    let Err(err) = sensors.execute("1", cmd).await else {
        panic!("{label}: the command must fail, it stored the event");
    };
    let chain = ErrorChain(&err).to_string();
    let RepositoryError::Encode { stream_id, source } = &err else {
        panic!("{label}: expected an encoding error, got {chain}");
    };
    assert_eq!(stream_id, "Sensor-1");
    assert!(
        matches!(source, EncodeError::Unreadable { event_type: t, path: p, .. } if t == event_type && p.starts_with(path)),
        "{label}: {chain}"
    );
    assert!(
        chain.contains(&format!("`{event_type}`")) && chain.contains(&format!("`{path}")),
        "{label}: {chain}"
    );
    let now = sensors.load("1").await.unwrap().expect("the stream exists");
    assert_eq!(
        (now.version, now.state.readings, now.state.last),
        (1, 1, 20.5)
    );
    // And it takes good events still.
    sensors.execute("1", Command::Measure(21.0)).await.unwrap();
}

#[tokio::test]
async fn a_nan_field_is_refused_with_its_path_and_the_stream_stays_loadable() {
    let nan = Command::Measure(f64::NAN);
    refused("NaN", nan, "Measured", "reading.value").await;
    let inf = Command::Measure(f64::INFINITY);
    refused("+inf", inf, "Measured", "reading.value").await;
    let neg = Command::Measure(f64::NEG_INFINITY);
    refused("-inf", neg, "Measured", "reading.value").await;
    let inline = Command::Calibrate(f32::NAN);
    refused("inline NaN", inline, "Calibrated", "offset").await;
}

#[tokio::test]
async fn nesting_deeper_than_the_decoder_reads_is_refused() {
    // `{"note": …}` is one level: 126 more arrays are the deepest that reads.
    let sensors = Repository::<Sensor, _>::new(InMemoryEventStore::new());
    sensors
        .execute("1", Command::Annotate(nested(126)))
        .await
        .unwrap();
    let deep = Command::Annotate(nested(127));
    refused("128 levels", deep, "Annotated", "note[0]").await;
    let deeper = Command::Annotate(nested(1_000));
    refused("1,001 levels", deeper, "Annotated", "note[0]").await;
}

#[test]
fn encode_names_the_type_and_path() {
    let e = Measured {
        sensor: "s".into(),
        reading: Reading {
            value: f64::NAN,
            unit: "K".into(),
        },
    };
    let err = e.encode().unwrap_err();
    let text = ErrorChain(&err).to_string();
    assert!(
        text.contains("`Measured`") && text.contains("`reading.value`") && text.contains("null"),
        "{text}"
    );
    // Finite values encode as before.
    let ok = Measured {
        reading: Reading {
            value: 1.5,
            unit: "K".into(),
        },
        ..e
    };
    let bytes = ok.encode().unwrap();
    assert_eq!(Measured::decode("Measured", 1, &bytes).unwrap(), ok);
}
