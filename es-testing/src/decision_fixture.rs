//! [`DecisionFixture`]: given events, when a decision runs on decision
//! models, then the events it decided, or its refusal.

use std::fmt::{self, Debug};
use std::sync::Mutex;

use es_core::dcb::{DcbStore, DecisionError, DecisionModel, Decisions, TaggedEvent};
use es_core::{ErrorChain, Event, InMemoryEventStore, Metadata, NewEvent};

use crate::fixture::{StateCheck, check_round_trip};

/// Given/when/then for [decision models](es_core::dcb): the given events
/// are appended with their tags ([`Event::tags`]) to an
/// [`InMemoryEventStore`]; `when` runs the decision with
/// [`Decisions::execute`] as an application does (the model built from its
/// query, the decide function, the conditional append); `then` checks what
/// it decided.
///
/// ```
/// use es_core::dcb::DecisionModel;
/// use es_core::{Apply, Event};
/// use es_testing::DecisionFixture;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
/// struct UsernameClaimed { #[tag] username: String }
///
/// #[derive(Debug, Clone, Default, DecisionModel)]
/// #[decision(events(UsernameClaimed))]
/// struct Username { #[tag] username: String, taken: bool }
/// impl Apply<UsernameClaimed> for Username {
///     fn apply(&mut self, _: &UsernameClaimed) { self.taken = true; }
/// }
///
/// fn claim(m: &Username) -> Result<Vec<UsernameClaimed>, String> {
///     if m.taken { return Err(format!("`{}` is taken", m.username)); }
///     Ok(vec![UsernameClaimed { username: m.username.clone() }])
/// }
///
/// let ada = || Username { username: "ada".into(), ..Username::default() };
/// DecisionFixture::new(ada())
///     .given([UsernameClaimed { username: "bob".into() }])
///     .when(claim)
///     .then_expect_events([UsernameClaimed { username: "ada".into() }]);
/// DecisionFixture::new(ada())
///     .given([UsernameClaimed { username: "ada".into() }])
///     .when(claim)
///     .then_expect_rejected(|e| e == "`ada` is taken");
/// ```
pub struct DecisionFixture<M> {
    model: M,
    runtime: tokio::runtime::Runtime,
    store: InMemoryEventStore,
    history: Vec<String>,
}

impl<M: Debug> Debug for DecisionFixture<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecisionFixture")
            .field("model", &self.model)
            .field("history", &self.history)
            .finish()
    }
}

impl<M: DecisionModel + Clone + Debug> DecisionFixture<M> {
    /// A fixture deciding on `model` (bound to its tags, otherwise empty).
    pub fn new(model: M) -> Self {
        Self {
            model,
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime for the decision fixture"),
            store: InMemoryEventStore::new(),
            history: Vec::new(),
        }
    }

    /// Appends events with their tags, each to the stream its first tag
    /// names (as a decision would), in order.
    #[track_caller]
    pub fn given<E>(mut self, events: impl IntoIterator<Item = E>) -> Self
    where
        E: Event + Debug + PartialEq,
    {
        for e in events {
            check_round_trip(&e, "given");
            let tags = e
                .tags()
                .unwrap_or_else(|err| panic!("given {e:?}: its tags: {err}"));
            let stream = tags.first().map_or_else(
                || format!("Given-{}", e.event_type()),
                |t| t.as_str().replacen(':', "-", 1),
            );
            let new = NewEvent::new(&e, Metadata::new())
                .unwrap_or_else(|err| panic!("{}", ErrorChain(&err)));
            let tag_text: Vec<String> = tags.iter().map(ToString::to_string).collect();
            self.history.push(format!(
                "{} {e:?} [{}]",
                e.event_type(),
                tag_text.join(", ")
            ));
            let store = self.store.clone();
            self.runtime
                .block_on(store.append_tagged(&stream, vec![TaggedEvent::new(new, tags)], None))
                .unwrap_or_else(|err| panic!("given {e:?}: {}", ErrorChain(&err)));
        }
        self
    }

    /// Runs the decision: builds the model from the given events of its
    /// query and calls `decide` on it; what it decided is appended.
    pub fn when<E, Err, F>(self, decide: F) -> DecisionThen<M, E, Err>
    where
        E: Event + Clone,
        Err: Send,
        F: Fn(&M) -> Result<Vec<E>, Err> + Send + Sync,
    {
        // What decide saw and returned (the last call, should it be retried).
        let seen: Mutex<(Option<M>, Vec<E>)> = Mutex::new((None, Vec::new()));
        let decisions = Decisions::new(self.store.clone());
        let outcome = self
            .runtime
            .block_on(decisions.execute(self.model.clone(), |m: &M| {
                let decided = decide(m);
                let mut seen = seen
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                *seen = (
                    Some(m.clone()),
                    decided.as_ref().map(Vec::clone).unwrap_or_default(),
                );
                decided
            }));
        let (model, events) = seen
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        DecisionThen {
            outcome: outcome.map(|_| events),
            model,
            history: self.history,
        }
    }
}

/// What a decision did, to check ([`DecisionFixture::when`]).
pub struct DecisionThen<M, E, Err> {
    outcome: Result<Vec<E>, DecisionError<Err>>,
    /// The model decide saw (none when the decision failed before it).
    model: Option<M>,
    history: Vec<String>,
}

impl<M: Debug, E: Debug + PartialEq, Err: Debug> DecisionThen<M, E, Err> {
    /// The decision appended exactly `expected`, in order.
    #[track_caller]
    pub fn then_expect_events(self, expected: impl IntoIterator<Item = E>) -> Self {
        let expected: Vec<E> = expected.into_iter().collect();
        match &self.outcome {
            Ok(events) if *events == expected => {}
            Ok(events) => self.fail(format_args!(
                "the decision appended\n  {events:?}\nand should have appended\n  {expected:?}"
            )),
            Err(e) => self.fail(format_args!(
                "the decision failed ({e:?}), and should have appended\n  {expected:?}"
            )),
        }
        self
    }

    /// The decision appended nothing and was not refused.
    #[track_caller]
    pub fn then_expect_nothing(self) -> Self {
        self.then_expect_events([])
    }

    /// The rule refused: `check` gets the decide function's error.
    #[track_caller]
    pub fn then_expect_rejected<R: StateCheck>(self, check: impl FnOnce(&Err) -> R) -> Self {
        match &self.outcome {
            Err(DecisionError::Rejected(e)) => {
                if !check(e).passed() {
                    self.fail(format_args!(
                        "the decision was refused with {e:?}, not as expected"
                    ));
                }
            }
            Err(other) => self.fail(format_args!(
                "the decision failed with {other:?}, and should have been refused"
            )),
            Ok(events) => self.fail(format_args!(
                "the decision appended {events:?}, and should have been refused"
            )),
        }
        self
    }

    /// Checks the model as the decision saw it (built from the given
    /// events of its query), whether it decided events or refused.
    #[track_caller]
    pub fn then_expect_model<R: StateCheck>(self, check: impl FnOnce(&M) -> R) -> Self {
        match (&self.model, &self.outcome) {
            (Some(model), _) => {
                if !check(model).passed() {
                    self.fail(format_args!("the model is not as expected:\n{model:#?}"));
                }
            }
            (None, Err(e)) => self.fail(format_args!(
                "the decision failed ({e:?}) before it decided: there is no model to check"
            )),
            (None, Ok(_)) => self.fail(format_args!("the decision did not run")),
        }
        self
    }

    #[track_caller]
    fn fail(&self, what: fmt::Arguments<'_>) -> ! {
        let given = if self.history.is_empty() {
            "  (no events)".to_owned()
        } else {
            self.history
                .iter()
                .enumerate()
                .map(|(i, h)| format!("  {}. {h}", i + 1))
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!("{what}\n\ngiven:\n{given}")
    }
}
