//! Decision models and [`Decisions`]: read → decide → conditional append.

use tracing::Instrument;

use super::query::{InvalidTag, Query};
use super::store::{AppendCondition, DcbStore, SequencedEvent, TaggedEvent};
use crate::envelope::{Metadata, NewEvent};
use crate::event::{DecodeError, EncodeError, Event};
use crate::store::StoreError;

/// A small state built from the events of a query: what one rule needs to
/// decide (a course's capacity and its subscriptions; a student's courses).
///
/// `#[derive(DecisionModel)]` writes it from the handled event types, the
/// fields whose values bind the query's tags, and one
/// [`Apply<E>`](crate::Apply) impl per event type. Several models decide
/// together as a tuple: `(CourseCapacity, StudentLimit)` reads the events
/// either needs and hands each to the models whose query it matches.
pub trait DecisionModel: Send + Sync {
    /// The events that decide it (its event types × the tags it is bound
    /// to); an error when a bound value cannot be a tag (an empty id).
    fn query(&self) -> Result<Query, InvalidTag>;

    /// Evolves it by one event of its query, in log order.
    fn apply(&mut self, event: &SequencedEvent) -> Result<(), DecodeError>;
}

macro_rules! tuple_models {
    ($($m:ident . $i:tt),+) => {
        /// Models deciding together: the union of their queries; each
        /// event goes to the models whose query matches it.
        impl<$($m: DecisionModel),+> DecisionModel for ($($m,)+) {
            fn query(&self) -> Result<Query, InvalidTag> {
                let q = Query::items([]);
                $(let q = q.or(self.$i.query()?);)+
                Ok(q)
            }

            fn apply(&mut self, event: &SequencedEvent) -> Result<(), DecodeError> {
                let (t, tags) = (event.event.event_type.as_str(), event.tags.as_slice());
                // A model's query was valid when the whole one was built.
                $(if self.$i.query().is_ok_and(|q| q.matches(t, tags)) {
                    self.$i.apply(event)?;
                })+
                Ok(())
            }
        }
    };
}
tuple_models!(A.0, B.1);
tuple_models!(A.0, B.1, C.2);
tuple_models!(A.0, B.1, C.2, D.3);

/// A decision made: the models as they were decided on, and what was
/// appended.
#[derive(Debug, Clone)]
pub struct Decided<M> {
    /// The models after the events the decision read (not after its own).
    pub model: M,
    /// The events appended (none when the decision was to do nothing).
    pub appended: usize,
    /// The position of the last event appended, if any.
    pub position: Option<u64>,
    /// How many times it read and decided (1 without a conflict).
    pub attempts: u32,
}

/// Why a decision did not append.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecisionError<E> {
    /// The rule refused: the decide function's error.
    #[error("the decision was refused")]
    Rejected(#[source] E),
    /// Other writers kept appending events the decision reads: its
    /// condition failed on every attempt.
    #[error("the decision's events kept changing: its condition failed {attempts} time(s)")]
    Conflict {
        /// Attempts made.
        attempts: u32,
        /// The last failure ([`StoreError::ConditionFailed`]).
        #[source]
        source: StoreError,
    },
    /// A stored event does not decode as a model's type.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A decided event does not encode.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// A decided event's tag is not a valid tag, or it has none (a decided
    /// event needs one: its first names its stream).
    #[error(transparent)]
    Tag(#[from] InvalidTag),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl<E> DecisionError<E> {
    /// The rule's refusal, if that is what it is.
    pub fn rejection(&self) -> Option<&E> {
        match self {
            Self::Rejected(e) => Some(e),
            _ => None,
        }
    }
}

/// Runs decisions on a [`DcbStore`]: reads the events of a model's query,
/// builds the model, calls the decide function, and appends what it
/// decided on the condition that no event matching the query came in since
/// the read; on a conflict it reads and decides again (up to the retries).
///
/// Each decided event is appended with its tags ([`Event::tags`], from its
/// `#[tag]` fields) to the stream its first tag names (`course:c1` →
/// `course-c1`), so aggregates, projections and `read_all` see them as any
/// other event.
///
/// ```
/// use es_core::dcb::{DecisionModel, Decisions, Query, QueryItem, SequencedEvent, Tag};
/// use es_core::{DecodeError, Event, InMemoryEventStore};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
/// struct UsernameClaimed { #[tag] username: String }
///
/// /// Whether a username is taken, by the events tagged with it.
/// #[derive(Debug, Clone)]
/// struct Username { tag: Tag, taken: bool }
/// impl DecisionModel for Username {
///     fn query(&self) -> Result<Query, es_core::dcb::InvalidTag> {
///         Ok(Query::item(QueryItem::new().types(["UsernameClaimed"]).tags([self.tag.clone()])))
///     }
///     fn apply(&mut self, _: &SequencedEvent) -> Result<(), DecodeError> {
///         self.taken = true;
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let decisions = Decisions::new(InMemoryEventStore::new()).retry_on_conflict(3);
/// let claim = |m: &Username| {
///     if m.taken { Err("taken") } else { Ok(vec![UsernameClaimed { username: "ada".into() }]) }
/// };
/// let ada = || Username { tag: Tag::of("username", "ada").unwrap(), taken: false };
/// let done = decisions.execute(ada(), claim).await.unwrap();
/// assert_eq!(done.appended, 1);
/// let again = decisions.execute(ada(), claim).await.unwrap_err();
/// assert_eq!(again.rejection(), Some(&"taken"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Decisions<S> {
    store: S,
    retries: u32,
    page: usize,
}

impl<S: DcbStore> Decisions<S> {
    /// Decisions on `store`, without retries.
    pub fn new(store: S) -> Self {
        Self {
            store,
            retries: 0,
            page: 1000,
        }
    }

    /// On a conflict (another writer appended an event the decision reads
    /// after it read), read and decide again, up to `n` more times.
    #[must_use]
    pub fn retry_on_conflict(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Builds `model` from the events of its query; with the position the
    /// read vouches for (an append condition's `after`).
    pub async fn load<M: DecisionModel>(
        &self,
        model: M,
    ) -> Result<(M, u64), DecisionError<std::convert::Infallible>> {
        self.build(model).await
    }

    async fn build<M: DecisionModel, X>(&self, mut model: M) -> Result<(M, u64), DecisionError<X>> {
        let query = model.query()?;
        let mut after = 0;
        loop {
            let page = self
                .store
                .read_query(&query, after, self.page)
                .await
                .map_err(DecisionError::Store)?;
            for e in &page.events {
                model.apply(e)?;
            }
            let full = page.events.len() >= self.page;
            after = page.scanned_to;
            if !full {
                return Ok((model, after));
            }
        }
    }

    /// Reads, decides with `decide`, and appends what it decided under the
    /// condition of the model's query; on a conflict, again (see
    /// [`Decisions::retry_on_conflict`]). `decide` may run more than once:
    /// keep it free of side effects.
    pub async fn execute<M, E, Err, F>(
        &self,
        model: M,
        decide: F,
    ) -> Result<Decided<M>, DecisionError<Err>>
    where
        M: DecisionModel + Clone,
        E: Event,
        F: Fn(&M) -> Result<Vec<E>, Err> + Send + Sync,
        Err: Send,
    {
        let span = tracing::debug_span!(
            "es.decision",
            attempts = tracing::field::Empty,
            events = tracing::field::Empty,
        );
        let decided = async {
            let query = model.query()?;
            let mut attempts = 0;
            loop {
                attempts += 1;
                let (built, after) = self.build(model.clone()).await?;
                let events = decide(&built).map_err(DecisionError::Rejected)?;
                if events.is_empty() {
                    return Ok(Decided {
                        model: built,
                        appended: 0,
                        position: None,
                        attempts,
                    });
                }
                let (stream, tagged) = tagged_events(&events)?;
                let condition = AppendCondition::new(query.clone(), after);
                match self
                    .store
                    .append_tagged(&stream, tagged, Some(&condition))
                    .await
                {
                    Ok(done) => {
                        return Ok(Decided {
                            model: built,
                            appended: events.len(),
                            position: done.last_position,
                            attempts,
                        });
                    }
                    Err(e @ StoreError::ConditionFailed { .. }) => {
                        if attempts > self.retries {
                            return Err(DecisionError::Conflict {
                                attempts,
                                source: e,
                            });
                        }
                        tracing::debug!(
                            attempts,
                            "a decision's condition failed; reading and deciding again"
                        );
                    }
                    Err(e) => return Err(DecisionError::Store(e)),
                }
            }
        }
        .instrument(span.clone())
        .await;
        if let Ok(d) = &decided {
            span.record("attempts", d.attempts);
            span.record("events", d.appended);
        }
        decided
    }
}

/// The stream a decision's events go to (named by the first event's first
/// tag) and the events with their tags.
fn tagged_events<E: Event, Err>(
    events: &[E],
) -> Result<(String, Vec<TaggedEvent>), DecisionError<Err>> {
    let mut stream = None;
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let tags = e.tags()?;
        if stream.is_none() {
            let Some(first) = tags.first() else {
                return Err(DecisionError::Tag(InvalidTag {
                    tag: String::new(),
                    reason: "a decided event needs a tag (mark a field #[tag]): its first tag names its stream",
                }));
            };
            stream = Some(first.as_str().replacen(':', "-", 1));
        }
        out.push(TaggedEvent::new(NewEvent::new(e, Metadata::new())?, tags));
    }
    Ok((stream.unwrap_or_default(), out))
}
