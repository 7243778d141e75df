//! Does partitioning the log by aggregate type pay? A copy of the same
//! rows in a table `PARTITION BY LIST (aggregate_type)` (one partition per
//! aggregate type and a default one; every unique key extended by
//! `aggregate_type`, as PostgreSQL requires of a partitioned table), in the
//! same database, filled in position order with its indexes in place as
//! the log itself was. Then the same raw statements against the plain log
//! (`es.events`) and the copy, interleaved (ABBA): the stream read (with
//! and without the partition key, which the store could derive from the
//! stream's category), the `read_all` page from the middle, the rare type's
//! catch-up from a checkpoint, the command round trip and batched appends.

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use serde_json::json;

use super::Sampler;
use super::load::{Chunk, checkpoint, size_on_disk, vacuum_analyze};
use super::points::{
    PAGE, RAW_COLUMNS, RawRow, ledger_stream, middle_position, raw_rare_pages, tail_checkpoint,
};
use super::writes::{counter_ids, raw_batch, raw_command};
use crate::env::Env;
use crate::measure::{Side, abba, median, per_sec, percentiles};
use crate::report::Figure;

/// The copy's table.
const PART: &str = "growth_part.events";

/// The partitioned table, its partitions and its keys.
const PART_SCHEMA: &str = r#"
CREATE SCHEMA growth_part;
CREATE TABLE growth_part.events (LIKE es.events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY LIST (aggregate_type);
CREATE TABLE growth_part.events_counter PARTITION OF growth_part.events FOR VALUES IN ('Counter');
CREATE TABLE growth_part.events_ledger PARTITION OF growth_part.events FOR VALUES IN ('Ledger');
CREATE TABLE growth_part.events_audit PARTITION OF growth_part.events FOR VALUES IN ('Audit');
CREATE TABLE growth_part.events_other PARTITION OF growth_part.events DEFAULT;
ALTER TABLE growth_part.events ADD PRIMARY KEY (global_position, aggregate_type);
ALTER TABLE growth_part.events ADD UNIQUE (event_id, aggregate_type);
ALTER TABLE growth_part.events ADD UNIQUE (stream_id, stream_version, aggregate_type);
CREATE INDEX ON growth_part.events (event_type, global_position);
"#;

/// One comparison: the plain log's figure and the partitioned copy's.
struct Compared {
    name: &'static str,
    unit: &'static str,
    plain: f64,
    partitioned: f64,
    details: serde_json::Value,
}

/// Runs `f(table)` once per table for each of `n` items, the first table
/// alternating (ABBA); the times of the plain log and of the copy.
async fn interleaved<F, Fut>(n: usize, mut f: F) -> Result<[Vec<Duration>; 2]>
where
    F: FnMut(usize, &'static str) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let (mut plain, mut part) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for r in 0..n {
        for side in abba(r) {
            let (table, times) = match side {
                Side::Framework => ("es.events", &mut plain),
                Side::Baseline => (PART, &mut part),
            };
            let t = Instant::now();
            f(r, table).await?;
            times.push(t.elapsed());
        }
    }
    Ok([plain, part])
}

/// Median times in ms, with the percentiles, as a comparison.
fn timed(name: &'static str, [plain, part]: [Vec<Duration>; 2], what: &str) -> Compared {
    let ms = |v: &[Duration]| median(v.to_vec()).as_secs_f64() * 1000.0;
    Compared {
        name,
        unit: "ms (median)",
        plain: ms(&plain),
        partitioned: ms(&part),
        details: json!({ "statement": what, "items": plain.len(),
                         "plain_latency": percentiles(plain), "partitioned_latency": percentiles(part) }),
    }
}

/// Copies the log into the partitioned table, measures both, drops the
/// copy. Figures `growth_part_{name}@{size}`: the partitioned
/// copy's figure against the plain log's.
pub(super) async fn compare(
    env: &Env,
    chunks: &[Chunk],
    rng: &mut Sampler,
    scale: f64,
    tail: u64,
    size: &str,
) -> Result<Vec<Figure>> {
    let pool = &env.par;
    sqlx::raw_sql(PART_SCHEMA).execute(pool).await?;
    let outcome = measure(env, chunks, rng, scale, tail, size).await;
    sqlx::query("DROP SCHEMA growth_part CASCADE")
        .execute(pool)
        .await?;
    outcome
}

async fn measure(
    env: &Env,
    chunks: &[Chunk],
    rng: &mut Sampler,
    scale: f64,
    tail: u64,
    size: &str,
) -> Result<Vec<Figure>> {
    let pool = &env.par;
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM es.events")
        .fetch_one(pool)
        .await?;
    eprintln!("es-bench:   copying {events} events into {PART}");
    let t = Instant::now();
    sqlx::query(&format!(
        "INSERT INTO {PART} SELECT * FROM es.events ORDER BY global_position"
    ))
    .execute(pool)
    .await?;
    let copy_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    vacuum_analyze(pool, PART).await?;
    checkpoint(pool).await;
    let vacuum_s = t.elapsed().as_secs_f64();
    let (part_bytes, part_heap, part_index) = size_on_disk(pool, PART).await?;
    let (plain_bytes, plain_heap, plain_index) = size_on_disk(pool, "es.events").await?;
    eprintln!(
        "es-bench:   copied in {copy_s:.0} s (+{vacuum_s:.0} s VACUUM ANALYZE and CHECKPOINT): {} MB partitioned, {} MB plain",
        part_bytes >> 20,
        plain_bytes >> 20
    );
    let seq = &env.seq;
    let n = crate::env::scaled(100.0, scale.max(0.05), 5);
    let mut out = Vec::new();

    // The stream read: by stream id only (what the store asks today), and
    // with the partition key (the stream's category) as well.
    let streams: Vec<String> = (0..n).map(|_| ledger_stream(chunks, rng)).collect();
    let by_id = "WHERE stream_id = $1 ORDER BY stream_version";
    let by_key = "WHERE stream_id = $1 AND aggregate_type = 'Ledger' ORDER BY stream_version";
    for (name, filter) in [("read_stream", by_id), ("read_stream_key", by_key)] {
        let times = interleaved(n, |r, table| {
            let sql = format!("SELECT {RAW_COLUMNS} FROM {table} {filter}");
            let stream = streams[r].clone();
            async move {
                let rows: Vec<RawRow> = sqlx::query_as(&sql).bind(&stream).fetch_all(seq).await?;
                ensure!(!rows.is_empty(), "{stream} not found in {table}");
                Ok(())
            }
        })
        .await?;
        out.push(timed(name, times, filter));
    }

    // A read_all page from the middle.
    let positions: Vec<i64> = (0..n).map(|_| middle_position(chunks, rng)).collect();
    let filter = "WHERE global_position > $1 ORDER BY global_position LIMIT $2";
    let times = interleaved(n, |r, table| {
        let sql = format!("SELECT {RAW_COLUMNS} FROM {table} {filter}");
        let after = positions[r];
        async move {
            let rows: Vec<RawRow> = sqlx::query_as(&sql)
                .bind(after)
                .bind(PAGE as i64)
                .fetch_all(seq)
                .await?;
            ensure!(!rows.is_empty(), "no page after {after} in {table}");
            Ok(())
        }
    })
    .await?;
    out.push(timed("read_all_page", times, filter));

    // The rare type's catch-up from a checkpoint `tail` events back.
    let (cp, rare) = tail_checkpoint(pool, "es.events", tail).await?;
    let times = interleaved(5, |_, table| async move {
        let n = raw_rare_pages(seq, table, cp).await?;
        ensure!(
            n as i64 == rare,
            "read {n} of {rare} rare events in {table}"
        );
        Ok(())
    })
    .await?;
    out.push(timed(
        "rare_catch_up",
        times,
        "type-filtered pages of 1000 from the checkpoint",
    ));

    // The command round trip on existing counters, distinct per table.
    let ids = counter_ids(chunks, rng, 2 * n);
    ensure!(ids.len() == 2 * n, "too few counter streams loaded");
    let times = interleaved(n, |r, table| {
        let i = if table == PART { n + r } else { r };
        let stream = format!("Counter-{}", ids[i]);
        async move { raw_command(seq, table, &stream).await }
    })
    .await?;
    let (plain, part) = (times[0].iter().sum(), times[1].iter().sum());
    out.push(Compared {
        name: "command",
        unit: "commands/s",
        plain: per_sec(n, plain),
        partitioned: per_sec(n, part),
        details: json!({ "commands": n, "statement": "SELECT the stream, fold, INSERT one row",
                         "plain_latency": percentiles(times[0].clone()),
                         "partitioned_latency": percentiles(times[1].clone()) }),
    });

    // Batched appends: 100-event batches to new streams.
    let batches = crate::env::scaled(200.0, scale, 4);
    let times = interleaved(batches, |r, table| {
        let side = if table == PART { "pp" } else { "pl" };
        let stream = format!("Counter-{side}{size}-{}", r % 20);
        let after = (r / 20 * 100) as i64;
        async move { raw_batch(seq, table, &stream, after).await }
    })
    .await?;
    let (plain, part): (Duration, Duration) = (times[0].iter().sum(), times[1].iter().sum());
    out.push(Compared {
        name: "append",
        unit: "events/s",
        plain: per_sec(batches * 100, plain),
        partitioned: per_sec(batches * 100, part),
        details: json!({ "events": batches * 100, "batch": 100,
                         "statement": "one UNNEST INSERT per 100-event batch" }),
    });

    let sizes = json!({ "events": events, "copy_s": copy_s, "vacuum_analyze_checkpoint_s": vacuum_s,
                        "partitioned_bytes": { "total": part_bytes, "heap": part_heap, "indexes": part_index },
                        "plain_bytes": { "total": plain_bytes, "heap": plain_heap, "indexes": plain_index } });
    Ok(out
        .into_iter()
        .map(|c| {
            let mut details = c.details;
            if let Some(d) = details.as_object_mut() {
                d.insert("tables".into(), sizes.clone());
            }
            Figure {
                workload: format!("growth_part_{}@{size}", c.name),
                unit: c.unit,
                framework: c.partitioned,
                baseline: c.plain,
                ratio: c.partitioned / c.plain,
                target: "- (partitioned vs plain)".into(),
                met: None,
                rss_framework_mb: 0.0,
                rss_baseline_mb: 0.0,
                details,
            }
        })
        .collect())
}
