//! Batched append: 100-event batches to a set of streams on one connection,
//! through `PgEventStore::append` and through one raw UNNEST insert per
//! batch, in ABBA rounds. Figure: events per second (`batched_append`).

use std::time::Duration;

use anyhow::Result;
use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent};
use es_postgres::PgEventStore;
use serde_json::json;
use sqlx::postgres::PgPool;
use uuid::Uuid;

use crate::env::{Env, scaled, scaled_step, small_event, small_event_raw};
use crate::measure::{Side, Tally, abba, per_sec, round_range, round3};
use crate::report::Figure;

/// Events per append.
const APPEND_BATCH: usize = 100;

/// Appends the batches `batches` through the framework: batch `b` goes to
/// stream `{prefix}-{b % versions.len()}`, whose version `versions` tracks.
async fn append_framework(
    store: &PgEventStore,
    prefix: &str,
    batches: std::ops::Range<usize>,
    versions: &mut [u64],
) -> Result<()> {
    for b in batches {
        let s = b % versions.len();
        let stream = format!("{prefix}-{s}");
        let batch = (0..APPEND_BATCH)
            .map(|i| NewEvent::new(&small_event(i), Metadata::new()))
            .collect::<Result<Vec<_>, _>>()?;
        let r = store
            .append(&stream, ExpectedVersion::from_version(versions[s]), batch)
            .await?;
        versions[s] = r.last_version;
    }
    Ok(())
}

/// The same batches through raw sqlx: one UNNEST insert per batch.
async fn append_raw(
    pool: &PgPool,
    prefix: &str,
    batches: std::ops::Range<usize>,
    versions: &mut [i64],
) -> Result<()> {
    for b in batches {
        let s = b % versions.len();
        let stream = format!("{prefix}-{s}");
        let mut ids = Vec::with_capacity(APPEND_BATCH);
        let mut vs = Vec::with_capacity(APPEND_BATCH);
        let mut types = Vec::with_capacity(APPEND_BATCH);
        let mut svs = Vec::with_capacity(APPEND_BATCH);
        let mut payloads = Vec::with_capacity(APPEND_BATCH);
        for i in 0..APPEND_BATCH {
            let (t, p) = small_event_raw(i)?;
            ids.push(Uuid::now_v7());
            vs.push(versions[s] + 1 + i as i64);
            types.push(t);
            svs.push(1i32);
            payloads.push(p);
        }
        sqlx::query(
            "INSERT INTO raw.events (event_id, stream_id, stream_version, aggregate_type, \
               event_type, schema_version, payload) \
             SELECT e.id, $1, e.v, $2, e.t, e.sv, e.p::jsonb \
             FROM UNNEST($3::uuid[], $4::int8[], $5::text[], $6::int4[], $7::text[]) \
               AS e(id, v, t, sv, p)",
        )
        .bind(&stream)
        .bind("Counter")
        .bind(&ids)
        .bind(&vs)
        .bind(&types)
        .bind(&svs)
        .bind(&payloads)
        .execute(pool)
        .await?;
        versions[s] += APPEND_BATCH as i64;
    }
    Ok(())
}

/// Each side appends every batch once, in rounds that alternate the sides
/// (ABBA); each side keeps its own stream versions across rounds, and its
/// figure is its events over the summed time of its rounds.
pub(crate) async fn append(env: &Env, scale: f64) -> Result<Figure> {
    let events = scaled_step(100_000.0, scale, APPEND_BATCH);
    let batches = events / APPEND_BATCH;
    let streams = scaled(1000.0, scale, 1).min(batches);
    let rounds = scaled(10.0, scale, 1).min(batches);

    // Warm-up, untimed: statement preparation and the first pages of each
    // table's indexes.
    let warm = 5.min(batches);
    append_framework(
        &env.seq_store,
        "Counter-warmup",
        0..warm,
        &mut vec![0u64; warm],
    )
    .await?;
    append_raw(&env.seq, "Counter-warmup", 0..warm, &mut vec![0i64; warm]).await?;

    let (mut fw_tally, mut raw_tally) = (Tally::default(), Tally::default());
    let mut fw_versions = vec![0u64; streams];
    let mut raw_versions = vec![0i64; streams];
    let mut round_ratios = Vec::with_capacity(rounds);
    for r in 0..rounds {
        let range = round_range(batches, rounds, r);
        let (mut fw_t, mut raw_t) = (Duration::ZERO, Duration::ZERO);
        for side in abba(r) {
            match side {
                Side::Framework => {
                    let f = append_framework(
                        &env.seq_store,
                        "Counter-append",
                        range.clone(),
                        &mut fw_versions,
                    );
                    fw_t = fw_tally.round(f).await?.1;
                }
                Side::Baseline => {
                    let f =
                        append_raw(&env.seq, "Counter-append", range.clone(), &mut raw_versions);
                    raw_t = raw_tally.round(f).await?.1;
                }
            }
        }
        // Same events on both sides: the throughput ratio is the time ratio.
        round_ratios.push(round3(raw_t.as_secs_f64() / fw_t.as_secs_f64()));
    }

    let (fw_time, raw_time) = (fw_tally.time, raw_tally.time);
    let fw = per_sec(events, fw_time);
    let raw = per_sec(events, raw_time);
    Ok(Figure {
        workload: "batched_append".into(),
        unit: "events/s",
        framework: fw,
        baseline: raw,
        ratio: fw / raw,
        target: ">= 0.85x baseline".into(),
        met: Some(fw / raw >= 0.85),
        rss_framework_mb: fw_tally.rss_mb,
        rss_baseline_mb: raw_tally.rss_mb,
        details: json!({ "events": events, "batch": APPEND_BATCH, "streams": streams,
                         "rounds": rounds, "round_ratios": round_ratios,
                         "cpu_us_per_event": { "framework": fw_tally.cpu_us_per(events),
                                               "baseline": raw_tally.cpu_us_per(events) },
                         "framework_s": fw_time.as_secs_f64(), "baseline_s": raw_time.as_secs_f64() }),
    })
}
