//! The document store conformance suite: what every [`DocumentBackend`]
//! (the documents a store keeps for [document projections](es_core::document))
//! must do, checked through a [`DocumentProjection`] on an
//! [`Engine`] and through [`Documents`], the way
//! an application uses them.
//!
//! Each case is an `async fn` taking a fresh, empty store. One macro call
//! expands into one `#[test]` per case:
//!
//! ```
//! es_testing::document_store_conformance_tests!(async { es_core::InMemoryEventStore::new() });
//! # fn main() {}
//! ```
//!
//! The factory is evaluated once per case, inside the case's runtime: a
//! future whose output is a store, or a [`TestStore`] wrapper
//! ([`WithTeardown`](crate::conformance::WithTeardown),
//! [`Guarded`](crate::conformance::Guarded)) that also cleans up after the
//! case, as for the [store conformance suite](crate::conformance). A case
//! can also be run on its own:
//!
//! ```
//! use es_testing::document_store;
//!
//! document_store::run(async { es_core::InMemoryEventStore::new() }, document_store::get_many_leaves_out_missing_keys_in_key_order);
//! ```
//!
//! # The cases
//!
//! | case | what it checks |
//! |---|---|
//! | [`documents_are_created_updated_and_deleted`] | an event creates a document (the handler sees it new), later ones update it, one deletes it, and a later one creates it anew, across catch-ups |
//! | [`one_document_gathers_many_streams`] | a key taken from an event field gathers the events of several streams into one document |
//! | [`a_batch_touching_one_key_many_times_applies_in_order`] | with `batch_size > 1`, many events of one key in one batch (with a deletion and a re-creation among them) end as applying them one by one |
//! | [`rebuild_ends_equal_to_the_first_run`] | [`Engine::rebuild`](es_core::consumer::Engine::rebuild) empties the documents and replays into the same documents |
//! | [`a_failed_batch_leaves_documents_and_checkpoint`] | a batch stopped by an event that does not decode ([`ErrorPolicy::Stop`]) leaves the documents and the checkpoint as they were (not checked where [`Backend::ROLLS_BACK`] is false) |
//! | [`batches_stopped_halfway_apply_every_event_once`] | catch-ups dropped after 1, 2, … steps (a crash or a cancelled task mid-batch, with a new engine or the same one), then a full one: every event applied exactly once |
//! | [`get_many_leaves_out_missing_keys_in_key_order`] | `get` of a missing key is `None`; `get_many` returns the existing keys in key (byte) order |
//! | [`pages_follow_key_order_after_a_key`] | `page` in byte order of the keys, pages chained with `after`, an empty page at the end |
//! | [`filters_compare_numbers_and_strings`] | `Eq`, `Lt`, `Le`, `Gt`, `Ge` on a numeric and on a string field (strings by bytes, numbers as numbers: 9 < 10, -5 < 2.5) |
//! | [`combined_filters_and_filtered_pages`] | several conditions hold together; a filtered set paged with `after` and `limit` |
//! | [`a_field_of_another_type_never_matches`] | a field holding a string never matches a number, a number never a string, a bool only `Eq` a bool, a missing field or `null` nothing |
//! | [`filter_on_an_undeclared_field_is_refused`] | [`DocumentError::NotIndexed`] for a field the document does not index |
//! | [`documents_round_trip_quotes_unicode_and_a_large_body`] | keys and fields with quotes, backslashes and unicode, and a 1 MB document, come back equal |
//! | [`two_projections_never_mix`] | two document projections with the same keys each see only their own documents, and a rebuild of one leaves the other |
//!
//! Inline document projections (run in each append's transaction, where
//! a store supports it) have cases of their own, which take a store
//! already configured to run [`Card`] and [`Tally`] inline:
//!
//! | case | what it checks |
//! |---|---|
//! | [`inline_documents_are_current_after_each_append`] | each append leaves the documents current, with no runner: created, updated, deleted, gathered |
//! | [`an_event_an_inline_document_cannot_read_fails_the_append`] | an event that does not decode fails its append, which stores neither events nor documents |
//! | [`concurrent_appends_to_one_inline_document_lose_no_update`] | appends from 8 tasks to different streams that evolve one document: every one is counted |
//!
//! # Wiring a store
//!
//! The in-memory store: `es-testing/tests/document_store_memory.rs`.
//! PostgreSQL: `es-postgres/tests/document_store.rs` (a database per case).
//! SQLite: `es-sqlite/tests/document_store.rs` (a temp file per case).
//!
//! A failing case panics with a message that starts with
//! `document conformance:` and says what the store did and what it should
//! have done.
//!
//! [`DocumentBackend`]: es_core::document::DocumentBackend
//! [`DocumentProjection`]: es_core::document::DocumentProjection
//! [`Documents`]: es_core::document::Documents
//! [`DocumentError::NotIndexed`]: es_core::document::DocumentError::NotIndexed
//! [`ErrorPolicy::Stop`]: es_core::consumer::ErrorPolicy::Stop
//! [`Backend::ROLLS_BACK`]: es_core::consumer::Backend::ROLLS_BACK

use std::fmt::{Debug, Display};
use std::future::Future;

use es_core::consumer::{Backend, Engine};
use es_core::document::{Document, DocumentBackend, DocumentProjection, Documents, Filter};
use es_core::{ErrorChain, EventStore, ExpectedVersion, Metadata, NewEvent};

use crate::conformance::TestStore;

mod inline;
mod lifecycle;
mod model;
mod queries;

pub use inline::*;
pub use lifecycle::*;
pub use model::{Card, Tally};
pub use queries::*;

/// Runs one case on a fresh multi-threaded runtime: awaits the factory,
/// runs the case on its store, tears down (also when the case failed), and
/// re-raises the case's panic. This is what each test of
/// [`document_store_conformance_tests!`](crate::document_store_conformance_tests)
/// calls.
///
/// ```
/// use es_testing::document_store;
///
/// document_store::run(async { es_core::InMemoryEventStore::new() }, document_store::two_projections_never_mix);
/// ```
pub fn run<T, Case, CaseFut>(factory: impl Future<Output = T>, case: Case)
where
    T: TestStore,
    T::Store: DocumentBackend,
    Case: FnOnce(T::Store) -> CaseFut,
    CaseFut: Future<Output = ()>,
{
    crate::conformance::run(factory, case);
}

/// Expands into one `#[test]` per document store conformance case, each
/// running the case on a store from `factory`.
///
/// `factory` is an expression evaluated once per case, inside the case's
/// tokio runtime: a future whose output is a
/// [`DocumentBackend`](es_core::document::DocumentBackend) (a fresh, empty
/// store) or a [`TestStore`](crate::conformance::TestStore) wrapper that
/// cleans up after the case.
///
/// ```
/// es_testing::document_store_conformance_tests!(async { es_core::InMemoryEventStore::new() });
/// # fn main() {}
/// ```
///
/// The tests are named after the cases of
/// [`document_store`](crate::document_store); call the macro in a module of
/// its own when its scope has items of those names.
#[macro_export]
macro_rules! document_store_conformance_tests {
    ($factory:expr $(,)?) => {
        $crate::document_store_conformance_tests!(@cases ($factory)
            documents_are_created_updated_and_deleted
            one_document_gathers_many_streams
            a_batch_touching_one_key_many_times_applies_in_order
            rebuild_ends_equal_to_the_first_run
            a_failed_batch_leaves_documents_and_checkpoint
            batches_stopped_halfway_apply_every_event_once
            get_many_leaves_out_missing_keys_in_key_order
            pages_follow_key_order_after_a_key
            filters_compare_numbers_and_strings
            combined_filters_and_filtered_pages
            a_field_of_another_type_never_matches
            filter_on_an_undeclared_field_is_refused
            documents_round_trip_quotes_unicode_and_a_large_body
            two_projections_never_mix
        );
    };
    (@cases ($factory:expr) $($case:ident)*) => {
        $(
            #[test]
            fn $case() {
                $crate::document_store::run(
                    async { $factory.await },
                    $crate::document_store::$case,
                );
            }
        )*
    };
}

// ---------------------------------------------------------------- helpers

/// The value of `r`, or a panic naming the call that failed.
fn ok<T, E: std::error::Error + 'static>(what: impl Display, r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| {
        panic!(
            "document conformance: {what} failed, and should have succeeded: {}",
            ErrorChain(&e)
        )
    })
}

/// Appends raw JSON events of `event_type` to `stream`.
async fn append<B: EventStore>(b: &B, stream: &str, events: &[(&str, serde_json::Value)]) {
    let events = events
        .iter()
        .map(|(t, payload)| {
            let bytes = serde_json::to_vec(payload).expect("a JSON payload");
            NewEvent::from_raw(*t, 1, bytes, Metadata::new())
        })
        .collect();
    ok(
        format_args!("append({stream:?})"),
        b.append(stream, ExpectedVersion::Any, events).await,
    );
}

/// An engine of `D` on `b`, in batches of `batch_size`.
fn engine<D: Document, B: DocumentBackend>(
    b: &B,
    batch_size: usize,
) -> Engine<B, DocumentProjection<D, B>> {
    Engine::new(b.clone(), DocumentProjection::new(b.clone())).batch_size(batch_size)
}

/// Catches `engine` up, and says how many events it handled.
async fn catch_up<D: Document, B: DocumentBackend>(
    engine: &mut Engine<B, DocumentProjection<D, B>>,
) -> u64 {
    ok(
        format_args!("catch_up() of `{}`", D::NAME),
        engine.catch_up().await,
    )
}

/// The document `key` of `D`.
async fn get<D: Document, B: DocumentBackend>(b: &B, key: &str) -> Option<D> {
    ok(
        format_args!("get({key:?}) of `{}`", D::NAME),
        Documents::<D, B>::new(b.clone()).get(key).await,
    )
}

/// Every document of `D`, in key order (pages of 3, to page too).
async fn all<D: Document, B: DocumentBackend>(b: &B) -> Vec<(String, D)> {
    let docs = Documents::<D, B>::new(b.clone());
    let mut out: Vec<(String, D)> = Vec::new();
    loop {
        let after = out.last().map(|(k, _)| k.clone());
        let page = ok(
            format_args!("page({after:?}, 3) of `{}`", D::NAME),
            docs.page(after.as_deref(), 3).await,
        );
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// The keys `filter` selects, in the order they come back.
async fn keys<D: Document, B: DocumentBackend>(b: &B, filter: &Filter) -> Vec<String> {
    let found = ok(
        format_args!("filter({filter:?}) of `{}`", D::NAME),
        Documents::<D, B>::new(b.clone()).filter(filter).await,
    );
    found.into_iter().map(|(k, _)| k).collect()
}

/// Asserts `actual == expected`, with `what` in the message.
#[track_caller]
fn same<T: PartialEq + Debug>(what: impl Display, actual: T, expected: T) {
    assert!(
        actual == expected,
        "document conformance: {what}: the store gave {actual:?}, and should have given {expected:?}"
    );
}

/// Whether the store's transactions undo what was written through them.
fn rolls_back<B: DocumentBackend>() -> bool {
    <B as Backend>::ROLLS_BACK
}
