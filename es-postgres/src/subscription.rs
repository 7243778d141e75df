//! Following the store: [`Subscription`], made by
//! [`PgEventStore::subscribe`], which pages through the global log and
//! waits on the store's commit watch (see `watch`) when caught up.

use std::collections::VecDeque;

use es_core::{CommitWatch, EventStore, RecordedEvent, StoreError};
use futures::Stream;

use crate::store::PgEventStore;

impl PgEventStore {
    /// Follows the store from `after_position` (0: from the start): yields
    /// every event in global order, then waits for new commits (woken by
    /// `NOTIFY`, with a poll every poll interval as a backstop). Only events
    /// of `types` when given. Dropping it stops it.
    pub fn subscribe(&self, after_position: u64, types: Option<Vec<String>>) -> Subscription {
        Subscription::new(self.clone(), after_position, types)
    }
}

/// Follows the store from a position: catches up in pages, then waits for
/// new commits. Made by [`PgEventStore::subscribe`].
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = es_postgres::PgEventStore::connect("postgres://postgres@127.0.0.1:5432/app").await?;
/// let mut sub = store.subscribe(0, Some(vec!["Deposited".to_owned()]));
/// while let Some(event) = sub.next().await {
///     let event = event?;
///     // handle it, remember event.global_position
///     # let _ = event; break;
/// }
/// # Ok(()) }
/// ```
///
/// It holds no task of its own: dropping it stops it, and the store's shared
/// listener stops when its last watcher is gone.
pub struct Subscription {
    store: PgEventStore,
    after: u64,
    types: Option<Vec<String>>,
    buffer: VecDeque<RecordedEvent>,
    watch: Option<CommitWatch>,
    page: usize,
    /// Reads that failed in a row: the next read waits first.
    failures: u32,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("after", &self.after)
            .field("types", &self.types)
            .field("buffered", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

const PAGE: usize = 500;

impl Subscription {
    fn new(store: PgEventStore, after: u64, types: Option<Vec<String>>) -> Self {
        Self {
            store,
            after,
            types,
            buffer: VecDeque::new(),
            watch: None,
            page: PAGE,
            failures: 0,
        }
    }

    /// The position of the last event handed out (or the starting position).
    pub fn position(&self) -> u64 {
        self.after
    }

    /// The next event, waiting for one to commit when caught up. `None` only
    /// if the store's listener stopped for good (it does not while this
    /// subscription lives); an `Err` leaves the subscription usable (call
    /// again to retry).
    pub async fn next(&mut self) -> Option<Result<RecordedEvent, StoreError>> {
        loop {
            if let Some(e) = self.buffer.pop_front() {
                self.after = e.global_position;
                return Some(Ok(e));
            }
            // Subscribe before reading, so a commit between the read and the
            // wait still wakes us.
            if self.watch.is_none() {
                match self.store.watch_commits().await {
                    Ok(w) => self.watch = Some(w),
                    Err(e) => return Some(Err(e)),
                }
            }
            let types: Option<Vec<&str>> = self
                .types
                .as_ref()
                .map(|t| t.iter().map(String::as_str).collect());
            if self.failures > 0 {
                // A caller that retries at once (say, past an event that
                // cannot be read) must not spin.
                tokio::time::sleep(es_core::retry_delay(self.failures)).await;
            }
            match self
                .store
                .read_all(self.after, self.page, types.as_deref())
                .await
            {
                Err(e) => {
                    self.failures = self.failures.saturating_add(1);
                    return Some(Err(e));
                }
                Ok(page) if !page.is_empty() => {
                    self.failures = 0;
                    self.buffer.extend(page.events);
                }
                Ok(_) => {
                    self.failures = 0;
                    let poll = self.store.poll_interval();
                    if let Some(w) = self.watch.as_mut() {
                        tokio::select! {
                            changed = w.changed() => if changed.is_none() {
                                // The listener is gone; poll from now on.
                                self.watch = None;
                                tokio::time::sleep(poll).await;
                            },
                            () = tokio::time::sleep(poll) => {}
                        }
                    }
                }
            }
        }
    }

    /// The subscription as a [`Stream`].
    pub fn into_stream(self) -> impl Stream<Item = Result<RecordedEvent, StoreError>> + Send {
        futures::stream::unfold(self, |mut sub| async move {
            let item = sub.next().await?;
            Some((item, sub))
        })
    }
}
