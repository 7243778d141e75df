//! The two write figures at one size of the log, through the framework
//! and through raw sqlx on the same table, interleaved (ABBA): the command
//! round trip on existing aggregates and batched appends to new streams.

use std::time::Instant;

use anyhow::{Result, bail, ensure};
use es_bench::{Counter, Credit, RawAmount};
use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent, Repository};
use serde_json::json;
use sqlx::Row as _;
use sqlx::postgres::PgPool;
use uuid::Uuid;

use super::Sampler;
use super::load::Chunk;
use super::points::{Log, Point};
use crate::env::{small_event, small_event_raw};
use crate::measure::{Side, Tally, abba, per_sec, percentiles, round_range};

/// Events per append batch.
const APPEND_BATCH: usize = 100;

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
    log: &Log,
    chunks: &[Chunk],
    rng: &mut Sampler,
    n: usize,
    rounds: usize,
) -> Result<Point> {
    let ids = counter_ids(chunks, rng, 2 * n + 2);
    ensure!(ids.len() == 2 * n + 2, "too few counter streams loaded");
    let (fw_ids, rest) = ids.split_at(n + 1);
    let raw_streams: Vec<String> = rest.iter().map(|id| format!("Counter-{id}")).collect();
    let repo = Repository::<Counter, _>::new(log.seq_store.clone());
    // Warm-up (statement preparation), one command per side.
    repo.execute(&fw_ids[n], Credit { amount: 1 }).await?;
    raw_command(&log.seq, log.table, &raw_streams[n]).await?;
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
                                raw_command(&log.seq, log.table, stream).await?;
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
        let (t, p) = small_event_raw(i)?;
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
pub(super) async fn append(log: &Log, label: &str, events: usize, rounds: usize) -> Result<Point> {
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
    log.seq_store
        .append(&warm, ExpectedVersion::NoStream, batch()?)
        .await?;
    raw_batch(&log.seq, log.table, &format!("{warm}r"), 0).await?;
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
                            let done = log.seq_store.append(&stream("ga", b), v, batch()?).await?;
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
                            raw_batch(&log.seq, log.table, &stream("gr", b), raw_versions[s])
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
                         "baseline": "one UNNEST INSERT per batch into the same table with the framework's positions" }),
    })
}
