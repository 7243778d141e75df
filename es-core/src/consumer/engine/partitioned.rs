//! The engine of one partition of a consumer.

use std::sync::Arc;

use super::Engine;
use crate::consumer::backend::{Backend, Consumer};
use crate::consumer::partition::Partition;

impl<B: Backend, C: Consumer<B::Tx>> Engine<B, C> {
    /// Runs only `partition` of the consumer: the events of the streams it
    /// owns ([`Partition::owns`]), read through
    /// [`Backend::read_partition`], with its own checkpoint, lease and dead
    /// letters under [`Partition::key`]. An engine per partition, each
    /// anywhere, together handle every event of the consumer's types once,
    /// each stream's in order; [`PartitionedRunner`](crate::consumer::PartitionedRunner)
    /// spreads them over worker processes.
    ///
    /// Activation refuses a partition count other than the one the
    /// consumer's checkpoints were made with
    /// ([`ProjectionError::PartitionsChanged`](crate::projection::ProjectionError::PartitionsChanged)); a partition cannot be
    /// rebuilt on its own (`rebuild` refuses: the reset hook empties the
    /// whole read model).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use es_core::consumer::{Engine, MemoryProjection, Partition};
    /// use es_core::projection::{Dispatch, Projection, ProjectionError};
    /// use es_core::{EventStore, ExpectedVersion, InMemoryEventStore, Metadata, NewEvent, RecordedEvent};
    ///
    /// #[derive(Default)]
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
    ///
    /// let store = InMemoryEventStore::new();
    /// for i in 0..10 {
    ///     let ping = NewEvent::from_raw("Pinged", 1, b"{}".to_vec(), Metadata::new());
    ///     store.append(&format!("Pinger-{i}"), ExpectedVersion::Any, vec![ping]).await?;
    /// }
    /// let mut handled = 0;
    /// for p in Partition::all(2) {
    ///     let mut engine = Engine::new(store.clone(), MemoryProjection::new(Count::default()))
    ///         .in_partition(p);
    ///     handled += engine.catch_up().await?;
    ///     assert_eq!(engine.status().await?.lag, 0);
    /// }
    /// assert_eq!(handled, 10);
    /// # Ok(()) }
    /// ```
    pub fn in_partition(mut self, partition: Partition) -> Self {
        self.key = Arc::from(partition.key(self.consumer.name()));
        self.partition = Some(partition);
        self
    }

    /// The partition it runs (`None`: the whole log).
    ///
    /// ```
    /// # use es_core::consumer::{Engine, MemoryProjection, Partition};
    /// # use es_core::projection::{Dispatch, Projection, ProjectionError};
    /// # #[derive(Default)] struct Count;
    /// # impl Projection for Count { const NAME: &'static str = "count"; const EVENT_TYPES: &'static [&'static str] = &[]; }
    /// # impl Dispatch for Count { async fn dispatch(&mut self, _: &es_core::RecordedEvent, _: &mut ()) -> Result<(), ProjectionError> { Ok(()) } }
    /// let store = es_core::InMemoryEventStore::new();
    /// let whole = Engine::new(store.clone(), MemoryProjection::new(Count));
    /// assert_eq!((whole.partition(), whole.key()), (None, "count"));
    /// let p = Partition::new(1, 4).unwrap();
    /// let part = Engine::new(store, MemoryProjection::new(Count)).in_partition(p);
    /// assert_eq!((part.partition(), part.key()), (Some(p), "count#1/4"));
    /// ```
    pub fn partition(&self) -> Option<Partition> {
        self.partition
    }

    /// The name its checkpoint, lease and dead letters are kept under: the
    /// consumer's name, or its partition's [`Partition::key`] (see
    /// [`Engine::partition`] for an example).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// A lost lease ends `run` (`Ok`) instead of standing by.
    pub(crate) fn return_on_lost_lease(mut self) -> Self {
        self.stand_by = false;
        self
    }
}
