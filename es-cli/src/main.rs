//! `es`: the command-line tool of the event-sourcing framework. It inspects,
//! lints and benchmarks an event store: a PostgreSQL schema (the tables of
//! `es-postgres`) or an SQLite file (the tables of `es-sqlite`), with the
//! same output, `--json` and exit codes on both.
//!
//! ```text
//! es --database-url postgres://postgres@127.0.0.1:5432/app migrate
//! es --database-url sqlite:bank.db stats
//! es stats [--json]
//! es stream ID [--from N] [--until-version N | --until TIME] [--json]
//! es lint [--json] [--max-payload-bytes N]
//! es bench [--events N] [--streams M] [--concurrency C] [--batch B] [--json]
//! es projections list [--json]
//! es projections reset NAME
//! ```
//!
//! The URL comes from `--database-url` or `DATABASE_URL`:
//! `postgres://…` (TLS by its `sslmode`: `require`, `verify-full` with
//! `sslrootcert=…`; the schema from `--schema`, default `es`), or
//! `sqlite:PATH` / `sqlite://PATH` / the plain path of an existing file.
//! Only `migrate` creates a missing SQLite file (from a `sqlite:` URL);
//! every other command fails with exit code 3 instead. `bench` writes a
//! throwaway schema (PostgreSQL) or file beside the named one (SQLite), and
//! removes it afterwards. Results go to stdout, errors (one line, `es: error: …`)
//! and logs (`RUST_LOG=debug`) to stderr.
//!
//! # Exit codes
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (`lint`: nothing found) |
//! | 1 | `lint` found something |
//! | 2 | usage error (bad arguments; clap's own code) |
//! | 3 | connection or configuration error: bad URL, unreachable server, failed login, missing database, schema never migrated; a missing or non-SQLite file; `--schema` on SQLite |
//! | 4 | not found: unknown stream or projection |
//! | 5 | any other failure (a database error, a failed benchmark) |
//! | 130 | interrupted (Ctrl-C); `bench` removes its throwaway schema or file first |

mod backend;
mod cmd;
mod db;
mod error;
mod out;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::error::{CliError, Exit};

const EXIT_CODES: &str = "\
Exit codes:
  0    success (lint: nothing found)
  1    lint found something
  2    usage error
  3    connection or configuration error (bad URL, unreachable server, failed login,
       missing database or SQLite file, schema never migrated: run `es migrate`;
       --schema on an SQLite file)
  4    not found (unknown stream or projection)
  5    any other failure
  130  interrupted (bench removes its throwaway schema or file first)

Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=debug) to see more.";

/// Inspect, lint and benchmark an event store on PostgreSQL or in an SQLite file.
#[derive(Debug, Parser)]
#[command(name = "es", version, after_help = EXIT_CODES, propagate_version = true)]
struct Cli {
    /// PostgreSQL URL, e.g. postgres://user:password@127.0.0.1:5432/app
    /// (add ?sslmode=require or ?sslmode=verify-full&sslrootcert=ca.pem for TLS),
    /// or an SQLite file: sqlite:bank.db, sqlite:///abs/path.db, or the path of an
    /// existing file. Only `migrate` creates a missing file (from a sqlite: URL).
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,

    /// The schema the event store's tables live in (PostgreSQL only).
    #[arg(long, default_value = es_postgres::DEFAULT_SCHEMA, global = true, value_parser = parse_schema)]
    schema: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the schema and its tables (SQLite: the file and its tables), or apply the migrations it lacks.
    Migrate,
    /// Counts: events, streams, per event type and aggregate type, bytes, oldest and newest, the longest streams.
    Stats(cmd::stats::StatsArgs),
    /// The events of one stream, readable or as JSON lines.
    Stream(cmd::stream::StreamArgs),
    /// Find event names that are not past tense, oversized payloads, version gaps; exits 1 when something is found.
    Lint(cmd::lint::LintArgs),
    /// Benchmark appends and reads in a throwaway schema (SQLite: a file beside the named one), removed afterwards.
    Bench(cmd::bench::BenchArgs),
    /// Projection checkpoints: list them or reset one.
    #[command(subcommand)]
    Projections(ProjectionsCommand),
}

#[derive(Debug, Subcommand)]
enum ProjectionsCommand {
    /// Each projection's checkpoint: position, lag (events after it), last update.
    List(JsonFlag),
    /// Delete a projection's checkpoint (and its dead letters) so its runner replays
    /// every event when it next starts. This plus restarting the application's
    /// runner is the rebuild: es cannot replay into a read model it does not know,
    /// and does not clear its tables. Refused while a runner holds the lease.
    Reset {
        /// The projection's name (as `projections list` shows it).
        name: String,
    },
}

#[derive(Debug, Args)]
struct JsonFlag {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn parse_schema(s: &str) -> Result<String, String> {
    es_postgres::PgEventStore::builder()
        .schema(s)
        .map(|_| s.to_owned())
        .map_err(|e| e.to_string())
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

async fn run(cli: Cli) -> Result<Exit0, CliError> {
    let target = db::parse_url(cli.database_url.as_deref())?;
    if let Command::Bench(args) = &cli.command {
        cmd::bench::run(&target, args).await?;
        return Ok(Exit0::Ok);
    }
    let create = if matches!(cli.command, Command::Migrate) {
        db::Create::Yes
    } else {
        db::Create::No
    };
    let store = db::connect(&target, &cli.schema, 2, create).await?;
    let result = run_on(&store, cli.command).await;
    store.close().await;
    result
}

/// Runs a command other than `bench` on the open store.
async fn run_on(store: &db::Store, command: Command) -> Result<Exit0, CliError> {
    if !matches!(command, Command::Migrate) {
        backend::require_migrated(store).await?;
    }
    match command {
        Command::Migrate => cmd::migrate::run(store).await?,
        Command::Stats(args) => cmd::stats::run(store, &args).await?,
        Command::Stream(args) => cmd::stream::run(store, &args).await?,
        Command::Lint(args) => {
            if cmd::lint::run(store, &args).await? {
                return Ok(Exit0::Findings);
            }
        }
        // Handled by `run` before a store is opened.
        Command::Bench(_) => {}
        Command::Projections(sub) => match sub {
            ProjectionsCommand::List(flag) => cmd::projections::list(store, flag.json).await?,
            ProjectionsCommand::Reset { name } => cmd::projections::reset(store, &name).await?,
        },
    }
    Ok(Exit0::Ok)
}

/// How a command that did not fail ends.
enum Exit0 {
    Ok,
    Findings,
}

fn main() -> ExitCode {
    // Parse first: `--help`, `--version` and usage errors (exit 2) need no runtime.
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            out::error(format!("cannot start the async runtime: {e}"));
            return ExitCode::from(Exit::Other as u8);
        }
    };
    let result = runtime.block_on(run(cli));
    // Do not wait for idle pool connections to say goodbye.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(Exit0::Ok) => ExitCode::SUCCESS,
        Ok(Exit0::Findings) => ExitCode::from(Exit::Findings as u8),
        Err(e) => {
            out::error(&e);
            ExitCode::from(e.exit as u8)
        }
    }
}
