//! Appends, with their SQL: the checked entry that retries
//! ([`Appends::append_batch`]), one attempt ([`Appends::append_once`]) with
//! its three statements (one event, a plain batch, and the full statement
//! that also records a command id or runs under inline projections), the
//! arrays a batch binds, and the inline projections that run inside an
//! append's transaction.

use std::time::Duration;

use es_core::consumer::InlineConsumers;
use es_core::{
    AppendResult, CommandRecord, ExpectedVersion, NewEvent, StoreError, check_append,
    stream_category,
};
use futures::TryStreamExt;
use sqlx::postgres::PgPool;
use uuid::Uuid;

mod batch;
mod statements;

use batch::{Batch, Outcome, PgQuery, db_error};
use statements::{full_statement, lock_and_check, tagged_statement};

use crate::dcb::condition::DcbAppend;
use crate::error::InvalidPayload;
use crate::inline::PgProjection;
use crate::inline::{PgConsumer, PgTx};
use crate::notify::{self, NotifierSlot};
use crate::read::Reads;
use crate::row::{POSITION_SHIFT, decode_event, to_i64, to_u64};
use crate::schema::quote_ident;

/// How many events one transaction may write: the low 20 bits of a global
/// position number the events of one transaction.
pub const MAX_EVENTS_PER_TRANSACTION: usize = (1 << POSITION_SHIFT) - 1;

/// How often an append with [`ExpectedVersion::Any`] is retried when another
/// writer took the same stream version first.
const ANY_RETRIES: u32 = 32;

/// The append statements, with the (validated, quoted) schema name filled
/// in once, and what an append needs besides: its limits, the inline
/// projections it runs, and where it announces its commits.
#[derive(Clone)]
pub(crate) struct Appends {
    /// Payloads above this many bytes are refused before the round trip.
    max_payload_bytes: usize,
    /// The channel commits are announced on.
    channel: String,
    /// The least time between two announcements.
    notify_interval: Duration,
    /// Announces the fast path's commits (see `notify`).
    notifier: NotifierSlot,
    /// Projections run inside each append's transaction.
    inline: InlineConsumers<PgTx>,
    /// The common append: no command id, no `NOTIFY` in the statement.
    plain: String,
    /// `plain` for a single event, from scalars instead of arrays.
    one: String,
    /// The append that also checks and records a command id, and notifies
    /// in its transaction when given a channel.
    full: String,
    /// `plain` with the locks, the check and the tags of a tagged append
    /// (see [`tagged_statement`]).
    tagged: String,
    /// `full` with the locks, the check and the tags of a tagged append.
    tagged_full: String,
}

impl Appends {
    pub(crate) fn new(
        schema: &str,
        channel: &str,
        max_payload_bytes: usize,
        notify_interval: Duration,
    ) -> Self {
        let s = quote_ident(schema);
        Self {
            max_payload_bytes,
            channel: channel.to_owned(),
            notify_interval,
            notifier: NotifierSlot::default(),
            inline: InlineConsumers::new(),
            // The common append, as plain as an append can be (the full
            // statement below costs the server about a third more per
            // single-event append: executor start-up of its CTEs, measured
            // with pgbench, see BENCHMARKS.md): read the stream's version,
            // insert the batch from arrays at the versions after it only
            // when that is the expected version, return what was inserted.
            // No rows: the stream is not at the expected version. Positions
            // need no lookup: each append statement runs in a transaction
            // of its own, so this transaction has written no event yet.
            // Concurrent writers that both read the same version collide on
            // (stream_id, stream_version): the second fails with 23505 and
            // writes nothing.
            plain: format!(
                r#"
INSERT INTO {s}.events (global_position, event_id, stream_id, stream_version,
    aggregate_type, event_type, schema_version, payload, metadata, tx_id)
SELECT (cur.tx_id::text::bigint << {POSITION_SHIFT}) + e.ord, e.event_id, $1,
       cur.version + e.ord, $2, e.event_type, e.schema_version, e.payload::jsonb,
       COALESCE(e.metadata::jsonb, '{{}}'::jsonb), cur.tx_id
FROM (SELECT COALESCE(max(stream_version), 0) AS version, pg_current_xact_id() AS tx_id
      FROM {s}.events WHERE stream_id = $1) AS cur,
     unnest($4::uuid[], $5::text[], $6::int4[], $7::text[], $8::text[])
        WITH ORDINALITY AS e(event_id, event_type, schema_version, payload, metadata, ord)
WHERE $3::bigint IS NULL OR cur.version = $3::bigint
RETURNING global_position, stream_version"#
            ),
            // The same for one event (every command that emits one), from
            // scalars: no unnest to set up (about a tenth less server time
            // per statement, pgbench with 4 clients).
            one: format!(
                r#"
INSERT INTO {s}.events (global_position, event_id, stream_id, stream_version,
    aggregate_type, event_type, schema_version, payload, metadata, tx_id)
SELECT (cur.tx_id::text::bigint << {POSITION_SHIFT}) + 1, $4::uuid, $1,
       cur.version + 1, $2, $5::text, $6::int4, $7::text::jsonb,
       COALESCE($8::text::jsonb, '{{}}'::jsonb), cur.tx_id
FROM (SELECT COALESCE(max(stream_version), 0) AS version, pg_current_xact_id() AS tx_id
      FROM {s}.events WHERE stream_id = $1) AS cur
WHERE $3::bigint IS NULL OR cur.version = $3::bigint
RETURNING global_position, stream_version"#
            ),
            full: full_statement(&s, ""),
            tagged: tagged_statement(&s),
            // The full statement with the locks and the check of a tagged
            // append ($14-$23, see `crate::dcb`): still one statement.
            tagged_full: full_statement(&s, &format!("\n      AND {}", lock_and_check(&s, 14))),
        }
    }

    /// Adds `projection` to the inline projections, after the others.
    pub(crate) fn add_inline<P>(&mut self, projection: P)
    where
        P: PgProjection + Clone + Sync,
    {
        self.inline.push(PgConsumer(projection));
    }

    /// Adds a consumer of the append's transaction (an inline document
    /// projection) to the inline projections, after the others.
    pub(crate) fn add_inline_consumer<C>(&mut self, consumer: C)
    where
        C: es_core::consumer::Consumer<PgTx> + Clone + Sync,
    {
        self.inline.push(consumer);
    }

    /// The names of the inline projections, in the order they run.
    pub(crate) fn inline_names(&self) -> Vec<&'static str> {
        self.inline.names()
    }

    /// Runs each inline projection's setup hook in a transaction of its own.
    pub(crate) async fn setup_inline(&self, pool: &PgPool) -> Result<(), StoreError> {
        for projection in self.inline.iter() {
            let ctx = || format!("setting up inline projection `{}`", projection.name());
            let mut tx = pool
                .begin()
                .await
                .map_err(|e| StoreError::backend(ctx(), e))?;
            projection
                .setup(&mut tx)
                .await
                .map_err(|e| StoreError::backend(ctx(), e))?;
            tx.commit()
                .await
                .map_err(|e| StoreError::backend(ctx(), e))?;
        }
        Ok(())
    }

    /// An append: checks the batch, then runs [`Appends::append_once`] until
    /// it stores the batch, finds it recorded (same command id) or finds
    /// the stream elsewhere than expected; retries when another writer took
    /// the version an [`ExpectedVersion::Any`] append was after. Announces
    /// the commit.
    pub(crate) async fn append_batch(
        &self,
        pool: &PgPool,
        reads: &Reads,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        dcb: Option<&DcbAppend>,
    ) -> Result<AppendResult, StoreError> {
        // Before anything reaches the server: the whole batch or nothing.
        check_append(stream_id, &events, self.max_payload_bytes)?;
        let span = tracing::Span::current();
        if events.is_empty() {
            let actual = reads.stream_version(pool, stream_id).await?;
            if !expected.admits(actual) {
                return Err(StoreError::VersionConflict {
                    stream_id: stream_id.to_owned(),
                    expected,
                    actual,
                });
            }
            span.record("version", actual);
            return Ok(AppendResult::unchanged(actual));
        }
        if events.len() > MAX_EVENTS_PER_TRANSACTION {
            return Err(StoreError::backend(
                format!("appending to stream `{stream_id}`"),
                format!(
                    "a batch of {} events is over the limit of {MAX_EVENTS_PER_TRANSACTION} per append",
                    events.len()
                ),
            ));
        }
        let batch = Batch::new(stream_id, events)?;
        let command_id = batch.command_id;
        let expected_sql = match expected {
            ExpectedVersion::Any => None,
            ExpectedVersion::NoStream => Some(0),
            ExpectedVersion::Exact(v) => Some(to_i64(v)),
        };
        let ctx = || format!("appending to stream `{stream_id}`");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = match self
                .append_once(pool, reads, stream_id, expected_sql, &batch, dcb)
                .await
            {
                Ok(outcome) => outcome,
                Err(AppendError::Other(e)) => return Err(e),
                Err(AppendError::Sql(e)) => {
                    let Some((code, constraint)) = db_error(&e) else {
                        return Err(StoreError::backend(ctx(), e));
                    };
                    match (code.as_str(), constraint.as_deref()) {
                        ("23505", Some("events_stream_version_key" | "commands_pkey")) => {
                            // Another writer got there first. The same command?
                            if let Some(id) = command_id
                                && let Some(r) = reads.find_command(pool, stream_id, id).await?
                            {
                                return Ok(AppendResult::duplicate(r));
                            }
                            if expected == ExpectedVersion::Any && attempt <= ANY_RETRIES {
                                tracing::debug!(stream = %stream_id, attempt, "stream version taken; appending again");
                                continue;
                            }
                            let actual = reads.stream_version(pool, stream_id).await?;
                            span.record("version", actual);
                            return Err(StoreError::VersionConflict {
                                stream_id: stream_id.to_owned(),
                                expected,
                                actual,
                            });
                        }
                        // 22P02: not JSON; 22P05: `\u0000` (jsonb cannot hold
                        // it); 22021: a byte PostgreSQL text refuses.
                        ("22P02" | "22P05" | "22021", _) => {
                            let reason = e
                                .as_database_error()
                                .map(|d| d.message().to_owned())
                                .unwrap_or_default();
                            return Err(StoreError::backend(
                                ctx(),
                                InvalidPayload {
                                    event_type: batch.types.join(", "),
                                    reason: format!(
                                        "PostgreSQL refused a payload or metadata as jsonb ({reason}); \
                                         note that jsonb cannot store the \\u0000 escape"
                                    ),
                                },
                            ));
                        }
                        _ => return Err(StoreError::backend(ctx(), e)),
                    }
                }
            };
            if let Some((first, last)) = outcome.duplicate {
                span.record("version", last);
                return Ok(AppendResult::duplicate(CommandRecord {
                    first_version: to_u64(first),
                    last_version: to_u64(last),
                }));
            }
            let Some((first, last, last_position)) = outcome.inserted else {
                // Not at the expected version. The plain statement does not
                // say where the stream was; read it now. Should it have
                // reached the expected version since, the append is simply
                // tried again.
                let actual = match outcome.current {
                    Some(v) => to_u64(v),
                    None => reads.stream_version(pool, stream_id).await?,
                };
                if expected.admits(actual) && attempt <= ANY_RETRIES {
                    continue;
                }
                span.record("version", actual);
                return Err(StoreError::VersionConflict {
                    stream_id: stream_id.to_owned(),
                    expected,
                    actual,
                });
            };
            let (first, last, last_position) = (to_u64(first), to_u64(last), to_u64(last_position));
            span.record("version", last);
            // With inline projections the statement notified in its
            // transaction; otherwise the commit is announced now.
            if self.inline.is_empty() {
                notify::announce(
                    &self.notifier,
                    pool,
                    &self.channel,
                    self.notify_interval,
                    last_position,
                );
            }
            return Ok(AppendResult {
                first_version: first,
                last_version: last,
                last_position: Some(last_position),
                duplicate: false,
            });
        }
    }

    /// One attempt at an append: one statement in its own transaction, or
    /// (with inline projections) the full statement, the projections and
    /// `COMMIT` in one.
    async fn append_once(
        &self,
        pool: &PgPool,
        reads: &Reads,
        stream_id: &str,
        expected: Option<i64>,
        batch: &Batch,
        dcb: Option<&DcbAppend>,
    ) -> Result<Outcome, AppendError> {
        let command_id = batch.command_id;
        if self.inline.is_empty() && dcb.is_none_or(|d| !d.locks_the_log()) {
            // The fast path: one statement, its own transaction.
            // No NOTIFY in it: that would serialize concurrent commits (see
            // `notify`); `append_batch` announces the commit afterwards.
            if command_id.is_none() {
                let query = match dcb {
                    Some(dcb) => self.tagged_query(stream_id, expected, batch, dcb),
                    None if batch.ids.len() == 1 => sqlx::query(&self.one)
                        .bind(stream_id)
                        .bind(stream_category(stream_id))
                        .bind(expected)
                        .bind(batch.ids[0])
                        .bind(&batch.types[0])
                        .bind(batch.versions[0])
                        .bind(&batch.payloads[0])
                        .bind(&batch.metadata[0]),
                    None => batch.bind(sqlx::query(&self.plain), stream_id, expected),
                };
                let mut rows = query.fetch(pool);
                let mut outcome = Outcome::default();
                while let Some(row) = rows.try_next().await? {
                    outcome.add_returned(&row)?;
                }
                drop(rows);
                if let Some(dcb) = dcb
                    && stopped_by_condition(dcb, &outcome)
                {
                    return Err(AppendError::Other(dcb.failure(pool).await));
                }
                return Ok(outcome);
            }
            let row = self
                .append_query(stream_id, expected, command_id, batch, false, dcb)
                .fetch_one(pool)
                .await?;
            let outcome = Outcome::from_row(&row)?;
            if let Some(dcb) = dcb
                && stopped_by_condition(dcb, &outcome)
            {
                return Err(AppendError::Other(dcb.failure(pool).await));
            }
            return Ok(outcome);
        }
        // Inline projections, or a condition that locks the log first: the
        // full statement (with the tags, the locks and the check) in a
        // transaction, then the inserted events through each projection
        // that reads their types, then COMMIT. A failure rolls everything
        // back.
        let mut tx = pool.begin().await?;
        if let Some(dcb) = dcb
            && dcb.locks_the_log()
        {
            dcb.lock_the_log(&mut tx)
                .await
                .map_err(AppendError::Other)?;
        }
        let row = self
            .append_query(
                stream_id,
                expected,
                command_id,
                batch,
                !self.inline.is_empty(),
                dcb,
            )
            .fetch_one(&mut *tx)
            .await?;
        let outcome = Outcome::from_row(&row)?;
        if let Some(dcb) = dcb
            && stopped_by_condition(dcb, &outcome)
        {
            return Err(AppendError::Other(dcb.failure(&mut *tx).await));
        }
        if let Some((first, last, _)) = outcome.inserted
            && batch.types.iter().any(|t| self.inline.reads(t))
        {
            let rows = reads.stream_rows(&mut *tx, stream_id, first, last).await?;
            let events = rows
                .iter()
                .map(decode_event)
                .collect::<Result<Vec<_>, _>>()
                .map_err(AppendError::Other)?;
            self.inline
                .apply(&events, &mut tx)
                .await
                .map_err(|failure| AppendError::Other(failure.into_append_error(stream_id)))?;
        }
        tx.commit().await?;
        Ok(outcome)
    }

    /// The full statement for an append (the tagged one for a tagged
    /// append), bound.
    fn append_query<'q>(
        &'q self,
        stream_id: &'q str,
        expected: Option<i64>,
        command_id: Option<Uuid>,
        batch: &'q Batch,
        notify_in_transaction: bool,
        dcb: Option<&'q DcbAppend>,
    ) -> PgQuery<'q> {
        let Some(dcb) = dcb else {
            return batch
                .bind(sqlx::query(&self.full), stream_id, expected)
                .bind(command_id)
                .bind(notify_in_transaction.then_some(self.channel.as_str()))
                .bind(None::<Vec<String>>)
                .bind(None::<Vec<i64>>)
                .bind(None::<Vec<String>>);
        };
        let (tags, ords, types) = dcb.tag_rows();
        let query = batch
            .bind(sqlx::query(&self.tagged_full), stream_id, expected)
            .bind(command_id)
            .bind(notify_in_transaction.then_some(self.channel.as_str()))
            .bind(tags)
            .bind(ords)
            .bind(types);
        dcb.bind_call(query)
    }
}

impl Appends {
    /// The lean statement of a tagged append ([`tagged_statement`]), bound.
    fn tagged_query<'q>(
        &'q self,
        stream_id: &'q str,
        expected: Option<i64>,
        batch: &'q Batch,
        dcb: &'q DcbAppend,
    ) -> PgQuery<'q> {
        let (tags, ords, types) = dcb.tag_rows();
        dcb.bind_call(batch.bind(sqlx::query(&self.tagged), stream_id, expected))
            .bind(tags)
            .bind(ords)
            .bind(types)
    }
}

/// Whether a tagged append inserted nothing because its condition did not
/// hold (a tagged append takes any version and records no command, so
/// nothing else stops it).
fn stopped_by_condition(dcb: &DcbAppend, outcome: &Outcome) -> bool {
    dcb.conditional() && outcome.inserted.is_none() && outcome.duplicate.is_none()
}

/// Why one append attempt failed.
enum AppendError {
    /// The database refused (classified by the caller: conflicts, payloads).
    Sql(sqlx::Error),
    /// Anything else, e.g. an inline projection's handler.
    Other(StoreError),
}

impl From<sqlx::Error> for AppendError {
    fn from(e: sqlx::Error) -> Self {
        Self::Sql(e)
    }
}
