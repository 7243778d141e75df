//! [`DocumentFixture`]: given recorded events, then assertions on the
//! documents of a [document projection](es_core::document).

use std::fmt::{self, Debug};

use es_core::consumer::Engine;
use es_core::document::{Document, DocumentProjection, Documents, Filter};
use es_core::{
    ErrorChain, Event, EventStore, ExpectedVersion, InMemoryEventStore, Metadata, NewEvent,
};

use crate::fixture::{StateCheck, check_round_trip};

/// Runs a [`Document`] projection over events from any aggregates, then
/// checks its documents.
///
/// The fixture runs the projection as an application does: on the
/// framework's [`Engine`] over an [`InMemoryEventStore`], so the routing,
/// the handlers, creation and deletion, and the documents' serde round trip
/// are the real ones. Each given event is round-tripped through its
/// encoding first (a serde mistake fails the test), appended, and the
/// projection caught up at once, so a failing event fails the `given` that
/// brought it.
///
/// ```
/// use es_core::document::{Document, DocumentState, Evolve, Filter};
/// use es_core::{Event, Recorded};
/// use es_testing::DocumentFixture;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
/// struct Opened { owner: String }
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
/// struct Closed {}
///
/// #[derive(Debug, Default, Serialize, Deserialize, Document)]
/// #[document(events(Opened, Closed), index(owner))]
/// struct Account { owner: String }
/// impl Evolve<Opened> for Account {
///     fn evolve(&mut self, e: &Recorded<Opened>, _: &mut DocumentState) {
///         self.owner.clone_from(&e.event.owner);
///     }
/// }
/// impl Evolve<Closed> for Account {
///     fn evolve(&mut self, _: &Recorded<Closed>, doc: &mut DocumentState) {
///         doc.delete();
///     }
/// }
///
/// DocumentFixture::<Account>::new()
///     .given("Account-a1", [Opened { owner: "ada".into() }])
///     .given("Account-a2", [Opened { owner: "ada".into() }])
///     .given("Account-a2", [Closed {}])
///     .then_expect("a1", |a| a.owner == "ada")
///     .then_expect_absent("a2")
///     .then_expect_filter(&Filter::new().eq("owner", "ada"), ["a1"]);
/// ```
pub struct DocumentFixture<D: Document> {
    runtime: tokio::runtime::Runtime,
    store: InMemoryEventStore,
    engine: Engine<InMemoryEventStore, DocumentProjection<D, InMemoryEventStore>>,
    history: Vec<String>,
}

impl<D: Document> Debug for DocumentFixture<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocumentFixture")
            .field("document", &D::NAME)
            .field("history", &self.history)
            .finish()
    }
}

impl<D: Document> Default for DocumentFixture<D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<D: Document> DocumentFixture<D> {
    /// A fixture with no events and no documents.
    pub fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime for the document fixture");
        let store = InMemoryEventStore::new();
        let engine = Engine::new(store.clone(), DocumentProjection::new(store.clone()));
        Self {
            runtime,
            store,
            engine,
            history: Vec::new(),
        }
    }

    /// Appends events to a stream (any aggregate's) and runs the projection
    /// over them. Call it once per stream or event type; order is kept.
    #[track_caller]
    pub fn given<E>(self, stream_id: &str, events: impl IntoIterator<Item = E>) -> Self
    where
        E: Event + Debug + PartialEq,
    {
        self.given_with(stream_id, events, Metadata::new())
    }

    /// Like [`DocumentFixture::given`], with metadata on every event.
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
        let mut batch = Vec::new();
        for event in events {
            check_round_trip(&event, "given");
            let new = NewEvent::new(&event, metadata.clone())
                .unwrap_or_else(|e| panic!("{}", ErrorChain(&e)));
            self.history
                .push(format!("{stream_id} {} {event:?}", event.event_type()));
            batch.push(new);
        }
        self.append(stream_id, batch)
    }

    /// Appends an event as stored bytes (say, an old schema version's
    /// payload, which the projection upcasts on the way in) and runs the
    /// projection over it.
    #[track_caller]
    pub fn given_raw(
        mut self,
        stream_id: &str,
        event_type: &str,
        schema_version: u32,
        payload: &[u8],
    ) -> Self {
        self.history.push(format!(
            "{stream_id} {event_type} (schema version {schema_version}, raw) {}",
            String::from_utf8_lossy(payload)
        ));
        let new = NewEvent::from_raw(
            event_type,
            schema_version,
            payload.to_vec(),
            Metadata::new(),
        );
        self.append(stream_id, vec![new])
    }

    #[track_caller]
    fn append(mut self, stream_id: &str, events: Vec<NewEvent>) -> Self {
        let store = self.store.clone();
        let engine = &mut self.engine;
        let result = self.runtime.block_on(async move {
            store
                .append(stream_id, ExpectedVersion::Any, events)
                .await
                .map_err(|e| ErrorChain(&e).to_string())?;
            engine
                .catch_up()
                .await
                .map_err(|e| ErrorChain(&e).to_string())
        });
        if let Err(e) = result {
            panic!(
                "document projection `{}` failed: {e}\n\ngiven:\n{}",
                D::NAME,
                self.history_text()
            );
        }
        self
    }

    /// The document `key`, if it exists.
    pub fn document(&self, key: &str) -> Option<D> {
        let docs = Documents::<D, _>::new(self.store.clone());
        self.runtime
            .block_on(docs.get(key))
            .unwrap_or_else(|e| panic!("reading document `{key}`: {}", ErrorChain(&e)))
    }

    /// Every document, in key order.
    pub fn documents(&self) -> Vec<(String, D)> {
        let docs = Documents::<D, _>::new(self.store.clone());
        self.runtime.block_on(async {
            let mut all: Vec<(String, D)> = Vec::new();
            loop {
                let after = all.last().map(|(k, _)| k.clone());
                let page = docs
                    .page(after.as_deref(), 500)
                    .await
                    .unwrap_or_else(|e| panic!("reading documents: {}", ErrorChain(&e)));
                if page.is_empty() {
                    return all;
                }
                all.extend(page);
            }
        })
    }

    /// The documents `filter` selects, as [`Documents::filter`] returns them.
    pub fn filter(&self, filter: &Filter) -> Vec<(String, D)> {
        let docs = Documents::<D, _>::new(self.store.clone());
        self.runtime
            .block_on(docs.filter(filter))
            .unwrap_or_else(|e| panic!("filter {filter:?}: {}", ErrorChain(&e)))
    }

    /// Checks the document `key`: the closure returns `bool` (`false` fails)
    /// or asserts by itself. Fails when there is no such document.
    #[track_caller]
    pub fn then_expect<R: StateCheck>(self, key: &str, check: impl FnOnce(&D) -> R) -> Self
    where
        D: Debug,
    {
        let Some(doc) = self.document(key) else {
            self.fail(format_args!("there is no document `{key}`"));
        };
        if !check(&doc).passed() {
            self.fail(format_args!(
                "document `{key}` is not as expected:\n{doc:#?}"
            ));
        }
        self
    }

    /// Checks that there is no document `key` (never created, or deleted).
    #[track_caller]
    pub fn then_expect_absent(self, key: &str) -> Self
    where
        D: Debug,
    {
        if let Some(doc) = self.document(key) {
            self.fail(format_args!(
                "document `{key}` exists, and should not:\n{doc:#?}"
            ));
        }
        self
    }

    /// Checks every document (in key order) at once.
    #[track_caller]
    pub fn then_expect_documents<R: StateCheck>(
        self,
        check: impl FnOnce(&[(String, D)]) -> R,
    ) -> Self
    where
        D: Debug,
    {
        let all = self.documents();
        if !check(&all).passed() {
            self.fail(format_args!("the documents are not as expected:\n{all:#?}"));
        }
        self
    }

    /// Checks which keys `filter` selects, in order.
    #[track_caller]
    pub fn then_expect_filter<'k>(
        self,
        filter: &Filter,
        keys: impl IntoIterator<Item = &'k str>,
    ) -> Self {
        let expected: Vec<&str> = keys.into_iter().collect();
        let found: Vec<String> = self.filter(filter).into_iter().map(|(k, _)| k).collect();
        if found != expected {
            self.fail(format_args!(
                "the filter {filter:?} selects {found:?}, and should select {expected:?}"
            ));
        }
        self
    }

    #[track_caller]
    fn fail(&self, what: fmt::Arguments<'_>) -> ! {
        panic!(
            "document projection `{}`: {what}\n\ngiven:\n{}",
            D::NAME,
            self.history_text()
        )
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
