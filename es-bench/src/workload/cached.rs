//! Cached command round trip: `Repository::cache` against (a) the raw
//! load-decide-insert command and (b) the physical limit, a raw one-row
//! INSERT commit per command with the version kept by the client. Commands
//! cycle over a warm set of aggregates (each side its own streams), so the
//! cache holds every one; sequentially on one connection and from four
//! concurrent tasks (disjoint aggregates per task), in rounds whose side
//! order rotates. Figures: `cached_command_sequential`,
//! `cached_command_concurrent4` (against (a)), and
//! `cached_command_vs_insert_sequential`, `cached_command_vs_insert_concurrent4`
//! (against (b)); the cache's entries and bytes in the details.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use es_bench::{Counter, Credit, Credited};
use es_core::Repository;
use es_postgres::PgEventStore;
use serde_json::json;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::Mutex;
use uuid::Uuid;

use super::commands::{TASKS, raw_command};
use crate::env::{Env, copy_to_raw, populate, scaled};
use crate::measure::{Tally, per_sec, percentiles, round3};
use crate::report::Figure;

const HISTORY: usize = 10;

/// The limit: one INSERT of the next version, which the client tracks.
async fn raw_insert(
    pool: &PgPool,
    stream: &str,
    versions: &Mutex<HashMap<String, i64>>,
) -> Result<()> {
    let next = {
        let mut v = versions.lock().await;
        let e = v.entry(stream.to_owned()).or_insert(HISTORY as i64);
        *e += 1;
        *e
    };
    sqlx::query(
        "INSERT INTO raw.events (event_id, stream_id, stream_version, aggregate_type, event_type, \
           schema_version, payload) VALUES ($1, $2, $3, 'Counter', 'Credited', 1, $4::jsonb)",
    )
    .bind(Uuid::now_v7())
    .bind(stream)
    .bind(next)
    .bind(serde_json::to_string(&Credited { amount: 1 })?)
    .execute(pool)
    .await?;
    Ok(())
}

/// The three sides of a round.
#[derive(Clone, Copy)]
enum Side {
    Cached,
    Load,
    Insert,
}

/// The sides' order in round `r`: every side first, second and third in turn.
fn order(r: usize) -> [Side; 3] {
    match r % 3 {
        0 => [Side::Cached, Side::Load, Side::Insert],
        1 => [Side::Load, Side::Insert, Side::Cached],
        _ => [Side::Insert, Side::Cached, Side::Load],
    }
}

/// Runs `command(k)` for k in `0..n` on `tasks` tasks (task t takes every
/// `tasks`-th from t); the latencies.
async fn spread<F, Fut>(n: usize, tasks: usize, command: F) -> Result<Vec<Duration>>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let mut handles = Vec::with_capacity(tasks);
    for t in 0..tasks {
        let command = command.clone();
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for k in (t..n).step_by(tasks) {
                let f = command(k);
                let started = Instant::now();
                f.await?;
                lat.push(started.elapsed());
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(h.await??);
    }
    Ok(lat)
}

struct Mode {
    name: &'static str,
    tasks: usize,
    commands: usize,
}

pub(crate) async fn cached(env: &Env, scale: f64) -> Result<Vec<Figure>> {
    let aggregates = scaled(200.0, scale, 8);
    let mut out = Vec::new();
    for mode in [
        Mode {
            name: "sequential",
            tasks: 1,
            commands: scaled(4000.0, scale, 8),
        },
        Mode {
            name: "concurrent4",
            tasks: TASKS,
            commands: scaled(8000.0, scale, 16),
        },
    ] {
        out.extend(run_mode(env, scale, &mode, aggregates).await?);
    }
    Ok(out)
}

async fn run_mode(env: &Env, scale: f64, mode: &Mode, aggregates: usize) -> Result<Vec<Figure>> {
    // Streams per side; command k goes to aggregate `(base + k) % agg`.
    let ids: Vec<String> = (0..aggregates)
        .map(|i| format!("{}-{i}", mode.name))
        .collect();
    let fw_ids: Arc<Vec<String>> = Arc::new(ids.iter().map(|i| format!("cf-{i}")).collect());
    let load_streams: Arc<Vec<String>> =
        Arc::new(ids.iter().map(|i| format!("Counter-ca-{i}")).collect());
    let insert_streams: Arc<Vec<String>> =
        Arc::new(ids.iter().map(|i| format!("Counter-cb-{i}")).collect());
    let all = fw_ids
        .iter()
        .map(|i| format!("Counter-{i}"))
        .chain(load_streams.iter().cloned())
        .chain(insert_streams.iter().cloned())
        .collect();
    populate(&env.par_store, all, HISTORY, HISTORY).await?;
    copy_to_raw(&env.par, &format!("Counter-ca-{}-%", mode.name)).await?;
    copy_to_raw(&env.par, &format!("Counter-cb-{}-%", mode.name)).await?;

    let pool = |n: usize| {
        PgPoolOptions::new()
            .max_connections(n as u32)
            .connect_with(env.par.connect_options().as_ref().clone())
    };
    let (fw_pool, load_pool, insert_pool) = (
        pool(mode.tasks).await?,
        pool(mode.tasks).await?,
        pool(mode.tasks).await?,
    );
    let repo = Repository::<Counter, _>::new(PgEventStore::builder().build(fw_pool.clone()))
        .cache(aggregates * 2, 64 << 20);
    // Warm: every aggregate once on the framework side (fills the cache and
    // prepares the statements); the raw sides prepare theirs.
    for id in fw_ids.iter() {
        repo.execute(id, Credit { amount: 1 }).await?;
    }
    let versions = Arc::new(Mutex::new(HashMap::new()));
    raw_command(&load_pool, &load_streams[0]).await?;
    raw_insert(&insert_pool, &insert_streams[0], &versions).await?;
    let warm = repo.cache_stats().unwrap_or_default();

    let n = mode.commands;
    let rounds = scaled(12.0, scale, 3).min(n / mode.tasks).max(3);
    let mut tallies = [Tally::default(), Tally::default(), Tally::default()];
    let mut lats: [Vec<Duration>; 3] = Default::default();
    let (mut vs_load, mut vs_insert) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        let per_round = n / rounds;
        let base = r * per_round;
        let mut times = [Duration::ZERO; 3];
        for side in order(r) {
            // A multiple of the tasks: k and k' of different tasks differ
            // mod `tasks`, so they never meet on one aggregate.
            let agg = aggregates / mode.tasks * mode.tasks;
            let (i, f): (usize, _) = match side {
                Side::Cached => {
                    let (repo, ids) = (repo.clone(), fw_ids.clone());
                    (
                        0,
                        Box::pin(spread(per_round, mode.tasks, move |k| {
                            let (repo, ids) = (repo.clone(), ids.clone());
                            async move {
                                repo.execute(&ids[(base + k) % agg], Credit { amount: 1 })
                                    .await?;
                                Ok(())
                            }
                        }))
                            as std::pin::Pin<Box<dyn Future<Output = Result<Vec<Duration>>>>>,
                    )
                }
                Side::Load => {
                    let (p, s) = (load_pool.clone(), load_streams.clone());
                    (
                        1,
                        Box::pin(spread(per_round, mode.tasks, move |k| {
                            let (p, s) = (p.clone(), s.clone());
                            async move { raw_command(&p, &s[(base + k) % agg]).await }
                        })),
                    )
                }
                Side::Insert => {
                    let (p, s, v) = (
                        insert_pool.clone(),
                        insert_streams.clone(),
                        versions.clone(),
                    );
                    (
                        2,
                        Box::pin(spread(per_round, mode.tasks, move |k| {
                            let (p, s, v) = (p.clone(), s.clone(), v.clone());
                            async move { raw_insert(&p, &s[(base + k) % agg], &v).await }
                        })),
                    )
                }
            };
            let (lat, t) = tallies[i].round(f).await?;
            lats[i].extend(lat);
            times[i] = t;
        }
        vs_load.push(round3(times[1].as_secs_f64() / times[0].as_secs_f64()));
        vs_insert.push(round3(times[2].as_secs_f64() / times[0].as_secs_f64()));
    }
    let done = rounds * (n / rounds);
    let stats = repo.cache_stats().unwrap_or_default();
    fw_pool.close().await;
    load_pool.close().await;
    insert_pool.close().await;
    let rate = |t: &Tally| per_sec(done, t.time);
    let [lat_fw, lat_load, lat_insert] = lats;
    let fw_lat = percentiles(lat_fw);
    let cache = json!({
        "entries": stats.entries, "bytes": stats.bytes, "hits": stats.hits - warm.hits,
        "misses": stats.misses - warm.misses, "stale": stats.stale,
    });
    let figure = |workload: String,
                  base: usize,
                  target: f64,
                  lat: Vec<Duration>,
                  ratios: Vec<f64>,
                  what: &str| {
        let (fw_rate, raw_rate) = (rate(&tallies[0]), rate(&tallies[base]));
        Figure {
            workload,
            unit: "commands/s",
            framework: fw_rate,
            baseline: raw_rate,
            ratio: fw_rate / raw_rate,
            target: format!(">= {target}x baseline"),
            met: Some(fw_rate / raw_rate >= target),
            rss_framework_mb: tallies[0].rss_mb,
            rss_baseline_mb: tallies[base].rss_mb,
            details: json!({
                "baseline": what,
                "commands": done, "tasks": mode.tasks, "aggregates": aggregates, "history": HISTORY,
                "rounds": ratios.len(), "round_ratios": ratios,
                "cache": cache,
                "cpu_us_per_command": { "framework": tallies[0].cpu_us_per(done), "baseline": tallies[base].cpu_us_per(done) },
                "framework_latency": fw_lat,
                "baseline_latency": percentiles(lat),
            }),
        }
    };
    Ok(vec![
        figure(
            format!("cached_command_{}", mode.name),
            1,
            1.3,
            lat_load,
            vs_load,
            "raw load-decide-insert: SELECT the stream, fold, INSERT (two round trips)",
        ),
        figure(
            format!("cached_command_vs_insert_{}", mode.name),
            2,
            0.9,
            lat_insert,
            vs_insert,
            "the limit: one raw INSERT commit per command, the version kept by the client",
        ),
    ])
}
