//! The bank example as a small command-line app on a persistent store: the
//! SQLite file `bank.db` in the working directory (`--db PATH` for another),
//! or PostgreSQL when `DATABASE_URL` is set. With no command it plays a
//! short scripted story.
//!
//! After every command the app catches up the `account_summary` document
//! projection on the framework's engine: it keeps one document per account
//! in the same database as the events, written in one transaction per batch
//! with the projection's checkpoint.
// A command-line app prints.
#![allow(clippy::print_stdout, clippy::print_stderr)]
// Amounts are in cents, written `dollars_cents` (100_00 is $100.00).
#![allow(clippy::inconsistent_digit_grouping)]

#[path = "../../common/backend.rs"]
#[allow(dead_code, unreachable_pub)]
mod backend;
#[path = "../../common/say.rs"]
mod say;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use backend::ExampleStore;
use bank::money::{self, format as usd};
use bank::{
    AccountError, AccountEvent, AccountSummary, BankAccount, CloseAccount, Deposit, OpenAccount,
    SetOverdraftLimit, Withdraw,
};
use clap::{Parser, Subcommand};
use es_core::consumer::Engine;
use es_core::document::{DocumentBackend, DocumentProjection, Documents, Filter};
use es_core::{At, Event, RepositoryError, StreamEnd, Timestamp};

/// A bank account, event-sourced: every change is an event in the store.
#[derive(Debug, Parser)]
#[command(name = "bank", version)]
struct Cli {
    /// The SQLite file of the events and the read model (unused when
    /// DATABASE_URL is set).
    #[arg(long, global = true, value_name = "PATH", default_value = "bank.db")]
    db: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Clone, Subcommand)]
enum Command {
    /// Opens an account with an initial deposit.
    Open {
        /// The account id.
        id: String,
        /// Who owns it.
        owner: String,
        /// The first deposit in dollars, like 100.00.
        #[arg(value_parser = money::parse)]
        initial: i64,
    },
    /// Deposits money.
    Deposit {
        /// The account id.
        id: String,
        /// In dollars, like 12.50.
        #[arg(value_parser = money::parse)]
        amount: i64,
        /// What it is for.
        description: Option<String>,
    },
    /// Withdraws money, within the overdraft limit.
    Withdraw {
        /// The account id.
        id: String,
        /// In dollars, like 12.50.
        #[arg(value_parser = money::parse)]
        amount: i64,
        /// What it is for.
        description: Option<String>,
    },
    /// Sets how far below zero the balance may go.
    Overdraft {
        /// The account id.
        id: String,
        /// In dollars, like 50.00.
        #[arg(value_parser = money::parse)]
        limit: i64,
    },
    /// Closes an account (its balance must be zero).
    Close {
        /// The account id.
        id: String,
    },
    /// Shows an account's current state.
    Show {
        /// The account id.
        id: String,
    },
    /// Lists an account's events: version, time, type, payload.
    History {
        /// The account id.
        id: String,
    },
    /// Shows an account as it was at a version or a time.
    AsOf {
        /// The account id.
        id: String,
        /// The stream version.
        #[arg(long, conflicts_with = "time", required_unless_present = "time")]
        version: Option<u64>,
        /// An RFC 3339 time, like 2025-01-31T12:00:00Z.
        #[arg(long, value_parser = parse_time)]
        time: Option<Timestamp>,
    },
    /// The account_summary read model: balances, open or closed,
    /// transactions, last transaction time.
    Summary {
        /// Only this owner's accounts.
        #[arg(long)]
        owner: Option<String>,
    },
}

fn parse_time(text: &str) -> Result<Timestamp, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .map_err(|e| format!("`{text}` is not an RFC 3339 time ({e}); try 2025-01-31T12:00:00Z"))
}

/// A failure the user sees as one line.
#[derive(Debug, thiserror::Error)]
enum AppError {
    /// The bank refused the command.
    #[error("{0}")]
    Refused(String),
    /// Anything else.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match start(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(AppError::Refused(why)) => {
            eprintln!("refused: {why}");
            ExitCode::FAILURE
        }
        Err(AppError::Other(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn start(cli: Cli) -> Result<(), AppError> {
    if let Some(url) = backend::database_url() {
        let store = backend::open_postgres(&url).await?;
        let app = App::new(store, "PostgreSQL (DATABASE_URL)".to_owned()).await?;
        app.run(cli.command).await
    } else {
        let store = backend::open_sqlite(&cli.db).await?;
        let app = App::new(store.clone(), format!("SQLite file {}", cli.db.display())).await?;
        let result = app.run(cli.command).await;
        store.close().await;
        result
    }
}

/// The engine running the `account_summary` documents on store `S`.
type SummaryEngine<S> = Engine<S, DocumentProjection<AccountSummary, S>>;

struct App<S: ExampleStore + DocumentBackend> {
    store: S,
    accounts: es_core::Repository<BankAccount, S>,
    /// The framework's engine running `account_summary` on this store.
    summary: tokio::sync::Mutex<SummaryEngine<S>>,
}

impl<S: ExampleStore + DocumentBackend> App<S> {
    async fn new(store: S, name: String) -> anyhow::Result<Self> {
        say!("Store: {name}");
        let accounts = es_core::Repository::new(store.clone()).retry_on_conflict(3);
        let engine = Engine::new(store.clone(), DocumentProjection::new(store.clone()));
        let summary = tokio::sync::Mutex::new(engine);
        Ok(Self {
            store,
            accounts,
            summary,
        })
    }

    async fn run(&self, command: Option<Command>) -> Result<(), AppError> {
        let Some(command) = command else {
            return self.story().await;
        };
        match command {
            Command::Open { id, owner, initial } => {
                let done = self
                    .exec(
                        &id,
                        OpenAccount {
                            owner_id: owner.clone(),
                            initial_deposit: initial,
                        },
                    )
                    .await?;
                say!(
                    "opened {id} for {owner} with {} (version {})",
                    usd(initial),
                    done.version
                );
            }
            Command::Deposit {
                id,
                amount,
                description,
            } => {
                let description = description.unwrap_or_default();
                let done = self
                    .exec(
                        &id,
                        Deposit {
                            amount,
                            description: description.clone(),
                        },
                    )
                    .await?;
                say!(
                    "deposited {}{} into {id}: balance {} (version {})",
                    usd(amount),
                    label(&description),
                    usd(done.state.balance),
                    done.version
                );
            }
            Command::Withdraw {
                id,
                amount,
                description,
            } => {
                let description = description.unwrap_or_default();
                let done = self
                    .exec(
                        &id,
                        Withdraw {
                            amount,
                            description: description.clone(),
                        },
                    )
                    .await?;
                say!(
                    "withdrew {}{} from {id}: balance {} (version {})",
                    usd(amount),
                    label(&description),
                    usd(done.state.balance),
                    done.version
                );
            }
            Command::Overdraft { id, limit } => {
                let done = self.exec(&id, SetOverdraftLimit { limit }).await?;
                say!(
                    "overdraft limit of {id} is {} (version {})",
                    usd(limit),
                    done.version
                );
            }
            Command::Close { id } => {
                let done = self.exec(&id, CloseAccount).await?;
                say!("closed {id} (version {})", done.version);
            }
            Command::Show { id } => {
                let now = self.accounts.load(&id).await.map_err(anyhow::Error::from)?;
                let now = now.ok_or_else(|| no_account(&id))?;
                say!("{}", describe(&id, &now.state, now.version));
            }
            Command::History { id } => self.history(&id).await?,
            Command::AsOf { id, version, time } => {
                let (at, when) = match (version, time) {
                    (Some(v), _) => (At::Version(v), format!("version {v}")),
                    (None, Some(t)) => (At::Time(t), t.to_rfc3339()),
                    (None, None) => unreachable!("clap requires --version or --time"),
                };
                let then = self
                    .accounts
                    .load_at(&id, at)
                    .await
                    .map_err(anyhow::Error::from)?;
                match then {
                    Some(then) => {
                        say!("as of {when}: {}", describe(&id, &then.state, then.version))
                    }
                    None => {
                        return Err(AppError::Refused(format!(
                            "account {id} did not exist as of {when}"
                        )));
                    }
                }
            }
            Command::Summary { owner } => self.summary(owner.as_deref()).await?,
        }
        Ok(())
    }

    /// Executes a command and brings the read model up to date.
    async fn exec<C>(
        &self,
        id: &str,
        command: C,
    ) -> Result<es_core::Executed<BankAccount>, AppError>
    where
        BankAccount: es_core::Handle<C, Error = AccountError>,
        C: Clone + Send,
    {
        let done = self
            .accounts
            .execute(id, command)
            .await
            .map_err(|e| refusal(id, e))?;
        self.project().await?;
        Ok(done)
    }

    /// Catches the account_summary projection up; its checkpoint.
    async fn project(&self) -> anyhow::Result<u64> {
        let mut engine = self.summary.lock().await;
        engine.catch_up().await?;
        Ok(engine.status().await?.position)
    }

    async fn history(&self, id: &str) -> Result<(), AppError> {
        let stream = self.accounts.stream_id(id).map_err(anyhow::Error::from)?;
        let mut from = 1;
        let mut any = false;
        loop {
            let events = self
                .store
                .read_stream(&stream, from, StreamEnd::Head, 500)
                .await
                .map_err(anyhow::Error::from)?;
            for e in &events {
                any = true;
                let payload = String::from_utf8_lossy(&e.payload);
                say!(
                    "v{:<3} {}  {} (schema v{})  {payload}",
                    e.stream_version,
                    e.recorded_at.format("%Y-%m-%d %H:%M:%S%.3f UTC"),
                    e.event_type,
                    e.schema_version
                );
                // The event as this code reads it, after upcasting.
                if let Ok(decoded) =
                    AccountEvent::decode(&e.event_type, e.schema_version, &e.payload)
                    && decoded.schema_version() != e.schema_version
                {
                    say!(
                        "      upcast to schema v{}: {decoded:?}",
                        decoded.schema_version()
                    );
                }
            }
            match events.last() {
                Some(last) if events.len() == 500 => from = last.stream_version + 1,
                _ => break,
            }
        }
        if !any {
            return Err(no_account(id));
        }
        Ok(())
    }

    async fn summary(&self, owner: Option<&str>) -> Result<(), AppError> {
        let checkpoint = self.project().await?;
        let rows = accounts(&self.store, owner)
            .await
            .context("reading account_summary")?;
        say!(
            "account_summary ({} read model, up to position {checkpoint}){}:",
            self.store.describe(),
            owner.map(|o| format!(", owner {o}")).unwrap_or_default()
        );
        print_summary(&rows);
        Ok(())
    }

    /// The scripted story: a fresh account each run, so it runs again and again.
    async fn story(&self) -> Result<(), AppError> {
        let suffix = uuid::Uuid::now_v7().simple().to_string();
        let id = format!("alice-{}", &suffix[suffix.len() - 6..]);
        let id = id.as_str();
        self.exec(
            id,
            OpenAccount {
                owner_id: "alice".into(),
                initial_deposit: 100_00,
            },
        )
        .await?;
        say!("opened {id} for alice with $100.00");
        self.exec(
            id,
            Deposit {
                amount: 25_00,
                description: "birthday".into(),
            },
        )
        .await?;
        say!("deposited $25.00 (birthday)");
        self.exec(id, SetOverdraftLimit { limit: 50_00 }).await?;
        say!("set the overdraft limit to $50.00");
        let done = self
            .exec(
                id,
                Withdraw {
                    amount: 160_00,
                    description: "rent".into(),
                },
            )
            .await?;
        say!(
            "withdrew $160.00 (rent): balance {}",
            usd(done.state.balance)
        );
        match self
            .exec(
                id,
                Withdraw {
                    amount: 20_00,
                    description: "concert".into(),
                },
            )
            .await
        {
            Err(AppError::Refused(why)) => say!("withdraw $20.00 refused: {why}"),
            Err(e) => return Err(e),
            Ok(_) => return Err(anyhow::anyhow!("the overdraft limit did not hold").into()),
        }
        match self.exec(id, CloseAccount).await {
            Err(AppError::Refused(why)) => say!("close refused: {why}"),
            Err(e) => return Err(e),
            Ok(_) => return Err(anyhow::anyhow!("closed an account with a debt").into()),
        }
        self.exec(
            id,
            Deposit {
                amount: 35_00,
                description: "salary".into(),
            },
        )
        .await?;
        let closed = self.exec(id, CloseAccount).await?;
        say!(
            "deposited $35.00 (salary) and closed the account at version {}",
            closed.version
        );
        let then = self
            .accounts
            .load_at(id, At::Version(2))
            .await
            .map_err(anyhow::Error::from)?
            .context("version 2 exists")?;
        say!(
            "as of version 2 the balance was {}",
            usd(then.state.balance)
        );
        let now = self
            .accounts
            .load(id)
            .await
            .map_err(anyhow::Error::from)?
            .context("the account exists")?;
        say!("now: {}", describe(id, &now.state, now.version));
        say!();
        self.summary(Some("alice")).await?;
        say!();
        say!("Try: cargo run -p bank -- history {id}");
        Ok(())
    }
}

fn label(description: &str) -> String {
    if description.is_empty() {
        String::new()
    } else {
        format!(" ({description})")
    }
}

fn no_account(id: &str) -> AppError {
    AppError::Refused(format!("there is no account {id}"))
}

/// A command's failure: the domain's refusal in dollars, or the store's error.
fn refusal(id: &str, e: RepositoryError<AccountError>) -> AppError {
    match e.rejection() {
        Some(why) => AppError::Refused(explain(id, why)),
        None => AppError::Other(e.into()),
    }
}

fn explain(id: &str, e: &AccountError) -> String {
    match e {
        AccountError::AlreadyOpen => format!("account {id} already exists"),
        AccountError::NotOpen => format!("there is no account {id}"),
        AccountError::Closed => format!("account {id} is closed"),
        AccountError::NonPositiveAmount(a) => format!("amounts must be positive, got {}", usd(*a)),
        AccountError::Negative { what, value } => {
            format!("{what} cannot be negative, got {}", usd(*value))
        }
        AccountError::InsufficientFunds { balance, requested } => format!(
            "insufficient funds in {id}: balance {}, requested {}",
            usd(*balance),
            usd(*requested)
        ),
        AccountError::NonZeroBalance(b) => {
            format!(
                "the balance of {id} must be zero to close it, it is {}",
                usd(*b)
            )
        }
    }
}

fn describe(id: &str, a: &BankAccount, version: u64) -> String {
    let state = if a.closed {
        "closed"
    } else if a.open {
        "open"
    } else {
        "not open"
    };
    format!(
        "{id} (owner {}): balance {}, overdraft limit {}, {state}, version {version}",
        a.owner_id,
        usd(a.balance),
        usd(a.overdraft_limit)
    )
}

/// Every account, or one owner's, in account id order (pages of 100).
async fn accounts<S: DocumentBackend>(
    store: &S,
    owner: Option<&str>,
) -> anyhow::Result<Vec<(String, AccountSummary)>> {
    let summaries = Documents::<AccountSummary, S>::new(store.clone());
    let mut rows: Vec<(String, AccountSummary)> = Vec::new();
    loop {
        let mut page = Filter::new().limit(100);
        if let Some(owner) = owner {
            page = page.eq("owner_id", owner);
        }
        if let Some((last, _)) = rows.last() {
            page = page.after(last.clone());
        }
        let found = summaries.filter(&page).await?;
        if found.is_empty() {
            return Ok(rows);
        }
        rows.extend(found);
    }
}

fn print_summary(rows: &[(String, AccountSummary)]) {
    if rows.is_empty() {
        say!("  (no accounts)");
        return;
    }
    say!(
        "  {:<18} {:<10} {:>12}  {:<6} {:>4}  last transaction",
        "account",
        "owner",
        "balance",
        "state",
        "txns"
    );
    for (account_id, r) in rows {
        say!(
            "  {:<18} {:<10} {:>12}  {:<6} {:>4}  {}",
            account_id,
            r.owner_id,
            usd(r.balance),
            if r.open { "open" } else { "closed" },
            r.transactions,
            r.last_transaction_at.map_or_else(
                || "-".to_owned(),
                |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
            )
        );
    }
}
