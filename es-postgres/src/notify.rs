//! Commit announcements off the append's critical path.
//!
//! `NOTIFY` in a writing transaction takes a cluster-wide lock at pre-commit
//! and holds it to the end of the commit, WAL flush included, so notifying
//! transactions commit one at a time and PostgreSQL's group commit is lost.
//! Measured with pgbench on 2 cores, PostgreSQL 15, fsync on, 4 clients of
//! one-row autocommit inserts: about 9,300 transactions/s plain, about
//! 4,300/s with `pg_notify` in the statement (see BENCHMARKS.md).
//!
//! So an append without inline projections commits without `NOTIFY` and
//! hands its last position to this notifier, which sends `pg_notify` on a
//! connection of its own right after. It coalesces: while one notification
//! is in flight, later positions collapse into the next one (the payload is
//! only a wake-up hint: listeners read the store, and poll as a backstop
//! should a notification be lost, e.g. when the process dies between the
//! commit and the notification).

use std::sync::{Arc, Mutex, PoisonError};

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::watch;

/// The running notifier task's sender, if one runs. Shared by the clones of
/// a store; the task ends when the last clone is dropped.
pub(crate) type NotifierSlot = Arc<Mutex<Option<watch::Sender<u64>>>>;

/// Announces `position` on `channel` soon, starting the notifier task when
/// none runs (or the runtime that ran it is gone).
pub(crate) fn announce(slot: &NotifierSlot, pool: &PgPool, channel: &str, position: u64) {
    let mut guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
    if guard.as_ref().is_none_or(watch::Sender::is_closed) {
        let (tx, rx) = watch::channel(0u64);
        tokio::spawn(run(pool.connect_options(), channel.to_owned(), rx));
        *guard = Some(tx);
    }
    if let Some(tx) = guard.as_ref() {
        tx.send_if_modified(|cur| {
            if position > *cur {
                *cur = position;
                true
            } else {
                false
            }
        });
    }
}

/// Sends the latest announced position whenever it changes, until every
/// sender is gone.
async fn run(options: Arc<PgConnectOptions>, channel: String, mut rx: watch::Receiver<u64>) {
    let mut conn: Option<PgConnection> = None;
    while rx.changed().await.is_ok() {
        let position = *rx.borrow_and_update();
        if conn.is_none() {
            match options.connect().await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::debug!(error = %e, "cannot connect to announce a commit; listeners poll");
                    continue;
                }
            }
        }
        if let Some(c) = conn.as_mut()
            && let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(&channel)
                .bind(position.to_string())
                .execute(&mut *c)
                .await
        {
            tracing::debug!(error = %e, "cannot announce a commit; listeners poll");
            conn = None;
        }
    }
    if let Some(c) = conn {
        let _ = c.close().await;
    }
}
