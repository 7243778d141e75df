//! Connecting, and the checks every command makes before it reads.
//!
//! `--database-url` names one of two stores:
//!
//! - PostgreSQL: `postgres://…` or `postgresql://…` (the tables of
//!   `es-postgres` in `--schema`);
//! - SQLite: `sqlite:PATH`, `sqlite://PATH` (`sqlite:///abs/path` for an
//!   absolute path), or the plain path of an existing file (the tables of
//!   `es-sqlite`). Only `es migrate` creates a file, and only from a
//!   `sqlite:` URL; every other command needs the file to exist.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use es_postgres::PgEventStore;
use es_sqlite::{SqliteEventStore, SqlitePoolOptions};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

use crate::error::{CliError, START_A_SERVER, from_sqlx};

/// How long a first connection may take before the server counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The forms `--database-url` accepts, for error messages.
const URL_FORMS: &str = "expected postgres://[user[:password]@]host[:port]/database, \
     sqlite:PATH, or the path of an existing SQLite file";

/// Quotes an identifier for SQL text (schema names are validated by clap first).
pub(crate) fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// What `--database-url` names.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Postgres(Box<PgConnectOptions>),
    Sqlite(SqliteTarget),
}

/// An SQLite file named by `--database-url`.
#[derive(Debug, Clone)]
pub(crate) struct SqliteTarget {
    pub(crate) path: PathBuf,
    /// Named with a `sqlite:` URL (so `es migrate` may create it), not as
    /// a plain path.
    pub(crate) url: bool,
}

impl SqliteTarget {
    /// The URL to pass back to `es` in hints.
    pub(crate) fn url(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }
}

/// Parses the URL, without echoing it (it may hold a password).
pub(crate) fn parse_url(url: Option<&str>) -> Result<Target, CliError> {
    let Some(url) = url.filter(|u| !u.trim().is_empty()) else {
        return Err(CliError::config(
            "no database URL: pass --database-url postgres://user@host:5432/db (or sqlite:PATH) \
             or set DATABASE_URL",
        ));
    };
    if let Some(rest) = url.strip_prefix("sqlite:") {
        return parse_sqlite(rest).map(Target::Sqlite);
    }
    let scheme = url.split_once("://").map(|(s, _)| s);
    if scheme.is_none() && Path::new(url).is_file() {
        return Ok(Target::Sqlite(SqliteTarget {
            path: PathBuf::from(url),
            url: false,
        }));
    }
    if !matches!(scheme, Some("postgres" | "postgresql")) {
        let what = if scheme.is_none() {
            " (no file of that name exists; `es --database-url sqlite:PATH migrate` creates one)"
        } else {
            ""
        };
        return Err(CliError::config(format!(
            "invalid database URL: {URL_FORMS}{what}"
        )));
    }
    PgConnectOptions::from_str(url)
        .map(|o| Target::Postgres(Box::new(o.disable_statement_logging())))
        .map_err(|e| match e {
            sqlx::Error::Configuration(source) => CliError::config(format!(
                "invalid database URL ({source}): expected postgres://[user[:password]@]host[:port]/database"
            )),
            other => from_sqlx(&other),
        })
}

/// The part of a `sqlite:` URL after the scheme.
fn parse_sqlite(rest: &str) -> Result<SqliteTarget, CliError> {
    let path = rest.strip_prefix("//").unwrap_or(rest);
    if path.is_empty() {
        return Err(CliError::config(
            "invalid database URL: sqlite: names no file; expected sqlite:PATH, e.g. sqlite:bank.db",
        ));
    }
    if path == ":memory:" || path.starts_with(":memory:?") {
        return Err(CliError::config(
            "sqlite::memory: is a new, empty database that is gone when es exits; \
             pass the event store's file instead, e.g. --database-url sqlite:bank.db",
        ));
    }
    if path.contains('?') {
        return Err(CliError::config(
            "invalid database URL: es takes no parameters in a sqlite: URL (the part after `?`); \
             pass sqlite:PATH",
        ));
    }
    Ok(SqliteTarget {
        path: PathBuf::from(path),
        url: true,
    })
}

/// An open event store of either kind.
#[derive(Debug, Clone)]
pub(crate) enum Store {
    Postgres(PgEventStore),
    Sqlite(SqliteStore),
}

/// An SQLite event store and the file it is in.
#[derive(Debug, Clone)]
pub(crate) struct SqliteStore {
    pub(crate) store: SqliteEventStore,
    pub(crate) target: SqliteTarget,
    /// Whether the file existed before es opened it (`es migrate` creates it).
    pub(crate) existed: bool,
}

impl Store {
    /// The schema the tables are in: `--schema` on PostgreSQL, `main` (the
    /// only one) in an SQLite file.
    pub(crate) fn schema(&self) -> &str {
        match self {
            Self::Postgres(s) => s.schema(),
            Self::Sqlite(_) => "main",
        }
    }

    /// The SQLite file, for JSON output (`None` on PostgreSQL).
    pub(crate) fn database(&self) -> Option<String> {
        match self {
            Self::Postgres(_) => None,
            Self::Sqlite(s) => Some(s.target.path.display().to_string()),
        }
    }

    /// Where the events are, for messages: "schema `es`" or "database `bank.db`".
    pub(crate) fn place(&self) -> String {
        match self {
            Self::Postgres(s) => format!("schema `{}`", s.schema()),
            Self::Sqlite(s) => format!("database `{}`", s.target.path.display()),
        }
    }

    /// The label before the store's name in `es stats` (`schema`, `database`).
    pub(crate) fn place_kind(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "schema",
            Self::Sqlite(_) => "database",
        }
    }

    /// The place's name alone: the schema or the file.
    pub(crate) fn place_name(&self) -> String {
        match self {
            Self::Postgres(s) => s.schema().to_owned(),
            Self::Sqlite(s) => s.target.path.display().to_string(),
        }
    }

    /// The migrations this build of `es` knows for the store.
    pub(crate) fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        match self {
            Self::Postgres(_) => &es_postgres::MIGRATOR,
            Self::Sqlite(_) => &es_sqlite::MIGRATOR,
        }
    }

    /// Closes the pool (so an SQLite file is checkpointed and unlocked).
    pub(crate) async fn close(&self) {
        match self {
            Self::Postgres(s) => s.pool().close().await,
            Self::Sqlite(s) => s.store.close().await,
        }
    }
}

/// "host:port/database" for messages (never the password).
pub(crate) fn describe(options: &PgConnectOptions) -> String {
    format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("(default database)")
    )
}

/// Whether a command may create a missing SQLite file (only `migrate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Create {
    Yes,
    No,
}

/// Opens the store `target` names: see [`connect_pg`] and [`open_sqlite`].
pub(crate) async fn connect(
    target: &Target,
    schema: &str,
    max_connections: u32,
    create: Create,
) -> Result<Store, CliError> {
    match target {
        Target::Postgres(options) => connect_pg(options, schema, max_connections)
            .await
            .map(Store::Postgres),
        Target::Sqlite(t) => {
            if schema != es_postgres::DEFAULT_SCHEMA {
                return Err(CliError::config(format!(
                    "--schema applies to PostgreSQL only; an SQLite file holds one event store \
                     (drop --schema {schema})"
                )));
            }
            open_sqlite(t, max_connections, create)
                .await
                .map(Store::Sqlite)
        }
    }
}

/// Opens the SQLite file without touching its schema (`es migrate` does
/// that). A missing file is an error unless `create` says otherwise and the
/// file was named by a `sqlite:` URL.
pub(crate) async fn open_sqlite(
    target: &SqliteTarget,
    max_connections: u32,
    create: Create,
) -> Result<SqliteStore, CliError> {
    let path = &target.path;
    let shown = path.display();
    if path.is_dir() {
        return Err(CliError::config(format!(
            "`{shown}` is a directory, not an SQLite database file; \
             pass the file, e.g. --database-url sqlite:{shown}/bank.db"
        )));
    }
    let exists = path.exists();
    if !exists && create == Create::No {
        return Err(CliError::config(format!(
            "SQLite database file `{shown}` does not exist; check the path (relative to {}), \
             or create an empty event store with `es --database-url {} migrate`",
            std::env::current_dir().map_or_else(
                |_| "the current directory".to_owned(),
                |d| format!("`{}`", d.display())
            ),
            target.url()
        )));
    }
    if !exists && !target.url {
        return Err(CliError::config(format!(
            "SQLite database file `{shown}` does not exist; to create it, \
             pass it as a URL: `es --database-url {} migrate`",
            target.url()
        )));
    }
    tracing::debug!(file = %shown, "opening");
    let options = SqliteEventStore::connect_options(path).create_if_missing(create == Create::Yes);
    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(|e| from_sqlx(&e).context(&format!("opening SQLite database `{shown}`")))?;
    Ok(SqliteStore {
        store: SqliteEventStore::from_pool(pool),
        target: target.clone(),
        existed: exists,
    })
}

/// Connects once to check the server answers (a clear error fast, where a
/// pool would retry until its timeout), then builds a pool of up to
/// `max_connections` and the store over it.
pub(crate) async fn connect_pg(
    options: &PgConnectOptions,
    schema: &str,
    max_connections: u32,
) -> Result<PgEventStore, CliError> {
    let target = describe(options);
    tracing::debug!(%target, "connecting");
    let conn = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(options))
        .await
        .map_err(|_| {
            CliError::config(format!(
                "timed out after {}s connecting to PostgreSQL at {target}; {START_A_SERVER}",
                CONNECT_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| match e {
            // A refused certificate arrives as I/O too; from_sqlx says TLS.
            sqlx::Error::Io(source) if !es_postgres::is_tls_error(&e) => CliError::config(format!(
                "cannot reach PostgreSQL at {target} ({source}); {START_A_SERVER}"
            )),
            other => from_sqlx(&other).context(&format!("connecting to {target}")),
        })?;
    let _ = conn.close().await;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_lazy_with(options.clone());
    let store = PgEventStore::builder()
        .schema(schema)
        .map_err(|e| CliError::config(e.to_string()))?
        .build(pool);
    Ok(store)
}
