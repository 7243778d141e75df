//! The `es` binary: its command line and how each command runs.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::error::{CliError, Exit};
use crate::{backend, cmd, db};

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
    #[arg(long, default_value = es_postgres::DEFAULT_SCHEMA, global = true, value_parser = crate::parse_schema)]
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
    /// Projection checkpoints: list them, reset one, or rebuild one as far as es can.
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
    /// What es can do of a rebuild without the projection's code: delete its checkpoint and
    /// dead letters (refused while a runner holds the lease). es cannot clear the read model
    /// or replay into it: the replay happens when the application's runner next starts, over
    /// whatever the read model holds. An admin tool built with es_cli::Tool
    /// (`<app>-admin rebuild NAME`) does the whole rebuild: empties the read model, replays, and
    /// shows progress.
    Rebuild {
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
            ProjectionsCommand::Reset { name } => {
                cmd::projections::reset(store, &name, cmd::projections::Then::Reset).await?;
            }
            ProjectionsCommand::Rebuild { name } => {
                cmd::projections::reset(store, &name, cmd::projections::Then::Rebuild).await?;
            }
        },
    }
    Ok(Exit0::Ok)
}

/// How a command that did not fail ends.
enum Exit0 {
    Ok,
    Findings,
}

/// The `es` binary's `main`: parses the command line, runs the command,
/// prints its result or its one-line error.
pub(crate) fn main() -> ExitCode {
    // Parse first: `--help`, `--version` and usage errors (exit 2) need no runtime.
    let cli = Cli::parse();
    crate::init_logging();
    crate::block_on(run(cli), |done| match done {
        Exit0::Ok => ExitCode::SUCCESS,
        Exit0::Findings => ExitCode::from(Exit::Findings as u8),
    })
}
