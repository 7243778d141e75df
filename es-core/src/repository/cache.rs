//! [`AggregateCache`]: states and versions of recently used aggregates, so a
//! command can decide without loading its stream first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use lru::LruCache;

/// What a cache holds and how it has served, from
/// [`Repository::cache_stats`](super::Repository::cache_stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Aggregates held.
    pub entries: usize,
    /// Their size: the serialized (JSON) size of each state, counted when it
    /// was stored.
    pub bytes: usize,
    /// Commands that decided on a cached state.
    pub hits: u64,
    /// Commands that loaded the stream (nothing cached).
    pub misses: u64,
    /// Cached states found stale (the append's version check failed, or a
    /// decision that appends nothing was checked against the store).
    pub stale: u64,
}

struct Entry<A> {
    state: A,
    version: u64,
    bytes: usize,
}

struct Inner<A> {
    map: LruCache<String, Entry<A>>,
    bytes: usize,
}

/// A bounded least-recently-used cache of aggregate states, shared by a
/// repository and its clones (see [`Repository::cache`](super::Repository::cache)).
pub(crate) struct AggregateCache<A> {
    inner: Mutex<Inner<A>>,
    /// `A::clone`, taken where `A: Clone` is known (the repository itself
    /// does not ask for it).
    clone: fn(&A) -> A,
    max_entries: usize,
    max_bytes: usize,
    hits: AtomicU64,
    misses: AtomicU64,
    stale: AtomicU64,
}

impl<A> AggregateCache<A> {
    pub(crate) fn new(max_entries: usize, max_bytes: usize) -> Arc<Self>
    where
        A: Clone,
    {
        Arc::new(Self {
            clone: A::clone,
            inner: Mutex::new(Inner {
                map: LruCache::unbounded(),
                bytes: 0,
            }),
            max_entries: max_entries.max(1),
            max_bytes,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            stale: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner<A>> {
        // Every change below is whole under the lock.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the cached state and version of `stream_id`.
    pub(crate) fn get(&self, stream_id: &str) -> Option<(A, u64)> {
        let found = self
            .lock()
            .map
            .get(stream_id)
            .map(|e| ((self.clone)(&e.state), e.version));
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Stores `state` at `version` (`bytes`: its serialized size), evicting
    /// the least recently used entries over the bounds. A state bigger than
    /// the byte bound is not kept.
    pub(crate) fn put(&self, stream_id: &str, state: A, version: u64, bytes: usize) {
        let mut inner = self.lock();
        if let Some(old) = inner.map.pop(stream_id) {
            inner.bytes -= old.bytes;
        }
        if bytes > self.max_bytes {
            return;
        }
        inner.bytes += bytes;
        inner.map.put(
            stream_id.to_owned(),
            Entry {
                state,
                version,
                bytes,
            },
        );
        while inner.map.len() > self.max_entries || inner.bytes > self.max_bytes {
            match inner.map.pop_lru() {
                Some((_, e)) => inner.bytes -= e.bytes,
                None => break,
            }
        }
    }

    /// Counts a cached state found stale.
    pub(crate) fn note_stale(&self) {
        self.stale.fetch_add(1, Ordering::Relaxed);
    }

    /// A copy of `state`, to keep.
    pub(crate) fn copy(&self, state: &A) -> A {
        (self.clone)(state)
    }

    /// Drops `stream_id`'s entry.
    pub(crate) fn forget(&self, stream_id: &str) {
        let mut inner = self.lock();
        if let Some(old) = inner.map.pop(stream_id) {
            inner.bytes -= old.bytes;
        }
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let inner = self.lock();
        CacheStats {
            entries: inner.map.len(),
            bytes: inner.bytes,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            stale: self.stale.load(Ordering::Relaxed),
        }
    }
}

/// The serialized (JSON) size of `value`, without keeping the bytes.
pub(crate) fn json_size<T: serde::Serialize>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // A state that does not serialize counts as nothing; the snapshot path
    // reports it.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recently_used_over_either_bound() {
        let cache = AggregateCache::<u32>::new(2, 100);
        cache.put("a", 1, 1, 10);
        cache.put("b", 2, 1, 10);
        assert!(cache.get("a").is_some()); // a is now the most recent
        cache.put("c", 3, 1, 10);
        assert!(cache.get("b").is_none(), "b was the least recently used");
        assert_eq!(cache.stats().entries, 2);
        cache.put("d", 4, 1, 95);
        let s = cache.stats();
        assert_eq!((s.entries, s.bytes), (1, 95), "the byte bound evicts too");
        cache.put("e", 5, 1, 101);
        assert!(
            cache.get("e").is_none(),
            "a state over the byte bound is not kept"
        );
        cache.put("d", 6, 2, 5);
        assert_eq!(cache.get("d"), Some((6, 2)));
        assert_eq!(
            cache.stats().bytes,
            5,
            "a replaced entry's bytes are given back"
        );
    }
}
