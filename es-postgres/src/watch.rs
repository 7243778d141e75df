//! The commit watch behind
//! [`EventStore::watch_commits`](es_core::EventStore::watch_commits): one
//! `LISTEN` task per store, shared by every watcher, that feeds them the
//! positions appends announce and polls the head as a backstop.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use es_core::CommitWatch;
use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::watch;

use crate::read::Reads;

/// The running listener task's sender, if one runs. One task (and one
/// connection) per store serves every watcher; it stops when the last
/// watcher is dropped.
type WatchSlot = Arc<Mutex<Option<Arc<watch::Sender<u64>>>>>;

/// What a store's commit watches share: the slot of the listener task, and
/// what the task listens and polls with. Clones share the task.
#[derive(Clone)]
pub(crate) struct Watcher {
    slot: WatchSlot,
    pool: PgPool,
    channel: String,
    poll_interval: Duration,
    /// The head statement the task polls as a backstop.
    reads: Arc<Reads>,
}

impl Watcher {
    pub(crate) fn new(
        pool: PgPool,
        channel: &str,
        poll_interval: Duration,
        reads: Arc<Reads>,
    ) -> Self {
        Self {
            slot: WatchSlot::default(),
            pool,
            channel: channel.to_owned(),
            poll_interval,
            reads,
        }
    }

    /// A receiver fed by the store's listener task, starting it when none runs.
    pub(crate) fn watch(&self) -> CommitWatch {
        let slot = &self.slot;
        let mut guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tx) = guard.as_ref() {
            return CommitWatch::new(tx.subscribe());
        }
        let tx = Arc::new(watch::Sender::new(0u64));
        let rx = tx.subscribe();
        *guard = Some(tx.clone());
        drop(guard);
        tokio::spawn(listen(self.clone(), tx));
        CommitWatch::new(rx)
    }
}

/// Listens on the store's channel and feeds `tx` with announced positions;
/// polls the head every poll interval as a backstop (a lost connection, a
/// missed notification). Ends when no receiver is left.
async fn listen(watcher: Watcher, tx: Arc<watch::Sender<u64>>) {
    let channel = watcher.channel.clone();
    let mut listener: Option<PgListener> = None;
    let mut tick = tokio::time::interval(watcher.poll_interval);
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
            match PgListener::connect_with(&watcher.pool).await {
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
                let mut guard = watcher.slot.lock().unwrap_or_else(PoisonError::into_inner);
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
                    tokio::time::sleep(watcher.poll_interval).await;
                }
            },
            _ = tick.tick() => {
                match watcher.reads.head_now(&watcher.pool).await {
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
