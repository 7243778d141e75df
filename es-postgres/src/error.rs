//! The errors this crate adds to `es_core`'s.

/// A schema name the store refuses (see [`crate::PgEventStoreBuilder::schema`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid schema name {0:?}: use ASCII letters, digits and `_`, not starting with a digit, at most 48 bytes"
)]
pub struct InvalidSchemaName(pub String);

/// A payload PostgreSQL cannot store as `jsonb` (not UTF-8, not JSON, a NUL
/// byte or the `\u0000` escape). Arrives as the source of a
/// [`es_core::StoreError::Backend`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot store event `{event_type}`: {reason}")]
pub struct InvalidPayload {
    /// The event type (or types, for a batch).
    pub event_type: String,
    /// Why.
    pub reason: String,
}

/// Whether a sqlx error is a TLS failure: a server that refuses TLS, a
/// certificate the client does not trust or whose name does not match, a
/// handshake that fails.
///
/// sqlx reports most TLS problems as `sqlx::Error::Tls`, but a certificate
/// refused during the handshake arrives as `sqlx::Error::Io` carrying the
/// TLS library's error; both count. [`crate::PgEventStore::connect`] turns
/// the second kind into `sqlx::Error::Tls` already, so its message says TLS.
///
/// ```
/// use es_postgres::is_tls_error;
/// assert!(is_tls_error(&sqlx::Error::Tls("server does not support TLS".into())));
/// assert!(!is_tls_error(&sqlx::Error::Io(std::io::ErrorKind::ConnectionRefused.into())));
/// ```
pub fn is_tls_error(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Tls(_) => true,
        sqlx::Error::Io(io) => is_tls_io(io),
        _ => false,
    }
}

fn is_tls_io(io: &std::io::Error) -> bool {
    io.get_ref()
        .is_some_and(|inner| inner.is::<rustls::Error>())
}

/// `e`, with a TLS failure that sqlx reports as I/O turned into
/// `sqlx::Error::Tls`, so its message and kind say TLS rather than "cannot
/// reach the server".
pub(crate) fn tls_as_tls(e: sqlx::Error) -> sqlx::Error {
    match e {
        sqlx::Error::Io(io) if is_tls_io(&io) => sqlx::Error::Tls(Box::new(io)),
        other => other,
    }
}
