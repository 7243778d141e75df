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

/// How sqlx 0.8's message for a connection closed before it answered the
/// SSLRequest starts (sqlx appends its source location).
const SSL_REQUEST_EOF: &str = "unexpected response from SSLRequest: 0x00";

/// Whether an error (or one of its causes) is a database failure worth
/// retrying: the connection broke, the pool timed out, a serialization
/// failure or deadlock, the server is shutting down or out of connections.
pub(crate) fn is_transient(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(sql) = e.downcast_ref::<sqlx::Error>() {
            return match sql {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::WorkerCrashed => true,
                // A connection the server (or a proxy in front of it) closed
                // before answering the TLS request: sqlx 0.8 reads the
                // missing byte as 0x00 and reports a protocol error
                // (transact-rs/sqlx#4395). A restarting server does that.
                sqlx::Error::Protocol(msg) => msg.starts_with(SSL_REQUEST_EOF),
                sqlx::Error::Database(db) => db.code().is_some_and(|c| {
                    // 08: connection exception; 53: insufficient resources
                    // (too many connections); 57P01-03: shutting down.
                    c.starts_with("08")
                        || c.starts_with("53")
                        || matches!(
                            &*c,
                            "40001" | "40P01" | "55P03" | "57P01" | "57P02" | "57P03"
                        )
                }),
                _ => false,
            };
        }
        cur = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_closed_at_the_tls_request_is_transient() {
        let closed = sqlx::Error::Protocol(format!(
            "{SSL_REQUEST_EOF} (sqlx_postgres::connection::tls:95)"
        ));
        assert!(is_transient(&closed));
        let other = sqlx::Error::Protocol("unexpected response from SSLRequest: 0x45".to_owned());
        assert!(!is_transient(&other));
        assert!(is_transient(&sqlx::Error::Tls("handshake".into())));
    }
}
