//! Following the store: the shared `LISTEN` task behind
//! [`EventStore::watch_commits`](es_core::EventStore::watch_commits), and
//! [`Subscription`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use es_core::{CommitWatch, EventStore, RecordedEvent, StoreError};
use futures::Stream;
use sqlx::postgres::PgListener;
use tokio::sync::watch;

use crate::PgEventStore;

/// The running listener task's sender, if one runs. One task (and one
/// connection) per store serves every watcher; it stops when the last
/// watcher is dropped.
pub(crate) type WatchSlot = Arc<Mutex<Option<Arc<watch::Sender<u64>>>>>;

/// A receiver fed by the store's listener task, starting it when none runs.
pub(crate) fn watch(store: &PgEventStore) -> CommitWatch {
    let slot = &store.shared.watch;
    let mut guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(tx) = guard.as_ref() {
        return CommitWatch::new(tx.subscribe());
    }
    let tx = Arc::new(watch::Sender::new(0u64));
    let rx = tx.subscribe();
    *guard = Some(tx.clone());
    drop(guard);
    tokio::spawn(listen(store.clone(), tx));
    CommitWatch::new(rx)
}

/// Listens on the store's channel and feeds `tx` with announced positions;
/// polls the head every poll interval as a backstop (a lost connection, a
/// missed notification). Ends when no receiver is left.
async fn listen(store: PgEventStore, tx: Arc<watch::Sender<u64>>) {
    let channel = store.shared.channel.clone();
    let mut listener: Option<PgListener> = None;
    let mut tick = tokio::time::interval(store.shared.poll_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let announce = |pos: u64| {
        tx.send_if_modified(|cur| {
            if pos > *cur {
                *cur = pos;
                true
            } else {
                false
            }
        });
    };
    loop {
        if listener.is_none() {
            match PgListener::connect_with(store.pool()).await {
                Ok(mut l) => match l.listen(&channel).await {
                    Ok(()) => listener = Some(l),
                    Err(e) => {
                        tracing::warn!(channel = %channel, error = %e, "cannot LISTEN; polling")
                    }
                },
                Err(e) => tracing::warn!(error = %e, "cannot open a listener connection; polling"),
            }
        }
        tokio::select! {
            () = tx.closed() => {
                // Decide under the slot's lock, so a watcher that subscribes
                // right now either finds this task still running or starts
                // a new one.
                let mut guard = store.shared.watch.lock().unwrap_or_else(PoisonError::into_inner);
                if tx.receiver_count() == 0 {
                    if guard.as_ref().is_some_and(|t| Arc::ptr_eq(t, &tx)) {
                        *guard = None;
                    }
                    break;
                }
            }
            n = recv(&mut listener) => match n {
                Ok(n) => {
                    if let Ok(pos) = n.payload().parse::<u64>() {
                        announce(pos);
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "listener connection lost; reconnecting");
                    listener = None;
                    tokio::time::sleep(store.shared.poll_interval).await;
                }
            },
            _ = tick.tick() => {
                match store.head_now().await {
                    Ok((_, _, head)) => announce(head),
                    Err(e) => tracing::debug!(error = %e, "cannot poll the head position"),
                }
            }
        }
    }
    if let Some(l) = listener {
        // Closes the dedicated connection instead of returning it to the pool
        // with a LISTEN registered.
        drop(l);
    }
    tracing::debug!(channel = %channel, "commit listener stopped");
}

async fn recv(
    listener: &mut Option<PgListener>,
) -> Result<sqlx::postgres::PgNotification, sqlx::Error> {
    match listener {
        Some(l) => l.recv().await,
        None => std::future::pending().await,
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
    pub(crate) fn new(store: PgEventStore, after: u64, types: Option<Vec<String>>) -> Self {
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
                    let poll = self.store.shared.poll_interval;
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
