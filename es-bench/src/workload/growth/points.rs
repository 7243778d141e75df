//! The four read figures at one size of the log, each through the
//! framework and through raw sqlx on the same table (`es.events` or the
//! reference copy's: the framework's rows and indexes), the two sides
//! interleaved (ABBA): a 1,000-event stream read, a `read_all` page from
//! the middle, a rare type caught up from a checkpoint by a projection
//! runner and read by `read_all` alone (the writes are in `writes`); the
//! log they are taken on (`Log`) and the figure (`Point`).

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use es_core::{EventStore, Projection as _, StreamEnd};
use es_postgres::{PgEventStore, ProjectionRunner};
use serde_json::json;
use sqlx::postgres::PgPool;

use super::load::{Chunk, LONG_STREAM, RARE_TYPE};
use super::{FlaggedCount, Sampler};
use crate::env::Env;
use crate::measure::{Side, abba, median, percentiles};

/// A `read_all` page and a catch-up batch.
pub(super) const PAGE: usize = 1000;

/// A log the figures are taken on: the framework's stores on one schema
/// (one connection for the timed reads and writes, the pool of eight for
/// the runner) and its events table, for the raw side.
#[derive(Clone)]
pub(super) struct Log {
    pub(super) seq: PgPool,
    pub(super) par: PgPool,
    pub(super) seq_store: PgEventStore,
    pub(super) par_store: PgEventStore,
    /// The events table, with its schema.
    pub(super) table: &'static str,
}

impl Log {
    /// The benchmark's own log (schema `es`).
    pub(super) fn main(env: &Env) -> Self {
        Self {
            seq: env.seq.clone(),
            par: env.par.clone(),
            seq_store: env.seq_store.clone(),
            par_store: env.par_store.clone(),
            table: "es.events",
        }
    }

    /// A log in schema `schema` of the same database (`table` its events).
    pub(super) fn in_schema(env: &Env, schema: &str, table: &'static str) -> Result<Self> {
        Ok(Self {
            seq: env.seq.clone(),
            par: env.par.clone(),
            seq_store: PgEventStore::builder()
                .schema(schema)?
                .build(env.seq.clone()),
            par_store: PgEventStore::builder()
                .schema(schema)?
                .build(env.par.clone()),
            table,
        })
    }
}

/// One figure at one size: the framework's and the baseline's.
#[derive(Debug, Clone)]
pub(super) struct Point {
    /// `read_stream`, `read_all_page`, `rare_catch_up`, `command`, `append`.
    pub(super) name: &'static str,
    pub(super) unit: &'static str,
    /// A rate (higher is better) or a time (lower is better).
    pub(super) rate: bool,
    pub(super) framework: f64,
    pub(super) baseline: f64,
    pub(super) details: serde_json::Value,
}

/// The figures of several rounds as one: the mean of each side's figure,
/// the rounds' figures in the details (of the first round).
pub(super) fn mean(rounds: &[Vec<Point>]) -> Vec<Point> {
    let k = rounds.len().max(1) as f64;
    rounds[0]
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let fw = rounds.iter().map(|r| r[i].framework).sum::<f64>() / k;
            let raw = rounds.iter().map(|r| r[i].baseline).sum::<f64>() / k;
            let mut details = p.details.clone();
            if let Some(d) = details.as_object_mut() {
                let each: Vec<_> = rounds
                    .iter()
                    .map(|r| json!({ "framework": r[i].framework, "baseline": r[i].baseline }))
                    .collect();
                d.insert("rounds_of_this_size".into(), json!(each));
            }
            Point {
                framework: fw,
                baseline: raw,
                details,
                ..p.clone()
            }
        })
        .collect()
}

pub(super) use crate::workload::catch_up::RawRow;

/// The raw side's column list.
pub(super) const RAW_COLUMNS: &str = "global_position, event_id, stream_id, stream_version, \
     event_type, schema_version, payload::text, metadata::text, recorded_at";

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A median time in ms with the percentiles of both sides, as a `Point`.
fn timed_point(
    name: &'static str,
    [fw, raw]: [Vec<Duration>; 2],
    mut details: serde_json::Value,
) -> Point {
    let (fw_med, raw_med) = (ms(median(fw.clone())), ms(median(raw.clone())));
    if let Some(d) = details.as_object_mut() {
        d.insert("framework_latency".into(), percentiles(fw));
        d.insert("baseline_latency".into(), percentiles(raw));
    }
    Point {
        name,
        unit: "ms (median)",
        rate: false,
        framework: fw_med,
        baseline: raw_med,
        details,
    }
}

/// A random ledger stream (1,000 events in a full chunk) of the whole log.
pub(super) fn ledger_stream(chunks: &[Chunk], rng: &mut Sampler) -> String {
    let c = chunks[rng.below(chunks.len() as u64) as usize];
    format!("Ledger-{}-{}", c.k, rng.below(c.long_streams().max(1)))
}

/// A random position in the middle half of the loaded chunks.
pub(super) fn middle_position(chunks: &[Chunk], rng: &mut Sampler) -> i64 {
    let lo = chunks.len() / 4;
    let hi = (chunks.len() * 3).div_ceil(4).max(lo + 1);
    let c = chunks[lo + rng.below((hi - lo) as u64) as usize];
    c.position(1 + rng.below(c.events))
}

/// `read_stream` of a random 1,000-event stream, `n` streams: the
/// framework's `read_stream` to the head against a raw select of the same
/// columns. Each stream is read once by each side, the first reader
/// alternating. Figure: the median time.
pub(super) async fn read_stream(
    log: &Log,
    chunks: &[Chunk],
    rng: &mut Sampler,
    n: usize,
) -> Result<Point> {
    let table = log.table;
    let sql =
        format!("SELECT {RAW_COLUMNS} FROM {table} WHERE stream_id = $1 ORDER BY stream_version");
    let (mut fw, mut raw) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut lengths = Vec::with_capacity(n);
    for r in 0..n {
        let stream = ledger_stream(chunks, rng);
        let mut read = [0usize; 2];
        for side in abba(r) {
            let t = Instant::now();
            match side {
                Side::Framework => {
                    let events = log
                        .seq_store
                        .read_stream(&stream, 1, StreamEnd::Head, LONG_STREAM as usize)
                        .await?;
                    fw.push(t.elapsed());
                    let dense = events
                        .iter()
                        .enumerate()
                        .all(|(i, e)| e.stream_version == i as u64 + 1);
                    ensure!(
                        dense && !events.is_empty(),
                        "{stream}: not read back as loaded"
                    );
                    read[0] = events.len();
                }
                Side::Baseline => {
                    let rows: Vec<RawRow> = sqlx::query_as(&sql)
                        .bind(&stream)
                        .fetch_all(&log.seq)
                        .await?;
                    raw.push(t.elapsed());
                    read[1] = rows.len();
                }
            }
        }
        ensure!(read[0] == read[1], "{stream}: read {read:?} events");
        lengths.push(read[0]);
    }
    let events_per_stream = lengths.iter().sum::<usize>() / lengths.len().max(1);
    let buffers = stream_buffers(log, chunks, rng, 10).await?;
    Ok(timed_point(
        "read_stream",
        [fw, raw],
        json!({ "streams": n, "events_per_stream": events_per_stream,
                "buffers_per_read_median": { "shared_hit": buffers.0, "read_from_os": buffers.1 },
                "framework": "PgEventStore::read_stream(stream, 1, StreamEnd::Head, 1000)",
                "baseline": "SELECT the same columns WHERE stream_id = $1 ORDER BY stream_version" }),
    ))
}

/// Where a stream read's pages come from: `EXPLAIN (ANALYZE, BUFFERS)` of
/// the raw stream read on `n` other random ledger streams; the medians of
/// the pages found in PostgreSQL's buffer cache and of those read from the
/// operating system.
async fn stream_buffers(
    log: &Log,
    chunks: &[Chunk],
    rng: &mut Sampler,
    n: usize,
) -> Result<(i64, i64)> {
    let (mut hit, mut read) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        // The stream ids are this module's own (no quoting needed).
        let stream = ledger_stream(chunks, rng);
        let table = log.table;
        let plan: serde_json::Value = sqlx::query_scalar(&format!(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT {RAW_COLUMNS} FROM {table} \
             WHERE stream_id = '{stream}' ORDER BY stream_version"
        ))
        .fetch_one(&log.seq)
        .await?;
        let top = &plan[0]["Plan"];
        hit.push(top["Shared Hit Blocks"].as_i64().unwrap_or(0));
        read.push(top["Shared Read Blocks"].as_i64().unwrap_or(0));
    }
    hit.sort_unstable();
    read.sort_unstable();
    Ok((hit[n / 2], read[n / 2]))
}

/// `n` pages of [`PAGE`] events after random positions in the middle half
/// of the log: `read_all` against a raw select of the same columns. Figure:
/// the median time of a page.
pub(super) async fn read_all_page(
    log: &Log,
    chunks: &[Chunk],
    rng: &mut Sampler,
    n: usize,
) -> Result<Point> {
    let table = log.table;
    let sql = format!(
        "SELECT {RAW_COLUMNS} FROM {table} WHERE global_position > $1 \
         ORDER BY global_position LIMIT $2"
    );
    let (mut fw, mut raw) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for r in 0..n {
        let after = middle_position(chunks, rng);
        let mut read = [0usize; 2];
        for side in abba(r) {
            let t = Instant::now();
            match side {
                Side::Framework => {
                    let page = log.seq_store.read_all(after as u64, PAGE, None).await?;
                    fw.push(t.elapsed());
                    read[0] = page.len();
                }
                Side::Baseline => {
                    let rows: Vec<RawRow> = sqlx::query_as(&sql)
                        .bind(after)
                        .bind(PAGE as i64)
                        .fetch_all(&log.seq)
                        .await?;
                    raw.push(t.elapsed());
                    read[1] = rows.len();
                }
            }
        }
        ensure!(
            read[0] == read[1] && read[0] > 0,
            "page after {after}: read {read:?}"
        );
    }
    Ok(timed_point(
        "read_all_page",
        [fw, raw],
        json!({ "pages": n, "page": PAGE,
                "framework": "PgEventStore::read_all(after, 1000, None)",
                "baseline": "SELECT the same columns WHERE global_position > $1 ORDER BY global_position LIMIT 1000" }),
    ))
}

/// The checkpoint that leaves the newest `tail` events to catch up, and
/// the events of the rare type after it.
pub(super) async fn tail_checkpoint(pool: &PgPool, table: &str, tail: u64) -> Result<(i64, i64)> {
    let cp: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT global_position FROM {table} ORDER BY global_position DESC OFFSET $1 LIMIT 1"
    ))
    .bind(tail as i64)
    .fetch_optional(pool)
    .await?;
    let cp = cp.unwrap_or(0);
    let rare: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM {table} WHERE event_type = $1 AND global_position > $2"
    ))
    .bind(RARE_TYPE)
    .bind(cp)
    .fetch_one(pool)
    .await?;
    Ok((cp, rare))
}

/// Raw catch-up of the rare type: type-filtered pages after `cp` until one
/// comes back short; the events read.
pub(super) async fn raw_rare_pages(pool: &PgPool, table: &str, cp: i64) -> Result<usize> {
    let sql = format!(
        "SELECT {RAW_COLUMNS} FROM {table} WHERE event_type = ANY($3) AND global_position > $1 \
         ORDER BY global_position LIMIT $2"
    );
    let types = vec![RARE_TYPE.to_owned()];
    let (mut pos, mut n) = (cp, 0);
    loop {
        let rows: Vec<RawRow> = sqlx::query_as(&sql)
            .bind(pos)
            .bind(PAGE as i64)
            .bind(&types)
            .fetch_all(pool)
            .await?;
        n += rows.len();
        match rows.last() {
            Some(last) if rows.len() == PAGE => pos = last.0,
            _ => return Ok(n),
        }
    }
}

/// A projection of the rare type caught up from a checkpoint `tail` events
/// before the head, `reps` times: a fresh `ProjectionRunner` (lease, setup,
/// type-filtered pages, one batch transaction per page) against raw
/// type-filtered pages. Figure: the median time of the whole catch-up.
pub(super) async fn rare_catch_up(log: &Log, tail: u64, reps: usize) -> Result<Point> {
    let (cp, rare) = tail_checkpoint(&log.par, log.table, tail).await?;
    let (mut fw, mut raw) = (Vec::with_capacity(reps), Vec::with_capacity(reps));
    for r in 0..reps {
        for side in abba(r) {
            match side {
                Side::Framework => {
                    log.par_store
                        .save_checkpoint(&log.par, FlaggedCount::NAME, cp as u64)
                        .await?;
                    let mut runner =
                        ProjectionRunner::new(log.par_store.clone(), FlaggedCount::default())
                            .batch_size(PAGE);
                    let t = Instant::now();
                    let n = runner.catch_up().await?;
                    fw.push(t.elapsed());
                    runner.release().await;
                    ensure!(
                        n as i64 == rare && runner.projection().0 == n,
                        "caught up {n} of {rare} {RARE_TYPE} events"
                    );
                }
                Side::Baseline => {
                    let t = Instant::now();
                    let n = raw_rare_pages(&log.seq, log.table, cp).await?;
                    raw.push(t.elapsed());
                    ensure!(n as i64 == rare, "read {n} of {rare} {RARE_TYPE} events");
                }
            }
        }
    }
    Ok(timed_point(
        "rare_catch_up",
        [fw, raw],
        json!({ "tail_events": tail, "rare_events": rare, "checkpoint": cp, "reps": reps,
                "framework": "a fresh ProjectionRunner of the rare type from a saved checkpoint: lease, setup, type-filtered read_all pages of 1000, one batch transaction per page",
                "baseline": "type-filtered raw pages of 1000 (event_type = ANY($3) AND global_position > $1)" }),
    ))
}

/// The framework's type-filtered read alone (no runner): `read_all` pages
/// of the rare type from a checkpoint `tail` events before the head, until
/// one comes back short, `reps` times, against the raw pages. Figure: the
/// median time of the whole tail.
pub(super) async fn rare_read(log: &Log, tail: u64, reps: usize) -> Result<Point> {
    let (cp, rare) = tail_checkpoint(&log.par, log.table, tail).await?;
    let types = [RARE_TYPE];
    let (mut fw, mut raw) = (Vec::with_capacity(reps), Vec::with_capacity(reps));
    for r in 0..reps {
        for side in abba(r) {
            let t = Instant::now();
            let n = match side {
                Side::Framework => {
                    let (mut pos, mut n) = (cp as u64, 0);
                    loop {
                        let page = log.seq_store.read_all(pos, PAGE, Some(&types)).await?;
                        n += page.len();
                        if page.len() < PAGE {
                            break;
                        }
                        pos = page.scanned_to;
                    }
                    fw.push(t.elapsed());
                    n
                }
                Side::Baseline => {
                    let n = raw_rare_pages(&log.seq, log.table, cp).await?;
                    raw.push(t.elapsed());
                    n
                }
            };
            ensure!(n as i64 == rare, "read {n} of {rare} {RARE_TYPE} events");
        }
    }
    Ok(timed_point(
        "rare_read",
        [fw, raw],
        json!({ "tail_events": tail, "rare_events": rare, "checkpoint": cp, "reps": reps,
                "framework": "PgEventStore::read_all(after, 1000, Some(&[\"Flagged\"])) pages from the checkpoint, no runner",
                "baseline": "type-filtered raw pages of 1000 (event_type = ANY($3) AND global_position > $1)" }),
    ))
}
