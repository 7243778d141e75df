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
//! is in flight, and for the store's notify interval after it (5 ms by
//! default), later positions collapse into the next one. The payload is
//! only a wake-up hint: listeners read the store, and poll as a backstop
//! should a notification be lost (e.g. when the process dies between the
//! commit and the notification).
//!
//! Why the interval: each notification is a transaction on the server and a
//! wake-up of this task on the client, so one per append doubles the
//! number of transactions a write-heavy application runs. The interval
//! bounds them (at most 200 a second at the default) whatever the append
//! rate. In es-bench's command round trip its effect was within the
//! machine's noise (see BENCHMARKS.md); it bounds the cost rather than
//! removing a measured bottleneck.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::watch;
use tokio::time::Instant;

/// The running notifier task's sender, if one runs. Shared by the clones of
/// a store; the task ends when the last clone is dropped.
pub(crate) type NotifierSlot = Arc<Mutex<Option<watch::Sender<u64>>>>;

/// Announces `position` on `channel` soon, starting the notifier task when
/// none runs (or the runtime that ran it is gone). The task sends at most one
/// notification per `interval`.
pub(crate) fn announce(
    slot: &NotifierSlot,
    pool: &PgPool,
    channel: &str,
    interval: Duration,
    position: u64,
) {
    let mut guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
    if guard.as_ref().is_none_or(watch::Sender::is_closed) {
        let (tx, rx) = watch::channel(0u64);
        tokio::spawn(run(
            pool.connect_options(),
            channel.to_owned(),
            interval,
            rx,
        ));
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

/// Sends the latest announced position whenever it changes, at most once
/// per `interval`, until every sender is gone (the last position announced
/// before that is still sent).
async fn run(
    options: Arc<PgConnectOptions>,
    channel: String,
    interval: Duration,
    mut rx: watch::Receiver<u64>,
) {
    let mut conn: Option<PgConnection> = None;
    let mut last_sent: Option<Instant> = None;
    while rx.changed().await.is_ok() {
        if let Some(at) = last_sent {
            let wait = interval.saturating_sub(at.elapsed());
            if !wait.is_zero() {
                // Appends that commit meanwhile join this notification.
                tokio::time::sleep(wait).await;
            }
        }
        let position = *rx.borrow_and_update();
        last_sent = Some(Instant::now());
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
