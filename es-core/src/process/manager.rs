//! What a user writes: a [`ProcessManager`], its [`React`] impls, and the
//! [`Then`] its decisions fill.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::envelope::{Metadata, Recorded, RecordedEvent, Timestamp};
use crate::error::BoxError;
use crate::event::DecodeError;
use crate::repository::{Executed, RepositoryError};
use crate::store::{EventStore, SnapshotStore};

/// A process manager (a saga): durable state per instance, kept by the
/// framework, that reacts to events of any aggregates by sending commands
/// to aggregates and scheduling deadlines.
///
/// Each instance is found by a key the event carries (an order id). Its
/// decisions are plain functions of its state and the event, written in
/// [`React`] impls; they fill a [`Then`] with what should happen, and the
/// [`ProcessRunner`](super::ProcessRunner) does it: the new state, the
/// commands and the deadlines are stored with the consumer's checkpoint in
/// one transaction, then each command is executed once (its command id is
/// derived from the process, the instance, the triggering event and the
/// command's index), and a rejection comes back to [`on_rejected`](Self::on_rejected).
///
/// `#[derive(ProcessManager)]` writes this impl from the listed events and
/// the key; writing it by hand looks like this:
///
/// ```
/// use es_core::process::{NoDeadline, ProcessManager, React, Received, Rejected, Then};
/// use es_core::{DecodeError, Recorded, RecordedEvent};
/// use serde::{Deserialize, Serialize};
/// # use es_core::{Aggregate, Apply, Event, Handle};
/// # #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
/// # struct OrderPlaced { order_id: String, sku: String }
/// # #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
/// # struct StockReserved { order_id: String }
/// # #[derive(Debug, Clone, Event)] enum StockEvent { Reserved(StockReserved) }
/// # #[derive(Debug, Default, Serialize, Deserialize, Aggregate)]
/// # #[aggregate(event = StockEvent)] struct Stock;
/// # impl Apply<StockReserved> for Stock { fn apply(&mut self, _: &StockReserved) {} }
/// # #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// # struct Reserve { order_id: String }
/// # impl Handle<Reserve> for Stock { type Error = std::convert::Infallible;
/// #     fn handle(&self, c: Reserve) -> Result<Vec<StockEvent>, Self::Error> {
/// #         Ok(vec![StockReserved { order_id: c.order_id }.into()]) } }
/// # #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// # enum ShopCommand { Reserve(Reserve) }
/// # impl From<Reserve> for ShopCommand { fn from(c: Reserve) -> Self { Self::Reserve(c) } }
/// # impl es_core::process::ProcessCommand for ShopCommand {
/// #     fn aggregate(&self) -> &'static str { "Stock" }
/// #     async fn execute<S: es_core::EventStore + es_core::SnapshotStore>(self, store: &S, id: &str, m: es_core::Metadata)
/// #         -> Result<(), es_core::process::CommandFailure> {
/// #         match self { Self::Reserve(c) => es_core::process::outcome(
/// #             es_core::Repository::<Stock, S>::new(store.clone()).execute_with(id, c, m).await) } } }
///
/// #[derive(Debug, Default, Serialize, Deserialize)]
/// struct Checkout { reserved: bool }
///
/// impl ProcessManager for Checkout {
///     const NAME: &'static str = "checkout";
///     const EVENT_TYPES: &'static [&'static str] = &["OrderPlaced", "StockReserved"];
///     type Command = ShopCommand;
///     type Deadline = NoDeadline;
///     fn receive(e: &RecordedEvent) -> Result<Option<Received<Self>>, DecodeError> {
///         Ok(match e.event_type.as_str() {
///             "OrderPlaced" => {
///                 let placed = Recorded::<OrderPlaced>::decode(e)?;
///                 Some(Received::new(placed.event.order_id.clone(), placed))
///             }
///             "StockReserved" => {
///                 let reserved = Recorded::<StockReserved>::decode(e)?;
///                 Some(Received::new(reserved.event.order_id.clone(), reserved))
///             }
///             _ => None,
///         })
///     }
///     fn on_rejected(&mut self, _: &Rejected<ShopCommand>, then: &mut Then<Self>) {
///         then.complete();
///     }
///     fn on_deadline(&mut self, d: &NoDeadline, _: &mut Then<Self>) { match *d {} }
/// }
///
/// impl React<OrderPlaced> for Checkout {
///     fn react(&mut self, e: &Recorded<OrderPlaced>, then: &mut Then<Self>) {
///         then.send(&e.event.sku, Reserve { order_id: e.event.order_id.clone() });
///     }
/// }
/// impl React<StockReserved> for Checkout {
///     fn react(&mut self, _: &Recorded<StockReserved>, then: &mut Then<Self>) {
///         self.reserved = true;
///         then.complete();
///     }
/// }
/// ```
pub trait ProcessManager: Default + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The name its checkpoint, instances, commands and deadlines are kept
    /// under; its own stream of rejections and deadlines is `{NAME}-{key}`.
    const NAME: &'static str;
    /// The stored type names (and aliases) of the events it reacts to.
    const EVENT_TYPES: &'static [&'static str];
    /// The commands it sends (see [`ProcessCommand`]).
    type Command: ProcessCommand;
    /// Its deadlines ([`NoDeadline`] when it has none). A deadline is
    /// identified by its value: scheduling an equal one replaces it.
    type Deadline: Serialize + DeserializeOwned + Clone + PartialEq + Debug + Send + Sync + 'static;

    /// Decodes an event of a listed type and says which instance it
    /// belongs to; `None` for an event it does not react to.
    fn receive(event: &RecordedEvent) -> Result<Option<Received<Self>>, DecodeError>;

    /// A command it sent was rejected by its aggregate (the place for
    /// compensation).
    fn on_rejected(&mut self, rejected: &Rejected<Self::Command>, then: &mut Then<Self>);

    /// A deadline it scheduled is due (and was not cancelled).
    fn on_deadline(&mut self, deadline: &Self::Deadline, then: &mut Then<Self>);
}

/// Reacts to one event type: changes the instance's state and says, in
/// `then`, what should happen next.
///
/// Reactions are pure: no I/O, no clock (the trigger's time is
/// [`Then::now`]), so a test can drive them with events alone.
#[diagnostic::on_unimplemented(
    message = "process manager `{Self}` has no reaction to `{E}`",
    label = "listed in `events(…)` but not handled",
    note = "implement `es_core::process::React<{E}>` for `{Self}`: `fn react(&mut self, e: &Recorded<{E}>, then: &mut Then<Self>)`"
)]
pub trait React<E>: ProcessManager {
    /// Reacts to `event`.
    fn react(&mut self, event: &Recorded<E>, then: &mut Then<Self>);
}

/// Hears that a command the process manager sent was rejected by its
/// aggregate: the place for compensation. `#[derive(ProcessManager)]`
/// routes [`ProcessManager::on_rejected`] here.
#[diagnostic::on_unimplemented(
    message = "process manager `{Self}` does not say what a rejected command does",
    label = "needs an `OnRejected` impl",
    note = "implement `es_core::process::OnRejected` for `{Self}`: `fn rejected(&mut self, r: &Rejected<Self::Command>, then: &mut Then<Self>)` (the place for compensation; an empty body ignores rejections)"
)]
pub trait OnRejected: ProcessManager {
    /// `rejected.command`, sent to `rejected.id`, was rejected.
    fn rejected(&mut self, rejected: &Rejected<Self::Command>, then: &mut Then<Self>);
}

/// Hears that a deadline the process manager scheduled is due.
/// `#[derive(ProcessManager)]` with `deadlines = T` routes
/// [`ProcessManager::on_deadline`] here.
#[diagnostic::on_unimplemented(
    message = "process manager `{Self}` has deadlines but does not say what a due one does",
    label = "needs an `OnDeadline` impl",
    note = "implement `es_core::process::OnDeadline` for `{Self}`: `fn deadline(&mut self, d: &Self::Deadline, then: &mut Then<Self>)`"
)]
pub trait OnDeadline: ProcessManager {
    /// `deadline` is due (and was not cancelled).
    fn deadline(&mut self, deadline: &Self::Deadline, then: &mut Then<Self>);
}

/// How often a process manager's command is decided again on a version
/// conflict before the dispatcher gives up on this round (and tries again
/// later): what `#[derive(ProcessCommand)]` passes to
/// [`Repository::retry_on_conflict`](crate::Repository::retry_on_conflict).
pub const COMMAND_RETRIES: u32 = 10;

type Reaction<P> = Box<dyn FnOnce(&mut P, &mut Then<P>) + Send>;

/// A decoded event, the key of the instance it belongs to, and the
/// reaction to run on that instance.
pub struct Received<P: ProcessManager> {
    key: String,
    at: Timestamp,
    react: Reaction<P>,
}

impl<P: ProcessManager> Received<P> {
    /// `event` for the instance `key`, handled by `P`'s [`React<E>`].
    pub fn new<E>(key: impl Into<String>, event: Recorded<E>) -> Self
    where
        P: React<E>,
        E: Send + 'static,
    {
        Self {
            key: key.into(),
            at: event.recorded_at,
            react: Box::new(move |process: &mut P, then: &mut Then<P>| process.react(&event, then)),
        }
    }

    /// The instance's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Runs the reaction on `process`: what it decided.
    pub fn react(self, process: &mut P) -> Then<P> {
        let mut then = Then::new(self.at);
        (self.react)(process, &mut then);
        then
    }
}

impl<P: ProcessManager> Debug for Received<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Received").field("key", &self.key).finish()
    }
}

/// A command of a process manager, addressed to one aggregate instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent<C> {
    /// The target aggregate's id (not its stream id).
    pub id: String,
    /// The command.
    pub command: C,
}

impl<C> Sent<C> {
    /// `command` to the aggregate `id`.
    ///
    /// ```
    /// let s = es_core::process::Sent::<u64>::new("sku-1", 3_u32);
    /// assert_eq!((s.id.as_str(), s.command), ("sku-1", 3));
    /// ```
    pub fn new(id: impl Into<String>, command: impl Into<C>) -> Self {
        Self {
            id: id.into(),
            command: command.into(),
        }
    }
}

/// What a reaction decided: commands to send, deadlines to schedule or
/// cancel, and whether the instance is finished.
#[derive(Debug)]
pub struct Then<P: ProcessManager> {
    now: Timestamp,
    pub(crate) sent: Vec<Sent<P::Command>>,
    pub(crate) scheduled: Vec<(P::Deadline, Timestamp)>,
    pub(crate) cancelled: Vec<P::Deadline>,
    pub(crate) completed: bool,
}

impl<P: ProcessManager> Then<P> {
    /// Nothing decided yet, for a trigger recorded at `now`.
    pub fn new(now: Timestamp) -> Self {
        Self {
            now,
            sent: Vec::new(),
            scheduled: Vec::new(),
            cancelled: Vec::new(),
            completed: false,
        }
    }

    /// When the triggering event (or deadline) was recorded: the clock
    /// reactions use, so they stay pure.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Sends `command` to the aggregate `id` (the command's type says which
    /// aggregate, see [`ProcessCommand`]). Commands go out in the order sent.
    pub fn send(&mut self, id: impl Into<String>, command: impl Into<P::Command>) {
        self.sent.push(Sent::new(id, command));
    }

    /// Schedules `deadline` `after` the trigger's time, replacing an equal
    /// one that is still pending.
    pub fn schedule(&mut self, deadline: P::Deadline, after: Duration) {
        let after = chrono::Duration::from_std(after).unwrap_or(chrono::Duration::MAX);
        let at = self
            .now
            .checked_add_signed(after)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
        self.schedule_at(deadline, at);
    }

    /// Schedules `deadline` at `at`, replacing an equal one still pending.
    pub fn schedule_at(&mut self, deadline: P::Deadline, at: Timestamp) {
        self.cancelled.retain(|d| *d != deadline);
        self.scheduled.retain(|(d, _)| *d != deadline);
        self.scheduled.push((deadline, at));
    }

    /// Cancels `deadline` (scheduled earlier or in this reaction); a
    /// deadline not pending is ignored.
    pub fn cancel(&mut self, deadline: P::Deadline) {
        self.scheduled.retain(|(d, _)| *d != deadline);
        self.cancelled.push(deadline);
    }

    /// Finishes the instance: later events of its key are ignored, and its
    /// pending deadlines are cancelled. The commands sent still go out.
    pub fn complete(&mut self) {
        self.completed = true;
    }

    /// The commands sent, in order.
    pub fn sent(&self) -> &[Sent<P::Command>] {
        &self.sent
    }

    /// The deadlines scheduled, with when they are due.
    pub fn scheduled(&self) -> &[(P::Deadline, Timestamp)] {
        &self.scheduled
    }

    /// The deadlines cancelled.
    pub fn cancelled(&self) -> &[P::Deadline] {
        &self.cancelled
    }

    /// Whether the instance is finished.
    pub fn is_complete(&self) -> bool {
        self.completed
    }
}

/// A command a process manager sent that its aggregate rejected.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected<C> {
    /// The aggregate's id.
    pub id: String,
    /// The command.
    pub command: C,
    /// Why: the aggregate's error, with its causes.
    pub reason: String,
}

/// The deadline type of a process manager that has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum NoDeadline {}

/// The commands a process manager sends: one serde enum over command types,
/// each of which goes to one aggregate type. The runner stores them as JSON
/// and executes each through a [`Repository`](crate::Repository).
///
/// `#[derive(ProcessCommand)]` writes it from `#[command(to = Aggregate)]`
/// on each variant; by hand, [`outcome`] maps the repository's result.
pub trait ProcessCommand:
    Serialize + DeserializeOwned + Clone + PartialEq + Debug + Send + Sync + 'static
{
    /// The name of the aggregate type it goes to ([`Aggregate::NAME`](crate::Aggregate::NAME)).
    fn aggregate(&self) -> &'static str;

    /// Executes it on the aggregate `id`, with `metadata` (which carries the
    /// command id that makes a repeat a no-op).
    fn execute<S: EventStore + SnapshotStore>(
        self,
        store: &S,
        id: &str,
        metadata: Metadata,
    ) -> impl Future<Output = Result<(), CommandFailure>> + Send;
}

/// Why a process manager's command did not go through.
#[derive(Debug, thiserror::Error)]
pub enum CommandFailure {
    /// The aggregate rejected it (or its id makes no valid stream): the
    /// process manager hears of it through [`ProcessManager::on_rejected`].
    #[error("rejected: {0}")]
    Rejected(String),
    /// Anything else (the store, a version conflict that outlasted the
    /// retries, an event that does not decode): tried again later, in order.
    #[error(transparent)]
    Failed(BoxError),
}

/// Maps a repository's result to a [`ProcessCommand::execute`] outcome.
///
/// ```
/// use es_core::process::{outcome, CommandFailure};
/// use es_core::RepositoryError;
/// # use es_core::{Aggregate, Event};
/// # #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Event)] struct Counted {}
/// # #[derive(Debug, Default, serde::Serialize, serde::Deserialize, Aggregate)]
/// # #[aggregate(event = Counted)] struct Stock;
/// # impl es_core::Apply<Counted> for Stock { fn apply(&mut self, _: &Counted) {} }
/// # #[derive(Debug, thiserror::Error)] #[error("no stock")] struct NoStock;
/// let r: Result<es_core::Executed<Stock>, _> = Err(RepositoryError::Rejected {
///     stream_id: "Stock-1".into(),
///     error: NoStock,
/// });
/// assert!(matches!(outcome(r), Err(CommandFailure::Rejected(reason)) if reason == "no stock"));
/// ```
pub fn outcome<A, E>(result: Result<Executed<A>, RepositoryError<E>>) -> Result<(), CommandFailure>
where
    A: crate::Aggregate,
    E: std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(()),
        Err(RepositoryError::Rejected { error, .. }) => Err(CommandFailure::Rejected(
            crate::error::ErrorChain(&error).to_string(),
        )),
        Err(e @ RepositoryError::InvalidStreamId { .. }) => Err(CommandFailure::Rejected(
            crate::error::ErrorChain(&e).to_string(),
        )),
        Err(e) => Err(CommandFailure::Failed(Box::new(e))),
    }
}
