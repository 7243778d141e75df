//! [`ProjectionFixture`]: given recorded events, then an assertion on a read
//! model that keeps its state in memory.

use std::collections::HashMap;
use std::fmt::{self, Debug};

use es_core::projection::Dispatch;
use es_core::{Event, Metadata, RecordedEvent, Uuid};

use crate::fixture::{StateCheck, check_round_trip};

/// Runs a projection (a [`Dispatch<()>`], the context of in-memory read
/// models) over events from any aggregates, then checks its model.
///
/// Each given event is round-tripped through its encoding first (so a serde
/// mistake fails the test), then recorded with its stream's next version and
/// the next global position, and dispatched the way a runner would: an event
/// of a type the projection does not list is never handed to it.
///
/// ```
/// use es_core::projection::{Dispatch, HandlerError, On, Projection, ProjectionError};
/// use es_core::{Event, Recorded, RecordedEvent};
/// use es_testing::ProjectionFixture;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
/// struct Deposited { amount: i64 }
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
/// struct Refunded { amount: i64 }
///
/// #[derive(Default, Debug)]
/// struct Totals { deposits: i64, count: usize }
///
/// impl Projection for Totals {
///     const NAME: &'static str = "totals";
///     const EVENT_TYPES: &'static [&'static str] = &["Deposited"];
/// }
/// impl On<Deposited> for Totals {
///     async fn on(&mut self, e: Recorded<Deposited>, _: &mut ()) -> Result<(), HandlerError> {
///         self.deposits += e.event.amount;
///         self.count += 1;
///         Ok(())
///     }
/// }
/// impl Dispatch for Totals {
///     async fn dispatch(&mut self, e: &RecordedEvent, ctx: &mut ()) -> Result<(), ProjectionError> {
///         es_core::projection::dispatch_to::<Self, Deposited, ()>(self, e, ctx).await
///     }
/// }
///
/// ProjectionFixture::new(Totals::default())
///     .given("Account-1", [Deposited { amount: 5 }, Deposited { amount: 7 }])
///     .given("Refund-9", [Refunded { amount: 3 }])     // not listed: never dispatched
///     .then_expect(|t| t.deposits == 12 && t.count == 2);
/// ```
pub struct ProjectionFixture<P> {
    projection: P,
    history: Vec<String>,
    versions: HashMap<String, u64>,
    position: u64,
}

impl<P: Debug> Debug for ProjectionFixture<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProjectionFixture")
            .field("projection", &self.projection)
            .field("history", &self.history)
            .finish()
    }
}

impl<P: Dispatch<()>> ProjectionFixture<P> {
    /// A fixture around a projection's initial state.
    pub fn new(projection: P) -> Self {
        Self {
            projection,
            history: Vec::new(),
            versions: HashMap::new(),
            position: 0,
        }
    }

    /// Records events on a stream (any aggregate's) and hands each to the
    /// projection. Call it once per stream or event type; order is kept.
    #[track_caller]
    pub fn given<E>(self, stream_id: &str, events: impl IntoIterator<Item = E>) -> Self
    where
        E: Event + Debug + PartialEq,
    {
        self.given_with(stream_id, events, Metadata::new())
    }

    /// Like [`ProjectionFixture::given`], with metadata on every event.
    #[track_caller]
    pub fn given_with<E>(
        mut self,
        stream_id: &str,
        events: impl IntoIterator<Item = E>,
        metadata: Metadata,
    ) -> Self
    where
        E: Event + Debug + PartialEq,
    {
        for event in events {
            check_round_trip(&event, "given");
            let payload = event
                .encode()
                .unwrap_or_else(|e| panic!("{e}", e = es_core::ErrorChain(&e)));
            let version = self.versions.entry(stream_id.to_owned()).or_insert(0);
            *version += 1;
            self.position += 1;
            let recorded = RecordedEvent {
                event_id: Uuid::now_v7(),
                stream_id: stream_id.to_owned(),
                stream_version: *version,
                global_position: self.position,
                event_type: event.event_type().to_owned(),
                schema_version: event.schema_version(),
                payload,
                metadata: metadata.clone(),
                recorded_at: chrono::Utc::now(),
            };
            self.history.push(format!(
                "{}@{} {} {:?}",
                recorded.stream_id, recorded.stream_version, recorded.event_type, event
            ));
            self.record(&recorded);
        }
        self
    }

    /// Hands an already recorded event (say, an old schema version's payload)
    /// to the projection, as a runner would.
    #[track_caller]
    pub fn given_recorded(mut self, recorded: RecordedEvent) -> Self {
        self.history.push(format!(
            "{}@{} {} (schema version {}, raw)",
            recorded.stream_id,
            recorded.stream_version,
            recorded.event_type,
            recorded.schema_version
        ));
        self.record(&recorded);
        self
    }

    #[track_caller]
    fn record(&mut self, recorded: &RecordedEvent) {
        if !P::EVENT_TYPES.contains(&recorded.event_type.as_str()) {
            return;
        }
        if let Err(e) = futures::executor::block_on(self.projection.dispatch(recorded, &mut ())) {
            panic!(
                "projection `{}` failed: {e}\n\ngiven:\n{}",
                P::NAME,
                self.history_text(),
                e = es_core::ErrorChain(&e)
            );
        }
    }

    /// Checks the read model: the closure returns `bool` (`false` fails) or
    /// asserts by itself.
    #[track_caller]
    pub fn then_expect<R: StateCheck>(self, check: impl FnOnce(&P) -> R) -> Self
    where
        P: Debug,
    {
        if !check(&self.projection).passed() {
            panic!(
                "the read model of projection `{}` is not as expected:\n{:#?}\n\ngiven:\n{}",
                P::NAME,
                self.projection,
                self.history_text()
            );
        }
        self
    }

    /// The projection, for assertions of your own.
    pub fn projection(&self) -> &P {
        &self.projection
    }

    /// The projection, consuming the fixture.
    pub fn into_projection(self) -> P {
        self.projection
    }

    fn history_text(&self) -> String {
        if self.history.is_empty() {
            return "  (no events)".to_owned();
        }
        self.history
            .iter()
            .enumerate()
            .map(|(i, h)| format!("  {}. {h}", i + 1))
            .collect::<Vec<_>>()
            .join("\n")
    }
}
