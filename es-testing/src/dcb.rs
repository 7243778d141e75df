//! The DCB conformance suite: what every [`DcbStore`] must do (reads by
//! query, appends under a condition, and the condition holding under
//! concurrent writers), checked the way an application uses the store.
//!
//! One macro call expands into one `#[test]` per case:
//!
//! ```
//! es_testing::dcb_conformance_tests!(async { es_core::InMemoryEventStore::new() });
//! # fn main() {}
//! ```
//!
//! The factory is evaluated once per case, inside the case's runtime: a
//! future whose output is a store, or a [`TestStore`] wrapper that also
//! cleans up after the case, as for the [store conformance
//! suite](crate::conformance).
//!
//! # The cases
//!
//! | case | what it checks |
//! |---|---|
//! | [`queries_select_by_types_and_tags`] | items by type, by tags (all of them), by both, several items, every event, no item; tags read back sorted |
//! | [`reads_page_and_vouch_for_what_they_scanned`] | `after` and `limit` page a query; `scanned_to` lets the next page go on, and covers the log once a page is short |
//! | [`untagged_events_match_items_without_tags`] | events appended by aggregates (no tags) match an item with types only, never one with tags |
//! | [`a_condition_fails_when_a_matching_event_came_after`] | a matching event after the position fails the append, which stores nothing; one at or before it, or one that does not match, does not |
//! | [`racers_on_one_tag_set_commit_exactly_one`] | 16 writers read the same query and append under it at once, 100 rounds: exactly one commits each round |
//! | [`racers_on_unrelated_tags_never_conflict`] | 16 writers with a tag each, at once, 20 rounds: all commit |
//!
//! [`DcbStore`]: es_core::dcb::DcbStore
//! [`TestStore`]: crate::conformance::TestStore

use std::future::Future;

use es_core::dcb::DcbStore;

use crate::conformance::TestStore;

mod cases;
mod race;

pub use cases::*;
pub use race::*;

/// Runs one case on a fresh multi-threaded runtime (see
/// [`conformance::run`](crate::conformance::run)).
///
/// ```
/// es_testing::dcb::run(async { es_core::InMemoryEventStore::new() }, es_testing::dcb::queries_select_by_types_and_tags);
/// ```
pub fn run<T, Case, CaseFut>(factory: impl Future<Output = T>, case: Case)
where
    T: TestStore,
    T::Store: DcbStore,
    Case: FnOnce(T::Store) -> CaseFut,
    CaseFut: Future<Output = ()>,
{
    crate::conformance::run(factory, case);
}

/// Expands into one `#[test]` per DCB conformance case, each running the
/// case on a store from `factory` (a future whose output is a
/// [`DcbStore`](es_core::dcb::DcbStore), or a
/// [`TestStore`](crate::conformance::TestStore) wrapper).
///
/// ```
/// es_testing::dcb_conformance_tests!(async { es_core::InMemoryEventStore::new() });
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! dcb_conformance_tests {
    ($factory:expr $(,)?) => {
        $crate::dcb_conformance_tests!(@cases ($factory)
            queries_select_by_types_and_tags
            reads_page_and_vouch_for_what_they_scanned
            untagged_events_match_items_without_tags
            a_condition_fails_when_a_matching_event_came_after
            a_condition_checks_every_item_with_all_its_tags
            racers_on_one_tag_set_commit_exactly_one
            racers_on_unrelated_tags_never_conflict
            racers_on_one_type_commit_exactly_one
        );
    };
    (@cases ($factory:expr) $($case:ident)*) => {
        $(
            #[test]
            fn $case() {
                $crate::dcb::run(async { $factory.await }, $crate::dcb::$case);
            }
        )*
    };
}
