//! Aggregate load: one long stream read and folded through
//! `Repository::load` and through raw sqlx (select, parse, fold), and the
//! same stream loaded from a snapshot, interleaved. Figures: median load
//! time (`aggregate_load_{n}`, `aggregate_load_{n}_snapshots`), with the
//! fetch-only time of each side's statement as a diagnostic.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use es_bench::{Counter, Credit, RawAmount};
use es_core::{EventStore, ExpectedVersion, Repository};
use serde_json::json;
use sqlx::Row as _;
use sqlx::postgres::PgPool;

use crate::env::{Env, copy_to_raw, credited, populate, scaled_step};
use crate::measure::{Side, Tally, abba, median};
use crate::report::Figure;

/// The raw load: SELECT the rows, parse each payload with serde_json, fold.
async fn raw_load(pool: &PgPool, stream: &str) -> Result<Counter> {
    let rows = sqlx::query(
        "SELECT stream_version, event_type, payload::text AS payload FROM raw.events \
         WHERE stream_id = $1 ORDER BY stream_version",
    )
    .bind(stream)
    .fetch_all(pool)
    .await?;
    let mut state = Counter::default();
    for row in &rows {
        let t: &str = row.try_get("event_type")?;
        let p: &str = row.try_get("payload")?;
        let a: RawAmount = serde_json::from_str(p)?;
        match t {
            "Credited" => state.balance += a.amount,
            "Debited" => state.balance -= a.amount,
            other => bail!("unknown event type {other}"),
        }
        state.events += 1;
    }
    Ok(state)
}
/// Loads one stream of about 10,000 events (at scale 1) `REPEAT` times per
/// side: framework, raw, and framework from a snapshot.
pub(crate) async fn load(env: &Env, scale: f64) -> Result<Vec<Figure>> {
    const REPEAT: usize = 15;
    const SNAP_EVERY: u64 = 100;
    let n = scaled_step(10_000.0, scale, 100);
    populate(&env.par_store, vec!["Counter-load".into()], n, 1000).await?;
    copy_to_raw(&env.par, "Counter-load").await?;
    // The snapshot stream: n - 1 events, one command through a repository
    // that snapshots every 100 (a snapshot at n), then 50 more events: a
    // load reads the snapshot and the 50 events after it (the average
    // distance to the last snapshot).
    populate(&env.par_store, vec!["Counter-snap".into()], n - 1, 1000).await?;
    let snap_repo = Repository::<Counter, _>::new(env.seq_store.clone()).snapshot_every(SNAP_EVERY);
    snap_repo.execute("snap", Credit { amount: 1 }).await?;
    let tail = (0..50).map(|i| credited(i + 1)).collect();
    env.seq_store
        .append("Counter-snap", ExpectedVersion::Exact(n as u64), tail)
        .await?;

    let repo = Repository::<Counter, _>::new(env.seq_store.clone());
    let check = |v: u64, want: usize| -> Result<()> {
        if v != want as u64 {
            bail!("loaded version {v}, expected {want}");
        }
        Ok(())
    };
    // Warm up.
    repo.load("load").await?;
    snap_repo.load("snap").await?;
    raw_load(&env.seq, "Counter-load").await?;

    // Each iteration loads the stream once through the framework, once raw
    // and once from the snapshot. The framework and the raw load alternate
    // which goes first (ABBA) and the snapshot load moves through the three
    // positions, so every six iterations each order occurs once. The peak
    // RSS is reset before every load and the highest is kept per side.
    #[derive(Clone, Copy)]
    enum Run {
        Framework,
        Baseline,
        Snapshot,
    }
    let (mut fw_tally, mut raw_tally, mut snap_tally) =
        (Tally::default(), Tally::default(), Tally::default());
    let mut fw_times = Vec::with_capacity(REPEAT);
    let mut raw_times = Vec::with_capacity(REPEAT);
    let mut snap_times = Vec::with_capacity(REPEAT);
    for i in 0..REPEAT {
        let mut order: Vec<Run> = abba(i)
            .into_iter()
            .map(|side| match side {
                Side::Framework => Run::Framework,
                Side::Baseline => Run::Baseline,
            })
            .collect();
        order.insert(i % 3, Run::Snapshot);
        for run in order {
            match run {
                Run::Framework => {
                    let (l, t) = fw_tally
                        .round(async { repo.load("load").await?.context("the stream exists") })
                        .await?;
                    fw_times.push(t);
                    check(l.version, n)?;
                }
                Run::Baseline => {
                    let (s, t) = raw_tally.round(raw_load(&env.seq, "Counter-load")).await?;
                    raw_times.push(t);
                    check(s.events, n)?;
                }
                Run::Snapshot => {
                    let (l, t) = snap_tally
                        .round(async { snap_repo.load("snap").await?.context("the stream exists") })
                        .await?;
                    snap_times.push(t);
                    check(l.version, n + 50)?;
                }
            }
        }
    }
    let (fw_rss, raw_rss, snap_rss) = (fw_tally.rss_mb, raw_tally.rss_mb, snap_tally.rss_mb);
    // Where the framework's time goes: its read_stream statement alone
    // (fetch, no decoding), and the baseline's statement on the framework's
    // table.
    let diag = async |sql: &str| -> Result<Duration> {
        let mut times = Vec::new();
        for _ in 0..REPEAT {
            let t = Instant::now();
            let rows = sqlx::query(sql)
                .bind("Counter-load")
                .fetch_all(&env.seq)
                .await?;
            times.push(t.elapsed());
            check(rows.len() as u64, n)?;
        }
        Ok(median(times))
    };
    let fw_sql_only = diag(
        "SELECT global_position, event_id, stream_id, stream_version, event_type, schema_version, \
           payload::text AS payload, metadata::text AS metadata, recorded_at FROM es.events \
         WHERE stream_id = $1 AND stream_version >= 1 AND stream_version <= 9223372036854775807 \
         ORDER BY stream_version LIMIT 16384",
    )
    .await?;
    let fw_replay_sql_only = diag(
        "SELECT stream_version, event_type, schema_version, payload::text AS payload \
         FROM es.events \
         WHERE stream_id = $1 AND stream_version >= 1 AND stream_version <= 9223372036854775807 \
           AND (NULL::timestamptz IS NULL OR recorded_at <= NULL::timestamptz) \
         ORDER BY stream_version LIMIT 16384",
    )
    .await?;
    let raw_sql_on_fw_table = diag(
        "SELECT stream_version, event_type, payload::text AS payload FROM es.events \
         WHERE stream_id = $1 ORDER BY stream_version",
    )
    .await?;
    let raw_sql_only = diag(
        "SELECT stream_version, event_type, payload::text AS payload FROM raw.events \
         WHERE stream_id = $1 ORDER BY stream_version",
    )
    .await?;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let fw = ms(median(fw_times.clone()));
    let raw = ms(median(raw_times.clone()));
    let snap = ms(median(snap_times.clone()));
    let min = |v: &[Duration]| v.iter().min().map_or(0.0, |d| ms(*d));
    Ok(vec![
        Figure {
            workload: format!("aggregate_load_{n}"),
            unit: "ms (median)",
            framework: fw,
            baseline: raw,
            ratio: fw / raw,
            target: "<= 1.4x baseline time".into(),
            met: Some(fw / raw <= 1.4),
            rss_framework_mb: fw_rss,
            rss_baseline_mb: raw_rss,
            details: json!({ "events": n, "repeats": REPEAT,
                             "framework_min_ms": min(&fw_times), "baseline_min_ms": min(&raw_times),
                             "framework_events_per_s": n as f64 / (fw / 1000.0),
                             "diagnostic_fetch_only_ms": {
                                 "framework_read_stream_statement": ms(fw_sql_only),
                                 "framework_replay_statement": ms(fw_replay_sql_only),
                                 "baseline_statement_on_framework_table": ms(raw_sql_on_fw_table),
                                 "baseline_statement": ms(raw_sql_only) } }),
        },
        Figure {
            workload: format!("aggregate_load_{n}_snapshots"),
            unit: "ms (median)",
            framework: snap,
            baseline: raw,
            ratio: snap / raw,
            target: "<= 0.1x baseline time".into(),
            met: Some(snap / raw <= 0.1),
            rss_framework_mb: snap_rss,
            rss_baseline_mb: raw_rss,
            details: json!({ "events": n + 50, "snapshot_every": SNAP_EVERY,
                             "events_after_snapshot": 50, "repeats": REPEAT,
                             "framework_min_ms": min(&snap_times) }),
        },
    ])
}
