//! Catch-up: reading the whole log in pages (`read_all` against a raw
//! paged select), and projecting it from the start through
//! `ProjectionRunner::catch_up` against raw pages with a locked checkpoint
//! row, once with one set-wise upsert per batch and once with one upsert
//! per event. The log read and the set-wise projection run in
//! [`ROUNDS`] rounds that alternate the sides ([`ORDER`]); the per-event
//! projection, which takes minutes, once per side, one after the other.
//! Figures: events per second (`read_all`, `projection_catch_up`,
//! `projection_catch_up_per_event`).

use anyhow::{Result, bail};
use es_bench::{
    BATCHED_TOTALS_TABLE, BatchedStreamTotals, RawAmount, StreamTotals, TOTALS_TABLE,
    totals_table_sql,
};
use es_core::EventStore;
use es_postgres::ProjectionRunner;
use serde_json::json;
use sqlx::PgConnection;
use sqlx::postgres::PgPool;
use std::time::Duration;
use uuid::Uuid;

use crate::env::{Env, copy_to_raw, populate, scaled_step};
use crate::measure::{Side, Tally, measured, per_sec, round3};
use crate::report::Figure;

/// The columns a reader of the log gets, as the raw baseline decodes them.
pub(crate) type RawRow = (
    i64,
    Uuid,
    String,
    i64,
    String,
    i32,
    String,
    String,
    chrono::DateTime<chrono::Utc>,
);

/// The rounds of the log read and of the set-wise projection: each reads
/// the whole log once per side.
const ROUNDS: usize = 4;

/// The order of the sides in every round: strictly alternating, so each
/// pass over a log follows a pass over the other one. Not ABBA (as the
/// other workloads): there a side follows itself at the turn of a round,
/// and a raw pass right after another raw pass took a fifth longer than
/// after a framework pass (527-530 ms against 430-434 at scale 0.3; the
/// logs with their indexes outgrow the default 128 MB of shared buffers),
/// which over four ABBA rounds fell twice on the baseline and once on the
/// framework.
const ORDER: [Side; 2] = [Side::Framework, Side::Baseline];

/// Milliseconds, rounded to one decimal, for the details.
fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// The whole log through `read_all`, in pages: the events read.
async fn read_all_pages(store: &es_postgres::PgEventStore, page: usize) -> Result<usize> {
    let (mut pos, mut n) = (0u64, 0usize);
    loop {
        let events = store.read_all(pos, page, None).await?.events;
        let Some(last) = events.last() else {
            return Ok(n);
        };
        pos = last.global_position;
        n += events.len();
    }
}

/// The whole raw log in pages of the same columns: the events read.
async fn raw_pages(pool: &PgPool, page: usize) -> Result<usize> {
    let (mut pos, mut n) = (0i64, 0usize);
    loop {
        let rows: Vec<RawRow> = sqlx::query_as(
            "SELECT global_position, event_id, stream_id, stream_version, event_type, \
               schema_version, payload::text, metadata::text, recorded_at \
             FROM raw.events WHERE global_position > $1 ORDER BY global_position LIMIT $2",
        )
        .bind(pos)
        .bind(page as i64)
        .fetch_all(pool)
        .await?;
        let Some(last) = rows.last() else {
            return Ok(n);
        };
        pos = last.0;
        n += rows.len();
    }
}

/// Writes about 1,000,000 events (at scale 1) in 100-event streams, copies
/// them to the raw table, then measures the log read and the two
/// projections.
pub(crate) async fn catch_up(env: &Env, scale: f64) -> Result<Vec<Figure>> {
    const PAGE: usize = 1000;
    const PER_STREAM: usize = 100;
    let total = scaled_step(1_000_000.0, scale, PER_STREAM);
    let streams: Vec<String> = (0..total / PER_STREAM)
        .map(|i| format!("Counter-cu-{i}"))
        .collect();
    eprintln!("es-bench:   writing {total} events");
    populate(&env.par_store, streams, PER_STREAM, PER_STREAM).await?;
    copy_to_raw(&env.par, "Counter-cu-%").await?;
    sqlx::query("VACUUM ANALYZE es.events")
        .execute(&env.par)
        .await?;
    sqlx::query("VACUUM ANALYZE raw.events")
        .execute(&env.par)
        .await?;
    let in_log: i64 = sqlx::query_scalar("SELECT count(*) FROM es.events")
        .fetch_one(&env.par)
        .await?;
    let in_raw: i64 = sqlx::query_scalar("SELECT count(*) FROM raw.events")
        .fetch_one(&env.par)
        .await?;

    let mut out = Vec::new();
    // read_all over the whole log, in pages, against the raw paged select:
    // each round reads the whole log once on each side, in ABBA order.
    let store = &env.seq_store;
    let (mut fw_tally, mut raw_tally) = (Tally::default(), Tally::default());
    let mut round_ratios = Vec::with_capacity(ROUNDS);
    let mut round_ms = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let (mut fw_t, mut raw_t) = (Duration::ZERO, Duration::ZERO);
        for side in ORDER {
            let (n, t) = match side {
                Side::Framework => fw_tally.round(read_all_pages(store, PAGE)).await?,
                Side::Baseline => raw_tally.round(raw_pages(&env.seq, PAGE)).await?,
            };
            let expected = if side == Side::Framework {
                in_log
            } else {
                in_raw
            };
            if n as i64 != expected {
                bail!("read {n} of {expected} events ({side:?})");
            }
            *(if side == Side::Framework {
                &mut fw_t
            } else {
                &mut raw_t
            }) = t;
        }
        round_ratios.push(round3(raw_t.as_secs_f64() / fw_t.as_secs_f64()));
        round_ms.push([ms(fw_t), ms(raw_t)]);
    }
    let fw = per_sec(in_log as usize * ROUNDS, fw_tally.time);
    let raw = per_sec(in_raw as usize * ROUNDS, raw_tally.time);
    out.push(Figure {
        workload: "read_all".into(),
        unit: "events/s",
        framework: fw,
        baseline: raw,
        ratio: fw / raw,
        target: ">= 200000 events/s, < 150 MB".into(),
        met: Some(fw >= 200_000.0 && fw_tally.rss_mb < 150.0),
        rss_framework_mb: fw_tally.rss_mb,
        rss_baseline_mb: raw_tally.rss_mb,
        details: json!({ "events": in_log, "baseline_events": in_raw, "page": PAGE,
                         "rounds": ROUNDS, "round_ratios": round_ratios,
                         "round_ms_framework_baseline": round_ms,
                         "framework_s": fw_tally.time.as_secs_f64(),
                         "baseline_s": raw_tally.time.as_secs_f64() }),
    });

    // What the runner's reads cost alone: read_all with its type filter.
    let types = ["Credited", "Debited"];
    let (filtered_n, filtered_time, _) = measured(async {
        let (mut pos, mut n) = (0u64, 0usize);
        loop {
            let page = store.read_all(pos, PAGE, Some(&types)).await?;
            let Some(last) = page.events.last() else {
                break;
            };
            pos = last.global_position;
            n += page.len();
        }
        Ok(n)
    })
    .await?;

    // A projection upserting one row per stream, from the start, through
    // the runner: the handlers buffer per-stream sums and `flush` writes
    // them with one UNNEST upsert per batch. Baseline: raw pages, and per
    // page one transaction that locks the checkpoint row, runs the same
    // UNNEST upsert and moves the checkpoint.
    // Each round projects the whole log from the start on each side, in
    // ABBA order; before each, that side's table is emptied and its
    // checkpoint set back to 0 (outside the measured time).
    sqlx::raw_sql(&format!(
        "{}; INSERT INTO raw.checkpoints VALUES ('batched', 0)",
        totals_table_sql("raw.totals_batched")
    ))
    .execute(&env.par)
    .await?;
    let (mut fw_tally, mut raw_tally) = (Tally::default(), Tally::default());
    let mut round_ratios = Vec::with_capacity(ROUNDS);
    let mut round_ms = Vec::with_capacity(ROUNDS);
    let (mut fw_n, mut raw_n) = (0, 0);
    for r in 0..ROUNDS {
        let (mut fw_t, mut raw_t) = (Duration::ZERO, Duration::ZERO);
        for side in ORDER {
            match side {
                Side::Framework => {
                    if r > 0 {
                        sqlx::raw_sql(&format!(
                            "TRUNCATE {BATCHED_TOTALS_TABLE}; UPDATE es.checkpoints SET position = 0 \
                             WHERE projection = '{BATCHED_TOTALS_TABLE}'"
                        ))
                        .execute(&env.par)
                        .await?;
                    }
                    let mut runner = ProjectionRunner::new(
                        env.par_store.clone(),
                        BatchedStreamTotals::default(),
                    )
                    .batch_size(PAGE);
                    (fw_n, fw_t) = fw_tally
                        .round(async { Ok(runner.catch_up().await? as usize) })
                        .await?;
                    runner.release().await;
                }
                Side::Baseline => {
                    sqlx::raw_sql(
                        "TRUNCATE raw.totals_batched; \
                         UPDATE raw.checkpoints SET position = 0 WHERE projection = 'batched'",
                    )
                    .execute(&env.par)
                    .await?;
                    (raw_n, raw_t) = raw_tally
                        .round(raw_set_wise_projection(&env.seq, PAGE))
                        .await?;
                }
            }
        }
        check_projected(
            env,
            fw_n,
            BATCHED_TOTALS_TABLE,
            raw_n,
            in_raw,
            "raw.totals_batched",
        )
        .await?;
        round_ratios.push(round3(raw_t.as_secs_f64() / fw_t.as_secs_f64()));
        round_ms.push([ms(fw_t), ms(raw_t)]);
    }
    let fw = per_sec(fw_n * ROUNDS, fw_tally.time);
    let raw = per_sec(raw_n * ROUNDS, raw_tally.time);
    out.push(Figure {
        workload: "projection_catch_up".into(),
        unit: "events/s",
        framework: fw,
        baseline: raw,
        ratio: fw / raw,
        target: ">= 50000 events/s, < 150 MB".into(),
        met: Some(fw >= 50_000.0 && fw_tally.rss_mb < 150.0),
        rss_framework_mb: fw_tally.rss_mb,
        rss_baseline_mb: raw_tally.rss_mb,
        details: json!({ "events": fw_n, "batch": PAGE,
                         "rounds": ROUNDS, "round_ratios": round_ratios,
                         "round_ms_framework_baseline": round_ms,
                         "read_all_with_type_filter_events_per_s": per_sec(filtered_n, filtered_time),
                         "runner": "es_postgres::ProjectionRunner::catch_up; handlers buffer per-stream sums, PgProjection::flush writes them with one UNNEST upsert per batch, one transaction per batch",
                         "baseline": "raw pages; per page one transaction: lock the checkpoint row, one UNNEST upsert, move the checkpoint",
                         "framework_s": fw_tally.time.as_secs_f64(), "baseline_s": raw_tally.time.as_secs_f64() }),
    });

    // The same through the runner with one upsert statement per event (no
    // flush hook), vs raw pages with the same per-event upsert and a locked
    // checkpoint row in one transaction per page.
    let mut runner = ProjectionRunner::new(env.par_store.clone(), StreamTotals).batch_size(PAGE);
    let (fw_n, fw_time, fw_rss) = measured(async { Ok(runner.catch_up().await? as usize) }).await?;
    runner.release().await;
    let (raw_n, raw_time, raw_rss) = measured(raw_projection(&env.seq, PAGE)).await?;
    check_projected(env, fw_n, TOTALS_TABLE, raw_n, in_raw, "raw.totals").await?;
    let fw = per_sec(fw_n, fw_time);
    let raw = per_sec(raw_n, raw_time);
    out.push(Figure {
        workload: "projection_catch_up_per_event".into(),
        unit: "events/s",
        framework: fw,
        baseline: raw,
        ratio: fw / raw,
        target: "- (the pattern flush replaces)".into(),
        met: None,
        rss_framework_mb: fw_rss,
        rss_baseline_mb: raw_rss,
        details: json!({ "events": fw_n, "batch": PAGE,
                         "runner": "es_postgres::ProjectionRunner::catch_up, one upsert statement per event in the handler, one transaction per batch",
                         "framework_s": fw_time.as_secs_f64(), "baseline_s": raw_time.as_secs_f64() }),
    });
    Ok(out)
}

/// Per-stream sums of one page, for the set-wise projection.
#[derive(Default)]
struct Totals {
    index: std::collections::HashMap<String, usize>,
    streams: Vec<String>,
    events: Vec<i64>,
    balance: Vec<i64>,
    version: Vec<i64>,
}

impl Totals {
    fn add(&mut self, stream: &str, delta: i64, version: i64) {
        let i = match self.index.get(stream) {
            Some(&i) => i,
            None => {
                self.index.insert(stream.to_owned(), self.streams.len());
                self.streams.push(stream.to_owned());
                self.events.push(0);
                self.balance.push(0);
                self.version.push(0);
                self.streams.len() - 1
            }
        };
        self.events[i] += 1;
        self.balance[i] += delta;
        self.version[i] = version;
    }

    async fn upsert(&self, conn: &mut PgConnection, table: &str) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO {table} AS t (stream_id, events, balance, version) \
             SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::int8[]) \
             ON CONFLICT (stream_id) DO UPDATE SET events = t.events + EXCLUDED.events, \
               balance = t.balance + EXCLUDED.balance, version = EXCLUDED.version"
        ))
        .bind(&self.streams)
        .bind(&self.events)
        .bind(&self.balance)
        .bind(&self.version)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// Checks both projections handled every event and wrote one row per stream.
async fn check_projected(
    env: &Env,
    fw_n: usize,
    fw_table: &str,
    raw_n: usize,
    in_raw: i64,
    raw_table: &str,
) -> Result<()> {
    let count = |table: &str| format!("SELECT count(*) FROM {table}");
    let rows: i64 = sqlx::query_scalar(&count(fw_table))
        .fetch_one(&env.par)
        .await?;
    let raw_rows: i64 = sqlx::query_scalar(&count(raw_table))
        .fetch_one(&env.par)
        .await?;
    let events: i64 = sqlx::query_scalar(&format!(
        "SELECT coalesce(sum(events), 0)::int8 FROM {fw_table}"
    ))
    .fetch_one(&env.par)
    .await?;
    // The projections read the Counter events only (other workloads, DCB's
    // for one, write other types to the same log).
    let typed = "FROM es.events WHERE event_type IN ('Credited', 'Debited')";
    let in_log: i64 = sqlx::query_scalar(&format!("SELECT count(*) {typed}"))
        .fetch_one(&env.par)
        .await?;
    let streams_log: i64 = sqlx::query_scalar(&format!("SELECT count(DISTINCT stream_id) {typed}"))
        .fetch_one(&env.par)
        .await?;
    let streams_raw: i64 = sqlx::query_scalar("SELECT count(DISTINCT stream_id) FROM raw.events")
        .fetch_one(&env.par)
        .await?;
    if fw_n as i64 != in_log
        || events != in_log
        || raw_n as i64 != in_raw
        || rows != streams_log
        || raw_rows != streams_raw
    {
        bail!(
            "projected {fw_n} of {in_log} events into {rows} rows ({events} counted) of {fw_table}; \
             baseline {raw_n} of {in_raw} into {raw_rows} rows of {raw_table}"
        );
    }
    Ok(())
}

/// The raw set-wise projection: page through the log, and per page one
/// transaction that locks the checkpoint, runs one multi-row upsert and
/// moves the checkpoint.
async fn raw_set_wise_projection(pool: &PgPool, page: usize) -> Result<usize> {
    let (mut pos, mut n) = (0i64, 0usize);
    let types = vec!["Credited".to_owned(), "Debited".to_owned()];
    loop {
        let rows: Vec<(i64, String, i64, String, String)> = sqlx::query_as(
            "SELECT global_position, stream_id, stream_version, event_type, payload::text \
             FROM raw.events WHERE global_position > $1 AND event_type = ANY($3) \
             ORDER BY global_position LIMIT $2",
        )
        .bind(pos)
        .bind(page as i64)
        .bind(&types)
        .fetch_all(pool)
        .await?;
        let Some(last) = rows.last() else { break };
        let mut totals = Totals::default();
        for (_, stream, version, t, payload) in &rows {
            let a: RawAmount = serde_json::from_str(payload)?;
            let delta = if t == "Debited" { -a.amount } else { a.amount };
            totals.add(stream, delta, *version);
        }
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT position FROM raw.checkpoints WHERE projection = 'batched' FOR UPDATE")
            .execute(&mut *tx)
            .await?;
        totals.upsert(&mut tx, "raw.totals_batched").await?;
        sqlx::query("UPDATE raw.checkpoints SET position = $1 WHERE projection = 'batched'")
            .bind(last.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        pos = last.0;
        n += rows.len();
    }
    Ok(n)
}

/// The raw projection: page through the log, and per page one transaction
/// that locks the checkpoint, upserts one row per event and moves the
/// checkpoint.
async fn raw_projection(pool: &PgPool, page: usize) -> Result<usize> {
    sqlx::query("INSERT INTO raw.checkpoints VALUES ('totals', 0) ON CONFLICT DO NOTHING")
        .execute(pool)
        .await?;
    let types = vec!["Credited".to_owned(), "Debited".to_owned()];
    let (mut pos, mut n) = (0i64, 0usize);
    loop {
        let rows: Vec<(i64, String, i64, String, String)> = sqlx::query_as(
            "SELECT global_position, stream_id, stream_version, event_type, payload::text \
             FROM raw.events WHERE global_position > $1 AND event_type = ANY($3) \
             ORDER BY global_position LIMIT $2",
        )
        .bind(pos)
        .bind(page as i64)
        .bind(&types)
        .fetch_all(pool)
        .await?;
        let Some(last) = rows.last() else { break };
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT position FROM raw.checkpoints WHERE projection = 'totals' FOR UPDATE")
            .execute(&mut *tx)
            .await?;
        for (_, stream, version, t, payload) in &rows {
            let a: RawAmount = serde_json::from_str(payload)?;
            let delta = if t == "Debited" { -a.amount } else { a.amount };
            sqlx::query(
                "INSERT INTO raw.totals (stream_id, events, balance, version) VALUES ($1, 1, $2, $3) \
                 ON CONFLICT (stream_id) DO UPDATE SET events = raw.totals.events + 1, \
                   balance = raw.totals.balance + EXCLUDED.balance, version = EXCLUDED.version",
            )
            .bind(stream)
            .bind(delta)
            .bind(version)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE raw.checkpoints SET position = $1 WHERE projection = 'totals'")
            .bind(last.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        pos = last.0;
        n += rows.len();
    }
    Ok(n)
}
