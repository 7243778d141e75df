//! Connecting, and the checks every command makes before it reads.

use std::str::FromStr;
use std::time::Duration;

use es_postgres::PgEventStore;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

use crate::error::{CliError, START_A_SERVER, from_sqlx};

/// How long a first connection may take before the server counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Quotes an identifier for SQL text (schema names are validated by clap first).
pub(crate) fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Parses the URL, without echoing it (it may hold a password).
pub(crate) fn parse_url(url: Option<&str>) -> Result<PgConnectOptions, CliError> {
    let Some(url) = url.filter(|u| !u.trim().is_empty()) else {
        return Err(CliError::config(
            "no database URL: pass --database-url postgres://user@host:5432/db or set DATABASE_URL",
        ));
    };
    let scheme = url.split_once("://").map(|(s, _)| s);
    if !matches!(scheme, Some("postgres" | "postgresql")) {
        return Err(CliError::config(
            "invalid database URL: expected postgres://[user[:password]@]host[:port]/database",
        ));
    }
    PgConnectOptions::from_str(url)
        .map(|o| o.disable_statement_logging())
        .map_err(|e| match e {
            sqlx::Error::Configuration(source) => CliError::config(format!(
                "invalid database URL ({source}): expected postgres://[user[:password]@]host[:port]/database"
            )),
            other => from_sqlx(&other),
        })
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

/// Connects once to check the server answers (a clear error fast, where a
/// pool would retry until its timeout), then builds a pool of up to
/// `max_connections` and the store over it.
pub(crate) async fn connect(
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

/// Fails with "run `es migrate`" when the schema has no event store, and
/// warns when it lacks migrations this build knows.
pub(crate) async fn require_migrated(store: &PgEventStore) -> Result<(), CliError> {
    let schema = store.schema();
    let (events, history): (bool, bool) = sqlx::query_as(
        "SELECT to_regclass(format('%I.events', $1::text)) IS NOT NULL, \
                to_regclass(format('%I._sqlx_migrations', $1::text)) IS NOT NULL",
    )
    .bind(schema)
    .fetch_one(store.pool())
    .await?;
    if !events {
        return Err(CliError::config(format!(
            "schema `{schema}` has no event store (it was never migrated); run `es migrate` \
             (or pass --schema NAME for another schema)"
        )));
    }
    if history {
        let applied: Vec<(i64,)> = sqlx::query_as(&format!(
            "SELECT version FROM {}._sqlx_migrations WHERE success",
            quote_ident(schema)
        ))
        .fetch_all(store.pool())
        .await?;
        let missing = es_postgres::MIGRATOR
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .filter(|m| !applied.iter().any(|(v,)| *v == m.version))
            .count();
        if missing > 0 {
            crate::out::warn(format!(
                "schema `{schema}` lacks {missing} migration(s) this version of es knows; run `es migrate`"
            ));
        }
    }
    Ok(())
}
