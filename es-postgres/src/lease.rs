//! The lease: the session advisory lock that makes one runner (or
//! listener) of a name the active one across processes, held on a
//! connection of its own (see the `runner` module docs, "The lease").

use sqlx::{Connection, PgConnection};

use crate::error::tls_as_tls;
use crate::store::PgEventStore;

/// The session advisory lock that makes a runner the active one, on a
/// connection of its own.
pub(crate) struct Lease {
    conn: PgConnection,
}

impl Lease {
    /// Opens a connection and tries the lock once.
    pub(crate) async fn try_acquire(
        store: &PgEventStore,
        name: &str,
    ) -> Result<Option<Self>, sqlx::Error> {
        let options = store.pool().connect_options();
        let mut conn = PgConnection::connect_with(&options)
            .await
            .map_err(tls_as_tls)?;
        let app: String = format!("es lease {name}").chars().take(60).collect();
        sqlx::query(
            "SELECT set_config('application_name', $1, false), \
                    set_config('tcp_keepalives_idle', '10', false), \
                    set_config('tcp_keepalives_interval', '2', false), \
                    set_config('tcp_keepalives_count', '3', false)",
        )
        .bind(app)
        .execute(&mut conn)
        .await?;
        let (got,): (bool,) =
            sqlx::query_as("SELECT pg_try_advisory_lock(hashtext($1), hashtext($2))")
                .bind(store.schema())
                .bind(name)
                .fetch_one(&mut conn)
                .await?;
        if got {
            Ok(Some(Self { conn }))
        } else {
            let _ = conn.close().await;
            Ok(None)
        }
    }

    /// Whether the connection (and so the lock) is still there.
    pub(crate) async fn alive(&mut self) -> bool {
        self.conn.ping().await.is_ok()
    }

    /// Ends the session, which releases the lock.
    pub(crate) async fn close(self) {
        let _ = self.conn.close().await;
    }
}
