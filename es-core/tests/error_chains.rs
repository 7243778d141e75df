//! Every layer of an error states its own context once: a reporter that
//! walks `source()` never prints a cause twice.

use std::error::Error;

use es_core::projection::ProjectionError;
use es_core::{
    Aggregate, Apply, DecodeError, EncodeError, Event, EventStore, ExpectedVersion, Handle,
    InMemoryEventStore, Metadata, NewEvent, RecordedEvent, Repository, RepositoryError, StoreError,
    UpcastError,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
struct Measured {
    value: f64,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize, Aggregate)]
#[aggregate(name = "Meter", event = Measured, snapshot_version = 1)]
struct Meter {
    last: f64,
}

impl Apply<Measured> for Meter {
    fn apply(&mut self, e: &Measured) {
        self.last = e.value;
    }
}

#[derive(Debug, Clone)]
struct Measure(f64);

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("the meter is broken")]
struct Broken;

impl Handle<Measure> for Meter {
    type Error = Broken;
    fn handle(&self, cmd: Measure) -> Result<Vec<Measured>, Broken> {
        if cmd.0 < 0.0 {
            return Err(Broken);
        }
        Ok(vec![Measured { value: cmd.0 }])
    }
}

/// The texts of an error and each of its causes, outermost first.
fn layers(err: &(dyn Error + 'static)) -> Vec<String> {
    let mut out = vec![err.to_string()];
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push(e.to_string());
        cur = e.source();
    }
    out
}

/// No layer's text contains its cause's text; returns the chain joined.
#[track_caller]
fn assert_each_layer_once(err: &(dyn Error + 'static)) -> String {
    let texts = layers(err);
    for pair in texts.windows(2) {
        assert!(
            !pair[0].contains(&pair[1]),
            "a layer repeats its cause:\n  layer: {}\n  cause: {}",
            pair[0],
            pair[1]
        );
    }
    texts.join(": ")
}

fn recorded(stream_id: &str) -> RecordedEvent {
    RecordedEvent {
        event_id: es_core::Uuid::now_v7(),
        stream_id: stream_id.to_owned(),
        stream_version: 3,
        global_position: 9,
        event_type: "Measured".to_owned(),
        schema_version: 1,
        payload: br#"{"value":null}"#.to_vec(),
        metadata: Metadata::new(),
        recorded_at: chrono::Utc::now(),
    }
}

struct Totals;
impl es_core::Projection for Totals {
    const NAME: &'static str = "totals";
    const EVENT_TYPES: &'static [&'static str] = &["Measured"];
}

#[tokio::test]
async fn a_decode_failure_through_the_repository_names_each_layer_once() {
    let store = InMemoryEventStore::new();
    store
        .append(
            "Meter-1",
            ExpectedVersion::NoStream,
            vec![NewEvent::from_raw(
                "Measured",
                1,
                br#"{"value":null}"#.to_vec(),
                Metadata::new(),
            )],
        )
        .await
        .unwrap();
    let meters = Repository::<Meter, _>::new(store);
    let err = meters.load("1").await.unwrap_err();
    assert!(matches!(err, RepositoryError::Decode { .. }), "{err:?}");
    let chain = assert_each_layer_once(&err);
    for part in ["Meter-1", "Measured", "`value`", "invalid type: null"] {
        assert!(chain.contains(part), "{chain} names {part}");
    }

    // The same through a command.
    let err = meters.execute("1", Measure(1.0)).await.unwrap_err();
    assert_each_layer_once(&err);
}

#[tokio::test]
async fn a_rejection_names_the_stream_and_the_domain_error_once() {
    let meters = Repository::<Meter, _>::new(InMemoryEventStore::new());
    let err = meters.execute("2", Measure(-1.0)).await.unwrap_err();
    let chain = assert_each_layer_once(&err);
    assert!(chain.contains("Meter-2"), "{chain}");
    assert!(chain.contains("the meter is broken"), "{chain}");
    assert_eq!(err.rejection(), Some(&Broken));
}

#[test]
fn every_layer_with_a_cause_states_only_its_own_context() {
    let io = || std::io::Error::other("disk on fire");
    let backend = StoreError::backend("appending to stream `S-1`", io());
    let chain = assert_each_layer_once(&backend);
    assert!(
        chain.contains("disk on fire") && chain.contains("S-1"),
        "{chain}"
    );

    let store: RepositoryError = RepositoryError::Store {
        stream_id: "S-1".into(),
        source: StoreError::backend("appending to stream `S-1`", io()),
    };
    assert_each_layer_once(&store);

    let upcast = DecodeError::Upcast {
        event_type: "Measured".into(),
        from: 1,
        source: UpcastError::missing_field("value"),
    };
    let chain = assert_each_layer_once(&upcast);
    assert!(chain.contains("missing field `value`"), "{chain}");

    let decode: RepositoryError = RepositoryError::Decode {
        stream_id: "S-1".into(),
        version: 1,
        event_type: "Measured".into(),
        schema_version: 1,
        source: Box::new(upcast),
    };
    assert_each_layer_once(&decode);

    let not_a_key = std::collections::BTreeMap::from([((1, 2), 3)]);
    let encode: EncodeError =
        es_core::event::json::encode_json("Measured", &not_a_key).unwrap_err();
    let chain = assert_each_layer_once(&encode);
    assert!(
        chain.contains("Measured") && chain.contains("key must be"),
        "{chain}"
    );
    let encode: RepositoryError = RepositoryError::Encode {
        stream_id: "S-1".into(),
        source: encode,
    };
    assert_each_layer_once(&encode);

    let event = recorded("S-1");
    let cause = event.decode::<Measured>().unwrap_err();
    let projection = ProjectionError::decode::<Totals>(&event, cause);
    let chain = assert_each_layer_once(&projection);
    assert!(
        chain.contains("totals") && chain.contains("`value`"),
        "{chain}"
    );
    let projection = ProjectionError::handler::<Totals>(&event, Box::new(io()));
    assert_each_layer_once(&projection);
    let projection = ProjectionError::Store {
        projection: "totals",
        source: StoreError::backend("reading all streams after 0", io()),
    };
    assert_each_layer_once(&projection);
}
