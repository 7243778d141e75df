//! The six figures at one size of the log, each through the framework and
//! through raw sqlx on the same table (`es.events`, the framework's rows
//! and indexes), the two sides interleaved (ABBA): a 1,000-event stream
//! read, a `read_all` page from the middle, a rare type caught up from a
//! checkpoint by a projection runner and read by `read_all` alone, the
//! command round trip on existing aggregates and batched appends.

use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};
use es_bench::{Counter, CounterEvent, Credit, RawAmount};
use es_core::{
    EventStore, ExpectedVersion, Metadata, NewEvent, Projection as _, Repository, StreamEnd,
};
use es_postgres::ProjectionRunner;
use serde_json::json;
use sqlx::Row as _;
use sqlx::postgres::PgPool;
use uuid::Uuid;

use super::load::{Chunk, LONG_STREAM, RARE_TYPE};
use super::{FlaggedCount, Sampler};
use crate::env::{Env, small_event};
use crate::measure::{Side, Tally, abba, median, per_sec, percentiles, round_range};

/// A `read_all` page and a catch-up batch.
pub(super) const PAGE: usize = 1000;

/// Events per append batch.
const APPEND_BATCH: usize = 100;

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

/// The columns a reader of the log gets, as the raw side decodes them.
pub(super) type RawRow = (
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
    env: &Env,
    chunks: &[Chunk],
    rng: &mut Sampler,
    n: usize,
) -> Result<Point> {
    let sql =
        format!("SELECT {RAW_COLUMNS} FROM es.events WHERE stream_id = $1 ORDER BY stream_version");
    let (mut fw, mut raw) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut lengths = Vec::with_capacity(n);
    for r in 0..n {
        let stream = ledger_stream(chunks, rng);
        let mut read = [0usize; 2];
        for side in abba(r) {
            let t = Instant::now();
            match side {
                Side::Framework => {
                    let events = env
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
                        .fetch_all(&env.seq)
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
    let buffers = stream_buffers(env, chunks, rng, 10).await?;
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
    env: &Env,
    chunks: &[Chunk],
    rng: &mut Sampler,
    n: usize,
) -> Result<(i64, i64)> {
    let (mut hit, mut read) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        // The stream ids are this module's own (no quoting needed).
        let stream = ledger_stream(chunks, rng);
        let plan: serde_json::Value = sqlx::query_scalar(&format!(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT {RAW_COLUMNS} FROM es.events \
             WHERE stream_id = '{stream}' ORDER BY stream_version"
        ))
        .fetch_one(&env.seq)
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
    env: &Env,
    chunks: &[Chunk],
    rng: &mut Sampler,
    n: usize,
) -> Result<Point> {
    let sql = format!(
        "SELECT {RAW_COLUMNS} FROM es.events WHERE global_position > $1 \
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
                    let page = env.seq_store.read_all(after as u64, PAGE, None).await?;
                    fw.push(t.elapsed());
                    read[0] = page.len();
                }
                Side::Baseline => {
                    let rows: Vec<RawRow> = sqlx::query_as(&sql)
                        .bind(after)
                        .bind(PAGE as i64)
                        .fetch_all(&env.seq)
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
pub(super) async fn rare_catch_up(env: &Env, tail: u64, reps: usize) -> Result<Point> {
    let (cp, rare) = tail_checkpoint(&env.par, "es.events", tail).await?;
    let (mut fw, mut raw) = (Vec::with_capacity(reps), Vec::with_capacity(reps));
    for r in 0..reps {
        for side in abba(r) {
            match side {
                Side::Framework => {
                    env.par_store
                        .save_checkpoint(&env.par, FlaggedCount::NAME, cp as u64)
                        .await?;
                    let mut runner =
                        ProjectionRunner::new(env.par_store.clone(), FlaggedCount::default())
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
                    let n = raw_rare_pages(&env.seq, "es.events", cp).await?;
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
pub(super) async fn rare_read(env: &Env, tail: u64, reps: usize) -> Result<Point> {
    let (cp, rare) = tail_checkpoint(&env.par, "es.events", tail).await?;
    let types = [RARE_TYPE];
    let (mut fw, mut raw) = (Vec::with_capacity(reps), Vec::with_capacity(reps));
    for r in 0..reps {
        for side in abba(r) {
            let t = Instant::now();
            let n = match side {
                Side::Framework => {
                    let (mut pos, mut n) = (cp as u64, 0);
                    loop {
                        let page = env.seq_store.read_all(pos, PAGE, Some(&types)).await?;
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
                    let n = raw_rare_pages(&env.seq, "es.events", cp).await?;
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

/// The raw command on the framework's table: SELECT the stream's rows,
/// fold them, decide, INSERT one row at the next version with the
/// framework's position (`tx_id << 20 | 1`).
pub(super) async fn raw_command(pool: &PgPool, table: &str, stream: &str) -> Result<()> {
    let rows = sqlx::query(&format!(
        "SELECT stream_version, event_type, payload::text AS payload FROM {table} \
         WHERE stream_id = $1 ORDER BY stream_version"
    ))
    .bind(stream)
    .fetch_all(pool)
    .await?;
    let mut state = Counter::default();
    let mut version = 0i64;
    for row in &rows {
        let a: RawAmount = serde_json::from_str(row.try_get("payload")?)?;
        match row.try_get("event_type")? {
            "Credited" => state.balance += a.amount,
            "Debited" => state.balance -= a.amount,
            other => bail!("unknown event type {other}"),
        }
        state.events += 1;
        version = row.try_get("stream_version")?;
    }
    ensure!(version > 0, "{stream} has no events");
    std::hint::black_box(&state);
    sqlx::query(&format!(
        "INSERT INTO {table} (global_position, event_id, stream_id, stream_version, \
           aggregate_type, event_type, schema_version, payload) \
         VALUES ((pg_current_xact_id()::text::bigint << 20) + 1, $1, $2, $3, 'Counter', \
           'Credited', 1, '{{\"amount\":1}}'::jsonb)"
    ))
    .bind(Uuid::now_v7())
    .bind(stream)
    .bind(version + 1)
    .execute(pool)
    .await?;
    Ok(())
}

/// `2n + 2` distinct random counter streams of the loaded chunks, as ids
/// (`g{k}-{m}`, the stream `Counter-g{k}-{m}`).
pub(super) fn counter_ids(chunks: &[Chunk], rng: &mut Sampler, n: usize) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut ids = Vec::with_capacity(n);
    let total: u64 = chunks.iter().map(Chunk::small_streams).sum();
    while ids.len() < n.min(total as usize) {
        let c = chunks[rng.below(chunks.len() as u64) as usize];
        if c.small_streams() == 0 {
            continue;
        }
        let m = rng.below(c.small_streams());
        if seen.insert((c.k, m)) {
            ids.push(format!("g{}-{m}", c.k));
        }
    }
    ids
}

/// Command round trips on `n` random existing counters per side (10 events
/// of history each), sequential on one connection, in `rounds` ABBA
/// rounds: `Repository::execute` against [`raw_command`]. Figure: commands
/// per second, with latency percentiles.
pub(super) async fn commands(
    env: &Env,
    chunks: &[Chunk],
    rng: &mut Sampler,
    n: usize,
    rounds: usize,
) -> Result<Point> {
    let ids = counter_ids(chunks, rng, 2 * n + 2);
    ensure!(ids.len() == 2 * n + 2, "too few counter streams loaded");
    let (fw_ids, rest) = ids.split_at(n + 1);
    let raw_streams: Vec<String> = rest.iter().map(|id| format!("Counter-{id}")).collect();
    let repo = Repository::<Counter, _>::new(env.seq_store.clone());
    // Warm-up (statement preparation), one command per side.
    repo.execute(&fw_ids[n], Credit { amount: 1 }).await?;
    raw_command(&env.seq, "es.events", &raw_streams[n]).await?;
    let (mut fw_tally, mut raw_tally) = (Tally::default(), Tally::default());
    let (mut fw_lat, mut raw_lat) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for r in 0..rounds {
        let range = round_range(n, rounds, r);
        for side in abba(r) {
            match side {
                Side::Framework => {
                    let (lat, _) = fw_tally
                        .round(async {
                            let mut lat = Vec::new();
                            for id in &fw_ids[range.clone()] {
                                let t = Instant::now();
                                let done = repo.execute(id, Credit { amount: 1 }).await?;
                                lat.push(t.elapsed());
                                // The loaded history was read and decoded.
                                ensure!(done.version >= 2, "Counter-{id} had no history");
                            }
                            Ok(lat)
                        })
                        .await?;
                    fw_lat.extend(lat);
                }
                Side::Baseline => {
                    let (lat, _) = raw_tally
                        .round(async {
                            let mut lat = Vec::new();
                            for stream in &raw_streams[range.clone()] {
                                let t = Instant::now();
                                raw_command(&env.seq, "es.events", stream).await?;
                                lat.push(t.elapsed());
                            }
                            Ok(lat)
                        })
                        .await?;
                    raw_lat.extend(lat);
                }
            }
        }
    }
    Ok(Point {
        name: "command",
        unit: "commands/s",
        rate: true,
        framework: per_sec(n, fw_tally.time),
        baseline: per_sec(n, raw_tally.time),
        details: json!({ "commands": n, "rounds": rounds,
                         "framework_latency": percentiles(fw_lat),
                         "baseline_latency": percentiles(raw_lat),
                         "cpu_us_per_command": { "framework": fw_tally.cpu_us_per(n),
                                                 "baseline": raw_tally.cpu_us_per(n) },
                         "framework": "Repository::<Counter>::execute on an existing counter (10 events), one connection",
                         "baseline": "SELECT the stream, fold, INSERT one row with the framework's position" }),
    })
}

/// One raw batch into `table`: one UNNEST insert with the framework's
/// positions at versions `after + 1 ..`.
pub(super) async fn raw_batch(pool: &PgPool, table: &str, stream: &str, after: i64) -> Result<()> {
    let mut ids = Vec::with_capacity(APPEND_BATCH);
    let mut types = Vec::with_capacity(APPEND_BATCH);
    let mut payloads = Vec::with_capacity(APPEND_BATCH);
    for i in 0..APPEND_BATCH {
        let (t, p) = match small_event(i) {
            CounterEvent::Credited(e) => ("Credited", serde_json::to_string(&e)?),
            CounterEvent::Debited(e) => ("Debited", serde_json::to_string(&e)?),
        };
        ids.push(Uuid::now_v7());
        types.push(t);
        payloads.push(p);
    }
    sqlx::query(&format!(
        "INSERT INTO {table} (global_position, event_id, stream_id, stream_version, \
           aggregate_type, event_type, schema_version, payload) \
         SELECT (pg_current_xact_id()::text::bigint << 20) + e.ord, e.id, $1, $2 + e.ord, \
           'Counter', e.t, 1, e.p::jsonb \
         FROM UNNEST($3::uuid[], $4::text[], $5::text[]) WITH ORDINALITY AS e(id, t, p, ord)"
    ))
    .bind(stream)
    .bind(after)
    .bind(&ids)
    .bind(&types)
    .bind(&payloads)
    .execute(pool)
    .await?;
    Ok(())
}

/// `events` events in 100-event batches to 100 new streams per side, on
/// one connection, in `rounds` ABBA rounds: `PgEventStore::append` against
/// [`raw_batch`]. Figure: events per second.
pub(super) async fn append(env: &Env, label: &str, events: usize, rounds: usize) -> Result<Point> {
    let batches = (events / APPEND_BATCH).max(1);
    let events = batches * APPEND_BATCH;
    let streams = batches.min(100);
    let stream = |side: &str, b: usize| format!("Counter-{side}{label}-{}", b % streams);
    // Warm-up (statement preparation).
    let warm = format!("Counter-gw{label}");
    let batch = || {
        (0..APPEND_BATCH)
            .map(|i| NewEvent::new(&small_event(i), Metadata::new()))
            .collect::<Result<Vec<_>, _>>()
    };
    env.seq_store
        .append(&warm, ExpectedVersion::NoStream, batch()?)
        .await?;
    raw_batch(&env.seq, "es.events", &format!("{warm}r"), 0).await?;
    let (mut fw_tally, mut raw_tally) = (Tally::default(), Tally::default());
    let (mut fw_versions, mut raw_versions) = (vec![0u64; streams], vec![0i64; streams]);
    for r in 0..rounds {
        let range = round_range(batches, rounds, r);
        for side in abba(r) {
            match side {
                Side::Framework => {
                    let f = async {
                        for b in range.clone() {
                            let s = b % streams;
                            let v = ExpectedVersion::from_version(fw_versions[s]);
                            let done = env.seq_store.append(&stream("ga", b), v, batch()?).await?;
                            fw_versions[s] = done.last_version;
                        }
                        Ok(())
                    };
                    fw_tally.round(f).await?;
                }
                Side::Baseline => {
                    let f = async {
                        for b in range.clone() {
                            let s = b % streams;
                            raw_batch(&env.seq, "es.events", &stream("gr", b), raw_versions[s])
                                .await?;
                            raw_versions[s] += APPEND_BATCH as i64;
                        }
                        Ok(())
                    };
                    raw_tally.round(f).await?;
                }
            }
        }
    }
    Ok(Point {
        name: "append",
        unit: "events/s",
        rate: true,
        framework: per_sec(events, fw_tally.time),
        baseline: per_sec(events, raw_tally.time),
        details: json!({ "events": events, "batch": APPEND_BATCH, "streams": streams, "rounds": rounds,
                         "cpu_us_per_event": { "framework": fw_tally.cpu_us_per(events),
                                               "baseline": raw_tally.cpu_us_per(events) },
                         "framework": "PgEventStore::append of 100-event batches to 100 new streams, one connection",
                         "baseline": "one UNNEST INSERT per batch into es.events with the framework's positions" }),
    })
}
