//! Projections: read models kept up to date from recorded events.
//!
//! A projection names the event types it cares about and handles each in an
//! [`On`] impl. `#[derive(Projection)]` writes the [`Projection`] impl (name
//! and type filter) and the [`Dispatch`] impl that decodes each recorded
//! event and calls the right handler. The context `Ctx` is what a handler
//! writes its read model with: `()` for a projection that keeps its model in
//! itself, a database transaction for the PostgreSQL runner.

use std::future::Future;

use crate::envelope::{Recorded, RecordedEvent};
use crate::error::BoxError;
use crate::event::{DecodeError, Event};
use crate::store::{EventStore, StoreError};

/// A named read model and the event types it reads.
pub trait Projection: Send + 'static {
    /// The projection's name; checkpoints are kept under it.
    const NAME: &'static str;
    /// The stored type names (and aliases) it handles: the store filter, so
    /// a projection reads only its own events.
    const EVENT_TYPES: &'static [&'static str];
}

/// Handles one event type in a context.
///
/// ```
/// use es_core::projection::{HandlerError, On};
/// use es_core::Recorded;
/// # #[derive(Debug, Clone)] struct Deposited { amount: i64 }
/// #[derive(Default)]
/// struct Totals { deposited: i64 }
/// impl On<Deposited> for Totals {
///     async fn on(&mut self, e: Recorded<Deposited>, _: &mut ()) -> Result<(), HandlerError> {
///         self.deposited += e.event.amount;
///         Ok(())
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "projection `{Self}` has no handler for `{E}`",
    label = "listed in `events(…)` but not handled",
    note = "implement `es_core::projection::On<{E}, {Ctx}>` for `{Self}`"
)]
pub trait On<E, Ctx: ?Sized = ()>: Send {
    /// Applies one event to the read model.
    fn on(
        &mut self,
        event: Recorded<E>,
        ctx: &mut Ctx,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// A handler's own failure.
pub type HandlerError = BoxError;

/// Decodes a recorded event and routes it to the projection's handler.
/// Written by `#[derive(Projection)]`.
#[diagnostic::on_unimplemented(
    message = "projection `{Self}` cannot run in context `{Ctx}`: a handler is missing",
    label = "`{Self}` does not handle every listed event in `{Ctx}`",
    note = "`#[derive(Projection)]` implements `Dispatch<{Ctx}>` once `{Self}` implements `On<E, {Ctx}>` for every `E` in `events(…)`; the next note names the missing one"
)]
pub trait Dispatch<Ctx: ?Sized = ()>: Projection {
    /// Handles one recorded event of a listed type (others are ignored).
    fn dispatch(
        &mut self,
        event: &RecordedEvent,
        ctx: &mut Ctx,
    ) -> impl Future<Output = Result<(), ProjectionError>> + Send;
}

/// A projection could not handle an event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectionError {
    /// The event could not be decoded.
    #[error(
        "projection `{projection}` cannot decode the event at {stream_id}@{version} (position {position})"
    )]
    Decode {
        /// The projection.
        projection: &'static str,
        /// The stored type.
        event_type: String,
        /// The stream.
        stream_id: String,
        /// The stream version.
        version: u64,
        /// The global position.
        position: u64,
        /// Why.
        #[source]
        source: Box<DecodeError>,
    },
    /// A handler failed.
    #[error(
        "projection `{projection}` failed on `{event_type}` at {stream_id}@{version} (position {position})"
    )]
    Handler {
        /// The projection.
        projection: &'static str,
        /// The stored type.
        event_type: String,
        /// The stream.
        stream_id: String,
        /// The stream version.
        version: u64,
        /// The global position.
        position: u64,
        /// The handler's error.
        #[source]
        source: HandlerError,
    },
    /// A rebuild was asked of a projection that cannot empty its read
    /// model: its `reset` hook is the default. Nothing was changed.
    #[error(
        "projection `{projection}` cannot be rebuilt: it has no `reset` hook to empty its read model; implement `reset` (say, `TRUNCATE` or `DELETE FROM` its tables), or one that does nothing if replaying over the existing model is safe (idempotent upserts)"
    )]
    NoReset {
        /// The projection.
        projection: &'static str,
    },
    /// A consumer was started with another partition layout than the one
    /// its checkpoints were kept for (another partition count, or
    /// partitioned where it ran as one engine, or the reverse). Nothing was
    /// changed. Each partition's checkpoint only means something for the
    /// count it was made with; a new count needs a rebuild (see
    /// [`PartitionedRunner`](crate::consumer::PartitionedRunner)).
    #[error(
        "projection `{projection}` has checkpoints for {}, but was started with {}; changing the partition count needs a rebuild: stop every worker, empty the read model, delete the checkpoints `{projection}`, `{projection}#*`, and start the workers with the new count",
        layout(*.stored),
        layout(*.requested)
    )]
    PartitionsChanged {
        /// The projection.
        projection: &'static str,
        /// The stored partition count (`None`: it ran as one engine).
        stored: Option<u32>,
        /// The count it was started with (`None`: as one engine).
        requested: Option<u32>,
    },
    /// The store failed while the projection read or wrote.
    #[error("store failure in projection `{projection}`")]
    Store {
        /// The projection.
        projection: &'static str,
        /// The store's error.
        #[source]
        source: StoreError,
    },
}

/// How [`ProjectionError::PartitionsChanged`] names a layout.
fn layout(count: Option<u32>) -> String {
    match count {
        Some(n) => format!("{n} partitions"),
        None => "one unpartitioned engine".to_owned(),
    }
}

impl ProjectionError {
    /// A decode failure of `recorded` in projection `P`.
    pub fn decode<P: Projection>(recorded: &RecordedEvent, source: DecodeError) -> Self {
        Self::decode_of(P::NAME, recorded, source)
    }

    /// A decode failure of `recorded` in the consumer named `projection`
    /// (one without a [`Projection`] type, say a process manager).
    ///
    /// ```
    /// # use es_core::projection::ProjectionError;
    /// # let e = es_core::RecordedEvent { event_id: es_core::Uuid::nil(), stream_id: "S-1".into(),
    /// #   stream_version: 2, global_position: 7, event_type: "Pinged".into(), schema_version: 9,
    /// #   payload: b"{}".to_vec(), metadata: Default::default(), recorded_at: Default::default() };
    /// let cause = es_core::DecodeError::UnknownEventType { event_type: "Pinged".into(), known: vec![] };
    /// let err = ProjectionError::decode_of("checkout", &e, cause);
    /// assert_eq!(err.position(), Some(7));
    /// ```
    pub fn decode_of(
        projection: &'static str,
        recorded: &RecordedEvent,
        source: DecodeError,
    ) -> Self {
        Self::Decode {
            projection,
            event_type: recorded.event_type.clone(),
            stream_id: recorded.stream_id.clone(),
            version: recorded.stream_version,
            position: recorded.global_position,
            source: Box::new(source),
        }
    }

    /// A handler failure on `recorded` in projection `P`.
    pub fn handler<P: Projection>(recorded: &RecordedEvent, source: HandlerError) -> Self {
        Self::handler_of(P::NAME, recorded, source)
    }

    /// A handler failure on `recorded` in the consumer named `projection`
    /// (one without a [`Projection`] type: a listener, an engine's consumer).
    ///
    /// ```
    /// # use es_core::projection::ProjectionError;
    /// # let e = es_core::RecordedEvent { event_id: es_core::Uuid::nil(), stream_id: "S-1".into(),
    /// #   stream_version: 2, global_position: 7, event_type: "Pinged".into(), schema_version: 1,
    /// #   payload: b"{}".to_vec(), metadata: Default::default(), recorded_at: Default::default() };
    /// let err = ProjectionError::handler_of("mailer", &e, "smtp down".into());
    /// assert_eq!(err.position(), Some(7));
    /// ```
    pub fn handler_of(
        projection: &'static str,
        recorded: &RecordedEvent,
        source: HandlerError,
    ) -> Self {
        Self::Handler {
            projection,
            event_type: recorded.event_type.clone(),
            stream_id: recorded.stream_id.clone(),
            version: recorded.stream_version,
            position: recorded.global_position,
            source,
        }
    }

    /// The global position of the event that failed, if it was an event.
    pub fn position(&self) -> Option<u64> {
        match self {
            Self::Decode { position, .. } | Self::Handler { position, .. } => Some(*position),
            Self::NoReset { .. } | Self::PartitionsChanged { .. } | Self::Store { .. } => None,
        }
    }
}

/// What the default `reset` hook of a store's projection trait
/// (`PgProjection`, `SqliteProjection`) returns: the projection has no way
/// to empty its read model, so a rebuild refuses up front
/// ([`ProjectionError::NoReset`]) instead of replaying into the old rows.
///
/// ```
/// use es_core::projection::{HandlerError, NoResetHook};
/// let e: HandlerError = Box::new(NoResetHook);
/// assert!(e.is::<NoResetHook>());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the projection has no reset hook")]
pub struct NoResetHook;

/// Decodes `recorded` as `E` and runs `P`'s handler for it: the body of each
/// arm of a derived [`Dispatch`].
pub async fn dispatch_to<P, E, Ctx>(
    projection: &mut P,
    recorded: &RecordedEvent,
    ctx: &mut Ctx,
) -> Result<(), ProjectionError>
where
    P: Projection + On<E, Ctx>,
    E: Event,
    Ctx: ?Sized + Send,
{
    let event =
        Recorded::<E>::decode(recorded).map_err(|e| ProjectionError::decode::<P>(recorded, e))?;
    projection
        .on(event, ctx)
        .await
        .map_err(|e| ProjectionError::handler::<P>(recorded, e))
}

/// Runs a projection that keeps its model in itself over a store's events
/// after `checkpoint`, up to the head; returns the new checkpoint. For tests,
/// demos and the in-memory store; the PostgreSQL runner keeps durable
/// checkpoints.
///
/// ```
/// # use es_core::projection::*;
/// # use es_core::*;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// struct Count(u64);
/// impl Projection for Count {
///     const NAME: &'static str = "count";
///     const EVENT_TYPES: &'static [&'static str] = &["Pinged"];
/// }
/// impl Dispatch for Count {
///     async fn dispatch(&mut self, _: &RecordedEvent, _: &mut ()) -> Result<(), ProjectionError> {
///         self.0 += 1;
///         Ok(())
///     }
/// }
/// let store = InMemoryEventStore::new();
/// let ping = || NewEvent::from_raw("Pinged", 1, b"{}".to_vec(), Metadata::new());
/// let pong = NewEvent::from_raw("Ponged", 1, b"{}".to_vec(), Metadata::new());
/// store.append("Pinger-1", ExpectedVersion::Any, vec![ping(), pong, ping()]).await.unwrap();
/// let mut count = Count(0);
/// let checkpoint = catch_up(&store, &mut count, 0, 100).await.unwrap();
/// assert_eq!((count.0, checkpoint), (2, 3));
/// # }
/// ```
pub async fn catch_up<S, P>(
    store: &S,
    projection: &mut P,
    mut checkpoint: u64,
    batch_size: usize,
) -> Result<u64, ProjectionError>
where
    S: EventStore,
    P: Dispatch<()>,
{
    let batch_size = batch_size.max(1);
    loop {
        let page = store
            .read_all(checkpoint, batch_size, Some(P::EVENT_TYPES))
            .await
            .map_err(|source| ProjectionError::Store {
                projection: P::NAME,
                source,
            })?;
        let full = page.len() >= batch_size;
        for recorded in &page {
            projection.dispatch(recorded, &mut ()).await?;
            checkpoint = recorded.global_position;
        }
        // Past the events the filter left out, as far as this very read
        // vouched for: a head asked for separately could pass an event
        // that committed after the read.
        checkpoint = checkpoint.max(page.scanned_to);
        if !full {
            return Ok(checkpoint);
        }
    }
}
