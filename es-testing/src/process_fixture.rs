//! [`ProcessFixture`]: given/when/then for process managers.

use std::fmt::{Debug, Write as _};
use std::time::Duration;

use es_core::process::{ProcessCommand, ProcessManager, Rejected, Sent, Then};
use es_core::{Event, Metadata, RecordedEvent, Timestamp, Uuid};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::fixture::StateCheck;
use crate::render;

/// Given/when/then for one instance of a [`ProcessManager`], with no store:
/// each event goes through the process's own decoding (as the runner reads
/// it) and the reaction's state through its serde encoding (as the runner
/// stores it), so a serde or key mistake fails the test.
///
/// `given` events build the instance's state (what their reactions decide
/// is dropped, except the deadlines they leave scheduled); `when` is the
/// event (or rejection, or deadline) under test; the `then_expect_*` checks
/// look at what it decided. Events are recorded one second apart from
/// 2026-01-01T00:00:00Z, and deadlines are compared as durations after the
/// `when` event. As in the runner, a completed instance ignores what comes
/// after, and a deadline that is not pending is dropped.
///
/// ```
/// use es_testing::ProcessFixture;
/// use es_testing::process::shop::*;
/// use es_core::process::Sent;
///
/// let placed = OrderPlaced {
///     order_id: "o-1".into(),
///     sku: "sku-1".into(),
///     quantity: 2,
///     approve_within_ms: None,
/// };
/// ProcessFixture::<Checkout>::new()
///     .given("Order-o-1", [placed])
///     .when("Stock-sku-1", StockReserved { order_id: "o-1".into(), quantity: 2 })
///     .then_expect_commands([Sent::new("o-1", ConfirmOrder)])
///     .then_expect_completed();
/// ```
pub struct ProcessFixture<P: ProcessManager> {
    state: P,
    key: Option<String>,
    completed: bool,
    scheduled: Vec<(P::Deadline, Timestamp)>,
    history: Vec<String>,
    clock: Timestamp,
    positions: u64,
}

impl<P: ProcessManager + Debug> Default for ProcessFixture<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: ProcessManager + Debug> Debug for ProcessFixture<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessFixture")
            .field("process", &P::NAME)
            .field("key", &self.key)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// What the `when` step decided, and the checks on it.
#[derive(Debug)]
pub struct ProcessThen<P: ProcessManager> {
    decided: Option<Then<P>>,
    state: P,
    trigger_at: Timestamp,
    context: String,
}

impl<P: ProcessManager + Debug> ProcessFixture<P> {
    /// A new instance: `P::default()`, nothing scheduled.
    pub fn new() -> Self {
        Self {
            state: P::default(),
            key: None,
            completed: false,
            scheduled: Vec::new(),
            history: Vec::new(),
            clock: chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default(),
            positions: 0,
        }
    }

    /// Events on `stream_id` (any aggregate's) that the instance has
    /// already reacted to.
    #[track_caller]
    pub fn given<E: Event + Debug>(
        mut self,
        stream_id: &str,
        events: impl IntoIterator<Item = E>,
    ) -> Self {
        for event in events {
            let recorded = self.record(stream_id, &event);
            self.history.push(format!("{stream_id}: {event:?}"));
            if let Some(then) = self.react(&recorded) {
                self.settle(then);
            }
        }
        self
    }

    /// A rejection the instance has already heard of.
    #[track_caller]
    pub fn given_rejected(
        mut self,
        id: &str,
        command: impl Into<P::Command>,
        reason: &str,
    ) -> Self {
        let rejected = self.rejection(id, command.into(), reason);
        self.history.push(format!("rejected: {rejected:?}"));
        if let Some(then) = self.on_rejected(&rejected) {
            self.settle(then);
        }
        self
    }

    /// A deadline that has already come due (and been handled), if it was
    /// pending; as the runner, a deadline not pending is dropped.
    #[track_caller]
    pub fn given_deadline(mut self, deadline: P::Deadline) -> Self {
        self.tick();
        self.history.push(format!("deadline: {deadline:?}"));
        if let Some(then) = self.on_deadline(deadline) {
            self.settle(then);
        }
        self
    }

    /// The event under test, on `stream_id`.
    #[track_caller]
    pub fn when<E: Event + Debug>(mut self, stream_id: &str, event: E) -> ProcessThen<P> {
        let recorded = self.record(stream_id, &event);
        let context = format!("when {stream_id}: {event:?}");
        let decided = self.react(&recorded);
        self.finish(decided, context)
    }

    /// The rejection of a command the instance sent to aggregate `id`.
    #[track_caller]
    pub fn when_rejected(
        mut self,
        id: &str,
        command: impl Into<P::Command>,
        reason: &str,
    ) -> ProcessThen<P> {
        self.tick();
        let rejected = self.rejection(id, command.into(), reason);
        let context = format!("when rejected: {rejected:?}");
        let decided = self.on_rejected(&rejected);
        self.finish(decided, context)
    }

    /// A deadline of the instance comes due (it must have been scheduled by
    /// a `given` step and not cancelled, or it is dropped, as the runner
    /// drops it).
    #[track_caller]
    pub fn when_deadline(mut self, deadline: P::Deadline) -> ProcessThen<P> {
        self.tick();
        let context = format!("when deadline: {deadline:?}");
        let decided = self.on_deadline(deadline);
        self.finish(decided, context)
    }

    /// Runs `on_deadline` if `deadline` is pending and the instance open.
    #[track_caller]
    fn on_deadline(&mut self, deadline: P::Deadline) -> Option<Then<P>> {
        let pending = self.scheduled.iter().position(|(d, _)| *d == deadline);
        match (self.completed, pending) {
            (false, Some(i)) => {
                self.scheduled.remove(i);
                let deadline = round_trip(&deadline, "the deadline");
                let mut then = Then::new(self.clock);
                self.state.on_deadline(&deadline, &mut then);
                Some(then)
            }
            _ => None,
        }
    }

    fn tick(&mut self) {
        self.clock += chrono::Duration::seconds(1);
    }

    #[track_caller]
    fn record<E: Event + Debug>(&mut self, stream_id: &str, event: &E) -> RecordedEvent {
        self.tick();
        self.positions += 1;
        let payload = event.encode().unwrap_or_else(|e| {
            panic!("cannot encode {event:?}: {e}", e = es_core::ErrorChain(&e))
        });
        RecordedEvent {
            event_id: Uuid::now_v7(),
            stream_id: stream_id.to_owned(),
            stream_version: self.positions,
            global_position: self.positions,
            event_type: event.event_type().to_owned(),
            schema_version: event.schema_version(),
            payload,
            metadata: Metadata::new(),
            recorded_at: self.clock,
        }
    }

    #[track_caller]
    fn rejection(&self, id: &str, command: P::Command, reason: &str) -> Rejected<P::Command> {
        Rejected {
            id: id.to_owned(),
            command: round_trip(&command, "the rejected command"),
            reason: reason.to_owned(),
        }
    }

    /// Runs the reaction to `recorded` as the runner would; `None` when the
    /// process does not react (or the instance is completed).
    #[track_caller]
    fn react(&mut self, recorded: &RecordedEvent) -> Option<Then<P>> {
        let received = match P::receive(recorded) {
            Ok(Some(r)) => r,
            Ok(None) => return None,
            Err(e) => panic!(
                "process `{}` cannot decode {} on {}: {e}",
                P::NAME,
                recorded.event_type,
                recorded.stream_id,
                e = es_core::ErrorChain(&e)
            ),
        };
        match &self.key {
            None => self.key = Some(received.key().to_owned()),
            Some(key) if key != received.key() => panic!(
                "process `{}`: {} on {} belongs to instance `{}`, but the fixture follows instance `{key}`; give it events of one instance",
                P::NAME,
                recorded.event_type,
                recorded.stream_id,
                received.key()
            ),
            Some(_) => {}
        }
        if self.completed {
            return None;
        }
        Some(received.react(&mut self.state))
    }

    fn on_rejected(&mut self, rejected: &Rejected<P::Command>) -> Option<Then<P>> {
        if self.completed {
            return None;
        }
        let mut then = Then::new(self.clock);
        self.state.on_rejected(rejected, &mut then);
        Some(then)
    }

    /// Applies what a step decided to the fixture's instance: deadlines and
    /// completion; the state through its stored form.
    #[track_caller]
    fn settle(&mut self, then: Then<P>) {
        self.state = round_trip(&self.state, "the process state");
        for d in then.cancelled() {
            self.scheduled.retain(|(s, _)| s != d);
        }
        for (d, at) in then.scheduled() {
            let d = round_trip(d, "a deadline");
            self.scheduled.retain(|(s, _)| *s != d);
            self.scheduled.push((d, *at));
        }
        if then.is_complete() {
            self.completed = true;
            self.scheduled.clear();
        }
    }

    #[track_caller]
    fn finish(mut self, decided: Option<Then<P>>, when: String) -> ProcessThen<P> {
        let mut context = String::from("given:\n");
        if self.history.is_empty() {
            context.push_str("  (nothing)\n");
        }
        for h in &self.history {
            let _ = writeln!(context, "  {h}");
        }
        let _ = writeln!(context, "{when}");
        if decided.is_none() {
            context.push_str("  (the instance did not react: completed, not its event, or the deadline not pending)\n");
        }
        self.state = round_trip(&self.state, "the process state");
        ProcessThen {
            decided,
            state: self.state,
            trigger_at: self.clock,
            context,
        }
    }
}

/// Encodes and decodes `value` as the runner stores it.
#[track_caller]
fn round_trip<T: Serialize + DeserializeOwned + Debug>(value: &T, what: &str) -> T {
    let json = serde_json::to_vec(value)
        .unwrap_or_else(|e| panic!("{what} does not encode as JSON: {e}\nvalue: {value:?}"));
    serde_json::from_slice(&json).unwrap_or_else(|e| {
        panic!(
            "{what} does not read back from its JSON ({}): {e}\nvalue: {value:?}",
            String::from_utf8_lossy(&json)
        )
    })
}

impl<P: ProcessManager + Debug> ProcessThen<P> {
    #[track_caller]
    fn fail(&self, check: &str, message: &str) -> ! {
        panic!(
            "{check} failed for process `{}`: {message}\n\n{}",
            P::NAME,
            self.context
        )
    }

    fn sent(&self) -> &[Sent<P::Command>] {
        self.decided.as_ref().map_or(&[], |t| t.sent())
    }

    /// Exactly these commands were sent, in this order.
    #[track_caller]
    pub fn then_expect_commands(
        self,
        expected: impl IntoIterator<Item = Sent<P::Command>>,
    ) -> Self {
        let expected: Vec<Sent<P::Command>> = expected.into_iter().collect();
        if self.sent() == expected.as_slice() {
            return self;
        }
        let show = |sent: &[Sent<P::Command>]| -> String {
            if sent.is_empty() {
                return "  (none)\n".to_owned();
            }
            sent.iter()
                .enumerate()
                .map(|(i, s)| {
                    let json = serde_json::to_string_pretty(&s.command).unwrap_or_default();
                    let mut block = format!("#{} to {} `{}`\n", i + 1, s.command.aggregate(), s.id);
                    for line in json.lines() {
                        let _ = writeln!(block, "    {line}");
                    }
                    block
                })
                .collect()
        };
        let message = format!(
            "other commands than expected: expected {}, sent {}.\n\ndiff (- expected, + sent):\n{}",
            expected.len(),
            self.sent().len(),
            render::line_diff(&show(&expected), &show(self.sent()), "  ")
        );
        self.fail("then_expect_commands", &message)
    }

    /// No command was sent.
    #[track_caller]
    pub fn then_expect_no_commands(self) -> Self {
        self.then_expect_commands([])
    }

    /// Exactly these deadlines were scheduled, each this long after the
    /// `when` event.
    #[track_caller]
    pub fn then_expect_scheduled(
        self,
        expected: impl IntoIterator<Item = (P::Deadline, Duration)>,
    ) -> Self {
        let expected: Vec<(P::Deadline, Duration)> = expected.into_iter().collect();
        let actual: Vec<(P::Deadline, Duration)> = self
            .decided
            .as_ref()
            .map(|t| {
                t.scheduled()
                    .iter()
                    .map(|(d, at)| {
                        (
                            d.clone(),
                            (*at - self.trigger_at).to_std().unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        if actual != expected {
            self.fail(
                "then_expect_scheduled",
                &format!("deadlines scheduled (after the trigger):\n  expected: {expected:?}\n  actual:   {actual:?}"),
            );
        }
        self
    }

    /// Exactly these deadlines were cancelled.
    #[track_caller]
    pub fn then_expect_cancelled(self, expected: impl IntoIterator<Item = P::Deadline>) -> Self {
        let expected: Vec<P::Deadline> = expected.into_iter().collect();
        let actual = self.decided.as_ref().map_or(&[][..], |t| t.cancelled());
        if actual != expected.as_slice() {
            self.fail(
                "then_expect_cancelled",
                &format!("deadlines cancelled:\n  expected: {expected:?}\n  actual:   {actual:?}"),
            );
        }
        self
    }

    /// The instance completed.
    #[track_caller]
    pub fn then_expect_completed(self) -> Self {
        if !self.decided.as_ref().is_some_and(Then::is_complete) {
            self.fail("then_expect_completed", "the instance did not complete");
        }
        self
    }

    /// The instance did not complete.
    #[track_caller]
    pub fn then_expect_not_completed(self) -> Self {
        if self.decided.as_ref().is_some_and(Then::is_complete) {
            self.fail("then_expect_not_completed", "the instance completed");
        }
        self
    }

    /// Nothing happened: no command, no deadline scheduled or cancelled, not
    /// completed (say, a completed instance hearing a late event).
    #[track_caller]
    pub fn then_expect_nothing(self) -> Self {
        let quiet = self.decided.as_ref().is_none_or(|t| {
            t.sent().is_empty()
                && t.scheduled().is_empty()
                && t.cancelled().is_empty()
                && !t.is_complete()
        });
        if !quiet {
            let t = self.decided.as_ref();
            self.fail(
                "then_expect_nothing",
                &format!(
                    "it decided:\n  commands: {:?}\n  scheduled: {:?}\n  cancelled: {:?}\n  completed: {}",
                    t.map(Then::sent),
                    t.map(Then::scheduled),
                    t.map(Then::cancelled),
                    t.is_some_and(Then::is_complete)
                ),
            );
        }
        self
    }

    /// Checks the instance's state after the step: the closure returns
    /// `bool` (`false` fails) or asserts by itself.
    #[track_caller]
    pub fn then_expect_state<R: StateCheck>(self, check: impl FnOnce(&P) -> R) -> Self {
        if !check(&self.state).passed() {
            self.fail(
                "then_expect_state",
                &format!("the state is not as expected:\n{:#?}", self.state),
            );
        }
        self
    }

    /// What the step decided (`None`: it did not react).
    pub fn decided(&self) -> Option<&Then<P>> {
        self.decided.as_ref()
    }

    /// The state after the step.
    pub fn state(&self) -> &P {
        &self.state
    }
}
