//! [`Subscription`]: catch up on the global log, then follow new commits.

use std::collections::VecDeque;

use es_core::{CommitWatch, EventStore, RecordedEvent, StoreError};

use crate::store::{POLL_INTERVAL, SqliteEventStore};

/// The default number of events a [`Subscription`] reads per query.
pub const DEFAULT_BATCH_SIZE: usize = 500;

/// Follows the global log from a position: reads what is already stored with
/// [`EventStore::read_all`], then waits for commits (this process's at once,
/// other processes' within [`POLL_INTERVAL`]) and reads again. It never skips
/// an event and never yields one twice.
///
/// Made by [`SqliteEventStore::subscribe`]; it keeps the store alive.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), es_core::StoreError> {
/// use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent};
/// use es_sqlite::SqliteEventStore;
///
/// let store = SqliteEventStore::in_memory().await?;
/// let mut subscription = store.subscribe(0).event_types(["Pinged"]);
/// let e = NewEvent::from_raw("Pinged", 1, b"{}".to_vec(), Metadata::new());
/// store.append("Pinger-1", ExpectedVersion::Any, vec![e]).await?;
/// let event = subscription.next().await?;
/// assert_eq!((event.global_position, subscription.position()), (1, 1));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Subscription {
    store: SqliteEventStore,
    position: u64,
    types: Option<Vec<String>>,
    batch_size: usize,
    buffer: VecDeque<RecordedEvent>,
    watch: Option<CommitWatch>,
    /// Reads that failed in a row: the next read waits first.
    failures: u32,
}

impl Subscription {
    pub(crate) fn new(store: SqliteEventStore, after_position: u64) -> Self {
        Self {
            store,
            position: after_position,
            types: None,
            batch_size: DEFAULT_BATCH_SIZE,
            buffer: VecDeque::new(),
            watch: None,
            failures: 0,
        }
    }

    /// Yields only events of these types.
    pub fn event_types<I, S>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.types = Some(types.into_iter().map(Into::into).collect());
        self
    }

    /// Reads up to `size` events per query (at least 1).
    pub fn batch_size(mut self, size: usize) -> Self {
        self.batch_size = size.max(1);
        self
    }

    /// The position of the last event yielded (the starting position before
    /// the first): save it as a checkpoint to resume from.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The next event, waiting for one to commit if the subscription has
    /// caught up.
    pub async fn next(&mut self) -> Result<RecordedEvent, StoreError> {
        if self.buffer.is_empty() {
            let batch = self.fetch().await?;
            self.buffer.extend(batch);
        }
        let event = self
            .buffer
            .pop_front()
            .expect("fetch returns at least one event");
        self.position = event.global_position;
        Ok(event)
    }

    /// The next events in order (at least one, at most the batch size),
    /// waiting for a commit if the subscription has caught up.
    pub async fn next_batch(&mut self) -> Result<Vec<RecordedEvent>, StoreError> {
        let batch: Vec<RecordedEvent> = if self.buffer.is_empty() {
            self.fetch().await?
        } else {
            self.buffer.drain(..).collect()
        };
        if let Some(last) = batch.last() {
            self.position = last.global_position;
        }
        Ok(batch)
    }

    /// Reads after the position of the last event taken (buffered or not);
    /// waits until that yields something.
    async fn fetch(&mut self) -> Result<Vec<RecordedEvent>, StoreError> {
        // Subscribe before reading, so a commit that lands between an empty
        // read and the wait still wakes us.
        if self.watch.is_none() {
            self.watch = Some(self.store.watch_commits().await?);
        }
        let after = self.position;
        loop {
            let types: Option<Vec<&str>> = self
                .types
                .as_ref()
                .map(|t| t.iter().map(String::as_str).collect());
            if self.failures > 0 {
                // A caller that retries at once (say, past an event that
                // cannot be read) must not spin.
                tokio::time::sleep(es_core::retry_delay(self.failures)).await;
            }
            let batch = match self
                .store
                .read_all(after, self.batch_size, types.as_deref())
                .await
            {
                Ok(page) => {
                    self.failures = 0;
                    page.events
                }
                Err(e) => {
                    self.failures = self.failures.saturating_add(1);
                    return Err(e);
                }
            };
            if !batch.is_empty() {
                return Ok(batch);
            }
            let woke = match self.watch.as_mut() {
                Some(watch) => watch.changed().await.is_some(),
                None => false,
            };
            if !woke {
                // The store stopped announcing (it cannot while we hold it,
                // but do not spin if it ever does).
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        }
    }
}

impl SqliteEventStore {
    /// Follows the global log from after `after_position`: catches up with
    /// [`EventStore::read_all`], then waits for commits. See [`Subscription`].
    pub fn subscribe(&self, after_position: u64) -> Subscription {
        Subscription::new(self.clone(), after_position)
    }
}
