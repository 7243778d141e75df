//! The `es` command-line tool, and [`Tool`]: an admin binary an application
//! builds from its own event types, aggregates and projections.
//!
//! `es` knows the store's tables but not the application's types; a
//! [`Tool`] knows both, so it can answer questions only the application's
//! code can:
//!
//! | subcommand | question | needs |
//! |---|---|---|
//! | `check` | will this build read all of our history? | [`Tool::events`] |
//! | `validate` | do these event files read with this build? (no database) | [`Tool::events`] |
//! | `inspect` | what was this aggregate after each event, and what did each change? | [`Tool::aggregate`] |
//! | `rebuild` | empty this read model and replay its events into it | [`Tool::projection`] |
//! | `status` | where is each projection: checkpoint, lag, dead letters, runner? | [`Tool::projection`] |
//! | `schema` | what JSON Schema does each event type have? (no database) | [`Tool::events`], feature `schema` |
//!
//! See [`Tool`] for an example and the exit codes (those of `es`).
//!
//! # Features
//!
//! - `schema`: the admin tool's `schema` subcommand (turns on es-core's
//!   feature `schema`, which uses schemars); the event structs derive
//!   `schemars::JsonSchema` beside `es_core::Event`.

mod backend;
mod cmd;
mod db;
mod error;
mod es;
mod out;
mod tool;

use std::future::Future;
use std::process::ExitCode;

pub use tool::Tool;

use crate::error::{CliError, Exit};

/// The `es` binary's `main` (its `src/main.rs` calls this); not an API.
#[doc(hidden)]
pub fn es_main() -> ExitCode {
    es::main()
}

/// Validates `--schema` (PostgreSQL identifier rules of `es-postgres`).
pub(crate) fn parse_schema(s: &str) -> Result<String, String> {
    es_postgres::PgEventStore::builder()
        .schema(s)
        .map(|_| s.to_owned())
        .map_err(|e| e.to_string())
}

/// Logs to stderr, `warn` and above unless `RUST_LOG` says otherwise.
pub(crate) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Runs a command on a new runtime; prints its error (one line) and turns
/// the outcome into the exit code (`done` maps a success).
pub(crate) fn block_on<T>(
    work: impl Future<Output = Result<T, CliError>>,
    done: impl FnOnce(T) -> ExitCode,
) -> ExitCode {
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
    let result = runtime.block_on(work);
    // Do not wait for idle pool connections to say goodbye.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(value) => done(value),
        Err(e) => {
            out::error(&e);
            ExitCode::from(e.exit as u8)
        }
    }
}
