//! Wake-ups: the commit channel every append announces on, and the polling
//! task that finds other processes' commits while anyone watches.

use std::sync::{Arc, Weak};

use es_core::{CommitWatch, EventStore, StoreError};
use tokio::sync::watch;

use crate::read::head_position_with;
use crate::store::{Inner, POLL_INTERVAL, SqliteEventStore, lock};

impl SqliteEventStore {
    /// Raises the announced position (never lowers it).
    pub(crate) fn announce(&self, position: u64) {
        announce(&self.inner.commits, position);
    }

    /// A wake-up for new commits: this store's own at once, other
    /// processes' through the polling task while anyone watches.
    pub(crate) async fn watch(&self) -> Result<CommitWatch, StoreError> {
        // Start from the current head, so the first wake-up is a new commit.
        let head = self.head_position().await?;
        self.announce(head);
        let mut polling = lock(&self.inner.polling);
        let rx = self.inner.commits.subscribe();
        if self.inner.poll && !*polling {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    *polling = true;
                    runtime.spawn(poll_commits(Arc::downgrade(&self.inner)));
                }
                Err(_) => tracing::warn!(
                    "no tokio runtime: commits by other processes will not wake this watcher"
                ),
            }
        }
        Ok(CommitWatch::new(rx))
    }
}

/// The polling backstop: while the store lives and anyone watches, checks the
/// head position every [`POLL_INTERVAL`] and announces it, so commits made by
/// other processes wake this process's readers. Holds only a weak reference
/// between ticks: it ends when the store is dropped or the last watcher goes.
pub(crate) async fn poll_commits(inner: Weak<Inner>) {
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        {
            let mut polling = lock(&inner.polling);
            if inner.commits.receiver_count() == 0 {
                *polling = false;
                return;
            }
        }
        match head_position_with(&inner.pool).await {
            Ok(head) => announce(&inner.commits, head),
            Err(e) => {
                tracing::debug!(error = %es_core::ErrorChain(&e), "polling the head position failed")
            }
        }
    }
}

pub(crate) fn announce(commits: &watch::Sender<u64>, position: u64) {
    commits.send_if_modified(|announced| {
        if position > *announced {
            *announced = position;
            true
        } else {
            false
        }
    });
}
