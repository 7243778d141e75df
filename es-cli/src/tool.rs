//! [`Tool`]: an admin binary made from the application's own event types.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use es_core::{Aggregate, DecodeError, Event, EventRegistry};
use es_postgres::PgProjection;
use es_sqlite::SqliteProjection;

use crate::cmd::check::{self, CheckArgs, Registered};
use crate::cmd::inspect::{self, InspectArgs, RegisteredAggregate};
use crate::cmd::rebuild::{self, RebuildArgs, RegisteredProjection, StatusArgs};
use crate::cmd::schema::{self, SchemaArgs};
use crate::cmd::validate::{self, ValidateArgs};
use crate::error::{CliError, Exit};
use crate::{backend, db, out};

const EXIT_CODES: &str = "\
Exit codes:
  0    success (check, validate: every event decodes)
  1    check or validate found events this build cannot read (validate: or a file
       that is not valid JSON); inspect met an event it cannot decode
  2    usage error
  3    connection or configuration error (bad URL, unreachable server, failed login,
       missing database or SQLite file, schema never migrated; --schema on an SQLite file;
       nothing registered for the subcommand); validate: the path does not exist or
       cannot be read
  4    not found (unknown stream, or inspect --at past its end; unknown projection)
  5    any other failure (rebuild: a runner holds the projection's lease, a handler failed)

Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=debug) to see more.";

/// An admin command-line tool that knows the application's event types,
/// aggregates and projections.
///
/// Register what the application has: each event enum (or event struct)
/// it stores with [`Tool::events`], its aggregates with
/// [`Tool::aggregate`], its projections with [`Tool::projection`]; then
/// [`Tool::run`] parses the command line and runs the subcommand against
/// the store named by `--database-url` or `DATABASE_URL` (`postgres://…`
/// or `sqlite:FILE`, as `es` takes them).
///
/// Subcommands:
///
/// - `check [--types T,U] [--after POSITION] [--json]`: decodes every stored
///   event (or those of the given types, or those after a global position)
///   with the registered types, through their upcasters, and lists each
///   event this build cannot read: its position, stream, version, type,
///   schema version and why. Exits with 1 when any fails, 0 when all
///   decode: the check to run before deploying a build.
/// - `validate FILE|DIR [--json]`: checks event JSON files with the
///   registered types, without a database (`--database-url` is not needed).
///   A file holds one event object, a JSON array of them, or JSON lines;
///   each event is `{"type": …, "schema_version": …, "data": …}` (`event_type`
///   and `payload` are read too; without `schema_version` the type's current
///   version is assumed). A directory means its `*.json` and `*.jsonl` files,
///   not its subdirectories, in name order (none: a warning, not a failure). Each event must have a known type
///   (name or alias), a schema version not newer than the code's, and data
///   that decodes through the upcasters. Each failure is listed with its file
///   and the line where its object starts (a file that is not valid JSON is
///   one failure, at the line and column where the JSON breaks), then the
///   counts. Exits 1 when anything fails, 0 when all decode, 3 when the path
///   does not exist.
/// - `inspect STREAM [--at VERSION|TIME] [--json]`: replays one stream of a
///   registered aggregate (its events decoded through their upcasters, then
///   its `Apply` impls) and prints, for each event, what it changed in the
///   serialized state (`~ balance: 100 -> 150`, `+ lines[1]: {…}`,
///   `- note: "x"`) and the state after it, ending at the stream version or
///   the last event recorded at or before the RFC 3339 time `--at` names
///   (default: the last event). STREAM is the full stream id
///   (`BankAccount-acc-1`), or only the id (`acc-1`) when one aggregate is
///   registered. An unknown stream, a version past its end or a time before
///   its first event exits with 4; an event the build cannot decode, with 1.
/// - `rebuild NAME [--json]`: empties a registered projection's read model
///   (its `reset` hook), clears its dead letters and replays every event of
///   its types into it with the store's own projection runner, showing a
///   progress bar on a terminal (events done, rate, ETA); then prints how
///   many events it replayed, the checkpoint and the lag. Refused (exit 5)
///   while a runner holds the projection's lease; an unknown name exits 4.
/// - `status [--json]`: each registered projection's checkpoint, lag (the
///   events of its own types after the checkpoint), dead letters, and
///   whether a runner holds its lease (or has never started). A projection
///   run in partitions (its count recorded as `{name}#partitions`) shows a
///   row per partition instead, `{name}#{p}/{n}`, with that partition's
///   checkpoint and lag (the events of its own streams).
///
/// Exit codes are those of `es`: 0 success, 1 findings, 2 usage error,
/// 3 connection or configuration error (or a missing `validate` path, or
/// nothing registered for the subcommand), 4 not found (a stream or a
/// projection), 5 any other failure.
///
/// ```no_run
/// // src/bin/bank-admin.rs, beside the application's types
/// # mod bank {
/// #     use es_core::{Aggregate, Apply, Event, Projection, Recorded};
/// #     use es_core::projection::{HandlerError, On};
/// #     use serde::{Deserialize, Serialize};
/// #     #[derive(Debug, Serialize, Deserialize, Event)]
/// #     pub struct AccountOpened { pub owner_id: String }
/// #     #[derive(Debug, Event)]
/// #     pub enum AccountEvent { Opened(AccountOpened) }
/// #     #[derive(Debug, Default, Serialize, Deserialize, Aggregate)]
/// #     #[aggregate(name = "BankAccount", event = AccountEvent, snapshot_version = 1)]
/// #     pub struct BankAccount { owner_id: String }
/// #     impl Apply<AccountOpened> for BankAccount {
/// #         fn apply(&mut self, e: &AccountOpened) { self.owner_id = e.owner_id.clone() }
/// #     }
/// #     #[derive(Default, Projection)]
/// #     #[projection(name = "account_summary", events(AccountOpened))]
/// #     pub struct AccountSummary;
/// #     impl<C: Send> On<AccountOpened, C> for AccountSummary {
/// #         async fn on(&mut self, _: Recorded<AccountOpened>, _: &mut C) -> Result<(), HandlerError> { Ok(()) }
/// #     }
/// #     impl es_postgres::PgProjection for AccountSummary {}
/// #     impl es_sqlite::SqliteProjection for AccountSummary {}
/// # }
/// fn main() -> std::process::ExitCode {
///     es_cli::Tool::new("bank-admin")
///         .events::<bank::AccountEvent>()
///         .aggregate::<bank::BankAccount>()
///         .projection::<bank::AccountSummary>()
///         .run()
/// }
/// ```
///
/// ```text
/// $ bank-admin --database-url sqlite:bank.db check
/// $ bank-admin validate fixtures/events/
/// $ bank-admin --database-url sqlite:bank.db inspect acc-1 --at 3
/// $ bank-admin --database-url sqlite:bank.db rebuild account_summary
/// $ bank-admin --database-url sqlite:bank.db status --json
/// ```
#[derive(Debug, Clone)]
pub struct Tool {
    name: String,
    types: Vec<Registered>,
    aggregates: Vec<RegisteredAggregate>,
    projections: Vec<RegisteredProjection>,
}

fn decode_as<E: Event>(
    event_type: &str,
    schema_version: u32,
    payload: &[u8],
) -> Result<(), DecodeError> {
    E::decode(event_type, schema_version, payload).map(drop)
}

#[derive(Debug, Parser)]
struct AdminCli {
    /// PostgreSQL URL, e.g. postgres://user:password@127.0.0.1:5432/app
    /// (add ?sslmode=require or ?sslmode=verify-full&sslrootcert=ca.pem for TLS),
    /// or an SQLite file: sqlite:bank.db, sqlite:///abs/path.db, or the path of an
    /// existing file.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,

    /// The schema the event store's tables live in (PostgreSQL only).
    #[arg(long, default_value = es_postgres::DEFAULT_SCHEMA, global = true, value_parser = crate::parse_schema)]
    schema: String,

    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Decode every stored event with this build's types (through their upcasters) and list
    /// those it cannot read; exits 1 when any fails.
    Check(CheckArgs),
    /// Check event JSON files (one event, an array, or JSON lines; a directory: its *.json and
    /// *.jsonl files) with this build's types, without a database; exits 1 when any fails.
    Validate(ValidateArgs),
    /// An aggregate's state after each event of one stream, and what each event changed,
    /// up to a version or a time.
    Inspect(InspectArgs),
    /// Empty a projection's read model and replay every event of its types into it
    /// (with a progress bar on a terminal).
    Rebuild(RebuildArgs),
    /// Each registered projection's checkpoint, lag, dead letters, and whether a runner is on.
    Status(StatusArgs),
    /// The JSON Schema of each registered event type at its current version (or of one), on
    /// stdout or one file per type; no database. Needs es-cli's feature `schema`.
    Schema(SchemaArgs),
}

impl Tool {
    /// A tool named `name` (its binary's name, shown in `--help` and in
    /// error lines), with no event types yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            types: Vec::new(),
            aggregates: Vec::new(),
            projections: Vec::new(),
        }
    }

    /// Registers an event type (usually an aggregate's event enum): its
    /// names and aliases ([`Event::EVENT_TYPES`]) and its decoding, with
    /// the upcasters of older schema versions. A stored type name that
    /// several registered types know is decoded by the first registered.
    #[must_use]
    pub fn events<E: Event>(mut self) -> Self {
        self.types.push(Registered {
            registry: EventRegistry::of::<E>(),
            decode: decode_as::<E>,
            #[cfg(feature = "schema")]
            schemas: E::event_schemas,
        });
        self
    }

    /// Registers an aggregate for `inspect`: its streams are
    /// `{A::NAME}-{id}`, its events decode as `A::Event` (through their
    /// upcasters) and its state is replayed with its `Apply` impls and
    /// serialized with its `Serialize` impl to show what each event changed.
    #[must_use]
    pub fn aggregate<A: Aggregate>(mut self) -> Self {
        self.aggregates.push(RegisteredAggregate::of::<A>());
        self
    }

    /// Registers a projection for `rebuild` and `status`, runnable on
    /// whichever store `--database-url` names when the tool runs.
    ///
    /// The store is chosen at run time, so the projection must run on both:
    /// it implements [`PgProjection`] and [`SqliteProjection`] (the usual
    /// shape when its handlers are generic over the connection, as the bank
    /// example's `AccountSummary` is), and the tool makes it with
    /// [`Default`] each time it needs a runner. This one bound keeps the
    /// registration one line with no store named; a projection written for
    /// one store only can implement the other trait with handlers that
    /// return an error.
    #[must_use]
    pub fn projection<P>(mut self) -> Self
    where
        P: PgProjection + SqliteProjection + Default + Send + Sync + 'static,
    {
        self.projections.push(RegisteredProjection::of::<P>());
        self
    }

    /// Registers a [document projection](es_core::document) for `rebuild`
    /// and `status`, beside the projections: `rebuild NAME` empties its
    /// documents and replays every event of its types into them, on
    /// whichever store `--database-url` names (every store keeps
    /// documents, so nothing more is asked of `D`).
    ///
    /// ```no_run
    /// # use es_core::document::{Document, DocumentState, Evolve};
    /// # use es_core::{Event, Recorded};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Debug, Serialize, Deserialize, Event)] struct AccountOpened { owner_id: String }
    /// #[derive(Debug, Default, Serialize, Deserialize, Document)]
    /// #[document(name = "account_summary", events(AccountOpened), index(owner_id))]
    /// struct AccountSummary { owner_id: String }
    /// # impl Evolve<AccountOpened> for AccountSummary {
    /// #     fn evolve(&mut self, e: &Recorded<AccountOpened>, _: &mut DocumentState) {} }
    ///
    /// es_cli::Tool::new("bank-admin")
    ///     .events::<AccountOpened>()
    ///     .document::<AccountSummary>()   // bank-admin rebuild account_summary
    ///     .run();
    /// ```
    #[must_use]
    pub fn document<D: es_core::document::Document>(mut self) -> Self {
        self.projections.push(RegisteredProjection::document::<D>());
        self
    }

    /// Parses the process's command line, runs the subcommand, and returns
    /// the exit code. Results go to stdout, a one-line error to stderr.
    pub fn run(self) -> ExitCode {
        self.run_from(std::env::args_os())
    }

    /// [`Tool::run`] with the given arguments (the first is the program).
    pub fn run_from<I, T>(self, args: I) -> ExitCode
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        out::set_program(&self.name);
        let command = AdminCli::command()
            .name(self.name.clone())
            .bin_name(self.name.clone())
            .about(format!(
                "Admin tool of {}: questions about an event store that need the application's types.",
                self.name
            ))
            .after_help(EXIT_CODES);
        let cli = match command
            .try_get_matches_from(args)
            .and_then(|m| AdminCli::from_arg_matches(&m))
        {
            Ok(cli) => cli,
            // `--help` (exit 0) or a usage error (exit 2), printed as clap does.
            Err(e) => {
                let _ = e.print();
                return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
            }
        };
        crate::init_logging();
        crate::block_on(self.execute(cli), |found| {
            if found {
                ExitCode::from(Exit::Findings as u8)
            } else {
                ExitCode::SUCCESS
            }
        })
    }

    /// Runs the command; `Ok(true)` when it found something (exit 1).
    async fn execute(&self, cli: AdminCli) -> Result<bool, CliError> {
        // Files and types only: no database.
        match &cli.command {
            AdminCommand::Validate(args) => return validate::run(&self.types, args),
            AdminCommand::Schema(args) => return schema::run(&self.types, args).map(|()| false),
            _ => {}
        }
        let target = db::parse_url(cli.database_url.as_deref())?;
        let store = db::connect(&target, &cli.schema, 2, db::Create::No).await?;
        let result = async {
            backend::require_migrated(&store).await?;
            self.execute_on(&store, &cli.command).await
        }
        .await;
        store.close().await;
        result
    }

    /// Runs a command that reads the store.
    async fn execute_on(
        &self,
        store: &db::Store,
        command: &AdminCommand,
    ) -> Result<bool, CliError> {
        match command {
            AdminCommand::Check(args) => return check::run(store, &self.types, args).await,
            AdminCommand::Inspect(args) => inspect::run(store, &self.aggregates, args).await?,
            AdminCommand::Rebuild(args) => rebuild::rebuild(store, &self.projections, args).await?,
            AdminCommand::Status(args) => rebuild::status(store, &self.projections, args).await?,
            // Handled by `execute` before a store is opened.
            AdminCommand::Validate(_) | AdminCommand::Schema(_) => {}
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use std::process::ExitCode;

    use super::Tool;

    #[test]
    fn usage_errors_exit_2_and_help_exits_0_without_touching_a_store() {
        let run = |args: &[&str]| Tool::new("demo-admin").run_from(args.iter().copied());
        assert_eq!(
            run(&["demo-admin", "check", "--after", "x"]),
            ExitCode::from(2)
        );
        assert_eq!(run(&["demo-admin", "nope"]), ExitCode::from(2));
        assert_eq!(run(&["demo-admin", "check", "--help"]), ExitCode::SUCCESS);
        assert_eq!(run(&["demo-admin", "validate"]), ExitCode::from(2));
    }

    #[test]
    fn schema_without_schemas_is_a_configuration_error() {
        // Without the feature `schema`: how to turn it on; with it: no
        // registered type has a schema. Either way exit 3, no database.
        let run = |args: &[&str]| Tool::new("demo-admin").run_from(args.iter().copied());
        assert_eq!(run(&["demo-admin", "schema"]), ExitCode::from(3));
    }

    #[test]
    fn validate_needs_no_database_and_a_missing_path_exits_3() {
        let run = |args: &[&str]| Tool::new("demo-admin").run_from(args.iter().copied());
        let dir = std::env::temp_dir().join("es-cli-validate-no-such-path");
        let missing = dir.to_string_lossy().into_owned();
        assert_eq!(
            run(&["demo-admin", "validate", &missing]),
            ExitCode::from(3)
        );
    }
}
