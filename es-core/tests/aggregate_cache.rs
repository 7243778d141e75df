//! The repository's aggregate cache: fewer round trips, never a wrong
//! answer. Several repositories with caches of their own (standing in for
//! processes) work one stream concurrently and end where a sequential model
//! ends; a stale entry never answers a command.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use es_core::{
    Aggregate, Apply, Event, EventStore, InMemoryEventStore, Repository, RepositoryError, StreamEnd,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
enum TallyEvent {
    Added,
    Cleared,
}

/// A tally that holds at most `LIMIT`.
#[derive(Debug, Default, Clone, Serialize, Deserialize, Aggregate)]
#[aggregate(name = "Tally", event = TallyEvent, snapshot_version = 1)]
struct Tally {
    value: u64,
}

const LIMIT: u64 = 60;

impl Apply<TallyEvent> for Tally {
    fn apply(&mut self, e: &TallyEvent) {
        match e {
            TallyEvent::Added => self.value += 1,
            TallyEvent::Cleared => self.value = 0,
        }
    }
}

#[derive(Debug, Clone)]
struct Add;
#[derive(Debug, Clone)]
struct Clear;
#[derive(Debug, Clone)]
struct Look;

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("the tally is full at {0}")]
struct Full(u64);

impl es_core::Handle<Add> for Tally {
    type Error = Full;
    fn handle(&self, _: Add) -> Result<Vec<TallyEvent>, Full> {
        if self.value >= LIMIT {
            return Err(Full(self.value));
        }
        Ok(vec![TallyEvent::Added])
    }
}

impl es_core::Handle<Clear> for Tally {
    type Error = std::convert::Infallible;
    fn handle(&self, _: Clear) -> Result<Vec<TallyEvent>, Self::Error> {
        Ok(vec![TallyEvent::Cleared])
    }
}

impl es_core::Handle<Look> for Tally {
    type Error = std::convert::Infallible;
    fn handle(&self, _: Look) -> Result<Vec<TallyEvent>, Self::Error> {
        Ok(vec![])
    }
}

fn cached(store: &InMemoryEventStore) -> Repository<Tally, InMemoryEventStore> {
    Repository::new(store.clone())
        .cache(100, 1 << 20)
        .retry_on_conflict(1_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_repositories_in_parallel_end_like_a_sequential_model() {
    const TASKS: u64 = 4;
    const EACH: u64 = 40;
    let store = InMemoryEventStore::new();
    let added = Arc::new(AtomicU64::new(0));
    let full = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            // A repository (and cache) of its own: another process.
            let tallies = cached(&store);
            let (added, full) = (added.clone(), full.clone());
            tokio::spawn(async move {
                for _ in 0..EACH {
                    match tallies.execute("t-1", Add).await {
                        Ok(done) => {
                            assert_eq!(done.state.value, done.version, "state and version agree");
                            added.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(RepositoryError::Rejected { error, .. }) => {
                            // Only ever at the true limit: a stale state
                            // must not reject.
                            assert_eq!(error, Full(LIMIT));
                            full.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                    tokio::task::yield_now().await;
                }
                tallies.cache_stats().unwrap()
            })
        })
        .collect();
    let mut hits = 0;
    let mut stale = 0;
    for t in tasks {
        let stats = t.await.unwrap();
        hits += stats.hits;
        stale += stats.stale;
    }
    // The sequential model: the first LIMIT adds succeed, the rest are full.
    assert_eq!(added.load(Ordering::SeqCst), LIMIT);
    assert_eq!(full.load(Ordering::SeqCst), TASKS * EACH - LIMIT);
    let events = store
        .read_stream("Tally-t-1", 1, StreamEnd::Head, 1_000)
        .await
        .unwrap();
    assert_eq!(events.len() as u64, LIMIT);
    assert!(hits > 0, "the caches served some commands");
    assert!(stale > 0, "the writers made each other's caches stale");
}

#[tokio::test]
async fn a_stale_entry_never_answers() {
    let store = InMemoryEventStore::new();
    let here = cached(&store);
    let elsewhere = Repository::<Tally, _>::new(store.clone());
    for _ in 0..LIMIT {
        here.execute("t-2", Add).await.unwrap();
    }
    // Cached here: full at LIMIT. Elsewhere, the tally is cleared.
    elsewhere.execute("t-2", Clear).await.unwrap();
    // The cached state would reject; the store says there is room.
    let done = here.execute("t-2", Add).await.unwrap();
    assert_eq!((done.state.value, done.version), (1, LIMIT + 2));
    // Elsewhere adds; a decision to append nothing answers the store's
    // version, not the cached one.
    elsewhere.execute("t-2", Add).await.unwrap();
    let looked = here.execute("t-2", Look).await.unwrap();
    assert_eq!((looked.state.value, looked.version), (2, LIMIT + 3));
    // Elsewhere adds again; the cached state's append meets the version
    // check and is decided again on a fresh load, spending no retry.
    elsewhere.execute("t-2", Add).await.unwrap();
    let strict = Repository::<Tally, _>::new(store.clone()).cache(10, 1 << 20);
    strict.execute("t-2", Look).await.unwrap(); // caches it
    elsewhere.execute("t-2", Add).await.unwrap();
    let done = strict.execute("t-2", Add).await.unwrap();
    assert_eq!((done.state.value, done.version), (5, LIMIT + 6));
    let stats = strict.cache_stats().unwrap();
    assert_eq!(stats.stale, 1, "{stats:?}");
}

#[tokio::test]
async fn a_warm_command_takes_one_round_trip() {
    let store = InMemoryEventStore::new();
    let tallies = cached(&store);
    tallies.execute("t-3", Add).await.unwrap(); // a miss: loads
    for _ in 0..5 {
        tallies.execute("t-3", Add).await.unwrap();
    }
    let stats = tallies.cache_stats().unwrap();
    assert_eq!((stats.misses, stats.hits, stats.stale), (1, 5, 0));
    assert_eq!(stats.entries, 1);
    assert_eq!(
        stats.bytes,
        serde_json::to_vec(&Tally { value: 6 }).unwrap().len()
    );
    assert!(Repository::<Tally, _>::new(store).cache_stats().is_none());
}
