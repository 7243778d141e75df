//! Command round trip: load an aggregate with a short history, decide and
//! append one event, through `Repository::execute` and through raw sqlx
//! (select, fold, insert), every command on an aggregate of its own. Once
//! sequentially on one connection and once from four concurrent tasks, each
//! in ABBA rounds. Figures: commands per second with latency percentiles
//! (`command_round_trip_sequential`, `command_round_trip_concurrent4`).

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use es_bench::{Counter, Credit, Credited, RawAmount};
use es_core::Repository;
use es_postgres::PgEventStore;
use serde_json::json;
use sqlx::Row as _;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use crate::env::{Env, copy_to_raw, populate, scaled};
use crate::measure::{Side, Tally, abba, per_sec, percentiles, round_range, round3};
use crate::report::Figure;

/// A command round-trip figure from the two sides' tallies and latencies
/// (framework first), adding rounds, CPU and latency percentiles to
/// `details`.
fn command_figure(
    workload: &str,
    mut details: serde_json::Value,
    commands: usize,
    [fw, raw]: [&Tally; 2],
    [fw_lat, raw_lat]: [Vec<Duration>; 2],
    round_ratios: Vec<f64>,
) -> Figure {
    let (fw_rate, raw_rate) = (per_sec(commands, fw.time), per_sec(commands, raw.time));
    if let Some(d) = details.as_object_mut() {
        d.insert("rounds".into(), json!(round_ratios.len()));
        d.insert("round_ratios".into(), json!(round_ratios));
        d.insert(
            "cpu_us_per_command".into(),
            json!({ "framework": fw.cpu_us_per(commands), "baseline": raw.cpu_us_per(commands) }),
        );
        d.insert("framework_latency".into(), percentiles(fw_lat));
        d.insert("baseline_latency".into(), percentiles(raw_lat));
    }
    Figure {
        workload: workload.into(),
        unit: "commands/s",
        framework: fw_rate,
        baseline: raw_rate,
        ratio: fw_rate / raw_rate,
        target: ">= 0.8x baseline".into(),
        met: Some(fw_rate / raw_rate >= 0.8),
        rss_framework_mb: fw.rss_mb,
        rss_baseline_mb: raw.rss_mb,
        details,
    }
}

/// The raw command: SELECT the stream's rows, fold them, decide, INSERT one row.
pub(crate) async fn raw_command<'c, E>(conn: E, stream: &str) -> Result<()>
where
    E: sqlx::Executor<'c, Database = sqlx::Postgres> + Copy,
{
    let rows = sqlx::query(
        "SELECT stream_version, event_type, payload::text AS payload FROM raw.events \
         WHERE stream_id = $1 ORDER BY stream_version",
    )
    .bind(stream)
    .fetch_all(conn)
    .await?;
    let mut state = Counter::default();
    let mut version = 0i64;
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
        version = row.try_get("stream_version")?;
    }
    std::hint::black_box(&state);
    let amount = 1i64;
    if amount <= 0 {
        bail!("rejected");
    }
    sqlx::query(
        "INSERT INTO raw.events (event_id, stream_id, stream_version, aggregate_type, event_type, \
           schema_version, payload) VALUES ($1, $2, $3, 'Counter', 'Credited', 1, $4::jsonb)",
    )
    .bind(Uuid::now_v7())
    .bind(stream)
    .bind(version + 1)
    .bind(serde_json::to_string(&Credited { amount })?)
    .execute(conn)
    .await?;
    Ok(())
}

/// Tasks of the concurrent command workload.
pub(crate) const TASKS: usize = 4;

/// Runs `command` once per id on `TASKS` spawned tasks (task k takes every
/// `TASKS`-th id from the k-th), returning every command's latency.
pub(crate) async fn concurrent_commands<F, Fut>(ids: &[String], command: F) -> Result<Vec<Duration>>
where
    F: Fn(String) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let mut tasks = Vec::with_capacity(TASKS);
    for k in 0..TASKS {
        let command = command.clone();
        let ids: Vec<String> = ids.iter().skip(k).step_by(TASKS).cloned().collect();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(ids.len());
            for id in ids {
                let f = command(id);
                let t = Instant::now();
                f.await?;
                lat.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    Ok(lat)
}

/// Every command goes to an aggregate of its own, on each side. The ids are
/// split into rounds that alternate the sides (ABBA); latencies are collected
/// over all rounds, and a side's figure is its commands over the summed time
/// of its rounds.
pub(crate) async fn commands(env: &Env, scale: f64) -> Result<Vec<Figure>> {
    const HISTORY: usize = 10;
    let seq_n = scaled(1000.0, scale, 4);
    let conc_n = scaled(2000.0, scale, 8);
    let seq_ids: Vec<String> = (0..seq_n).map(|i| format!("seq-{i}")).collect();
    let conc_ids: Vec<String> = (0..conc_n).map(|i| format!("conc-{i}")).collect();
    // The baseline's stream names, built outside the timed rounds.
    let seq_streams: Vec<String> = seq_ids.iter().map(|id| format!("Counter-{id}")).collect();
    let conc_streams: Vec<String> = conc_ids.iter().map(|id| format!("Counter-{id}")).collect();
    let streams = seq_streams.iter().chain(&conc_streams).cloned().collect();
    populate(&env.par_store, streams, HISTORY, HISTORY).await?;
    copy_to_raw(&env.par, "Counter-seq-%").await?;
    copy_to_raw(&env.par, "Counter-conc-%").await?;
    // Warm up both paths (statement preparation) on a stream of its own.
    populate(
        &env.par_store,
        vec!["Counter-warm".into()],
        HISTORY,
        HISTORY,
    )
    .await?;
    copy_to_raw(&env.par, "Counter-warm").await?;
    let seq_repo = Repository::<Counter, _>::new(env.seq_store.clone());
    for _ in 0..3 {
        seq_repo.execute("warm", Credit { amount: 1 }).await?;
        raw_command(&env.seq, "Counter-warm").await?;
    }

    let mut out = Vec::new();
    // Sequential, one connection.
    let rounds = scaled(10.0, scale, 1).min(seq_n);
    let (mut fw_tally, mut raw_tally) = (Tally::default(), Tally::default());
    let (mut fw_lat, mut raw_lat) = (Vec::with_capacity(seq_n), Vec::with_capacity(seq_n));
    let mut round_ratios = Vec::with_capacity(rounds);
    for r in 0..rounds {
        let range = round_range(seq_n, rounds, r);
        let (mut fw_t, mut raw_t) = (Duration::ZERO, Duration::ZERO);
        for side in abba(r) {
            match side {
                Side::Framework => {
                    let ids = &seq_ids[range.clone()];
                    let (lat, t) = fw_tally
                        .round(async {
                            let mut lat = Vec::with_capacity(ids.len());
                            for id in ids {
                                let t = Instant::now();
                                let done = seq_repo.execute(id, Credit { amount: 1 }).await?;
                                lat.push(t.elapsed());
                                debug_assert_eq!(done.version, HISTORY as u64 + 1);
                            }
                            Ok(lat)
                        })
                        .await?;
                    fw_lat.extend(lat);
                    fw_t = t;
                }
                Side::Baseline => {
                    let streams = &seq_streams[range.clone()];
                    let (lat, t) = raw_tally
                        .round(async {
                            let mut lat = Vec::with_capacity(streams.len());
                            for stream in streams {
                                let t = Instant::now();
                                raw_command(&env.seq, stream).await?;
                                lat.push(t.elapsed());
                            }
                            Ok(lat)
                        })
                        .await?;
                    raw_lat.extend(lat);
                    raw_t = t;
                }
            }
        }
        round_ratios.push(round3(raw_t.as_secs_f64() / fw_t.as_secs_f64()));
    }
    out.push(command_figure(
        "command_round_trip_sequential",
        json!({ "commands": seq_n, "history": HISTORY }),
        seq_n,
        [&fw_tally, &raw_tally],
        [fw_lat, raw_lat],
        round_ratios,
    ));

    // Concurrent: 4 tasks on distinct aggregates over a pool of 4
    // connections; per round, 4 fresh tasks share that round's ids.
    let conc_pool_fw = PgPoolOptions::new()
        .max_connections(TASKS as u32)
        .connect_with(env.par.connect_options().as_ref().clone())
        .await?;
    let conc_pool_raw = PgPoolOptions::new()
        .max_connections(TASKS as u32)
        .connect_with(env.par.connect_options().as_ref().clone())
        .await?;
    let repo = Repository::<Counter, _>::new(PgEventStore::builder().build(conc_pool_fw.clone()));
    for _ in 0..TASKS {
        repo.execute("warm", Credit { amount: 1 }).await?;
        raw_command(&conc_pool_raw, "Counter-warm").await?;
    }
    let rounds = scaled(10.0, scale, 1).min(conc_n / TASKS);
    let (mut fw_tally, mut raw_tally) = (Tally::default(), Tally::default());
    let (mut fw_lat, mut raw_lat) = (Vec::with_capacity(conc_n), Vec::with_capacity(conc_n));
    let mut round_ratios = Vec::with_capacity(rounds);
    for r in 0..rounds {
        let range = round_range(conc_n, rounds, r);
        let (mut fw_t, mut raw_t) = (Duration::ZERO, Duration::ZERO);
        for side in abba(r) {
            match side {
                Side::Framework => {
                    let repo = repo.clone();
                    let f = concurrent_commands(&conc_ids[range.clone()], move |id| {
                        let repo = repo.clone();
                        async move {
                            repo.execute(&id, Credit { amount: 1 }).await?;
                            Ok(())
                        }
                    });
                    let (lat, t) = fw_tally.round(f).await?;
                    fw_lat.extend(lat);
                    fw_t = t;
                }
                Side::Baseline => {
                    let pool = conc_pool_raw.clone();
                    let f = concurrent_commands(&conc_streams[range.clone()], move |stream| {
                        let pool = pool.clone();
                        async move { raw_command(&pool, &stream).await }
                    });
                    let (lat, t) = raw_tally.round(f).await?;
                    raw_lat.extend(lat);
                    raw_t = t;
                }
            }
        }
        round_ratios.push(round3(raw_t.as_secs_f64() / fw_t.as_secs_f64()));
    }
    conc_pool_fw.close().await;
    conc_pool_raw.close().await;
    out.push(command_figure(
        "command_round_trip_concurrent4",
        json!({ "commands": conc_n, "tasks": TASKS, "history": HISTORY }),
        conc_n,
        [&fw_tally, &raw_tally],
        [fw_lat, raw_lat],
        round_ratios,
    ));
    Ok(out)
}
