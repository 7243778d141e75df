//! SQLite under process managers: [`SqliteEventStore`] as an
//! [`es_core::process::ProcessBackend`], with its SQL.
//!
//! Three tables (migration `0003_processes.sql`): `process_instances` (the
//! state as a BLOB, exactly as encoded), `process_outbox` (commands in
//! `AUTOINCREMENT` order) and `process_deadlines` (one row per instance and
//! deadline JSON, with a partial index of those still to fire). The
//! engine's writes run on its batch transaction (`BEGIN IMMEDIATE`), so
//! they commit with the checkpoint or not at all; the dispatcher's calls
//! run on the pool, one statement each.
//!
//! SQLite has one writer at a time: a batch holds the file's write lock
//! from its first statement to `COMMIT`, and the dispatcher's
//! `command_done` and `deadline_fired` wait for it (up to the busy
//! timeout). So `take_deadline` and `deadline_fired` on one row never
//! interleave: whichever runs second sees the first's committed result (a
//! deleted row is not marked; a marked row is still taken; a rescheduled
//! row has a new id, which the dispatcher's old id does not match).

use chrono::Datelike;
use es_core::process::{
    PendingCommand, ProcessBackend, ProcessCounts, ScheduledDeadline, StoredInstance,
};
use es_core::{StoreError, Timestamp, Uuid};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::projection::SqliteTx;
use crate::row::{format_time, parse_time, time_bound, to_i64};
use crate::store::SqliteEventStore;

fn backend(context: String, e: sqlx::Error) -> StoreError {
    StoreError::backend(context, e)
}

/// A process row holding what the store never writes.
fn corrupt(process: &str, message: String) -> StoreError {
    StoreError::Corrupt {
        stream_id: format!("process `{process}`"),
        message,
    }
}

fn now() -> String {
    format_time(chrono::Utc::now())
}

/// A due time as stored text. RFC 3339 text sorts as time only within
/// years 0 to 9999, so a later time (`Then::schedule` makes
/// `DateTime::MAX_UTC` of a deadline that should never come) is stored as
/// the last microsecond of 9999, and an earlier one as the first of year 0:
/// each stays on its side of every time a dispatcher asks about.
fn due_text(t: Timestamp) -> String {
    match t.year() {
        y if y > 9999 => time_bound(t),
        y if y < 0 => "0000-01-01T00:00:00.000000Z".to_owned(),
        _ => format_time(t),
    }
}

fn uuid_of(process: &str, what: &str, text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|e| corrupt(process, format!("{what} {text:?}: {e}")))
}

fn seq_of(process: &str, seq: i64) -> Result<u64, StoreError> {
    u64::try_from(seq).map_err(|_| corrupt(process, format!("outbox seq {seq}")))
}

fn count(process: &str, n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| corrupt(process, format!("a count of {n}")))
}

/// A row of `process_outbox` as a [`PendingCommand`].
fn pending_command(process: &str, r: &SqliteRow) -> Result<PendingCommand, StoreError> {
    let column = |e: sqlx::Error| corrupt(process, format!("outbox row: {e}"));
    let text = |c: &str| -> Result<String, StoreError> { r.try_get(c).map_err(column) };
    let correlation: Option<String> = r.try_get("correlation_id").map_err(column)?;
    Ok(PendingCommand {
        seq: seq_of(process, r.try_get("seq").map_err(column)?)?,
        key: text("key")?,
        command_id: uuid_of(process, "command id", &text("command_id")?)?,
        causation_id: uuid_of(process, "causation id", &text("causation_id")?)?,
        correlation_id: correlation
            .map(|c| uuid_of(process, "correlation id", &c))
            .transpose()?,
        aggregate: text("aggregate")?,
        target_id: text("target_id")?,
        command: r.try_get("command").map_err(column)?,
    })
}

impl ProcessBackend for SqliteEventStore {
    async fn load_instance(
        &self,
        tx: &mut SqliteTx,
        process: &str,
        key: &str,
    ) -> Result<Option<StoredInstance>, StoreError> {
        let row: Option<(Option<Vec<u8>>, bool)> = sqlx::query_as(
            "SELECT state, finished FROM process_instances WHERE process = ? AND key = ?",
        )
        .bind(process)
        .bind(key)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|e| backend(format!("loading instance `{key}` of `{process}`"), e))?;
        Ok(row.map(|(state, finished)| StoredInstance { state, finished }))
    }

    async fn save_instance(
        &self,
        tx: &mut SqliteTx,
        process: &str,
        key: &str,
        instance: &StoredInstance,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO process_instances (process, key, state, finished, updated_at) \
             VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (process, key) DO UPDATE SET state = excluded.state, \
               finished = excluded.finished, updated_at = excluded.updated_at",
        )
        .bind(process)
        .bind(key)
        .bind(instance.state.as_deref())
        .bind(instance.finished)
        .bind(now())
        .execute(&mut **tx)
        .await
        .map_err(|e| backend(format!("saving instance `{key}` of `{process}`"), e))?;
        Ok(())
    }

    async fn enqueue(
        &self,
        tx: &mut SqliteTx,
        process: &str,
        commands: &[PendingCommand],
    ) -> Result<(), StoreError> {
        let at = now();
        for c in commands {
            sqlx::query(
                "INSERT INTO process_outbox (process, key, command_id, causation_id, \
                   correlation_id, aggregate, target_id, command, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(process)
            .bind(&c.key)
            .bind(c.command_id.hyphenated().to_string())
            .bind(c.causation_id.hyphenated().to_string())
            .bind(c.correlation_id.map(|id| id.hyphenated().to_string()))
            .bind(&c.aggregate)
            .bind(&c.target_id)
            .bind(c.command.as_slice())
            .bind(&at)
            .execute(&mut **tx)
            .await
            .map_err(|e| backend(format!("enqueueing a command of `{process}`"), e))?;
        }
        Ok(())
    }

    async fn schedule(
        &self,
        tx: &mut SqliteTx,
        process: &str,
        deadline: &ScheduledDeadline,
    ) -> Result<(), StoreError> {
        let key = &deadline.key;
        sqlx::query(
            "INSERT INTO process_deadlines (process, key, deadline, id, due_at, fired) \
             VALUES (?, ?, ?, ?, ?, 0) \
             ON CONFLICT (process, key, deadline) DO UPDATE SET id = excluded.id, \
               due_at = excluded.due_at, fired = 0",
        )
        .bind(process)
        .bind(key)
        .bind(&deadline.deadline)
        .bind(deadline.id.hyphenated().to_string())
        .bind(due_text(deadline.due_at))
        .execute(&mut **tx)
        .await
        .map_err(|e| {
            backend(
                format!("scheduling a deadline of `{key}` of `{process}`"),
                e,
            )
        })?;
        Ok(())
    }

    async fn cancel(
        &self,
        tx: &mut SqliteTx,
        process: &str,
        key: &str,
        deadline: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM process_deadlines WHERE process = ?1 AND key = ?2 \
               AND (?3 IS NULL OR deadline = ?3)",
        )
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
        tx: &mut SqliteTx,
        process: &str,
        key: &str,
        id: Uuid,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("DELETE FROM process_deadlines WHERE process = ? AND key = ? AND id = ?")
                .bind(process)
                .bind(key)
                .bind(id.hyphenated().to_string())
                .execute(&mut **tx)
                .await
                .map_err(|e| {
                    backend(format!("taking deadline {id} of `{key}` of `{process}`"), e)
                })?;
        Ok(done.rows_affected() > 0)
    }

    async fn pending_commands(
        &self,
        process: &str,
        limit: usize,
    ) -> Result<Vec<PendingCommand>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, key, command_id, causation_id, correlation_id, aggregate, target_id, \
               command \
             FROM process_outbox WHERE process = ? ORDER BY seq LIMIT ?",
        )
        .bind(process)
        .bind(to_i64(limit as u64))
        .fetch_all(self.pool())
        .await
        .map_err(|e| backend(format!("reading the outbox of `{process}`"), e))?;
        rows.iter().map(|r| pending_command(process, r)).collect()
    }

    async fn commands_done(&self, process: &str, seqs: &[u64]) -> Result<(), StoreError> {
        if seqs.is_empty() {
            return Ok(());
        }
        // One statement: `json_each` of the seqs as a JSON array.
        let list = format!(
            "[{}]",
            seqs.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(",")
        );
        sqlx::query(
            "DELETE FROM process_outbox WHERE process = ? \
             AND seq IN (SELECT value FROM json_each(?))",
        )
        .bind(process)
        .bind(list)
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
        let rows: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT key, deadline, id, due_at FROM process_deadlines \
             WHERE process = ? AND fired = 0 AND due_at <= ? \
             ORDER BY due_at, key, deadline LIMIT ?",
        )
        .bind(process)
        .bind(time_bound(now))
        .bind(to_i64(limit as u64))
        .fetch_all(self.pool())
        .await
        .map_err(|e| backend(format!("reading the due deadlines of `{process}`"), e))?;
        rows.into_iter()
            .map(|(key, deadline, id, due_at)| {
                Ok(ScheduledDeadline {
                    id: uuid_of(process, "deadline id", &id)?,
                    due_at: parse_time(&due_at).map_err(|e| {
                        corrupt(process, format!("due time {due_at:?} of `{key}`: {e}"))
                    })?,
                    key,
                    deadline,
                })
            })
            .collect()
    }

    async fn deadline_fired(&self, process: &str, id: Uuid) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE process_deadlines SET fired = 1 WHERE process = ? AND id = ? AND fired = 0",
        )
        .bind(process)
        .bind(id.hyphenated().to_string())
        .execute(self.pool())
        .await
        .map_err(|e| backend(format!("marking deadline {id} of `{process}` fired"), e))?;
        Ok(())
    }

    async fn process_counts(&self, process: &str) -> Result<ProcessCounts, StoreError> {
        let (active, finished, pending, deadlines): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT \
               (SELECT count(*) FROM process_instances WHERE process = ?1 AND finished = 0), \
               (SELECT count(*) FROM process_instances WHERE process = ?1 AND finished <> 0), \
               (SELECT count(*) FROM process_outbox WHERE process = ?1), \
               (SELECT count(*) FROM process_deadlines WHERE process = ?1)",
        )
        .bind(process)
        .fetch_one(self.pool())
        .await
        .map_err(|e| backend(format!("counting the rows of `{process}`"), e))?;
        Ok(ProcessCounts {
            active: count(process, active)?,
            finished: count(process, finished)?,
            pending_commands: count(process, pending)?,
            deadlines: count(process, deadlines)?,
        })
    }
}
