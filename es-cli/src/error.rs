//! The tool's error: a one-line message and the exit code a script sees.

use std::fmt;

use es_core::StoreError;

/// The exit codes of `es` (also listed in `--help` and the crate docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// `lint` found something.
    Findings = 1,
    /// A bad URL, an unreachable server, failed authentication, a missing
    /// database, or a schema that was never migrated.
    Config = 3,
    /// An unknown stream or projection.
    NotFound = 4,
    /// Anything else (a database error, a failed benchmark, …).
    Other = 5,
    /// Interrupted by Ctrl-C / SIGTERM (the bench drops its schema first).
    Interrupted = 130,
}

/// An error with the exit code it maps to. `Display` is one line.
#[derive(Debug)]
pub(crate) struct CliError {
    pub(crate) exit: Exit,
    message: String,
}

impl CliError {
    pub(crate) fn new(exit: Exit, message: impl Into<String>) -> Self {
        // One line, whatever the source said.
        let message = message
            .into()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        Self { exit, message }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::new(Exit::Config, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(Exit::NotFound, message)
    }

    pub(crate) fn other(message: impl Into<String>) -> Self {
        Self::new(Exit::Other, message)
    }

    pub(crate) fn interrupted(message: impl Into<String>) -> Self {
        Self::new(Exit::Interrupted, message)
    }

    /// Prefixes the message with what the tool was doing.
    pub(crate) fn context(mut self, what: &str) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A hint for a server that does not answer.
pub(crate) const START_A_SERVER: &str = "is PostgreSQL running there? Start one \
     (e.g. `pg_ctlcluster <version> main start`, or \
     `docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres`) \
     or check --database-url / DATABASE_URL";

/// Classifies a database error: connection and configuration problems exit
/// with 3, the rest with 5.
pub(crate) fn from_sqlx(e: &sqlx::Error) -> CliError {
    match e {
        sqlx::Error::Configuration(source) => {
            CliError::config(format!("invalid database URL: {source}"))
        }
        // Before `Io`: sqlx reports a refused certificate as I/O.
        e if es_postgres::is_tls_error(e) => CliError::config(format!(
            "TLS to the PostgreSQL server failed ({e}); check sslmode (and sslrootcert) in the URL"
        )),
        sqlx::Error::Io(source) => CliError::config(format!(
            "cannot reach the PostgreSQL server ({source}); {START_A_SERVER}"
        )),
        sqlx::Error::PoolTimedOut => CliError::config(format!(
            "timed out waiting for a connection to PostgreSQL; {START_A_SERVER}"
        )),
        sqlx::Error::Database(db)
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() =>
        {
            from_sqlite(db.message(), db.code().as_deref().unwrap_or(""))
        }
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let msg = db.message();
            match code.as_str() {
                // pg_hba.conf admits this login only over TLS ("no
                // encryption" since PostgreSQL 12, "SSL off" before)
                "28000" if msg.contains("no encryption") || msg.contains("SSL off") => {
                    CliError::config(format!(
                        "PostgreSQL accepts this login only over TLS ({msg}); use sslmode=require (or verify-full) in the URL, not sslmode=disable"
                    ))
                }
                // invalid_authorization_specification, invalid_password
                "28000" | "28P01" => CliError::config(format!(
                    "PostgreSQL refused the login ({msg}); check the user and password in --database-url / DATABASE_URL"
                )),
                // invalid_catalog_name
                "3D000" => CliError::config(format!(
                    "{msg}; create it (`createdb …`) or fix the database name in --database-url / DATABASE_URL"
                )),
                // undefined_table, invalid_schema_name
                "42P01" | "3F000" => CliError::config(format!(
                    "{msg}: the event store's tables are missing; run `es migrate`"
                )),
                _ => CliError::other(format!("database error: {msg} (SQLSTATE {code})")),
            }
        }
        other => CliError::other(format!("database error: {other}")),
    }
}

/// Classifies an SQLite error by its result code (primary or extended:
/// the low byte is the primary code).
fn from_sqlite(msg: &str, code: &str) -> CliError {
    let primary = code.parse::<i32>().map(|c| c & 0xff).ok();
    match primary {
        // SQLITE_NOTADB
        Some(26) => CliError::config(format!(
            "{msg}; pass the SQLite file your application's event store writes \
             (--database-url sqlite:PATH)"
        )),
        // SQLITE_CANTOPEN
        Some(14) => CliError::config(format!(
            "{msg}; check the path and its permissions in --database-url / DATABASE_URL"
        )),
        // SQLITE_READONLY, SQLITE_PERM
        Some(8 | 3) => CliError::config(format!(
            "{msg}; es needs write access to the file (and its directory, for the -wal and -shm files)"
        )),
        // SQLITE_BUSY, SQLITE_LOCKED
        Some(5 | 6) => CliError::other(format!(
            "{msg}: another process held the database's write lock too long; try again"
        )),
        // SQLITE_CORRUPT
        Some(11) => CliError::other(format!(
            "{msg}: the database file is damaged; restore it from a backup"
        )),
        _ if msg.starts_with("no such table") => CliError::config(format!(
            "{msg}: the event store's tables are missing; run `es migrate`"
        )),
        _ => CliError::other(format!("database error: {msg} (SQLite code {code})")),
    }
}

impl From<sqlx::Error> for CliError {
    fn from(e: sqlx::Error) -> Self {
        from_sqlx(&e)
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        if let StoreError::Backend { context, source } = &e
            && let Some(sqlx) = source.downcast_ref::<sqlx::Error>()
        {
            return from_sqlx(sqlx).context(context);
        }
        CliError::other(es_core::ErrorChain(&e).to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    /// A server's refusal, as sqlx would report it.
    #[derive(Debug)]
    struct Refusal {
        code: &'static str,
        message: &'static str,
    }

    impl fmt::Display for Refusal {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.message)
        }
    }

    impl std::error::Error for Refusal {}

    impl sqlx::error::DatabaseError for Refusal {
        fn message(&self) -> &str {
            self.message
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.code))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn refused(code: &'static str, message: &'static str) -> String {
        from_sqlx(&sqlx::Error::Database(Box::new(Refusal { code, message }))).to_string()
    }

    #[test]
    fn a_login_refused_without_tls_says_tls_not_password() {
        for message in [
            r#"no pg_hba.conf entry for host "10.0.0.5", user "app", database "app", no encryption"#,
            r#"no pg_hba.conf entry for host "10.0.0.5", user "app", database "app", SSL off"#,
        ] {
            let text = refused("28000", message);
            assert!(text.contains("only over TLS"), "{text}");
            assert!(text.contains("sslmode=require"), "{text}");
            assert!(!text.contains("password"), "{text}");
        }
        let text = refused("28P01", r#"password authentication failed for user "app""#);
        assert!(text.contains("check the user and password"), "{text}");
    }

    #[test]
    fn a_refused_certificate_is_tls_not_an_unreachable_server() {
        // What sqlx returns when the handshake refuses the certificate.
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let text = from_sqlx(&sqlx::Error::Io(io)).to_string();
        assert!(
            text.contains("TLS to the PostgreSQL server failed"),
            "{text}"
        );
        assert!(!text.contains("running"), "{text}");
    }
}
