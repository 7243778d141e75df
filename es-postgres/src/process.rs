//! PostgreSQL under process managers: [`PgEventStore`] as an
//! [`es_core::process::ProcessBackend`], with its SQL.
//!
//! Three tables (migration `20250101000003_processes.sql`):
//! `process_instances` (the state as bytes, exactly as encoded),
//! `process_outbox` (commands in `bigserial` order) and `process_deadlines`
//! (one row per instance and deadline JSON, with a partial index of those
//! still to fire). The engine's writes run on its batch transaction, so
//! they commit with the checkpoint or not at all; the dispatcher's calls
//! run on the pool, one statement each.
//!
//! # Locking
//!
//! Nothing here takes a lock of its own; READ COMMITTED and row locks are
//! enough:
//!
//! - The batches of one process are serialized by the row lock on its
//!   checkpoint (and one engine holds its lease), so an instance is never
//!   loaded and saved by two transactions at once, and outbox rows of one
//!   process commit in `seq` order.
//! - `take_deadline` (a `DELETE` in the batch) and the dispatcher's
//!   `deadline_fired` (an `UPDATE … WHERE process = $1 AND id = $2`) may
//!   meet on one row. Whichever comes second waits for the first's row
//!   lock, then re-reads the row (READ COMMITTED's re-check of the `WHERE`
//!   on the newest version): an `UPDATE` behind a committed `DELETE` finds
//!   no row and changes nothing; a `DELETE` behind an `UPDATE` still
//!   matches (it did not change `key` or `id`) and takes the fired row; an
//!   `UPDATE` behind a batch that rescheduled the deadline sees the new id
//!   and leaves the new scheduling unfired. Neither fails, and each holds
//!   at most one row the other wants, so they cannot deadlock.
//! - `due_deadlines` locks nothing: a deadline read there and taken before
//!   it fires is appended under its scheduling id as the command id, which
//!   the instance's stream records once, and is dropped by the engine when
//!   `take_deadline` no longer finds it.

use es_core::Timestamp;
use es_core::process::{
    PendingCommand, ProcessBackend, ProcessCounts, ScheduledDeadline, StoredInstance,
};
use es_core::{StoreError, Uuid};
use sqlx::Row;

use crate::inline::PgTx;
use crate::row::{limit_i64, to_i64, to_u64};
use crate::store::PgEventStore;

pub(crate) mod sql;

fn backend(context: String, e: sqlx::Error) -> StoreError {
    StoreError::backend(context, e)
}

impl ProcessBackend for PgEventStore {
    async fn load_instance(
        &self,
        tx: &mut PgTx,
        process: &str,
        key: &str,
    ) -> Result<Option<StoredInstance>, StoreError> {
        let row: Option<(Option<Vec<u8>>, bool)> = sqlx::query_as(&self.processes().load)
            .bind(process)
            .bind(key)
            .fetch_optional(&mut **tx)
            .await
            .map_err(|e| backend(format!("loading instance `{key}` of `{process}`"), e))?;
        Ok(row.map(|(state, finished)| StoredInstance { state, finished }))
    }

    async fn save_instance(
        &self,
        tx: &mut PgTx,
        process: &str,
        key: &str,
        instance: &StoredInstance,
    ) -> Result<(), StoreError> {
        sqlx::query(&self.processes().save)
            .bind(process)
            .bind(key)
            .bind(instance.state.as_deref())
            .bind(instance.finished)
            .execute(&mut **tx)
            .await
            .map_err(|e| backend(format!("saving instance `{key}` of `{process}`"), e))?;
        Ok(())
    }

    async fn enqueue(
        &self,
        tx: &mut PgTx,
        process: &str,
        commands: &[PendingCommand],
    ) -> Result<(), StoreError> {
        if commands.is_empty() {
            return Ok(());
        }
        let column = |f: fn(&PendingCommand) -> &str| commands.iter().map(f).collect::<Vec<_>>();
        let ids = |f: fn(&PendingCommand) -> Uuid| commands.iter().map(f).collect::<Vec<_>>();
        sqlx::query(&self.processes().enqueue)
            .bind(process)
            .bind(column(|c| &c.key))
            .bind(ids(|c| c.command_id))
            .bind(ids(|c| c.causation_id))
            .bind(
                commands
                    .iter()
                    .map(|c| c.correlation_id)
                    .collect::<Vec<_>>(),
            )
            .bind(column(|c| &c.aggregate))
            .bind(column(|c| &c.target_id))
            .bind(
                commands
                    .iter()
                    .map(|c| c.command.as_slice())
                    .collect::<Vec<_>>(),
            )
            .execute(&mut **tx)
            .await
            .map_err(|e| backend(format!("enqueueing commands of `{process}`"), e))?;
        Ok(())
    }

    async fn schedule(
        &self,
        tx: &mut PgTx,
        process: &str,
        deadline: &ScheduledDeadline,
    ) -> Result<(), StoreError> {
        sqlx::query(&self.processes().schedule)
            .bind(process)
            .bind(&deadline.key)
            .bind(&deadline.deadline)
            .bind(deadline.id)
            .bind(deadline.due_at)
            .execute(&mut **tx)
            .await
            .map_err(|e| {
                let key = &deadline.key;
                backend(
                    format!("scheduling a deadline of `{key}` of `{process}`"),
                    e,
                )
            })?;
        Ok(())
    }

    async fn cancel(
        &self,
        tx: &mut PgTx,
        process: &str,
        key: &str,
        deadline: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(&self.processes().cancel)
            .bind(process)
            .bind(key)
            .bind(deadline)
            .execute(&mut **tx)
            .await
            .map_err(|e| backend(format!("cancelling deadlines of `{key}` of `{process}`"), e))?;
        Ok(())
    }

    async fn take_deadline(
        &self,
        tx: &mut PgTx,
        process: &str,
        key: &str,
        id: Uuid,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(&self.processes().take)
            .bind(process)
            .bind(key)
            .bind(id)
            .execute(&mut **tx)
            .await
            .map_err(|e| backend(format!("taking deadline {id} of `{key}` of `{process}`"), e))?;
        Ok(done.rows_affected() > 0)
    }

    async fn pending_commands(
        &self,
        process: &str,
        limit: usize,
    ) -> Result<Vec<PendingCommand>, StoreError> {
        let ctx = || format!("reading the outbox of `{process}`");
        let rows = sqlx::query(&self.processes().pending)
            .bind(process)
            .bind(limit_i64(limit))
            .fetch_all(self.pool())
            .await
            .map_err(|e| backend(ctx(), e))?;
        rows.iter()
            .map(|r| {
                Ok(PendingCommand {
                    seq: to_u64(r.try_get("seq")?),
                    key: r.try_get("key")?,
                    command_id: r.try_get("command_id")?,
                    causation_id: r.try_get("causation_id")?,
                    correlation_id: r.try_get("correlation_id")?,
                    aggregate: r.try_get("aggregate")?,
                    target_id: r.try_get("target_id")?,
                    command: r.try_get("command")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| backend(ctx(), e))
    }

    async fn commands_done(&self, process: &str, seqs: &[u64]) -> Result<(), StoreError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let seqs: Vec<i64> = seqs.iter().map(|s| to_i64(*s)).collect();
        sqlx::query(&self.processes().done)
            .bind(process)
            .bind(&seqs)
            .execute(self.pool())
            .await
            .map_err(|e| {
                backend(
                    format!("removing {} command(s) of `{process}`", seqs.len()),
                    e,
                )
            })?;
        Ok(())
    }

    async fn due_deadlines(
        &self,
        process: &str,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ScheduledDeadline>, StoreError> {
        let rows: Vec<(String, String, Uuid, Timestamp)> = sqlx::query_as(&self.processes().due)
            .bind(process)
            .bind(now)
            .bind(limit_i64(limit))
            .fetch_all(self.pool())
            .await
            .map_err(|e| backend(format!("reading the due deadlines of `{process}`"), e))?;
        Ok(rows
            .into_iter()
            .map(|(key, deadline, id, due_at)| ScheduledDeadline {
                key,
                deadline,
                id,
                due_at,
            })
            .collect())
    }

    async fn deadline_fired(&self, process: &str, id: Uuid) -> Result<(), StoreError> {
        sqlx::query(&self.processes().fired)
            .bind(process)
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(|e| backend(format!("marking deadline {id} of `{process}` fired"), e))?;
        Ok(())
    }

    async fn process_counts(&self, process: &str) -> Result<ProcessCounts, StoreError> {
        let (active, finished, pending, deadlines): (i64, i64, i64, i64) =
            sqlx::query_as(&self.processes().counts)
                .bind(process)
                .fetch_one(self.pool())
                .await
                .map_err(|e| backend(format!("counting the rows of `{process}`"), e))?;
        Ok(ProcessCounts {
            active: to_u64(active),
            finished: to_u64(finished),
            pending_commands: to_u64(pending),
            deadlines: to_u64(deadlines),
        })
    }
}
