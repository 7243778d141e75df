//! The lease: the session advisory lock that makes one engine (a
//! projection runner, a listener) of a name the active one across
//! processes, held on a connection of its own.

use sqlx::{Connection, PgConnection};

use crate::error::tls_as_tls;
use crate::store::PgEventStore;

/// The lease of a consumer name on PostgreSQL: the session advisory lock
/// `pg_try_advisory_lock(hashtext(schema), hashtext(name))`, held on a
/// connection of its own for as long as the engine runs.
///
/// It is released when the engine stops (`run` returns, or it is dropped),
/// or when its connection ends, so a killed process releases it as soon as
/// PostgreSQL sees the socket close, which is at once when the process dies
/// and its kernel closes the socket. A takeover then takes at most the
/// standby's lease retry interval plus its setup. If the whole host
/// vanishes, the server notices through TCP keepalives, which the lease
/// connection sets to 10 s idle + 3 probes 2 s apart: about 16 s more.
/// (Over a Unix socket keepalives do not apply; the host is the server's
/// own.)
///
/// Two names whose `hashtext` collides share one lease: they are safe, but
/// only one of them runs at a time.
pub struct PgLease {
    conn: PgConnection,
}

impl PgLease {
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

    /// Which of the leases `names` are held by any session of this
    /// database, from `pg_locks` (a session lock on two keys shows them as
    /// `classid` and `objid`, `objsubid` 2), on a pooled connection: no
    /// lock taken, no connection opened.
    pub(crate) async fn held(
        store: &PgEventStore,
        names: &[String],
    ) -> Result<Vec<bool>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_locks l \
                 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 \
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                   AND l.classid = hashtext($1)::oid AND l.objid = hashtext(u.name)::oid) \
             FROM unnest($2::text[]) WITH ORDINALITY AS u(name, i) ORDER BY u.i",
        )
        .bind(store.schema())
        .bind(names)
        .fetch_all(store.pool())
        .await
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
