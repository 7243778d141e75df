//! SQLite projections: the [`SqliteProjection`] hooks, the batch
//! transaction type, and a projection as the engine's consumer (for the
//! runner and for inline projections).

use std::future::Future;

use es_core::RecordedEvent;
use es_core::consumer::Consumer;
use es_core::projection::{Dispatch, HandlerError, ProjectionError};
use sqlx::{Sqlite, SqliteConnection, Transaction};

/// A projection the SQLite [`ProjectionRunner`](crate::ProjectionRunner) can run: its handlers write
/// the read model through the batch transaction's `&mut SqliteConnection`
/// (what `#[derive(Projection)]` writes from `On<E, SqliteConnection>`
/// handlers), plus two optional hooks.
///
/// ```
/// use es_core::projection::{Dispatch, HandlerError, Projection, ProjectionError};
/// use es_core::RecordedEvent;
/// use es_sqlite::SqliteProjection;
/// use sqlx::SqliteConnection;
///
/// struct Pings;
/// impl Projection for Pings {
///     const NAME: &'static str = "pings";
///     const EVENT_TYPES: &'static [&'static str] = &["Pinged"];
/// }
/// impl Dispatch<SqliteConnection> for Pings {
///     async fn dispatch(&mut self, e: &RecordedEvent, conn: &mut SqliteConnection)
///         -> Result<(), ProjectionError> {
///         sqlx::query("UPDATE pings SET n = n + 1")
///             .execute(conn)
///             .await
///             .map_err(|err| ProjectionError::handler::<Self>(e, err.into()))?;
///         Ok(())
///     }
/// }
/// impl SqliteProjection for Pings {
///     async fn setup(&mut self, conn: &mut SqliteConnection) -> Result<(), HandlerError> {
///         sqlx::query("CREATE TABLE IF NOT EXISTS pings (n INTEGER NOT NULL)").execute(&mut *conn).await?;
///         sqlx::query("INSERT INTO pings SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM pings)")
///             .execute(conn).await?;
///         Ok(())
///     }
///     async fn reset(&mut self, conn: &mut SqliteConnection) -> Result<(), HandlerError> {
///         sqlx::query("UPDATE pings SET n = 0").execute(conn).await?;
///         Ok(())
///     }
/// }
/// ```
pub trait SqliteProjection: Dispatch<SqliteConnection> {
    /// Creates the read model's tables if they do not exist. Runs once per
    /// runner, before its first batch, in a `BEGIN IMMEDIATE` transaction
    /// that also creates the projection's checkpoint (at 0) if it has none.
    fn setup(
        &mut self,
        conn: &mut SqliteConnection,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = conn;
        async { Ok(()) }
    }

    /// Empties the read model before a rebuild (`DELETE FROM …`). Runs in
    /// the transaction that moves the checkpoint back to 0, so a crash
    /// leaves either the old model and checkpoint or an empty model at 0.
    ///
    /// The default has no way to empty the model: a rebuild then refuses
    /// up front with [`ProjectionError::NoReset`]
    /// and changes nothing (replaying into the old rows would fail on their
    /// keys halfway, or count twice). A projection whose handlers may
    /// safely replay over the existing model writes a `reset` that does
    /// nothing.
    fn reset(
        &mut self,
        conn: &mut SqliteConnection,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = conn;
        async { Err(Box::new(es_core::projection::NoResetHook) as HandlerError) }
    }

    /// Writes what the handlers buffered in `self` during this batch, and
    /// empties the buffer: called once per batch after the handlers, on the
    /// batch's transaction, before the checkpoint moves. The same contract
    /// as `es_postgres::PgProjection::flush`.
    fn flush(
        &mut self,
        conn: &mut SqliteConnection,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = conn;
        async { Ok(()) }
    }

    /// Drops what the handlers buffered: the batch is being rolled back (or
    /// handled again one event at a time under
    /// [`ErrorPolicy::DeadLetter`](crate::ErrorPolicy::DeadLetter)).
    fn discard(&mut self) {}
}

/// An SQLite batch transaction (`BEGIN IMMEDIATE`).
pub type SqliteTx = Transaction<'static, Sqlite>;

/// A [`SqliteProjection`] as the engine's consumer: handlers and hooks on
/// the batch transaction's connection. Inline projections run as this too
/// (es-core's [`InlineConsumers`](es_core::consumer::InlineConsumers) on the
/// append's `BEGIN IMMEDIATE` transaction, which is a [`SqliteTx`] as well).
/// Public for [`ProjectionRunner::partitioned`](crate::ProjectionRunner::partitioned),
/// whose engines run it.
///
/// ```
/// # use es_core::projection::*; use es_core::RecordedEvent; use sqlx::SqliteConnection;
/// # struct Balances;
/// # impl Projection for Balances { const NAME: &'static str = "balances"; const EVENT_TYPES: &'static [&'static str] = &["Deposited"]; }
/// # impl Dispatch<SqliteConnection> for Balances {
/// #     async fn dispatch(&mut self, _: &RecordedEvent, _: &mut SqliteConnection) -> Result<(), ProjectionError> { Ok(()) } }
/// # impl es_sqlite::SqliteProjection for Balances {}
/// use es_core::consumer::Consumer;
/// use es_sqlite::{SqliteConsumer, SqliteTx};
///
/// let c = SqliteConsumer(Balances);
/// assert_eq!(Consumer::<SqliteTx>::name(&c), "balances");
/// ```
#[derive(Clone)]
pub struct SqliteConsumer<P>(pub P);

impl<P: SqliteProjection> Consumer<SqliteTx> for SqliteConsumer<P> {
    fn name(&self) -> &'static str {
        P::NAME
    }

    fn event_types(&self) -> Option<&'static [&'static str]> {
        Some(P::EVENT_TYPES)
    }

    async fn handle(
        &mut self,
        event: &RecordedEvent,
        tx: &mut SqliteTx,
    ) -> Result<(), ProjectionError> {
        self.0.dispatch(event, &mut **tx).await
    }

    async fn setup(&mut self, tx: &mut SqliteTx) -> Result<(), HandlerError> {
        self.0.setup(tx).await
    }

    async fn reset(&mut self, tx: &mut SqliteTx) -> Result<(), HandlerError> {
        self.0.reset(tx).await
    }

    async fn flush(&mut self, tx: &mut SqliteTx) -> Result<(), HandlerError> {
        self.0.flush(tx).await
    }

    fn discard(&mut self) {
        self.0.discard();
    }
}
