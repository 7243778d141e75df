//! `es-bench`: the framework against the plainest raw sqlx code doing the same
//! work, on one PostgreSQL database in one run.
//!
//! ```text
//! cargo run --release -p es-bench -- [--scale 0.1] [--json] [--only append,commands,load,catchup,memory]
//! ```
//!
//! It creates a throwaway database on the server `DATABASE_URL` names
//! (default `postgres://postgres@127.0.0.1:5432/postgres`), runs every
//! workload through the framework (`es` schema, `PgEventStore`, `Repository`,
//! `ProjectionRunner`) and through raw sqlx (`raw` schema, an equivalent
//! table), prints both figures and their ratio, and drops the database.
//!
//! The append, command and load workloads interleave the two sides: they run
//! in rounds that alternate framework and baseline in ABBA order (the
//! framework first in even rounds, the baseline first in odd ones), so that
//! drift on the machine falls on both sides alike. A side's time is the sum
//! of its rounds; its peak RSS is the highest of its rounds, reset before
//! each. Catch-up and the in-memory workloads run one side after the other.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool: its report goes to stdout, progress to stderr"
)]

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::Parser;
use es_bench::{
    BATCHED_TOTALS_TABLE, BatchedStreamTotals, Counter, CounterEvent, Credit, Credited, Debited,
    RawAmount, StreamTotals, TOTALS_TABLE, Tagged, totals_table_sql,
};
use es_core::{
    Aggregate, Event, EventStore, ExpectedVersion, Metadata, NewEvent, RecordedEvent, Repository,
};
use es_postgres::{PgEventStore, ProjectionRunner};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions as _, Connection as _, PgConnection, Row as _};
use uuid::Uuid;

const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Benchmarks of the framework against raw sqlx on one PostgreSQL database.
#[derive(Debug, Parser)]
#[command(name = "es-bench", version)]
struct Args {
    /// Multiplies every workload size (0.1: a tenth; a smoke run uses 0.001).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Prints the figures as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Runs only these workloads (comma-separated: append, commands, load, catchup, memory).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The server; the benchmark creates and drops its own database on it.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    database_url: String,
}

/// One measured figure: the framework's, the baseline's and their ratio.
#[derive(Debug, Clone)]
struct Figure {
    workload: String,
    unit: &'static str,
    framework: f64,
    baseline: f64,
    /// framework / baseline.
    ratio: f64,
    /// The target as text, and whether it is met.
    target: String,
    met: Option<bool>,
    /// Peak resident memory (MB) while the framework / baseline ran.
    rss_framework_mb: f64,
    rss_baseline_mb: f64,
    details: serde_json::Value,
}

impl Figure {
    fn json(&self) -> serde_json::Value {
        json!({
            "workload": self.workload,
            "unit": self.unit,
            "framework": self.framework,
            "baseline": self.baseline,
            "ratio": self.ratio,
            "target": self.target,
            "met": self.met,
            "peak_rss_mb": { "framework": self.rss_framework_mb, "baseline": self.rss_baseline_mb },
            "details": self.details,
        })
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    if !(args.scale > 0.0 && args.scale.is_finite()) {
        bail!("--scale must be a positive number");
    }
    let known = ["append", "commands", "load", "catchup", "memory"];
    for w in &args.only {
        if !known.contains(&w.as_str()) {
            bail!("unknown workload `{w}` (known: {})", known.join(", "));
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

fn wants(args: &Args, name: &str) -> bool {
    args.only.is_empty() || args.only.iter().any(|w| w == name)
}

fn scaled(base: f64, scale: f64, min: usize) -> usize {
    ((base * scale).round() as usize).max(min)
}

/// Scaled to a multiple of `step` (at least one step).
fn scaled_step(base: f64, scale: f64, step: usize) -> usize {
    (((base * scale) / step as f64).round() as usize).max(1) * step
}

async fn run(args: Args) -> Result<()> {
    let admin_options: PgConnectOptions = args
        .database_url
        .parse()
        .with_context(|| format!("parsing DATABASE_URL `{}`", args.database_url))?;
    let mut admin = admin_options
        .connect()
        .await
        .with_context(|| format!("connecting to {}", args.database_url))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!("es_bench_{}_{nanos}", std::process::id());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .context("creating the benchmark database")?;
    eprintln!("es-bench: database {name} created");
    let options = admin_options.clone().database(&name);
    let outcome = tokio::select! {
        r = benchmark(&args, options) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    let dropped = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await;
    let _ = admin.close().await;
    match dropped {
        Ok(_) => eprintln!("es-bench: database {name} dropped"),
        Err(e) => eprintln!("es-bench: could not drop database {name}: {e}"),
    }
    let figures = outcome?;
    let machine = machine_info(&args).await;
    if args.json {
        let out = json!({
            "scale": args.scale,
            "machine": machine,
            "workloads": figures.iter().map(Figure::json).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_table(&figures, &machine, args.scale);
    }
    Ok(())
}

async fn machine_info(args: &Args) -> serde_json::Value {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_total_mb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| (kb / 1024.0).round());
    let load = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let (mut version, mut fsync, mut sync_commit) = (String::new(), String::new(), String::new());
    if let Ok(mut c) = PgConnection::connect(&args.database_url).await {
        let get = async |c: &mut PgConnection, q: &str| -> String {
            sqlx::query_scalar::<_, String>(q)
                .fetch_one(c)
                .await
                .unwrap_or_default()
        };
        version = get(&mut c, "SHOW server_version").await;
        fsync = get(&mut c, "SHOW fsync").await;
        sync_commit = get(&mut c, "SHOW synchronous_commit").await;
        let _ = c.close().await;
    }
    json!({
        "nproc": nproc,
        "memory_mb": mem_total_mb,
        "load_average_at_end": load,
        "postgres_version": version,
        "fsync": fsync,
        "synchronous_commit": sync_commit,
    })
}

fn print_table(figures: &[Figure], machine: &serde_json::Value, scale: f64) {
    println!(
        "es-bench (scale {scale}) — {} cores, {} MB, PostgreSQL {}, fsync {}, synchronous_commit {}, load at end {}",
        machine["nproc"],
        machine["memory_mb"],
        machine["postgres_version"].as_str().unwrap_or("?"),
        machine["fsync"].as_str().unwrap_or("?"),
        machine["synchronous_commit"].as_str().unwrap_or("?"),
        machine["load_average_at_end"].as_str().unwrap_or("?"),
    );
    println!(
        "{:<34} {:>14} {:>14} {:>7}  {:<26} {:<5} {:>14}  unit",
        "workload", "framework", "baseline", "ratio", "target", "met", "peak RSS MB"
    );
    for f in figures {
        let met = match f.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "-",
        };
        println!(
            "{:<34} {:>14} {:>14} {:>7.3}  {:<26} {:<5} {:>6.0} / {:<6.0} {}",
            f.workload,
            fmt_num(f.framework),
            fmt_num(f.baseline),
            f.ratio,
            f.target,
            met,
            f.rss_framework_mb,
            f.rss_baseline_mb,
            f.unit,
        );
    }
    println!();
    for f in figures {
        if f.details.as_object().is_some_and(|o| !o.is_empty()) {
            println!("{}: {}", f.workload, f.details);
        }
    }
}

fn fmt_num(x: f64) -> String {
    if x >= 1000.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

// ---------------------------------------------------------------------------
// Peak memory: VmHWM of this process, reset through /proc/self/clear_refs.

fn reset_peak_rss() {
    // "5" resets the peak resident set size (Linux ≥ 4.0); harmless elsewhere.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

// CPU time: of this process (every thread), and of every `postgres`
// process on the machine (the server runs here; its background processes
// count too, on whichever side runs at the time, which the ABBA order
// spreads over both). From /proc/<pid>/schedstat, in nanoseconds.

/// CPU time consumed so far: (server, client).
fn cpu_now() -> (Duration, Duration) {
    fn schedstat(path: &std::path::Path) -> u64 {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }
    let mut server = 0;
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let path = entry.path();
            let is_pg = std::fs::read_to_string(path.join("comm"))
                .is_ok_and(|c| c.trim_end() == "postgres");
            if is_pg {
                server += schedstat(&path.join("schedstat"));
            }
        }
    }
    let mut client = 0;
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for entry in dir.flatten() {
            client += schedstat(&entry.path().join("schedstat"));
        }
    }
    (Duration::from_nanos(server), Duration::from_nanos(client))
}

/// Runs `f`, returning its result, the elapsed time and the peak RSS (MB).
async fn measured<T>(f: impl Future<Output = Result<T>>) -> Result<(T, Duration, f64)> {
    reset_peak_rss();
    let t0 = Instant::now();
    let out = f.await?;
    let elapsed = t0.elapsed();
    Ok((out, elapsed, peak_rss_mb()))
}

// ---------------------------------------------------------------------------
// Interleaving: append, commands and load alternate the two sides in rounds,
// in ABBA order, so that drift on the machine (checkpoints, autovacuum,
// other processes) falls on both sides alike.

/// One side of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Framework,
    Baseline,
}

/// The order of round `r`: the framework first in even rounds, the baseline
/// first in odd ones (ABBA).
fn abba(r: usize) -> [Side; 2] {
    if r.is_multiple_of(2) {
        [Side::Framework, Side::Baseline]
    } else {
        [Side::Baseline, Side::Framework]
    }
}

/// The items of round `r` of `rounds` over `n` items (sizes differ by at
/// most one; together the rounds cover `0..n`).
fn round_range(n: usize, rounds: usize, r: usize) -> std::ops::Range<usize> {
    n * r / rounds..n * (r + 1) / rounds
}

/// One side's totals over interleaved rounds: the summed time of its rounds
/// and the highest peak RSS among them (the peak is reset before each).
#[derive(Debug, Default)]
struct Tally {
    time: Duration,
    rss_mb: f64,
    /// CPU time of the PostgreSQL server during this side's rounds.
    server_cpu: Duration,
    /// CPU time of this process during this side's rounds.
    client_cpu: Duration,
}

impl Tally {
    /// Runs one round of this side through `measured`, returning its result
    /// and its time.
    async fn round<T>(&mut self, f: impl Future<Output = Result<T>>) -> Result<(T, Duration)> {
        let (server0, client0) = cpu_now();
        let (out, elapsed, rss) = measured(f).await?;
        let (server1, client1) = cpu_now();
        self.time += elapsed;
        self.rss_mb = self.rss_mb.max(rss);
        self.server_cpu += server1.saturating_sub(server0);
        self.client_cpu += client1.saturating_sub(client0);
        Ok((out, elapsed))
    }

    /// CPU microseconds per item of work (event or command), server and
    /// client, for the details.
    fn cpu_us_per(&self, items: usize) -> serde_json::Value {
        let per = |d: Duration| round3(d.as_secs_f64() * 1e6 / items.max(1) as f64);
        json!({ "server": per(self.server_cpu), "client": per(self.client_cpu) })
    }
}

/// Rounded to three decimals, for the per-round ratios in the details.
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn per_sec(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// p50/p95/p99/max of latencies in milliseconds (sorted Vec; nearest rank).
fn percentiles(mut lat: Vec<Duration>) -> serde_json::Value {
    lat.sort_unstable();
    let pick = |q: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let rank = ((q * lat.len() as f64).ceil() as usize).clamp(1, lat.len());
        (lat[rank - 1].as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
    };
    json!({ "p50_ms": pick(0.50), "p95_ms": pick(0.95), "p99_ms": pick(0.99), "max_ms": pick(1.0) })
}

// ---------------------------------------------------------------------------
// Setup.

struct Env {
    /// One connection: the sequential workloads.
    seq: PgPool,
    /// Eight connections: the concurrent workloads, runners, setup.
    par: PgPool,
    seq_store: PgEventStore,
    par_store: PgEventStore,
}

const RAW_SCHEMA: &str = r#"
CREATE SCHEMA raw;
CREATE TABLE raw.events (
    global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        uuid        NOT NULL UNIQUE,
    stream_id       text        NOT NULL,
    stream_version  bigint      NOT NULL,
    aggregate_type  text        NOT NULL,
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL,
    payload         jsonb       NOT NULL,
    metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream_id, stream_version)
);
CREATE INDEX ON raw.events (event_type, global_position);
CREATE TABLE raw.checkpoints (projection text PRIMARY KEY, position bigint NOT NULL);
"#;

async fn setup(options: PgConnectOptions) -> Result<Env> {
    let seq = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone())
        .await?;
    let par = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await?;
    let par_store = PgEventStore::builder().build(par.clone());
    par_store.migrate().await?;
    let seq_store = PgEventStore::builder().build(seq.clone());
    sqlx::raw_sql(RAW_SCHEMA).execute(&par).await?;
    sqlx::raw_sql(&totals_table_sql("raw.totals"))
        .execute(&par)
        .await?;
    Ok(Env {
        seq,
        par,
        seq_store,
        par_store,
    })
}

fn credited(amount: i64) -> NewEvent {
    NewEvent::new(
        &CounterEvent::Credited(Credited { amount }),
        Metadata::new(),
    )
    .expect("a Credited event encodes")
}

/// The small event of the bulk workloads: every 10th one a debit.
fn small_event(i: usize) -> CounterEvent {
    if i % 10 == 9 {
        CounterEvent::Debited(Debited { amount: 1 })
    } else {
        CounterEvent::Credited(Credited { amount: 2 })
    }
}

/// Appends `per_stream` events to each stream through the framework, in
/// batches of `batch`, with 4 concurrent writers.
async fn populate(
    store: &PgEventStore,
    streams: Vec<String>,
    per_stream: usize,
    batch: usize,
) -> Result<()> {
    let chunks: Vec<Vec<String>> = (0..4)
        .map(|k| streams.iter().skip(k).step_by(4).cloned().collect())
        .collect();
    let mut tasks = Vec::new();
    for chunk in chunks {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for s in chunk {
                let mut written = 0;
                while written < per_stream {
                    let n = batch.min(per_stream - written);
                    let events = (written..written + n)
                        .map(|i| NewEvent::new(&small_event(i), Metadata::new()))
                        .collect::<Result<Vec<_>, _>>()?;
                    store
                        .append(&s, ExpectedVersion::from_version(written as u64), events)
                        .await?;
                    written += n;
                }
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// Copies streams from the framework's table into the raw one, same rows.
async fn copy_to_raw(pool: &PgPool, stream_like: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO raw.events (event_id, stream_id, stream_version, aggregate_type, event_type, \
           schema_version, payload, metadata, recorded_at) \
         SELECT event_id, stream_id, stream_version, aggregate_type, event_type, schema_version, \
           payload, metadata, recorded_at FROM es.events WHERE stream_id LIKE $1 \
         ORDER BY global_position",
    )
    .bind(stream_like)
    .execute(pool)
    .await?;
    sqlx::query("ANALYZE raw.events").execute(pool).await?;
    sqlx::query("ANALYZE es.events").execute(pool).await?;
    Ok(())
}

async fn benchmark(args: &Args, options: PgConnectOptions) -> Result<Vec<Figure>> {
    let env = setup(options).await?;
    let mut figures = Vec::new();
    if wants(args, "append") {
        eprintln!("es-bench: batched append");
        figures.push(append(&env, args.scale).await?);
    }
    if wants(args, "commands") {
        eprintln!("es-bench: command round trip");
        figures.extend(commands(&env, args.scale).await?);
    }
    if wants(args, "load") {
        eprintln!("es-bench: aggregate load");
        figures.extend(load(&env, args.scale).await?);
    }
    if wants(args, "catchup") {
        eprintln!("es-bench: catch-up");
        figures.extend(catch_up(&env, args.scale).await?);
    }
    if wants(args, "memory") {
        eprintln!("es-bench: in memory");
        figures.extend(in_memory(args.scale)?);
    }
    env.seq.close().await;
    env.par.close().await;
    Ok(figures)
}

// ---------------------------------------------------------------------------
// 1. Batched append.

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
            let (t, p) = match small_event(i) {
                CounterEvent::Credited(e) => ("Credited", serde_json::to_string(&e)?),
                CounterEvent::Debited(e) => ("Debited", serde_json::to_string(&e)?),
            };
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
async fn append(env: &Env, scale: f64) -> Result<Figure> {
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

// ---------------------------------------------------------------------------
// 2. Command round trip.

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
async fn raw_command<'c, E>(conn: E, stream: &str) -> Result<()>
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
const TASKS: usize = 4;

/// Runs `command` once per id on `TASKS` spawned tasks (task k takes every
/// `TASKS`-th id from the k-th), returning every command's latency.
async fn concurrent_commands<F, Fut>(ids: &[String], command: F) -> Result<Vec<Duration>>
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
async fn commands(env: &Env, scale: f64) -> Result<Vec<Figure>> {
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

// ---------------------------------------------------------------------------
// 3. Aggregate load.

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

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

async fn load(env: &Env, scale: f64) -> Result<Vec<Figure>> {
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

// ---------------------------------------------------------------------------
// 4. Catch-up.

/// The columns a reader of the log gets, as the raw baseline decodes them.
type RawRow = (
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

async fn catch_up(env: &Env, scale: f64) -> Result<Vec<Figure>> {
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
    // read_all over the whole log, in pages.
    let store = &env.seq_store;
    let (fw_n, fw_time, fw_rss) = measured(async {
        let (mut pos, mut n) = (0u64, 0usize);
        loop {
            let page = store.read_all(pos, PAGE, None).await?;
            let Some(last) = page.events.last() else {
                break;
            };
            pos = last.global_position;
            n += page.len();
        }
        Ok(n)
    })
    .await?;
    let (raw_n, raw_time, raw_rss) = measured(async {
        let (mut pos, mut n) = (0i64, 0usize);
        loop {
            let page: Vec<RawRow> = sqlx::query_as(
                "SELECT global_position, event_id, stream_id, stream_version, event_type, \
                   schema_version, payload::text, metadata::text, recorded_at \
                 FROM raw.events WHERE global_position > $1 ORDER BY global_position LIMIT $2",
            )
            .bind(pos)
            .bind(PAGE as i64)
            .fetch_all(&env.seq)
            .await?;
            let Some(last) = page.last() else { break };
            pos = last.0;
            n += page.len();
        }
        Ok(n)
    })
    .await?;
    if fw_n as i64 != in_log || raw_n as i64 != in_raw {
        bail!("read {fw_n} of {in_log} framework events, {raw_n} of {in_raw} raw events");
    }
    let fw = per_sec(fw_n, fw_time);
    let raw = per_sec(raw_n, raw_time);
    out.push(Figure {
        workload: "read_all".into(),
        unit: "events/s",
        framework: fw,
        baseline: raw,
        ratio: fw / raw,
        target: ">= 200000 events/s, < 150 MB".into(),
        met: Some(fw >= 200_000.0 && fw_rss < 150.0),
        rss_framework_mb: fw_rss,
        rss_baseline_mb: raw_rss,
        details: json!({ "events": fw_n, "baseline_events": raw_n, "page": PAGE,
                         "framework_s": fw_time.as_secs_f64(), "baseline_s": raw_time.as_secs_f64() }),
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
    sqlx::raw_sql(&format!(
        "{}; INSERT INTO raw.checkpoints VALUES ('batched', 0)",
        totals_table_sql("raw.totals_batched")
    ))
    .execute(&env.par)
    .await?;
    let mut runner = ProjectionRunner::new(env.par_store.clone(), BatchedStreamTotals::default())
        .batch_size(PAGE);
    let (fw_n, fw_time, fw_rss) = measured(async { Ok(runner.catch_up().await? as usize) }).await?;
    runner.release().await;
    let (raw_n, raw_time, raw_rss) = measured(raw_set_wise_projection(&env.seq, PAGE)).await?;
    check_projected(
        env,
        fw_n,
        in_log,
        BATCHED_TOTALS_TABLE,
        raw_n,
        in_raw,
        "raw.totals_batched",
    )
    .await?;
    let fw = per_sec(fw_n, fw_time);
    let raw = per_sec(raw_n, raw_time);
    out.push(Figure {
        workload: "projection_catch_up".into(),
        unit: "events/s",
        framework: fw,
        baseline: raw,
        ratio: fw / raw,
        target: ">= 50000 events/s, < 150 MB".into(),
        met: Some(fw >= 50_000.0 && fw_rss < 150.0),
        rss_framework_mb: fw_rss,
        rss_baseline_mb: raw_rss,
        details: json!({ "events": fw_n, "batch": PAGE,
                         "read_all_with_type_filter_events_per_s": per_sec(filtered_n, filtered_time),
                         "runner": "es_postgres::ProjectionRunner::catch_up; handlers buffer per-stream sums, PgProjection::flush writes them with one UNNEST upsert per batch, one transaction per batch",
                         "baseline": "raw pages; per page one transaction: lock the checkpoint row, one UNNEST upsert, move the checkpoint",
                         "framework_s": fw_time.as_secs_f64(), "baseline_s": raw_time.as_secs_f64() }),
    });

    // The same through the runner with one upsert statement per event (no
    // flush hook), vs raw pages with the same per-event upsert and a locked
    // checkpoint row in one transaction per page.
    let mut runner = ProjectionRunner::new(env.par_store.clone(), StreamTotals).batch_size(PAGE);
    let (fw_n, fw_time, fw_rss) = measured(async { Ok(runner.catch_up().await? as usize) }).await?;
    runner.release().await;
    let (raw_n, raw_time, raw_rss) = measured(raw_projection(&env.seq, PAGE)).await?;
    check_projected(env, fw_n, in_log, TOTALS_TABLE, raw_n, in_raw, "raw.totals").await?;
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
    in_log: i64,
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
    let streams_log: i64 = sqlx::query_scalar("SELECT count(DISTINCT stream_id) FROM es.events")
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

// ---------------------------------------------------------------------------
// In memory: decode and apply; the upcast chain.

fn recorded(i: usize, event_type: &str, schema_version: u32, payload: Vec<u8>) -> RecordedEvent {
    RecordedEvent {
        event_id: Uuid::now_v7(),
        stream_id: "Counter-mem".into(),
        stream_version: i as u64 + 1,
        global_position: i as u64 + 1,
        event_type: event_type.into(),
        schema_version,
        payload,
        metadata: Metadata::new(),
        recorded_at: chrono::Utc::now(),
    }
}

/// Best of three runs of `f`, as time per call of `n` items.
fn best_of_3(mut f: impl FnMut() -> Result<()>) -> Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        f()?;
        best = best.min(t.elapsed());
    }
    Ok(best)
}

fn in_memory(scale: f64) -> Result<Vec<Figure>> {
    // 200,000 recorded events replayed 10 times: 2,000,000 decodes and
    // applies per run, without holding 2,000,000 events in memory.
    const PASSES: usize = 10;
    let distinct = scaled(200_000.0, scale, 1000);
    let n = distinct * PASSES;
    let events: Vec<RecordedEvent> = (0..distinct)
        .map(|i| {
            let e = small_event(i);
            recorded(
                i,
                e.event_type(),
                e.schema_version(),
                e.encode().expect("encodes"),
            )
        })
        .collect();

    reset_peak_rss();
    let fw_time = best_of_3(|| {
        let mut state = Counter::default();
        for _ in 0..PASSES {
            for rec in &events {
                let e = rec.decode::<CounterEvent>()?;
                state.apply_event(&e);
            }
        }
        std::hint::black_box(&state);
        Ok(())
    })?;
    let raw_time = best_of_3(|| {
        let mut state = Counter::default();
        for _ in 0..PASSES {
            for rec in &events {
                let a: RawAmount = serde_json::from_slice(&rec.payload)?;
                match rec.event_type.as_str() {
                    "Credited" => state.balance += a.amount,
                    "Debited" => state.balance -= a.amount,
                    other => bail!("unknown event type {other}"),
                }
                state.events += 1;
            }
        }
        std::hint::black_box(&state);
        Ok(())
    })?;
    let rss = peak_rss_mb();
    let fw = per_sec(n, fw_time);
    let raw = per_sec(n, raw_time);

    let m = scaled(200_000.0, scale, 1000);
    let current = Tagged {
        count: 7,
        label: "x".into(),
        flag: true,
    }
    .encode()?;
    let v1 = br#"{"n":7}"#.to_vec();
    let plain_time = best_of_3(|| {
        for _ in 0..m {
            std::hint::black_box(Tagged::decode("Tagged", 4, std::hint::black_box(&current))?);
        }
        Ok(())
    })?;
    let upcast_time = best_of_3(|| {
        for _ in 0..m {
            std::hint::black_box(Tagged::decode("Tagged", 1, std::hint::black_box(&v1))?);
        }
        Ok(())
    })?;
    let ns = |d: Duration| d.as_secs_f64() * 1e9 / m as f64;
    let (up, plain) = (ns(upcast_time), ns(plain_time));
    Ok(vec![
        Figure {
            workload: "decode_apply_in_memory_1core".into(),
            unit: "events/s",
            framework: fw,
            baseline: raw,
            ratio: fw / raw,
            target: ">= 5000000 events/s".into(),
            met: Some(fw >= 5_000_000.0),
            rss_framework_mb: rss,
            rss_baseline_mb: rss,
            details: json!({ "events": n, "distinct_events": distinct, "payload": "{\"amount\":2}",
                             "baseline": "serde_json::from_slice into a struct + match on the type name" }),
        },
        Figure {
            workload: "decode_upcast_3_steps".into(),
            unit: "ns/event",
            framework: up,
            baseline: plain,
            ratio: up / plain,
            target: "<= 4x a plain decode".into(),
            met: Some(up / plain <= 4.0),
            rss_framework_mb: rss,
            rss_baseline_mb: rss,
            details: json!({ "events": m, "baseline": "Tagged::decode at the current version 4" }),
        },
    ])
}
