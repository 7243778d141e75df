//! `es bench`: appends and reads against a throwaway schema (PostgreSQL) or
//! file (SQLite: `es_bench_<random>.db` beside the file `--database-url`
//! names, which is never opened; deleted at the end like the schema).
//!
//! The schema (`es_bench_<random>`) is created and migrated first and
//! dropped at the end: after success, after a failure, and after Ctrl-C or
//! SIGTERM (the workloads run in a task that is aborted first). Only a
//! killed process (SIGKILL) leaves it behind; `DROP SCHEMA es_bench_… CASCADE`
//! removes it.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent, StreamEnd};
use es_postgres::PgEventStore;
use es_sqlite::SqliteEventStore;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tokio::task::JoinSet;

use crate::db::{self, Target, quote_ident};
use crate::error::CliError;
use crate::out;

/// Events per `read_all` page and per `read_stream` call.
const READ_PAGE: usize = 1000;

#[derive(Debug, Clone, Args)]
pub(crate) struct BenchArgs {
    /// Events each append workload writes.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    events: u64,
    /// Streams the events are spread over.
    #[arg(long, value_name = "M", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    streams: u64,
    /// Concurrent appenders in the concurrent workload.
    #[arg(long, value_name = "C", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=256))]
    concurrency: u64,
    /// Events per append in the batched workload.
    #[arg(long, value_name = "B", default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    batch: u64,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    /// The throwaway schema; `main` on SQLite.
    schema: String,
    /// The throwaway SQLite file (absent on PostgreSQL).
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<String>,
    /// The throwaway schema (SQLite: file) was removed.
    schema_dropped: bool,
    events: u64,
    streams: u64,
    concurrency: u64,
    batch: u64,
    workloads: Vec<Workload>,
}

#[derive(Debug, Serialize)]
struct Workload {
    name: &'static str,
    /// Calls made (appends or reads).
    operations: u64,
    /// Events written or read.
    events: u64,
    seconds: f64,
    events_per_sec: f64,
    /// Latency of one call.
    latency_ms: Latency,
}

#[derive(Debug, Serialize)]
struct Latency {
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
}

impl Latency {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let pick = |p: f64| -> f64 {
            if samples.is_empty() {
                return 0.0;
            }
            // Nearest rank.
            let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
            let i = rank.clamp(1, samples.len()) - 1;
            ms(samples[i])
        };
        Self {
            p50: pick(50.0),
            p95: pick(95.0),
            p99: pick(99.0),
            max: samples.last().copied().map_or(0.0, ms),
        }
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn workload(
    name: &'static str,
    events: u64,
    elapsed: Duration,
    samples: Vec<Duration>,
) -> Workload {
    let seconds = elapsed.as_secs_f64();
    Workload {
        name,
        operations: samples.len() as u64,
        events,
        seconds: (seconds * 1e4).round() / 1e4,
        events_per_sec: if seconds > 0.0 {
            (events as f64 / seconds).round()
        } else {
            0.0
        },
        latency_ms: Latency::of(samples),
    }
}

/// A progress bar on a terminal, a hidden one elsewhere (pipes, CI, --json
/// consumers reading stdout still see the bar on a terminal's stderr).
fn progress(total: u64, name: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>18} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(name.to_owned());
    bar
}

fn event(n: u64) -> NewEvent {
    let payload = format!(
        r#"{{"n":{n},"note":"es bench event","amount":{}}}"#,
        n % 997
    );
    NewEvent::from_raw(
        "BenchEventRecorded",
        1,
        payload.into_bytes(),
        Metadata::new(),
    )
}

fn usize_of(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Sequential single-event appends, round-robin over the streams.
async fn single_appends<S: EventStore>(store: &S, args: &BenchArgs) -> Result<Workload, CliError> {
    let bar = progress(args.events, "single appends");
    let mut versions = vec![0u64; usize_of(args.streams)];
    let mut samples = Vec::with_capacity(usize_of(args.events));
    let start = Instant::now();
    for k in 0..args.events {
        let s = usize_of(k % args.streams);
        let t = Instant::now();
        store
            .append(
                &format!("BenchSingle-{s}"),
                ExpectedVersion::from_version(versions[s]),
                vec![event(k)],
            )
            .await?;
        samples.push(t.elapsed());
        versions[s] += 1;
        bar.inc(1);
    }
    let elapsed = start.elapsed();
    bar.finish_and_clear();
    Ok(workload("single_append", args.events, elapsed, samples))
}

/// Sequential batches of `batch` events, round-robin over the streams.
async fn batched_appends<S: EventStore>(store: &S, args: &BenchArgs) -> Result<Workload, CliError> {
    let bar = progress(args.events, "batched appends");
    let mut versions = vec![0u64; usize_of(args.streams)];
    let mut samples = Vec::new();
    let start = Instant::now();
    let mut written = 0u64;
    let mut b = 0u64;
    while written < args.events {
        let n = args.batch.min(args.events - written);
        let s = usize_of(b % args.streams);
        let events: Vec<NewEvent> = (written..written + n).map(event).collect();
        let t = Instant::now();
        store
            .append(
                &format!("BenchBatch-{s}"),
                ExpectedVersion::from_version(versions[s]),
                events,
            )
            .await?;
        samples.push(t.elapsed());
        versions[s] += n;
        written += n;
        b += 1;
        bar.inc(n);
    }
    let elapsed = start.elapsed();
    bar.finish_and_clear();
    Ok(workload("batched_append", args.events, elapsed, samples))
}

/// `concurrency` tasks appending single events, each to streams of its own.
async fn concurrent_appends<S: EventStore>(
    store: &S,
    args: &BenchArgs,
) -> Result<Workload, CliError> {
    let bar = progress(args.events, "concurrent appends");
    let per_task_streams = (args.streams / args.concurrency).max(1);
    let mut tasks = JoinSet::new();
    let start = Instant::now();
    for t in 0..args.concurrency {
        let store = store.clone();
        let bar = bar.clone();
        // Task t writes events t, t + C, t + 2C, …
        let count = (args.events + args.concurrency - 1 - t) / args.concurrency;
        tasks.spawn(async move {
            let mut versions = vec![0u64; usize_of(per_task_streams)];
            let mut samples = Vec::with_capacity(usize_of(count));
            for k in 0..count {
                let s = usize_of(k % per_task_streams);
                let at = Instant::now();
                store
                    .append(
                        &format!("BenchConcurrent-{t}_{s}"),
                        ExpectedVersion::from_version(versions[s]),
                        vec![event(k)],
                    )
                    .await?;
                samples.push(at.elapsed());
                versions[s] += 1;
                bar.inc(1);
            }
            Ok::<_, CliError>(samples)
        });
    }
    let mut samples = Vec::with_capacity(usize_of(args.events));
    while let Some(joined) = tasks.join_next().await {
        let task_samples =
            joined.map_err(|e| CliError::other(format!("a bench task failed: {e}")))??;
        samples.extend(task_samples);
    }
    let elapsed = start.elapsed();
    bar.finish_and_clear();
    Ok(workload("concurrent_append", args.events, elapsed, samples))
}

/// Whole-stream reads of the single-append streams, at least 20 of them.
async fn stream_reads<S: EventStore>(store: &S, args: &BenchArgs) -> Result<Workload, CliError> {
    let reads = args.streams.max(20);
    let bar = progress(reads, "stream reads");
    let mut samples = Vec::with_capacity(usize_of(reads));
    let mut events = 0u64;
    let start = Instant::now();
    for r in 0..reads {
        let stream = format!("BenchSingle-{}", r % args.streams);
        let t = Instant::now();
        let mut from = 1;
        loop {
            let page = store
                .read_stream(&stream, from, StreamEnd::Head, READ_PAGE)
                .await?;
            events += page.len() as u64;
            match page.last() {
                Some(last) if page.len() == READ_PAGE => from = last.stream_version + 1,
                _ => break,
            }
        }
        samples.push(t.elapsed());
        bar.inc(1);
    }
    let elapsed = start.elapsed();
    bar.finish_and_clear();
    Ok(workload("stream_read", events, elapsed, samples))
}

/// `read_all` from the start, page by page.
async fn read_all<S: EventStore>(store: &S, args: &BenchArgs) -> Result<Workload, CliError> {
    let bar = progress(args.events * 3, "read_all");
    let mut samples = Vec::new();
    let mut events = 0u64;
    let mut after = 0u64;
    let start = Instant::now();
    loop {
        let t = Instant::now();
        let page = store.read_all(after, READ_PAGE, None).await?.events;
        samples.push(t.elapsed());
        events += page.len() as u64;
        bar.inc(page.len() as u64);
        match page.last() {
            Some(last) => after = last.global_position,
            None => break,
        }
        if page.len() < READ_PAGE {
            break;
        }
    }
    let elapsed = start.elapsed();
    bar.finish_and_clear();
    Ok(workload("read_all", events, elapsed, samples))
}

/// Creates the tables and opens the pool's connections before anything is timed.
async fn prepare(store: &PgEventStore, args: &BenchArgs) -> Result<(), CliError> {
    store
        .migrate()
        .await
        .map_err(|e| CliError::from(e).context("creating the bench schema"))?;
    let mut warm = Vec::new();
    for _ in 0..args.concurrency {
        warm.push(store.pool().acquire().await?);
    }
    drop(warm);
    Ok(())
}

async fn workloads<S: EventStore>(store: S, args: BenchArgs) -> Result<Vec<Workload>, CliError> {
    Ok(vec![
        single_appends(&store, &args).await?,
        batched_appends(&store, &args).await?,
        concurrent_appends(&store, &args).await?,
        stream_reads(&store, &args).await?,
        read_all(&store, &args).await?,
    ])
}

/// Resolves on Ctrl-C, or SIGTERM on Unix.
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn drop_schema(store: &PgEventStore) -> Result<(), CliError> {
    let sql = format!(
        "DROP SCHEMA IF EXISTS {} CASCADE",
        quote_ident(store.schema())
    );
    tokio::time::timeout(
        Duration::from_secs(30),
        sqlx::query(&sql).execute(store.pool()),
    )
    .await
    .map_err(|_| CliError::other("timed out"))??;
    Ok(())
}

/// The throwaway store the bench writes: never the real one.
enum Throwaway {
    /// A schema of the PostgreSQL database, dropped afterwards.
    Schema(String),
    /// An SQLite file beside the named one, deleted afterwards (with its
    /// `-wal` and `-shm` files).
    File(PathBuf),
}

impl Throwaway {
    fn describe(&self) -> String {
        match self {
            Self::Schema(s) => format!("schema `{s}`"),
            Self::File(p) => format!("file `{}`", p.display()),
        }
    }

    /// How to remove it by hand.
    fn removal(&self) -> String {
        match self {
            Self::Schema(s) => format!("`DROP SCHEMA {s} CASCADE`"),
            Self::File(p) => {
                let p = p.display();
                format!("`rm {p} {p}-wal {p}-shm`")
            }
        }
    }

    /// "dropped" or "deleted".
    fn removed(&self) -> &'static str {
        match self {
            Self::Schema(_) => "dropped",
            Self::File(_) => "deleted",
        }
    }
}

/// Prepares the store, then runs the workloads in a task of its own, so an
/// interrupt can abort it (and the concurrent appenders with it) before the
/// throwaway store is removed.
async fn measure<S: EventStore>(
    store: &S,
    prepared: impl Future<Output = Result<(), CliError>>,
    args: &BenchArgs,
) -> Result<Vec<Workload>, CliError> {
    tokio::select! {
        prepared = prepared => prepared?,
        () = interrupted() => return Err(CliError::interrupted("interrupted")),
    };
    let task = tokio::spawn(workloads(store.clone(), args.clone()));
    let abort = task.abort_handle();
    tokio::select! {
        joined = task => match joined {
            Ok(r) => r,
            Err(e) if e.is_panic() => Err(CliError::other("the benchmark panicked")),
            Err(e) => Err(CliError::other(format!("the benchmark stopped: {e}"))),
        },
        () = interrupted() => {
            abort.abort();
            Err(CliError::interrupted("interrupted"))
        }
    }
}

/// Deletes an SQLite file and its WAL companions (those that exist).
fn delete_file(path: &Path) -> Result<(), CliError> {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        match std::fs::remove_file(&name) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(CliError::other(e.to_string())),
        }
    }
    Ok(())
}

pub(crate) async fn run(target: &Target, args: &BenchArgs) -> Result<(), CliError> {
    let simple = uuid::Uuid::now_v7().simple().to_string();
    // The random tail of a v7 uuid.
    let name = format!("es_bench_{}", &simple[simple.len() - 12..]);
    let (throwaway, result, removed) = match target {
        Target::Postgres(options) => {
            let max = u32::try_from(args.concurrency + 2).unwrap_or(u32::MAX);
            let store = db::connect_pg(options, &name, max).await?;
            tracing::info!(schema = %name, "benchmarking");
            let result = measure(&store, prepare(&store, args), args).await;
            let dropped = drop_schema(&store).await;
            store.pool().close().await;
            (Throwaway::Schema(name), result, dropped)
        }
        Target::Sqlite(t) => {
            // Beside the named file: the same disk, never the file itself.
            let dir = match t.path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            if !dir.is_dir() {
                return Err(CliError::config(format!(
                    "directory `{}` does not exist; es bench writes its throwaway file \
                     beside the one --database-url names",
                    dir.display()
                )));
            }
            let file = dir.join(format!("{name}.db"));
            tracing::info!(file = %file.display(), "benchmarking");
            let store = match SqliteEventStore::open(&file).await {
                Ok(store) => store,
                Err(e) => {
                    let _ = delete_file(&file);
                    return Err(CliError::from(e).context("creating the bench file"));
                }
            };
            let result = measure(&store, async { Ok(()) }, args).await;
            store.close().await;
            drop(store);
            let deleted = delete_file(&file);
            (Throwaway::File(file), result, deleted)
        }
    };
    let what = throwaway.describe();
    let workloads = match (result, removed) {
        (Ok(w), Ok(())) => w,
        (Ok(_), Err(e)) => {
            return Err(e.context(&format!(
                "the benchmark ran, but removing its {what} failed; remove it with {}",
                throwaway.removal()
            )));
        }
        (Err(e), Ok(())) => {
            return Err(e.context(&format!("bench ({what} {})", throwaway.removed())));
        }
        (Err(e), Err(_)) => {
            return Err(e.context(&format!(
                "bench ({what} left behind: {})",
                throwaway.removal()
            )));
        }
    };
    let (schema, database) = match &throwaway {
        Throwaway::Schema(s) => (s.clone(), None),
        Throwaway::File(p) => ("main".to_owned(), Some(p.display().to_string())),
    };
    let report = Report {
        schema,
        database,
        schema_dropped: true,
        events: args.events,
        streams: args.streams,
        concurrency: args.concurrency,
        batch: args.batch,
        workloads,
    };
    if args.json {
        out::json_pretty(&report);
    } else {
        print_table(&report, &throwaway);
    }
    Ok(())
}

fn print_table(r: &Report, throwaway: &Throwaway) {
    out::line(format!(
        "bench: {} events per append workload, {} streams, concurrency {}, batch {} ({}, {})",
        out::count(i64::try_from(r.events).unwrap_or(i64::MAX)),
        r.streams,
        r.concurrency,
        r.batch,
        throwaway.describe(),
        throwaway.removed()
    ));
    let rows: Vec<Vec<String>> = r
        .workloads
        .iter()
        .map(|w| {
            vec![
                w.name.to_owned(),
                out::count(i64::try_from(w.operations).unwrap_or(i64::MAX)),
                out::count(i64::try_from(w.events).unwrap_or(i64::MAX)),
                format!("{:.3}", w.seconds),
                out::count(w.events_per_sec as i64),
                format!("{:.2}", w.latency_ms.p50),
                format!("{:.2}", w.latency_ms.p95),
                format!("{:.2}", w.latency_ms.p99),
            ]
        })
        .collect();
    out::table(
        &[
            "workload", "ops", "events", "seconds", "events/s", "p50 ms", "p95 ms", "p99 ms",
        ],
        &[1, 2, 3, 4, 5, 6, 7],
        &rows,
    );
}
