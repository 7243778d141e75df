//! Tests of `AggregateFixture` itself: every `then_*` passes when it should
//! and fails, with a message a person can act on, when it should not.

use es_core::{Aggregate, Apply, DecodeError, EncodeError, Event, EventTypeInfo, Handle};
use es_testing::AggregateFixture;
use serde::{Deserialize, Serialize};

// ------------------------------------------------------------- the domain

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Added {
    amount: i64,
}

/// Lossy on purpose: `secret` is never encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Noted {
    text: String,
    #[serde(skip)]
    secret: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Reset {}

#[derive(Debug, Clone, PartialEq)]
enum CounterEvent {
    Added(Added),
    Noted(Noted),
    Reset(Reset),
}

impl Event for CounterEvent {
    const EVENT_TYPES: &'static [EventTypeInfo] = &[
        EventTypeInfo::new("Added", 1, &[]),
        EventTypeInfo::new("Noted", 1, &[]),
        EventTypeInfo::new("Reset", 1, &[]),
    ];

    fn event_type(&self) -> &'static str {
        match self {
            Self::Added(_) => "Added",
            Self::Noted(_) => "Noted",
            Self::Reset(_) => "Reset",
        }
    }

    fn schema_version(&self) -> u32 {
        1
    }

    fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        use es_core::event::json::encode_json;
        match self {
            Self::Added(e) => encode_json("Added", e),
            Self::Noted(e) => encode_json("Noted", e),
            Self::Reset(e) => encode_json("Reset", e),
        }
    }

    fn decode(event_type: &str, version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        use es_core::event::json::decode_json;
        let info = es_core::event::json::check_known::<Self>(event_type, version)?;
        let t = info.name;
        Ok(match t {
            "Added" => Self::Added(decode_json(t, version, payload)?),
            "Noted" => Self::Noted(decode_json(t, version, payload)?),
            _ => Self::Reset(decode_json(t, version, payload)?),
        })
    }
}

impl From<Added> for CounterEvent {
    fn from(e: Added) -> Self {
        Self::Added(e)
    }
}
impl From<Noted> for CounterEvent {
    fn from(e: Noted) -> Self {
        Self::Noted(e)
    }
}
impl From<Reset> for CounterEvent {
    fn from(e: Reset) -> Self {
        Self::Reset(e)
    }
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Counter {
    total: i64,
    notes: usize,
}

impl Aggregate for Counter {
    const NAME: &'static str = "Counter";
    const SNAPSHOT_VERSION: u32 = 1;
    type Event = CounterEvent;
    fn apply_event(&mut self, event: &CounterEvent) {
        match event {
            CounterEvent::Added(e) => self.apply(e),
            CounterEvent::Noted(_) => self.notes += 1,
            CounterEvent::Reset(_) => self.total = 0,
        }
    }
}

impl Apply<Added> for Counter {
    fn apply(&mut self, e: &Added) {
        self.total += e.amount;
    }
}

#[derive(Debug, PartialEq, thiserror::Error)]
enum CounterError {
    #[error("amounts must be positive, got {0}")]
    NotPositive(i64),
    #[error("the total would exceed {limit}")]
    TooMuch { limit: i64 },
}

struct Add(i64);
struct AddTwice(i64);
struct ResetCounter;
struct Note {
    text: &'static str,
    secret: &'static str,
}

impl Handle<Add> for Counter {
    type Error = CounterError;
    fn handle(&self, Add(amount): Add) -> Result<Vec<CounterEvent>, CounterError> {
        if amount <= 0 {
            return Err(CounterError::NotPositive(amount));
        }
        if self.total + amount > 100 {
            return Err(CounterError::TooMuch { limit: 100 });
        }
        Ok(vec![Added { amount }.into()])
    }
}

impl Handle<AddTwice> for Counter {
    type Error = CounterError;
    fn handle(&self, AddTwice(amount): AddTwice) -> Result<Vec<CounterEvent>, CounterError> {
        Ok(vec![Added { amount }.into(), Added { amount }.into()])
    }
}

impl Handle<ResetCounter> for Counter {
    type Error = CounterError;
    fn handle(&self, _: ResetCounter) -> Result<Vec<CounterEvent>, CounterError> {
        if self.total == 0 {
            return Ok(vec![]);
        }
        Ok(vec![Reset {}.into()])
    }
}

impl Handle<Note> for Counter {
    type Error = CounterError;
    fn handle(&self, n: Note) -> Result<Vec<CounterEvent>, CounterError> {
        Ok(vec![
            Noted {
                text: n.text.to_owned(),
                secret: n.secret.to_owned(),
            }
            .into(),
        ])
    }
}

fn fixture() -> AggregateFixture<Counter> {
    AggregateFixture::new()
}

fn added(amount: i64) -> CounterEvent {
    Added { amount }.into()
}

// -------------------------------------------------------- then_expect_events

#[test]
fn expect_events_passes() {
    fixture()
        .given([added(2)])
        .when(Add(3))
        .then_expect_events([added(3)]);
    fixture()
        .given_no_events()
        .when(AddTwice(4))
        .then_expect_events([added(4), added(4)]);
}

#[test]
#[should_panic(expected = "`.amount`: expected 5, actual 3")]
fn expect_events_marks_the_differing_field() {
    fixture()
        .given([added(2)])
        .when(Add(3))
        .then_expect_events([added(5)]);
}

#[test]
#[should_panic(
    expected = "event 1: DIFFERS\n  expected: Added v1 {\"amount\":5}\n  actual:   Added v1 {\"amount\":3}"
)]
fn expect_events_shows_expected_and_actual_side_by_side() {
    fixture().when(Add(3)).then_expect_events([added(5)]);
}

#[test]
#[should_panic(
    expected = "given (2 events):\n  1. Added v1 {\"amount\":2}\n  2. Added v1 {\"amount\":7}\nwhen: Add"
)]
fn expect_events_lists_the_history() {
    fixture()
        .given([added(2)])
        .and([added(7)])
        .when(Add(3))
        .then_expect_events([added(5)]);
}

#[test]
#[should_panic(expected = "event type: expected `Reset`, actual `Added`")]
fn expect_events_names_a_different_event_type() {
    fixture().when(Add(3)).then_expect_events([Reset {}.into()]);
}

#[test]
#[should_panic(expected = "event 2: UNEXPECTED: the command also produced Added v1 {\"amount\":4}")]
fn expect_events_reports_an_extra_event() {
    fixture().when(AddTwice(4)).then_expect_events([added(4)]);
}

#[test]
#[should_panic(expected = "event 2: MISSING: expected Added v1 {\"amount\":3}")]
fn expect_events_reports_a_missing_event() {
    fixture()
        .when(Add(3))
        .then_expect_events([added(3), added(3)]);
}

#[test]
#[should_panic(expected = "diff (- expected, + actual):\n  - #1 Reset v1")]
fn expect_events_includes_a_line_diff() {
    fixture().when(Add(3)).then_expect_events([Reset {}.into()]);
}

#[test]
#[should_panic(
    expected = "then_expect_events failed for aggregate `Counter`: the command was rejected, but 1 event was expected.\nerror: amounts must be positive, got -1"
)]
fn expect_events_when_rejected_says_so() {
    fixture().when(Add(-1)).then_expect_events([added(1)]);
}

// ----------------------------------------------------- then_expect_no_events

#[test]
fn expect_no_events_passes() {
    fixture().when(ResetCounter).then_expect_no_events();
}

#[test]
#[should_panic(
    expected = "no events were expected, but the command produced 1 event:\n  1. Reset v1 {}"
)]
fn expect_no_events_fails_when_events_are_produced() {
    fixture()
        .given([added(1)])
        .when(ResetCounter)
        .then_expect_no_events();
}

#[test]
#[should_panic(
    expected = "the command was rejected, but it was expected to succeed with no events.\nerror: amounts must be positive, got 0"
)]
fn expect_no_events_fails_when_rejected() {
    fixture().when(Add(0)).then_expect_no_events();
}

// --------------------------------------------------------- then_expect_error

#[test]
fn expect_error_passes() {
    fixture()
        .given([added(90)])
        .when(Add(20))
        .then_expect_error(CounterError::TooMuch { limit: 100 });
}

#[test]
#[should_panic(
    expected = "the command was rejected with another error than expected.\nexpected: NotPositive(20)"
)]
fn expect_error_fails_on_another_error() {
    fixture()
        .given([added(90)])
        .when(Add(20))
        .then_expect_error(CounterError::NotPositive(20));
}

#[test]
#[should_panic(expected = "actual:   TooMuch { limit: 100 }\n  (the total would exceed 100)")]
fn expect_error_shows_the_actual_error() {
    fixture()
        .given([added(90)])
        .when(Add(20))
        .then_expect_error(CounterError::NotPositive(20));
}

#[test]
#[should_panic(
    expected = "the command was accepted, but it was expected to be rejected.\nexpected error: NotPositive(3) (amounts must be positive, got 3)\nproduced (1 event):\n  1. Added v1 {\"amount\":3}"
)]
fn expect_error_fails_when_accepted() {
    fixture()
        .when(Add(3))
        .then_expect_error(CounterError::NotPositive(3));
}

// ------------------------------------------------- then_expect_error_matches

#[test]
fn expect_error_matches_passes() {
    fixture()
        .when(Add(-5))
        .then_expect_error_matches(|e| matches!(e, CounterError::NotPositive(n) if *n < 0));
}

#[test]
#[should_panic(expected = "the predicate does not accept its error.\nerror: NotPositive(-5)")]
fn expect_error_matches_fails_when_the_predicate_refuses() {
    fixture()
        .when(Add(-5))
        .then_expect_error_matches(|e| matches!(e, CounterError::TooMuch { .. }));
}

#[test]
#[should_panic(
    expected = "then_expect_error_matches failed for aggregate `Counter`: the command was accepted"
)]
fn expect_error_matches_fails_when_accepted() {
    fixture().when(Add(5)).then_expect_error_matches(|_| true);
}

// --------------------------------------------------------- then_expect_state

#[test]
fn expect_state_passes_and_chains() {
    fixture()
        .given([added(2)])
        .when(Add(3))
        .then_expect_events([added(3)])
        .then_expect_state(|c| c.total == 5)
        .then_expect_state(|c| assert_eq!(c.notes, 0));
}

#[test]
fn expect_state_after_a_rejection_is_the_history_state() {
    fixture()
        .given([added(99)])
        .when(Add(2))
        .then_expect_error(CounterError::TooMuch { limit: 100 })
        .then_expect_state(|c| c.total == 99);
}

#[test]
#[should_panic(
    expected = "then_expect_state failed for aggregate `Counter`: the state check returned false."
)]
fn expect_state_fails_on_false() {
    fixture()
        .given([added(2)])
        .when(Add(3))
        .then_expect_state(|c| c.total == 6);
}

#[test]
#[should_panic(expected = "\n\nstate after the command:\n  {\n    \"")]
fn expect_state_prints_the_state() {
    fixture()
        .given([added(2)])
        .when(Add(3))
        .then_expect_state(|c| c.total == 6);
}

#[test]
#[should_panic(expected = "assertion `left == right` failed")]
fn expect_state_closure_may_assert() {
    fixture()
        .when(Add(3))
        .then_expect_state(|c| assert_eq!(c.total, 4));
}

#[test]
fn accessors_expose_the_outcome() {
    let then = fixture().given([added(1)]).when(Add(3));
    assert_eq!(then.events(), Some(&[added(3)][..]));
    assert!(then.error().is_none());
    assert_eq!(then.state().total, 4);
    let then = fixture().when(Add(0));
    assert_eq!(then.error(), Some(&CounterError::NotPositive(0)));
    assert_eq!(then.events(), None);
}

// ----------------------------------------------------------- the round trip

#[test]
#[should_panic(
    expected = "round trip of given event 1 `Noted` (schema version 1) failed: the event changed when encoded and decoded: field `secret` was lost or changed."
)]
fn round_trip_catches_a_lossy_given_event() {
    fixture().given([Noted {
        text: "hello".into(),
        secret: "s3cret".into(),
    }
    .into()]);
}

#[test]
#[should_panic(expected = "secret: before: secret: \"s3cret\"; after: secret: \"\"")]
fn round_trip_shows_the_field_before_and_after() {
    fixture().given([Noted {
        text: "hello".into(),
        secret: "s3cret".into(),
    }
    .into()]);
}

#[test]
#[should_panic(expected = "round trip of produced event 1 `Noted` (schema version 1) failed")]
fn round_trip_catches_a_lossy_produced_event() {
    fixture()
        .when(Note {
            text: "hi",
            secret: "psst",
        })
        .then_expect_events([Noted {
            text: "hi".into(),
            secret: "psst".into(),
        }
        .into()]);
}

#[test]
fn round_trip_passes_when_nothing_is_lost() {
    // The skipped field is empty, which is what decoding gives back.
    fixture()
        .given([Noted {
            text: "hello".into(),
            secret: String::new(),
        }
        .into()])
        .when(Add(1))
        .then_expect_state(|c| c.notes == 1 && c.total == 1);
}

/// An event whose `event_type` is not in its registry.
mod unregistered {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub(super) struct Pinged;

    impl Event for Pinged {
        const EVENT_TYPES: &'static [EventTypeInfo] = &[EventTypeInfo::new("Ping", 1, &[])];
        fn event_type(&self) -> &'static str {
            "Pinged"
        }
        fn schema_version(&self) -> u32 {
            1
        }
        fn encode(&self) -> Result<Vec<u8>, EncodeError> {
            es_core::event::json::encode_json("Pinged", self)
        }
        fn decode(t: &str, v: u32, p: &[u8]) -> Result<Self, DecodeError> {
            es_core::event::json::check_known::<Self>(t, v)?;
            es_core::event::json::decode_json(t, v, p)
        }
    }

    #[derive(Debug, Default, Serialize, Deserialize)]
    pub(super) struct Pinger;

    impl Aggregate for Pinger {
        const NAME: &'static str = "Pinger";
        const SNAPSHOT_VERSION: u32 = 1;
        type Event = Pinged;
        fn apply_event(&mut self, _: &Pinged) {}
    }
}

#[test]
#[should_panic(
    expected = "says its event type is `Pinged`, but its EVENT_TYPES registry does not list that name (it lists: Ping)"
)]
fn round_trip_catches_an_unregistered_type() {
    AggregateFixture::<unregistered::Pinger>::new().given([unregistered::Pinged]);
}

// --------------------------------------------------------------- insta

#[cfg(feature = "insta")]
#[test]
fn snapshot_events() {
    fixture()
        .given([added(1)])
        .when(AddTwice(2))
        .then_snapshot_events("counter_add_twice")
        .then_expect_state(|c| c.total == 5);
}

#[test]
#[should_panic(expected = "\"total\": 5")]
fn expect_state_prints_the_fields() {
    fixture()
        .given([added(2)])
        .when(Add(3))
        .then_expect_state(|c| c.total == 6);
}
