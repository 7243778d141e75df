//! [`RelayStore`]: a store as the relay's engine sees it.

use std::ops::ControlFlow;
use std::time::Duration;

use es_core::consumer::{Backend, ConsumerStatus, DeadLetter, Failed, Partition, Savepoint};
use es_core::store::{AppendResult, CommandRecord, CommitWatch, ReadAllPage, StreamEnd};
use es_core::{
    EventStore, ExpectedVersion, NewEvent, RecordedEvent, ReplayedEvent, StoreError, Uuid,
};

/// Any [`Backend`] store, as the engine of a [`Relay`](crate::Relay) sees
/// it: everything goes to the store, with one difference: the engine
/// handles whole batches even on a store whose transactions cannot undo a
/// consumer's effects (the in-memory store). A relay's effect is a publish,
/// which JetStream's duplicate window makes safe to repeat, so a batch need
/// not be cut into one transaction per event. (Reading the next page while
/// a batch is published is the engine's own, for every consumer.)
///
/// (A failed publish is retried with the engine's backoff because the relay
/// marks it [`Transient`](es_core::consumer::Transient), on any store.)
///
/// [`Relay::engine`](crate::Relay::engine) builds it; there is no need to
/// name it otherwise.
///
/// ```
/// use es_core::EventStore;
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), es_core::StoreError> {
/// let store = es_nats::RelayStore::new(es_core::InMemoryEventStore::new());
/// assert_eq!(store.head_position().await?, 0);
/// assert_eq!(store.inner().head_position().await?, 0);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RelayStore<B> {
    inner: B,
}

impl<B> RelayStore<B> {
    /// Wraps `store`.
    ///
    /// ```
    /// let store = es_nats::RelayStore::new(es_core::InMemoryEventStore::new());
    /// ```
    pub fn new(store: B) -> Self {
        Self { inner: store }
    }

    /// The store.
    ///
    /// ```
    /// let store = es_nats::RelayStore::new(es_core::InMemoryEventStore::new());
    /// let _: &es_core::InMemoryEventStore = store.inner();
    /// ```
    pub fn inner(&self) -> &B {
        &self.inner
    }
}

impl<B: EventStore + Clone + Send + Sync + 'static> EventStore for RelayStore<B> {
    fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> impl Future<Output = Result<AppendResult, StoreError>> + Send {
        self.inner.append(stream_id, expected, events)
    }

    fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        to: StreamEnd,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send {
        self.inner.read_stream(stream_id, from_version, to, limit)
    }

    fn replay_stream<F>(
        &self,
        stream_id: &str,
        from_version: u64,
        to: StreamEnd,
        limit: usize,
        visit: F,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send
    where
        F: FnMut(ReplayedEvent<'_>) -> ControlFlow<()> + Send,
    {
        self.inner
            .replay_stream(stream_id, from_version, to, limit, visit)
    }

    fn read_all(
        &self,
        after_position: u64,
        limit: usize,
        types: Option<&[&str]>,
    ) -> impl Future<Output = Result<ReadAllPage, StoreError>> + Send {
        self.inner.read_all(after_position, limit, types)
    }

    fn stream_version(
        &self,
        stream_id: &str,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        self.inner.stream_version(stream_id)
    }

    fn head_position(&self) -> impl Future<Output = Result<u64, StoreError>> + Send {
        self.inner.head_position()
    }

    fn find_command(
        &self,
        stream_id: &str,
        command_id: Uuid,
    ) -> impl Future<Output = Result<Option<CommandRecord>, StoreError>> + Send {
        self.inner.find_command(stream_id, command_id)
    }

    fn watch_commits(&self) -> impl Future<Output = Result<CommitWatch, StoreError>> + Send {
        self.inner.watch_commits()
    }
}

impl<B: Backend> Backend for RelayStore<B> {
    type Tx = B::Tx;
    type Lease = B::Lease;

    const ROLLS_BACK: bool = true;
    const LEASE_USES_TX: bool = B::LEASE_USES_TX;

    fn begin(&self) -> impl Future<Output = Result<Self::Tx, StoreError>> + Send {
        self.inner.begin()
    }

    fn commit(&self, tx: Self::Tx) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.inner.commit(tx)
    }

    fn init_checkpoint(
        &self,
        tx: &mut Self::Tx,
        name: &str,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        self.inner.init_checkpoint(tx, name)
    }

    fn lock_checkpoint(
        &self,
        tx: &mut Self::Tx,
        name: &str,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send {
        self.inner.lock_checkpoint(tx, name)
    }

    fn save_checkpoint(
        &self,
        tx: &mut Self::Tx,
        name: &str,
        position: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.inner.save_checkpoint(tx, name, position)
    }

    fn savepoint(
        &self,
        tx: &mut Self::Tx,
        step: Savepoint,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.inner.savepoint(tx, step)
    }

    fn record_dead_letter(
        &self,
        tx: &mut Self::Tx,
        name: &str,
        failed: Failed<'_>,
        error: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.inner.record_dead_letter(tx, name, failed, error)
    }

    fn dead_letters(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<DeadLetter>, StoreError>> + Send {
        self.inner.dead_letters(name)
    }

    fn clear_dead_letters(
        &self,
        tx: &mut Self::Tx,
        name: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.inner.clear_dead_letters(tx, name)
    }

    fn try_lease(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<Self::Lease>, StoreError>> + Send {
        self.inner.try_lease(name)
    }

    fn lease_alive(
        &self,
        lease: &mut Self::Lease,
        tx: Option<&mut Self::Tx>,
    ) -> impl Future<Output = bool> + Send {
        self.inner.lease_alive(lease, tx)
    }

    fn release_lease(&self, lease: Self::Lease) -> impl Future<Output = ()> + Send {
        self.inner.release_lease(lease)
    }

    fn consumer_status(
        &self,
        name: &str,
        types: Option<&[&str]>,
    ) -> impl Future<Output = Result<ConsumerStatus, StoreError>> + Send {
        self.inner.consumer_status(name, types)
    }

    // The partition reads and the lease survey go to the wrapped store (its
    // own SQL where it has some).
    fn read_partition(
        &self,
        after_position: u64,
        limit: usize,
        types: Option<&[&str]>,
        partition: Partition,
    ) -> impl Future<Output = Result<ReadAllPage, StoreError>> + Send {
        self.inner
            .read_partition(after_position, limit, types, partition)
    }

    fn partition_status(
        &self,
        name: &str,
        types: Option<&[&str]>,
        partition: Partition,
    ) -> impl Future<Output = Result<ConsumerStatus, StoreError>> + Send {
        self.inner.partition_status(name, types, partition)
    }

    fn leases_held(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<Option<Vec<bool>>, StoreError>> + Send {
        self.inner.leases_held(names)
    }

    fn is_transient(err: &(dyn std::error::Error + 'static)) -> bool {
        B::is_transient(err)
    }

    fn poll_interval(&self) -> Duration {
        self.inner.poll_interval()
    }
}
