//! `#[derive(Projection)]` at run time: the type filter, dispatch to each
//! listed type's handler, upcasting on the way in, and the errors that stop
//! a projection.

use std::sync::{Arc, Mutex};

use es_core::projection::{HandlerError, ProjectionError, catch_up};
use es_core::{
    AppendResult, CommandRecord, CommitWatch, DecodeError, Event, EventStore, ExpectedVersion,
    InMemoryEventStore, Metadata, NewEvent, On, Projection, Recorded, RecordedEvent, StoreError,
    StreamEnd, UpcastError, Uuid,
};
use serde::{Deserialize, Serialize};

// The account aggregate's events: a struct event, listed on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
struct AccountOpened {
    owner: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
struct AccountClosed {}

// The order aggregate's events: an enum, one variant renamed (with an alias)
// and upcast from version 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "OrderPlaced", version = 2, alias = "OrderSubmitted",
        upcast(from = 1, with = placed_v1_to_v2))]
struct OrderPlaced {
    owner: String,
    total: i64,
    currency: String,
}

fn placed_v1_to_v2(mut v: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
    v["currency"] = "EUR".into();
    Ok(v)
}

#[derive(Debug, Clone, PartialEq, Event)]
enum OrderEvent {
    Placed(OrderPlaced),
    Cancelled { reason: String },
}

/// Accounts opened and orders placed, per owner.
#[derive(Debug, Default, Projection)]
#[projection(name = "customer_activity", events(AccountOpened, OrderEvent))]
struct CustomerActivity {
    seen: Vec<String>,
    fail_on_owner: Option<String>,
}

impl On<AccountOpened> for CustomerActivity {
    async fn on(&mut self, e: Recorded<AccountOpened>, _: &mut ()) -> Result<(), HandlerError> {
        if self.fail_on_owner.as_deref() == Some(e.event.owner.as_str()) {
            return Err(format!("owner {} is blocked", e.event.owner).into());
        }
        self.seen.push(format!("opened {}", e.event.owner));
        Ok(())
    }
}

impl On<OrderEvent> for CustomerActivity {
    async fn on(&mut self, e: Recorded<OrderEvent>, _: &mut ()) -> Result<(), HandlerError> {
        let line = match e.event {
            OrderEvent::Placed(p) => format!(
                "placed {} {} {} @{}",
                p.owner, p.total, p.currency, e.stream_id
            ),
            OrderEvent::Cancelled { reason } => format!("cancelled {reason}"),
        };
        self.seen.push(line);
        Ok(())
    }
}

fn new(event: &impl Event) -> NewEvent {
    NewEvent::new(event, Metadata::new()).expect("encodes")
}

async fn seeded() -> InMemoryEventStore {
    let store = InMemoryEventStore::new();
    let account = vec![
        new(&AccountOpened {
            owner: "ada".into(),
        }),
        new(&AccountClosed {}),
    ];
    store
        .append("Account-1", ExpectedVersion::Any, account)
        .await
        .unwrap();
    let order = vec![
        // Written by older code: version 1 under the former name.
        NewEvent::from_raw(
            "OrderSubmitted",
            1,
            br#"{"owner":"ada","total":30}"#.to_vec(),
            Metadata::new(),
        ),
        new(&OrderEvent::Placed(OrderPlaced {
            owner: "bob".into(),
            total: 12,
            currency: "USD".into(),
        })),
        new(&OrderEvent::Cancelled {
            reason: "late".into(),
        }),
    ];
    store
        .append("Order-7", ExpectedVersion::Any, order)
        .await
        .unwrap();
    store
}

#[test]
fn event_types_list_exactly_the_names_and_aliases() {
    assert_eq!(CustomerActivity::NAME, "customer_activity");
    assert_eq!(
        CustomerActivity::EVENT_TYPES,
        [
            "AccountOpened",
            "OrderPlaced",
            "OrderSubmitted",
            "Cancelled"
        ]
    );
}

#[tokio::test]
async fn sees_only_its_types_upcast_in_order() {
    let store = seeded().await;
    let mut p = CustomerActivity::default();
    let checkpoint = catch_up(&store, &mut p, 0, 2).await.unwrap();
    assert_eq!(
        p.seen,
        [
            "opened ada",
            "placed ada 30 EUR @Order-7",
            "placed bob 12 USD @Order-7",
            "cancelled late",
        ]
    );
    assert_eq!(checkpoint, 5);
}

#[tokio::test]
async fn ignores_a_recorded_event_of_no_listed_type() {
    let store = seeded().await;
    let all = store.read_all(0, 100, None).await.unwrap().events;
    let closed = all
        .iter()
        .find(|e| e.event_type == "AccountClosed")
        .unwrap();
    let mut p = CustomerActivity::default();
    es_core::Dispatch::dispatch(&mut p, closed, &mut ())
        .await
        .unwrap();
    assert!(p.seen.is_empty());
}

#[tokio::test]
async fn a_handler_error_stops_with_the_event_named() {
    let store = seeded().await;
    let more = vec![new(&AccountOpened {
        owner: "eve".into(),
    })];
    store
        .append("Account-2", ExpectedVersion::Any, more)
        .await
        .unwrap();
    let mut p = CustomerActivity {
        fail_on_owner: Some("eve".into()),
        ..Default::default()
    };
    let err = catch_up(&store, &mut p, 0, 100).await.unwrap_err();
    match &err {
        ProjectionError::Handler {
            projection,
            event_type,
            stream_id,
            version,
            position,
            source,
        } => {
            assert_eq!(
                (*projection, event_type.as_str(), stream_id.as_str()),
                ("customer_activity", "AccountOpened", "Account-2")
            );
            assert_eq!((*version, *position), (1, 6));
            assert_eq!(source.to_string(), "owner eve is blocked");
        }
        other => panic!("expected a handler error, got {other:?}"),
    }
    assert_eq!(err.position(), Some(6));
    // The message states the projection's layer; the handler's error is its
    // source, printed once by a reporter that walks the chain.
    assert_eq!(
        err.to_string(),
        "projection `customer_activity` failed on `AccountOpened` at Account-2@1 (position 6)"
    );
    assert_eq!(
        es_core::ErrorChain(&err).to_string(),
        "projection `customer_activity` failed on `AccountOpened` at Account-2@1 (position 6): owner eve is blocked"
    );
    // The events before it were handled.
    assert_eq!(p.seen.len(), 4);
}

#[tokio::test]
async fn a_corrupt_payload_is_a_decode_error() {
    let store = InMemoryEventStore::new();
    let corrupt = NewEvent::from_raw(
        "OrderPlaced",
        2,
        br#"{"owner":"ada","total":"lots"}"#.to_vec(),
        Metadata::new(),
    );
    store
        .append("Order-1", ExpectedVersion::Any, vec![corrupt])
        .await
        .unwrap();
    let mut p = CustomerActivity::default();
    let err = catch_up(&store, &mut p, 0, 100).await.unwrap_err();
    let ProjectionError::Decode {
        projection,
        event_type,
        stream_id,
        version,
        position,
        source,
    } = err
    else {
        panic!("expected a decode error, got {err:?}");
    };
    assert_eq!(
        (
            projection,
            event_type.as_str(),
            stream_id.as_str(),
            version,
            position
        ),
        ("customer_activity", "OrderPlaced", "Order-1", 1, 1)
    );
    assert!(
        matches!(*source, DecodeError::Payload { ref path, .. } if path == "total"),
        "{source:?}"
    );
    assert!(p.seen.is_empty());
}

/// An `InMemoryEventStore` that records each `read_all`'s type filter and
/// the events it returned.
#[derive(Clone, Default)]
struct CountingStore {
    inner: InMemoryEventStore,
    filters: Arc<Mutex<Vec<Option<Vec<String>>>>>,
    returned: Arc<Mutex<Vec<String>>>,
}

impl EventStore for CountingStore {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        self.inner.append(stream_id, expected, events).await
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        to: StreamEnd,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner
            .read_stream(stream_id, from_version, to, limit)
            .await
    }

    async fn read_all(
        &self,
        after_position: u64,
        limit: usize,
        types: Option<&[&str]>,
    ) -> Result<es_core::ReadAllPage, StoreError> {
        self.filters
            .lock()
            .unwrap()
            .push(types.map(|t| t.iter().map(|s| s.to_string()).collect()));
        let events = self.inner.read_all(after_position, limit, types).await?;
        self.returned
            .lock()
            .unwrap()
            .extend(events.iter().map(|e| e.event_type.clone()));
        Ok(events)
    }

    async fn stream_version(&self, stream_id: &str) -> Result<u64, StoreError> {
        self.inner.stream_version(stream_id).await
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        self.inner.head_position().await
    }

    async fn find_command(
        &self,
        stream_id: &str,
        command_id: Uuid,
    ) -> Result<Option<CommandRecord>, StoreError> {
        self.inner.find_command(stream_id, command_id).await
    }

    async fn watch_commits(&self) -> Result<CommitWatch, StoreError> {
        self.inner.watch_commits().await
    }
}

macro_rules! events {
    ($($name:ident),*) => {$(
        #[derive(Debug, Serialize, Deserialize, Event)]
        struct $name { n: u32 }
    )*};
}

events!(E0, E1, E2, E3, E4, E5, E6, E7, E8, E9);

/// Counts `E3` and `E7`, two of ten types.
#[derive(Default, Projection)]
#[projection(events(E3, E7))]
struct TwoOfTen {
    total: u32,
}

impl On<E3> for TwoOfTen {
    async fn on(&mut self, e: Recorded<E3>, _: &mut ()) -> Result<(), HandlerError> {
        self.total += e.event.n;
        Ok(())
    }
}

impl On<E7> for TwoOfTen {
    async fn on(&mut self, e: Recorded<E7>, _: &mut ()) -> Result<(), HandlerError> {
        self.total += e.event.n * 100;
        Ok(())
    }
}

#[tokio::test]
async fn a_projection_over_two_of_ten_types_reads_no_others() {
    let store = CountingStore::default();
    for round in 0..3 {
        let batch = vec![
            new(&E0 { n: 1 }),
            new(&E1 { n: 1 }),
            new(&E2 { n: 1 }),
            new(&E3 { n: 1 }),
            new(&E4 { n: 1 }),
            new(&E5 { n: 1 }),
            new(&E6 { n: 1 }),
            new(&E7 { n: 1 }),
            new(&E8 { n: 1 }),
            new(&E9 { n: 1 }),
        ];
        store
            .append(&format!("Mixed-{round}"), ExpectedVersion::Any, batch)
            .await
            .unwrap();
    }
    let mut p = TwoOfTen::default();
    let checkpoint = catch_up(&store, &mut p, 0, 2).await.unwrap();

    assert_eq!(p.total, 303);
    assert_eq!(checkpoint, 30, "the checkpoint passes the skipped events");
    assert_eq!(TwoOfTen::NAME, "two_of_ten");
    let filters = store.filters.lock().unwrap();
    assert!(!filters.is_empty());
    let want = Some(vec!["E3".to_owned(), "E7".to_owned()]);
    assert!(filters.iter().all(|f| *f == want), "{filters:?}");
    let returned = store.returned.lock().unwrap();
    assert_eq!(*returned, ["E3", "E7", "E3", "E7", "E3", "E7"]);
}
