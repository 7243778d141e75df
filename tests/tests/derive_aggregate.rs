//! `#[derive(Aggregate)]` at run time: constants, dispatch to `Apply`, a
//! generic aggregate, and the repository on top.

use es_core::{Aggregate, Apply, Event, Handle, InMemoryEventStore, Repository};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
struct Added {
    n: i64,
}

#[derive(Debug, Clone, PartialEq, Event)]
enum CounterEvent {
    Added(Added),
    Reset { to: i64 },
}

#[derive(Debug, Default, Serialize, Deserialize, Aggregate)]
#[aggregate(event = CounterEvent)]
struct Counter {
    value: i64,
    applied: u32,
}

impl Apply<Added> for Counter {
    fn apply(&mut self, e: &Added) {
        self.value += e.n;
        self.applied += 1;
    }
}

impl Apply<CounterEvent> for Counter {
    fn apply(&mut self, e: &CounterEvent) {
        if let CounterEvent::Reset { to } = e {
            self.value = *to;
            self.applied += 1;
        }
    }
}

#[derive(Clone)]
struct Add(i64);

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

impl Handle<Add> for Counter {
    type Error = Never;
    fn handle(&self, Add(n): Add) -> Result<Vec<CounterEvent>, Never> {
        Ok(vec![Added { n }.into()])
    }
}

#[test]
fn defaults_name_and_snapshot_version() {
    assert_eq!(Counter::NAME, "Counter");
    assert_eq!(Counter::SNAPSHOT_VERSION, 1);
}

#[test]
fn dispatches_wrapping_and_inline_variants() {
    let mut c = Counter::default();
    c.apply_event(&Added { n: 5 }.into());
    c.apply_event(&CounterEvent::Reset { to: 2 });
    c.apply_event(&Added { n: 1 }.into());
    assert_eq!((c.value, c.applied), (3, 3));
}

#[tokio::test(flavor = "current_thread")]
async fn works_with_the_repository() {
    let repo = Repository::<Counter, _>::new(InMemoryEventStore::new());
    repo.execute("c1", Add(4)).await.unwrap();
    repo.execute("c1", Add(6)).await.unwrap();
    let loaded = repo.load("c1").await.unwrap().unwrap();
    assert_eq!((loaded.state.value, loaded.version), (10, 2));
}

/// A struct event applies directly; a named aggregate with a snapshot version.
#[derive(Debug, Default, Serialize, Deserialize, Aggregate)]
#[aggregate(name = "Tally", event = Added, snapshot_version = 3)]
struct Tally {
    total: i64,
}

impl Apply<Added> for Tally {
    fn apply(&mut self, e: &Added) {
        self.total += e.n;
    }
}

#[test]
fn a_struct_event_and_explicit_keys() {
    assert_eq!((Tally::NAME, Tally::SNAPSHOT_VERSION), ("Tally", 3));
    let mut t = Tally::default();
    t.apply_event(&Added { n: 2 });
    assert_eq!(t.total, 2);
}

/// Generic aggregates work: the impl holds for the parameters that satisfy
/// the aggregate's bounds.
#[derive(Debug, Default, Serialize, Deserialize, Aggregate)]
#[aggregate(name = "Log", event = Added)]
struct Log<T> {
    entries: Vec<T>,
}

impl<T: From<i64>> Apply<Added> for Log<T> {
    fn apply(&mut self, e: &Added) {
        self.entries.push(T::from(e.n));
    }
}

#[test]
fn a_generic_aggregate() {
    let mut log = Log::<i64>::default();
    log.apply_event(&Added { n: 7 });
    assert_eq!(log.entries, [7]);
    assert_eq!(<Log<i128> as Aggregate>::NAME, "Log");
}
