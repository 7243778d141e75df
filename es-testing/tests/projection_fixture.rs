//! ProjectionFixture passes when the read model is right and fails, with a
//! message naming the projection and the history, when it is not.

use es_core::projection::{Dispatch, HandlerError, On, Projection, ProjectionError, dispatch_to};
use es_core::{Event, Metadata, Recorded, RecordedEvent, Uuid};
use es_testing::ProjectionFixture;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(version = 2, upcast(from = 1, with = opened_v1_to_v2))]
struct Opened {
    owner: String,
    currency: String,
}

fn opened_v1_to_v2(mut v: serde_json::Value) -> Result<serde_json::Value, es_core::UpcastError> {
    v["currency"] = "EUR".into();
    Ok(v)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
struct Shipped {
    parcels: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
struct Ignored {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
struct Lossy {
    #[serde(skip)]
    secret: String,
}

#[derive(Debug, Default)]
struct Overview {
    owners: Vec<(String, String)>,
    parcels: u32,
    last_position: u64,
    streams: Vec<String>,
}

impl Projection for Overview {
    const NAME: &'static str = "overview";
    const EVENT_TYPES: &'static [&'static str] = &["Opened", "Shipped", "Lossy"];
}

impl On<Opened> for Overview {
    async fn on(&mut self, e: Recorded<Opened>, _: &mut ()) -> Result<(), HandlerError> {
        self.owners.push((e.event.owner, e.event.currency));
        self.last_position = e.global_position;
        self.streams
            .push(format!("{}@{}", e.stream_id, e.stream_version));
        Ok(())
    }
}

impl On<Shipped> for Overview {
    async fn on(&mut self, e: Recorded<Shipped>, _: &mut ()) -> Result<(), HandlerError> {
        if e.event.parcels == 0 {
            return Err("a shipment needs parcels".into());
        }
        self.parcels += e.event.parcels;
        self.last_position = e.global_position;
        self.streams
            .push(format!("{}@{}", e.stream_id, e.stream_version));
        Ok(())
    }
}

impl On<Lossy> for Overview {
    async fn on(&mut self, _: Recorded<Lossy>, _: &mut ()) -> Result<(), HandlerError> {
        Ok(())
    }
}

impl Dispatch for Overview {
    async fn dispatch(&mut self, e: &RecordedEvent, ctx: &mut ()) -> Result<(), ProjectionError> {
        match e.event_type.as_str() {
            "Opened" => dispatch_to::<Self, Opened, ()>(self, e, ctx).await,
            "Shipped" => dispatch_to::<Self, Shipped, ()>(self, e, ctx).await,
            "Lossy" => dispatch_to::<Self, Lossy, ()>(self, e, ctx).await,
            other => panic!("the fixture dispatched an unlisted type {other}"),
        }
    }
}

fn opened(owner: &str) -> Opened {
    Opened {
        owner: owner.into(),
        currency: "USD".into(),
    }
}

#[test]
fn events_from_several_streams_reach_the_model_in_order() {
    let fixture = ProjectionFixture::new(Overview::default())
        .given("Account-1", [opened("ann")])
        .given("Order-7", [Shipped { parcels: 2 }, Shipped { parcels: 3 }])
        .given("Account-2", [opened("bob")])
        .then_expect(|o| o.parcels == 5)
        .then_expect(|o| {
            assert_eq!(o.owners.len(), 2);
            assert_eq!(o.last_position, 4);
        });
    assert_eq!(
        fixture.projection().streams,
        ["Account-1@1", "Order-7@1", "Order-7@2", "Account-2@1"]
    );
}

#[test]
fn unlisted_event_types_never_reach_the_projection() {
    ProjectionFixture::new(Overview::default())
        .given("Other-1", [Ignored {}])
        .given("Account-1", [opened("ann")])
        .then_expect(|o| o.owners.len() == 1 && o.last_position == 2);
}

#[test]
fn old_schema_versions_arrive_upcast() {
    let old = RecordedEvent {
        event_id: Uuid::now_v7(),
        stream_id: "Account-3".into(),
        stream_version: 1,
        global_position: 1,
        event_type: "Opened".into(),
        schema_version: 1,
        payload: br#"{"owner":"cy"}"#.to_vec(),
        metadata: Metadata::new(),
        recorded_at: chrono::Utc::now(),
    };
    ProjectionFixture::new(Overview::default())
        .given_recorded(old)
        .then_expect(|o| o.owners == [("cy".to_owned(), "EUR".to_owned())]);
}

#[test]
#[should_panic(expected = "the read model of projection `overview` is not as expected")]
fn a_wrong_model_fails_with_the_model_and_history() {
    ProjectionFixture::new(Overview::default())
        .given("Order-7", [Shipped { parcels: 2 }])
        .then_expect(|o| o.parcels == 3);
}

#[test]
#[should_panic(expected = "Order-7@1 Shipped")]
fn the_failure_lists_the_given_history() {
    ProjectionFixture::new(Overview::default())
        .given("Order-7", [Shipped { parcels: 2 }])
        .then_expect(|o| o.parcels == 3);
}

#[test]
#[should_panic(expected = "a shipment needs parcels")]
fn a_handler_error_fails_the_test_with_its_message() {
    ProjectionFixture::new(Overview::default()).given("Order-7", [Shipped { parcels: 0 }]);
}

#[test]
#[should_panic(expected = "secret")]
fn a_lossy_serde_attribute_is_caught_before_dispatch() {
    ProjectionFixture::new(Overview::default()).given(
        "Order-7",
        [Lossy {
            secret: "s3cret".into(),
        }],
    );
}
