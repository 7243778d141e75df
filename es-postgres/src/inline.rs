//! PostgreSQL projections: the [`PgProjection`] hooks. Inline projections
//! (run inside each append's transaction) are es-core's
//! [`InlineConsumers`](es_core::consumer::InlineConsumers) over the
//! projection's [`Consumer`](es_core::consumer::Consumer) (see `consumer`),
//! held by the append role (`append`).

use std::future::Future;

use es_core::RecordedEvent;
use es_core::consumer::Consumer;
use es_core::projection::{Dispatch, HandlerError, ProjectionError};
use sqlx::{PgConnection, Postgres, Transaction};

/// A projection whose read model lives in PostgreSQL: its handlers
/// ([`Dispatch<PgConnection>`], written by `#[derive(Projection)]` from
/// `On<E, PgConnection>` impls) write through the connection they are given,
/// which is the runner's (or the append's) open transaction.
///
/// The two hooks run in a transaction too, and default to doing nothing:
///
/// - [`setup`](PgProjection::setup) creates the read model's tables (use
///   `IF NOT EXISTS`): the [`ProjectionRunner`](crate::ProjectionRunner)
///   runs it each time it becomes the active runner, [`PgEventStore::migrate`](crate::PgEventStore::migrate)
///   runs it for inline projections.
/// - [`reset`](PgProjection::reset) empties them (say, `TRUNCATE`):
///   [`ProjectionRunner::rebuild`](crate::ProjectionRunner::rebuild) runs it
///   in the transaction that moves the checkpoint back to 0, then replays.
///
/// # Batching: `flush` and `discard`
///
/// A handler that writes one statement per event costs one round trip per
/// event (about 10,000 events/s on a local server). To write a whole batch
/// at once, handlers may instead *buffer* their changes in `self` and write
/// them in [`flush`](PgProjection::flush), say with one
/// `INSERT … SELECT … FROM UNNEST($1, $2) ON CONFLICT … DO UPDATE`. The
/// contract:
///
/// - [`ProjectionRunner`](crate::ProjectionRunner) calls `flush` once per
///   batch, after the batch's handlers and before it saves the checkpoint,
///   on the batch's transaction. `flush` writes the buffer and empties it.
///   Because the buffered writes and the checkpoint commit in one
///   transaction, exactly-once holds as for direct writes.
/// - Whenever a batch does not commit (a handler or `flush` fails or
///   panics, the checkpoint moved under the runner, the lease was lost, a
///   transient error, a failed `COMMIT`), the runner calls
///   [`discard`](PgProjection::discard) before anything else, and it also
///   calls it before each batch's first handler (so a batch whose future
///   was dropped mid-way leaves nothing behind). `discard` drops the buffer;
///   the batch's events are read and handled again from the checkpoint.
/// - A `flush` error is not one event's: under
///   [`ErrorPolicy::Stop`](crate::ErrorPolicy::Stop) it rolls the batch back
///   and stops the runner with a [`ProjectionError::Store`](es_core::projection::ProjectionError::Store) naming the
///   batch's positions; under
///   [`ErrorPolicy::DeadLetter`](crate::ErrorPolicy::DeadLetter) the runner
///   rolls the batch back and handles it again one event at a time (each in
///   a `SAVEPOINT`, followed by its own `flush`), so a failure there belongs
///   to one event, which becomes the dead letter.
/// - An inline projection (see [`PgEventStore::with_inline`](crate::PgEventStore::with_inline)) is flushed
///   once per append, after its handlers and before `COMMIT`; a failing
///   flush fails the append.
///
/// Both default to doing nothing, so a projection that writes in its
/// handlers needs neither.
///
/// ```
/// use es_core::projection::{Dispatch, HandlerError, Projection, ProjectionError};
/// use es_core::RecordedEvent;
/// use es_postgres::PgProjection;
/// use sqlx::PgConnection;
///
/// struct Pings;
/// impl Projection for Pings {
///     const NAME: &'static str = "pings";
///     const EVENT_TYPES: &'static [&'static str] = &["Pinged"];
/// }
/// impl Dispatch<PgConnection> for Pings {
///     async fn dispatch(&mut self, e: &RecordedEvent, conn: &mut PgConnection)
///         -> Result<(), ProjectionError> {
///         sqlx::query("UPDATE pings SET n = n + 1")
///             .execute(conn)
///             .await
///             .map_err(|err| ProjectionError::handler::<Self>(e, err.into()))?;
///         Ok(())
///     }
/// }
/// impl PgProjection for Pings {
///     async fn setup(&mut self, conn: &mut PgConnection) -> Result<(), HandlerError> {
///         sqlx::query("CREATE TABLE IF NOT EXISTS pings (n bigint NOT NULL)").execute(&mut *conn).await?;
///         sqlx::query("INSERT INTO pings SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM pings)")
///             .execute(conn).await?;
///         Ok(())
///     }
///     async fn reset(&mut self, conn: &mut PgConnection) -> Result<(), HandlerError> {
///         sqlx::query("UPDATE pings SET n = 0").execute(conn).await?;
///         Ok(())
///     }
/// }
/// ```
pub trait PgProjection: Dispatch<PgConnection> {
    /// Creates the read model's tables if they do not exist. Runs in a
    /// transaction, under the projection's lease when a runner calls it.
    fn setup(
        &mut self,
        conn: &mut PgConnection,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = conn;
        async { Ok(()) }
    }

    /// Empties the read model before a rebuild. Runs in the transaction
    /// that moves the checkpoint back to 0, so a crash leaves either the old
    /// model and checkpoint or an empty model at 0.
    ///
    /// The default has no way to empty the model: a rebuild then refuses
    /// up front with [`ProjectionError::NoReset`](es_core::projection::ProjectionError::NoReset)
    /// and changes nothing (replaying into the old rows would fail on their
    /// keys halfway, or count twice). A projection whose handlers may
    /// safely replay over the existing model writes a `reset` that does
    /// nothing.
    fn reset(
        &mut self,
        conn: &mut PgConnection,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = conn;
        async { Err(Box::new(es_core::projection::NoResetHook) as HandlerError) }
    }

    /// Writes what the handlers buffered in `self` during this batch, and
    /// empties the buffer. Called once per batch after the handlers, on the
    /// batch's transaction, before the checkpoint moves (see the
    /// [trait docs](PgProjection#batching-flush-and-discard)).
    fn flush(
        &mut self,
        conn: &mut PgConnection,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = conn;
        async { Ok(()) }
    }

    /// Drops what the handlers buffered: the batch is being rolled back or
    /// abandoned and will be handled again. Called by the runner whenever a
    /// batch does not commit and before each batch's handlers; must be cheap
    /// and must not fail.
    fn discard(&mut self) {}
}

/// A PostgreSQL batch transaction.
pub type PgTx = Transaction<'static, Postgres>;

/// A [`PgProjection`] as the engine's consumer: handlers and hooks on the
/// batch transaction's connection. Inline projections run as this too
/// (es-core's [`InlineConsumers`](es_core::consumer::InlineConsumers) on the
/// append's transaction, which is a [`PgTx`] as well). Public for
/// [`ProjectionRunner::partitioned`](crate::ProjectionRunner::partitioned),
/// whose engines run it.
///
/// ```
/// # use es_core::projection::*; use es_core::RecordedEvent; use sqlx::PgConnection;
/// # struct Balances;
/// # impl Projection for Balances { const NAME: &'static str = "balances"; const EVENT_TYPES: &'static [&'static str] = &["Deposited"]; }
/// # impl Dispatch<PgConnection> for Balances {
/// #     async fn dispatch(&mut self, _: &RecordedEvent, _: &mut PgConnection) -> Result<(), ProjectionError> { Ok(()) } }
/// # impl es_postgres::PgProjection for Balances {}
/// use es_core::consumer::Consumer;
/// use es_postgres::{PgConsumer, PgTx};
///
/// let c = PgConsumer(Balances);
/// assert_eq!(Consumer::<PgTx>::name(&c), "balances");
/// ```
#[derive(Clone)]
pub struct PgConsumer<P>(pub P);

impl<P: PgProjection> Consumer<PgTx> for PgConsumer<P> {
    fn name(&self) -> &'static str {
        P::NAME
    }

    fn event_types(&self) -> Option<&'static [&'static str]> {
        Some(P::EVENT_TYPES)
    }

    async fn handle(
        &mut self,
        event: &RecordedEvent,
        tx: &mut PgTx,
    ) -> Result<(), ProjectionError> {
        self.0.dispatch(event, &mut **tx).await
    }

    async fn setup(&mut self, tx: &mut PgTx) -> Result<(), HandlerError> {
        self.0.setup(tx).await
    }

    async fn reset(&mut self, tx: &mut PgTx) -> Result<(), HandlerError> {
        self.0.reset(tx).await
    }

    async fn flush(&mut self, tx: &mut PgTx) -> Result<(), HandlerError> {
        self.0.flush(tx).await
    }

    fn discard(&mut self) {
        self.0.discard();
    }
}
