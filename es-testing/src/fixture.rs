//! [`AggregateFixture`]: given past events, when a command, then new events,
//! an error, or a state.

use std::fmt::{Debug, Write as _};

use es_core::{Aggregate, Event, Handle};

use crate::render::{self, Shown};

/// A given/when/then test of one aggregate's decisions.
///
/// The fixture folds the `given` events into a fresh state (`A::default()`),
/// hands the command to [`Handle::handle`], applies what it produced, and lets
/// the `then_*` calls check the outcome. Every event it sees (given and
/// produced) is first encoded and decoded through `A::Event`, so an event
/// whose serde round trip loses or changes data fails the test.
///
/// See the [crate docs](crate) for a complete example.
pub struct AggregateFixture<A: Aggregate> {
    given: Vec<A::Event>,
}

impl<A: Aggregate> Default for AggregateFixture<A>
where
    A::Event: Debug + PartialEq,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<A: Aggregate> Debug for AggregateFixture<A>
where
    A::Event: Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AggregateFixture")
            .field("aggregate", &A::NAME)
            .field("given", &self.given)
            .finish()
    }
}

impl<A: Aggregate> AggregateFixture<A>
where
    A::Event: Debug + PartialEq,
{
    /// A fixture with no history.
    pub fn new() -> Self {
        Self { given: Vec::new() }
    }

    /// The aggregate's history: these events happened, in this order.
    ///
    /// Each event is round-tripped through its encoding first; a lossy
    /// serde mapping panics here, naming the event and the field. Calling
    /// `given` again adds to the history, like [`and`](Self::and).
    #[track_caller]
    pub fn given(mut self, events: impl IntoIterator<Item = A::Event>) -> Self {
        for event in events {
            let n = self.given.len() + 1;
            check_round_trip(&event, &format!("given event {n}"));
            self.given.push(event);
        }
        self
    }

    /// No history: the command meets a fresh aggregate (this clears any
    /// history given before).
    pub fn given_no_events(mut self) -> Self {
        self.given.clear();
        self
    }

    /// More history, after the events given so far.
    #[track_caller]
    pub fn and(self, events: impl IntoIterator<Item = A::Event>) -> Self {
        self.given(events)
    }

    /// Decides a command on the state the history built, then applies the
    /// events it produced. The returned [`Then`] checks the outcome.
    #[track_caller]
    pub fn when<C>(self, command: C) -> Then<A, <A as Handle<C>>::Error>
    where
        A: Handle<C>,
    {
        let mut state = A::default();
        for event in &self.given {
            state.apply_event(event);
        }
        let result = state.handle(command);
        if let Ok(events) = &result {
            for (i, event) in events.iter().enumerate() {
                check_round_trip(event, &format!("produced event {}", i + 1));
                state.apply_event(event);
            }
        }
        Then {
            given: self.given,
            command: render::short_type_name::<C>(),
            result,
            state,
        }
    }
}

/// The outcome of [`AggregateFixture::when`]: check it with the `then_*`
/// calls, which chain.
///
/// `Err` is the command's error type (`<A as Handle<C>>::Error`).
pub struct Then<A: Aggregate, Err> {
    given: Vec<A::Event>,
    command: String,
    result: Result<Vec<A::Event>, Err>,
    state: A,
}

impl<A: Aggregate, Err: Debug> Debug for Then<A, Err>
where
    A::Event: Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Then")
            .field("aggregate", &A::NAME)
            .field("given", &self.given)
            .field("command", &self.command)
            .field("result", &self.result)
            .finish_non_exhaustive()
    }
}

/// What a [`Then::then_expect_state`] closure may return: `()` (the closure
/// asserts by itself) or `bool` (`false` fails the test).
pub trait StateCheck {
    /// Whether the check passed.
    fn passed(self) -> bool;
}

impl StateCheck for () {
    fn passed(self) -> bool {
        true
    }
}

impl StateCheck for bool {
    fn passed(self) -> bool {
        self
    }
}

impl<A: Aggregate, Err> Then<A, Err>
where
    A::Event: Debug + PartialEq,
    Err: std::error::Error,
{
    /// The command must have produced exactly these events, in this order
    /// (compared with `PartialEq`).
    #[track_caller]
    pub fn then_expect_events(self, expected: impl IntoIterator<Item = A::Event>) -> Self {
        let expected: Vec<A::Event> = expected.into_iter().collect();
        let actual = match &self.result {
            Ok(actual) => actual,
            Err(error) => self.fail(
                "then_expect_events",
                &format!(
                    "the command was rejected, but {} {} expected.\n\
                     error: {error}\n\
                     error (Debug): {error:?}\n\n\
                     expected ({}):\n{}",
                    render::count(expected.len()),
                    if expected.len() == 1 { "was" } else { "were" },
                    render::count(expected.len()),
                    render::list(&expected, "  "),
                ),
            ),
        };
        if *actual == expected {
            return self;
        }
        let mut msg = format!(
            "the command produced other events than expected: expected {}, got {}.\n",
            render::count(expected.len()),
            render::count(actual.len())
        );
        for i in 0..expected.len().max(actual.len()) {
            let (e, a) = (expected.get(i), actual.get(i));
            let _ = writeln!(msg);
            match (e, a) {
                (Some(e), Some(a)) if e == a => {
                    let _ = writeln!(msg, "event {}: same: {}", i + 1, Shown::of(a).line());
                }
                (Some(e), Some(a)) => {
                    let (se, sa) = (Shown::of(e), Shown::of(a));
                    let _ = writeln!(msg, "event {}: DIFFERS", i + 1);
                    let _ = writeln!(msg, "  expected: {}", se.line());
                    let _ = writeln!(msg, "  actual:   {}", sa.line());
                    if se.event_type != sa.event_type {
                        let _ = writeln!(
                            msg,
                            "  event type: expected `{}`, actual `{}`",
                            se.event_type, sa.event_type
                        );
                    } else {
                        if se.version != sa.version {
                            let _ = writeln!(
                                msg,
                                "  schema version: expected {}, actual {}",
                                se.version, sa.version
                            );
                        }
                        let mut fields = Vec::new();
                        render::json_differences("", &se.payload, &sa.payload, &mut fields);
                        if fields.is_empty() {
                            // Equal encodings, unequal values: show the Rust values.
                            let _ = writeln!(
                                msg,
                                "  the encodings are equal but the values are not (PartialEq):\n{}",
                                render::line_diff(
                                    &format!("{e:#?}\n"),
                                    &format!("{a:#?}\n"),
                                    "    "
                                )
                            );
                        } else {
                            let _ = writeln!(msg, "  differing fields:");
                            for f in fields {
                                let _ = writeln!(msg, "    {f}");
                            }
                        }
                    }
                }
                (Some(e), None) => {
                    let _ = writeln!(
                        msg,
                        "event {}: MISSING: expected {}, the command produced no such event",
                        i + 1,
                        Shown::of(e).line()
                    );
                }
                (None, Some(a)) => {
                    let _ = writeln!(
                        msg,
                        "event {}: UNEXPECTED: the command also produced {}",
                        i + 1,
                        Shown::of(a).line()
                    );
                }
                (None, None) => {}
            }
        }
        let _ = write!(
            msg,
            "\ndiff (- expected, + actual):\n{}",
            render::events_diff(&expected, actual)
        );
        self.fail("then_expect_events", &msg)
    }

    /// The command must have been accepted and produced no events.
    #[track_caller]
    pub fn then_expect_no_events(self) -> Self {
        match &self.result {
            Ok(events) if events.is_empty() => self,
            Ok(events) => self.fail(
                "then_expect_no_events",
                &format!(
                    "no events were expected, but the command produced {}:\n{}",
                    render::count(events.len()),
                    render::list(events, "  ")
                ),
            ),
            Err(error) => self.fail(
                "then_expect_no_events",
                &format!(
                    "the command was rejected, but it was expected to succeed with no events.\n\
                     error: {error}\n\
                     error (Debug): {error:?}"
                ),
            ),
        }
    }

    /// The command must have been rejected with this error (by `PartialEq`).
    #[track_caller]
    pub fn then_expect_error(self, expected: Err) -> Self
    where
        Err: PartialEq,
    {
        match &self.result {
            Err(actual) if *actual == expected => self,
            Err(actual) => self.fail(
                "then_expect_error",
                &format!(
                    "the command was rejected with another error than expected.\n\
                     expected: {expected:?}\n  \
                     ({expected})\n\
                     actual:   {actual:?}\n  \
                     ({actual})"
                ),
            ),
            Ok(events) => self.fail(
                "then_expect_error",
                &format!(
                    "the command was accepted, but it was expected to be rejected.\n\
                     expected error: {expected:?} ({expected})\n\
                     produced ({}):\n{}",
                    render::count(events.len()),
                    render::list(events, "  ")
                ),
            ),
        }
    }

    /// The command must have been rejected with an error for which the
    /// predicate returns `true`.
    #[track_caller]
    pub fn then_expect_error_matches(self, predicate: impl FnOnce(&Err) -> bool) -> Self {
        match &self.result {
            Err(actual) if predicate(actual) => self,
            Err(actual) => self.fail(
                "then_expect_error_matches",
                &format!(
                    "the command was rejected, but the predicate does not accept its error.\n\
                     error: {actual:?} ({actual})"
                ),
            ),
            Ok(events) => self.fail(
                "then_expect_error_matches",
                &format!(
                    "the command was accepted, but it was expected to be rejected.\n\
                     produced ({}):\n{}",
                    render::count(events.len()),
                    render::list(events, "  ")
                ),
            ),
        }
    }

    /// Checks the state after the command: the history's state with the
    /// produced events applied (unchanged when the command was rejected).
    ///
    /// The closure either asserts by itself (returns `()`) or returns a
    /// `bool`; `false` fails the test and prints the state as JSON.
    #[track_caller]
    pub fn then_expect_state<R: StateCheck>(self, check: impl FnOnce(&A) -> R) -> Self {
        if check(&self.state).passed() {
            return self;
        }
        let state = serde_json::to_string_pretty(&self.state)
            .unwrap_or_else(|e| format!("<cannot serialize the state: {e}>"));
        let outcome = match &self.result {
            Ok(events) => format!(
                "the command produced ({}):\n{}",
                render::count(events.len()),
                render::list(events, "  ")
            ),
            Err(error) => format!("the command was rejected (state unchanged): {error}\n"),
        };
        self.fail(
            "then_expect_state",
            &format!(
                "the state check returned false.\n{outcome}\nstate after the command:\n{}\n",
                indent(&state, "  ")
            ),
        )
    }

    /// Snapshots the produced events (type, schema version, payload) as YAML
    /// with insta, in a `snapshots` directory next to the calling test file,
    /// as `{name}.snap`. A rejected command fails the test.
    #[cfg(feature = "insta")]
    #[track_caller]
    pub fn then_snapshot_events(self, name: &str) -> Self {
        #[derive(serde::Serialize)]
        struct SnapshotEvent {
            event_type: &'static str,
            schema_version: u32,
            payload: serde_json::Value,
        }
        let events = match &self.result {
            Ok(events) => events,
            Err(error) => self.fail(
                "then_snapshot_events",
                &format!("the command was rejected, so there are no events to snapshot.\nerror: {error:?} ({error})"),
            ),
        };
        let shown: Vec<SnapshotEvent> = events
            .iter()
            .map(|e| {
                let s = Shown::of(e);
                SnapshotEvent {
                    event_type: s.event_type,
                    schema_version: s.version,
                    payload: s.payload,
                }
            })
            .collect();
        let caller = std::panic::Location::caller();
        let mut settings = insta::Settings::clone_current();
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        settings.set_input_file(caller.file());
        if let Some(dir) = snapshot_dir(caller.file()) {
            settings.set_snapshot_path(dir);
        }
        settings.bind(|| insta::assert_yaml_snapshot!(name, shown));
        self
    }

    /// The events the command produced, or `None` when it was rejected.
    pub fn events(&self) -> Option<&[A::Event]> {
        self.result.as_ref().ok().map(Vec::as_slice)
    }

    /// The command's error, or `None` when it was accepted.
    pub fn error(&self) -> Option<&Err> {
        self.result.as_ref().err()
    }

    /// The state after the command (see [`then_expect_state`](Self::then_expect_state)).
    pub fn state(&self) -> &A {
        &self.state
    }

    /// Panics with the check's name, what went wrong, and the test's context.
    #[track_caller]
    fn fail(&self, check: &str, what: &str) -> ! {
        let what = what.trim_end();
        panic!(
            "{check} failed for aggregate `{}`: {what}\n\n\
             given ({}):\n{}\
             when: {}\n",
            A::NAME,
            render::count(self.given.len()),
            render::list(&self.given, "  "),
            self.command,
        )
    }
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|l| format!("{prefix}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where `then_snapshot_events` keeps snapshots: `snapshots/` next to the
/// calling file. The caller's path is relative to the workspace root, which
/// is the test's manifest directory or one of its ancestors.
#[cfg(feature = "insta")]
fn snapshot_dir(caller_file: &str) -> Option<std::path::PathBuf> {
    let file = std::path::Path::new(caller_file);
    if file.is_absolute() {
        return Some(file.parent()?.join("snapshots"));
    }
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")?;
    std::path::Path::new(&manifest)
        .ancestors()
        .map(|dir| dir.join(file))
        .find(|candidate| candidate.is_file())
        .and_then(|found| Some(found.parent()?.join("snapshots")))
}

/// Encodes and decodes an event through its own type; panics, naming the
/// event and the field, when the round trip loses or changes anything.
#[track_caller]
pub(crate) fn check_round_trip<E: Event + Debug + PartialEq>(event: &E, role: &str) {
    let event_type = event.event_type();
    let version = event.schema_version();
    let rust_type = render::short_type_name::<E>();
    let Some(info) = E::EVENT_TYPES.iter().find(|t| t.name == event_type) else {
        panic!(
            "round trip of {role} failed: `{rust_type}` says its event type is `{event_type}`, \
             but its EVENT_TYPES registry does not list that name (it lists: {}).\nevent: {event:?}",
            E::type_names().join(", ")
        );
    };
    if info.version != version {
        panic!(
            "round trip of {role} `{event_type}` failed: the value says schema version {version}, \
             but the registry of `{rust_type}` says the current version is {}.\nevent: {event:?}",
            info.version
        );
    }
    let bytes = event.encode().unwrap_or_else(|e| {
        panic!("round trip of {role} `{event_type}` failed: it cannot be encoded: {e}\nevent: {event:?}", e = es_core::ErrorChain(&e))
    });
    let payload = String::from_utf8_lossy(&bytes).into_owned();
    let decoded = E::decode(event_type, version, &bytes).unwrap_or_else(|e| {
        panic!(
            "round trip of {role} `{event_type}` (schema version {version}) failed: \
             it does not decode from its own encoding: {e}\n\
             encoded payload: {payload}\nevent: {event:?}",
            e = es_core::ErrorChain(&e)
        )
    });
    if decoded.event_type() != event_type {
        panic!(
            "round trip of {role} `{event_type}` failed: it decodes as a `{}` event.\n\
             encoded payload: {payload}\nbefore: {event:?}\nafter:  {decoded:?}",
            decoded.event_type()
        );
    }
    if decoded != *event {
        let fields = render::debug_field_changes(event, &decoded);
        let mut msg = format!(
            "round trip of {role} `{event_type}` (schema version {version}) failed: \
             the event changed when encoded and decoded"
        );
        if fields.is_empty() {
            msg.push_str(".\n");
        } else {
            let names: Vec<String> = fields.iter().map(|(f, _)| format!("`{f}`")).collect();
            let _ = writeln!(
                msg,
                ": field {} was lost or changed.",
                names.join(", field ")
            );
            for (field, lines) in &fields {
                let _ = writeln!(msg, "  {field}: {lines}");
            }
        }
        let _ = write!(
            msg,
            "encoded payload: {payload}\n\
             diff (- before, + after the round trip):\n{}\
             Check the serde attributes of `{rust_type}` (skip, default, rename, with, \
             custom (de)serializers): what is encoded must decode to the same value.",
            render::line_diff(&format!("{event:#?}\n"), &format!("{decoded:#?}\n"), "  ")
        );
        panic!("{msg}");
    }
    let again = decoded.encode().unwrap_or_else(|e| {
        panic!("round trip of {role} `{event_type}` failed: the decoded event cannot be encoded again: {e}", e = es_core::ErrorChain(&e))
    });
    if again != bytes {
        let first: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let second: serde_json::Value = serde_json::from_slice(&again).unwrap_or_default();
        let mut fields = Vec::new();
        render::json_differences("", &first, &second, &mut fields);
        if !fields.is_empty() {
            panic!(
                "round trip of {role} `{event_type}` (schema version {version}) failed: \
                 it encodes differently after a round trip (\"expected\" is the first encoding):\n  {}\n\
                 first encoding:  {payload}\nsecond encoding: {}",
                fields.join("\n  "),
                String::from_utf8_lossy(&again)
            );
        }
    }
}
