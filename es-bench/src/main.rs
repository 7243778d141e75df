//! `es-bench`: the framework against the plainest raw sqlx code doing the same
//! work, on one PostgreSQL database in one run.
//!
//! ```text
//! cargo run --release -p es-bench -- [--scale 0.1] [--json] [--only append,commands,dcb,cached,load,catchup,partitions,documents,process,memory,nats,growth]
//! cargo run --release -p es-bench -- --only growth [--growth-sizes 1000000,10000000,30000000] --json > growth.json
//! cargo run --release -p es-bench -- plot growth.png growth.json [more runs' JSON…]
//! ```
//!
//! A plain run (no `--only`) runs every workload but `nats` (it needs a
//! NATS server) and `growth` (cost as the log grows: it loads 10M events
//! and takes about six minutes here at 1M and 10M); those run only when named.
//! `plot` draws the growth curve of one or more `--only growth --json`
//! outputs as a PNG.
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
//!
//! The code: this file reads the flags, creates and drops the database and
//! runs the workloads asked for; `env` holds the database, its schemas and
//! its population, `measure` the timing, memory, CPU and ABBA helpers,
//! `report` the figures and their table or JSON, and `workload` one module
//! per workload.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool: its report goes to stdout, progress to stderr"
)]

mod env;
mod measure;
mod plot;
mod report;
mod workload;

use anyhow::{Context as _, Result, bail};
use clap::Parser;
use serde_json::json;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _};

use crate::env::setup;
use crate::report::{Figure, machine_info, print_table};
use crate::workload::{
    DEFAULT_SIZES, append, cached, catch_up, commands, dcb, documents, growth, in_memory, load,
    nats, partitions, process,
};

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
    /// Runs only these workloads (comma-separated: append, commands, dcb, cached, load, catchup, partitions, documents, process, memory, nats, growth). Without it every one runs but nats and growth, which run only when named.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The log sizes of the growth workload, in events (times --scale); add 30000000 for 30M where the disk allows.
    #[arg(long, value_delimiter = ',', default_values_t = DEFAULT_SIZES)]
    growth_sizes: Vec<u64>,
    /// The server; the benchmark creates and drops its own database on it.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    database_url: String,
    #[command(subcommand)]
    command: Option<Command>,
}

/// What to do instead of benchmarking.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Draws the growth curve of `--only growth --json` outputs as a PNG.
    Plot {
        /// The PNG to write.
        png: std::path::PathBuf,
        /// One or more JSON outputs (one line per run).
        #[arg(required = true)]
        json: Vec<std::path::PathBuf>,
    },
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(Command::Plot { png, json }) = &args.command {
        plot::plot(png, json)?;
        eprintln!("es-bench: wrote {}", png.display());
        return Ok(());
    }
    if !(args.scale > 0.0 && args.scale.is_finite()) {
        bail!("--scale must be a positive number");
    }
    let known = [
        "append",
        "commands",
        "dcb",
        "cached",
        "load",
        "catchup",
        "partitions",
        "documents",
        "process",
        "memory",
        "nats",
        "growth",
    ];
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

/// Whether `--only` leaves workload `name` in (an empty list: every one
/// but those run only when named).
fn wants(args: &Args, name: &str) -> bool {
    args.only.is_empty() || named(args, name)
}

/// Whether `--only` names workload `name`.
fn named(args: &Args, name: &str) -> bool {
    args.only.iter().any(|w| w == name)
}

/// Creates the throwaway database, benchmarks, drops it, then prints the
/// figures.
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
    let machine = machine_info(&args.database_url).await;
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

/// Sets up the environment and runs the chosen workloads in order.
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
    if wants(args, "dcb") {
        eprintln!("es-bench: DCB decision round trip");
        figures.extend(dcb(&env, args.scale).await?);
    }
    if wants(args, "cached") {
        eprintln!("es-bench: cached command round trip");
        figures.extend(cached(&env, args.scale).await?);
    }
    if wants(args, "load") {
        eprintln!("es-bench: aggregate load");
        figures.extend(load(&env, args.scale).await?);
    }
    if wants(args, "catchup") {
        eprintln!("es-bench: catch-up");
        figures.extend(catch_up(&env, args.scale).await?);
    }
    if wants(args, "partitions") {
        eprintln!("es-bench: partitioned catch-up");
        figures.extend(partitions(&env, args.scale).await?);
    }
    if wants(args, "documents") {
        eprintln!("es-bench: document projection");
        figures.extend(documents(&env, args.scale).await?);
    }
    if wants(args, "process") {
        eprintln!("es-bench: process manager end to end");
        figures.extend(process(&env, args.scale).await?);
    }
    if wants(args, "memory") {
        eprintln!("es-bench: in memory");
        figures.extend(in_memory(args.scale)?);
    }
    // Needs a NATS server with JetStream as well (NATS_URL, default
    // 127.0.0.1:4222): only when asked for by name.
    if named(args, "nats") {
        eprintln!("es-bench: relay to NATS JetStream");
        figures.extend(nats(&env, args.scale).await?);
    }
    // Loads 10M events and more: only when asked for by name.
    if named(args, "growth") {
        eprintln!("es-bench: cost as the log grows");
        figures.extend(growth(&env, args.scale, &args.growth_sizes).await?);
    }
    env.seq.close().await;
    env.par.close().await;
    Ok(figures)
}
