//! [`PartitionedRunner`]: a worker that holds some of a consumer's
//! partitions, an [`Engine`] for each.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use tokio::task::JoinSet;

use super::backend::{Backend, Consumer, ConsumerStatus, DeadLetter};
use super::engine::Engine;
use super::partition::Partition;
use crate::error::ErrorChain;
use crate::projection::ProjectionError;
use crate::store::StoreError;

const DEFAULT_CLAIM_INTERVAL: Duration = Duration::from_millis(500);

type Configure<B, C> = Box<dyn Fn(Engine<B, C>) -> Engine<B, C> + Send + Sync>;

/// Runs a consumer as `count` partitions spread over worker processes: each
/// worker runs one `PartitionedRunner`, which holds some of the partitions
/// and runs an [`Engine`] ([`Engine::in_partition`]) for each.
///
/// # What holds
///
/// - An event belongs to partition `partition_hash(stream_id) % count`
///   ([`Partition`]): every event of the consumer's types is handled by one
///   partition, exactly once (each partition is an engine with its own
///   checkpoint, and the engine's exactly-once argument holds per
///   partition), and a stream's events in their order (a stream lives in
///   one partition). Events of different streams in different partitions
///   have no order between them.
/// - A partition is handled by one engine at a time: its lease
///   ([`Backend::try_lease`] under [`Partition::key`]).
/// - A worker that dies loses its leases the way the store's leases end
///   (PostgreSQL: when its connections close, at once for a killed
///   process; SQLite: when they expire, after `LEASE_TTL`); the live workers
///   take its partitions over within one claim interval after that.
/// - The partition count is recorded with the checkpoints; a worker started
///   with another count is refused ([`ProjectionError::PartitionsChanged`])
///   before it handles anything. Changing it takes a rebuild: stop every
///   worker, empty the read model, delete the checkpoints `{name}`,
///   `{name}#*`, and start the workers with the new count.
///
/// # Spreading
///
/// Each worker also holds one of `count` worker slots (a lease under
/// `{name}#worker/{k}`), and every claim interval (500 ms by default)
/// counts the slots held ([`Backend::leases_held`] where the store can
/// tell, as PostgreSQL can from `pg_locks`; otherwise by trying each slot's
/// lease, giving a free one back at once): with `live` workers, it holds at most
/// `ceil(count / live)` partitions. It takes free partitions up to that
/// share, and gives back the ones above it (the engine finishes its batch
/// and releases the lease; the partition is left to the others for two
/// claim intervals). So a worker that starts alone takes every partition,
/// and hands some over as others join; a worker beyond `count` holds none
/// and stands by. On PostgreSQL counting is one query per interval; on
/// SQLite and in memory, one lease attempt per slot and interval.
///
/// A partition's engine that stops with an error (a handler's, under
/// [`ErrorPolicy::Stop`](super::ErrorPolicy::Stop)) stops the runner: the
/// other engines finish their batch, and `run` returns the error.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::time::Duration;
///
/// use es_core::consumer::{MemoryProjection, PartitionedRunner, partitions_status};
/// use es_core::projection::{Dispatch, Projection, ProjectionError};
/// use es_core::{EventStore, ExpectedVersion, InMemoryEventStore, Metadata, NewEvent, RecordedEvent};
///
/// struct Count(Arc<AtomicU64>);
/// impl Projection for Count {
///     const NAME: &'static str = "pings";
///     const EVENT_TYPES: &'static [&'static str] = &["Pinged"];
/// }
/// impl Dispatch for Count {
///     async fn dispatch(&mut self, _: &RecordedEvent, _: &mut ()) -> Result<(), ProjectionError> {
///         self.0.fetch_add(1, Ordering::SeqCst);
///         Ok(())
///     }
/// }
///
/// let store = InMemoryEventStore::new();
/// for i in 0..8 {
///     let e = NewEvent::from_raw("Pinged", 1, b"{}".to_vec(), Metadata::new());
///     store.append(&format!("Pinger-{i}"), ExpectedVersion::Any, vec![e]).await?;
/// }
/// let seen = Arc::new(AtomicU64::new(0));
/// let counter = Arc::clone(&seen);
/// let mut worker = PartitionedRunner::new(store.clone(), 4, move |_partition| {
///     MemoryProjection::new(Count(Arc::clone(&counter)))
/// });
/// let held = worker.holding();
/// worker.run(tokio::time::sleep(Duration::from_millis(300))).await?;
/// assert_eq!(seen.load(Ordering::SeqCst), 8);
/// assert!(held.partitions().is_empty()); // all given back at the shutdown
/// let status = partitions_status(&store, "pings", Some(&["Pinged"]), 4).await?;
/// assert!(status.iter().all(|(_, s)| s.caught_up()));
/// # Ok(()) }
/// ```
pub struct PartitionedRunner<B: Backend, C, F> {
    backend: B,
    count: u32,
    factory: F,
    configure: Option<Configure<B, C>>,
    claim_interval: Duration,
    holding: Holding,
}

/// Which partitions a [`PartitionedRunner`] holds right now (a handle that
/// stays valid while it runs).
///
/// ```
/// let h = es_core::consumer::Holding::default();
/// assert!(h.partitions().is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Holding(Arc<Mutex<BTreeSet<Partition>>>);

impl Holding {
    /// The partitions held, in order (see [`PartitionedRunner`] for a
    /// worker's).
    ///
    /// ```
    /// let held = es_core::consumer::Holding::default();
    /// assert_eq!(held.partitions(), []);
    /// ```
    pub fn partitions(&self) -> Vec<Partition> {
        self.lock().iter().copied().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<Partition>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A running partition's engine task.
struct Running {
    generation: u64,
    stop: tokio::sync::oneshot::Sender<()>,
}

type Done = (Partition, u64, Result<(), ProjectionError>);

impl<B, C, F> PartitionedRunner<B, C, F>
where
    B: Backend,
    C: Consumer<B::Tx>,
    F: Fn(Partition) -> C + Send + Sync + 'static,
{
    /// A worker of a consumer split into `count` partitions (at least 1);
    /// `factory` makes the consumer of a partition each time the worker
    /// takes one.
    ///
    /// ```
    /// # use es_core::consumer::{MemoryProjection, PartitionedRunner};
    /// # use es_core::projection::{Dispatch, Projection, ProjectionError};
    /// # #[derive(Default)] struct Count;
    /// # impl Projection for Count { const NAME: &'static str = "count"; const EVENT_TYPES: &'static [&'static str] = &[]; }
    /// # impl Dispatch for Count { async fn dispatch(&mut self, _: &es_core::RecordedEvent, _: &mut ()) -> Result<(), ProjectionError> { Ok(()) } }
    /// let store = es_core::InMemoryEventStore::new();
    /// let worker = PartitionedRunner::new(store, 8, |_| MemoryProjection::new(Count))
    ///     .engine(|e| e.batch_size(200))
    ///     .claim_interval(std::time::Duration::from_secs(1));
    /// assert!(worker.holding().partitions().is_empty()); // nothing held before `run`
    /// ```
    pub fn new(backend: B, count: u32, factory: F) -> Self {
        Self {
            backend,
            count: count.max(1),
            factory,
            configure: None,
            claim_interval: DEFAULT_CLAIM_INTERVAL,
            holding: Holding::default(),
        }
    }

    /// Configures each partition's engine (batch size, error policy, poll
    /// interval, ...).
    pub fn engine(
        mut self,
        configure: impl Fn(Engine<B, C>) -> Engine<B, C> + Send + Sync + 'static,
    ) -> Self {
        self.configure = Some(Box::new(configure));
        self
    }

    /// How often the worker counts the live workers, takes free partitions
    /// and gives back those above its share (default 500 ms): the bound on
    /// a takeover once a dead worker's leases are gone.
    pub fn claim_interval(mut self, interval: Duration) -> Self {
        self.claim_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// A handle telling which partitions this worker holds.
    pub fn holding(&self) -> Holding {
        self.holding.clone()
    }

    /// Holds and runs partitions until `shutdown` completes, then stops its
    /// engines (each finishes its batch and releases its lease) and its
    /// worker slot. Returns the first error an engine stopped with, or
    /// [`ProjectionError::PartitionsChanged`] when the stored partition
    /// count is another.
    pub async fn run<S>(&mut self, shutdown: S) -> Result<(), ProjectionError>
    where
        S: Future<Output = ()> + Send,
    {
        let mut shutdown = pin!(shutdown);
        let name = (self.factory)(Partition::of("", self.count)).name();
        let mut tasks: JoinSet<Done> = JoinSet::new();
        let mut running: BTreeMap<u32, Running> = BTreeMap::new();
        let mut slot: Option<(u32, B::Lease)> = None;
        let mut resting: HashMap<u32, Instant> = HashMap::new();
        let mut generation = 0u64;
        let result = loop {
            if shutdown.as_mut().now_or_never().is_some() {
                break Ok(());
            }
            let mut failed = None;
            while let Some(done) = tasks.try_join_next() {
                if let Err(e) = self.finished(done, &mut running) {
                    failed = Some(e);
                    break;
                }
            }
            if let Some(e) = failed {
                break Err(e);
            }
            let live = match self.count_workers(name, &mut slot).await {
                Ok(live) => live,
                Err(e) => break Err(wrap(name, e)),
            };
            let share = if slot.is_some() {
                self.count.div_ceil(live.max(1))
            } else {
                0
            };
            while running.len() > share as usize {
                let Some((&index, _)) = running.last_key_value() else {
                    break;
                };
                if let Some(r) = running.remove(&index) {
                    drop(r.stop);
                }
                self.holding.lock().retain(|p| p.index() != index);
                resting.insert(index, Instant::now() + self.claim_interval * 2);
                tracing::info!(
                    consumer = name,
                    partition = index,
                    live,
                    share,
                    "giving a partition back"
                );
            }
            resting.retain(|_, until| *until > Instant::now());
            for partition in Partition::all(self.count) {
                if running.len() >= share as usize {
                    break;
                }
                let index = partition.index();
                if running.contains_key(&index) || resting.contains_key(&index) {
                    continue;
                }
                let mut engine = Engine::new(self.backend.clone(), (self.factory)(partition))
                    .in_partition(partition);
                if let Some(configure) = &self.configure {
                    engine = configure(engine);
                }
                let mut engine = engine.return_on_lost_lease();
                match engine.try_activate().await {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) if B::is_transient(&e) => {
                        tracing::warn!(consumer = name, partition = index, error = %ErrorChain(&e), "cannot take a partition; trying again");
                        continue;
                    }
                    Err(e) => return self.stop(tasks, running, slot, Err(e)).await,
                }
                generation += 1;
                let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                running.insert(index, Running { generation, stop });
                self.holding.lock().insert(partition);
                tracing::info!(
                    consumer = name,
                    partition = index,
                    live,
                    share,
                    "took a partition"
                );
                let g = generation;
                tasks.spawn(async move {
                    let r = engine.run(stopped.map(|_| ())).await;
                    (partition, g, r)
                });
            }
            tokio::select! {
                biased;
                () = shutdown.as_mut() => break Ok(()),
                Some(done) = tasks.join_next() => {
                    if let Err(e) = self.finished(done, &mut running) {
                        break Err(e);
                    }
                }
                () = tokio::time::sleep(self.claim_interval) => {}
            }
        };
        self.stop(tasks, running, slot, result).await
    }

    /// Takes note of an engine task that ended; its error, if it had one.
    fn finished(
        &self,
        done: Result<Done, tokio::task::JoinError>,
        running: &mut BTreeMap<u32, Running>,
    ) -> Result<(), ProjectionError> {
        let (partition, generation, result) = match done {
            Ok(done) => done,
            Err(e) => {
                return Err(wrap(
                    "partition",
                    StoreError::backend("running a partition's engine", e.to_string()),
                ));
            }
        };
        let index = partition.index();
        if running
            .get(&index)
            .is_some_and(|r| r.generation == generation)
        {
            running.remove(&index);
            self.holding.lock().remove(&partition);
            tracing::info!(partition = index, "a partition's engine lost its lease");
        }
        result
    }

    /// Holds a worker slot (taking the first free one) and counts the
    /// slots held, this worker's included (at least 1).
    async fn count_workers(
        &self,
        name: &str,
        slot: &mut Option<(u32, B::Lease)>,
    ) -> Result<u32, StoreError> {
        if let Some((_, lease)) = slot.as_mut()
            && !self.backend.lease_alive(lease, None).await
        {
            *slot = None;
        }
        let names: Vec<String> = (0..self.count)
            .map(|k| format!("{name}#worker/{k}"))
            .collect();
        if let Some(held) = self.backend.leases_held(&names).await? {
            // The store tells which slots are held (this worker's among
            // them): take a free one only when holding none.
            let mut live = held.iter().filter(|h| **h).count() as u32;
            if slot.is_none() {
                for (k, free) in held.iter().map(|h| !h).enumerate() {
                    if !free {
                        continue;
                    }
                    if let Some(lease) = self.backend.try_lease(&names[k]).await? {
                        *slot = Some((k as u32, lease));
                        live += 1;
                        break;
                    }
                }
            }
            return Ok(live.max(1));
        }
        let mut live = 0;
        for k in 0..self.count {
            if slot.as_ref().is_some_and(|(mine, _)| *mine == k) {
                live += 1;
                continue;
            }
            match self.backend.try_lease(&names[k as usize]).await? {
                Some(lease) if slot.is_none() => {
                    *slot = Some((k, lease));
                    live += 1;
                }
                Some(lease) => self.backend.release_lease(lease).await,
                None => live += 1,
            }
        }
        Ok(live)
    }

    /// Stops every engine (each commits or drops its batch and releases
    /// its lease), gives the worker slot back, and returns `result`.
    async fn stop(
        &self,
        mut tasks: JoinSet<Done>,
        running: BTreeMap<u32, Running>,
        slot: Option<(u32, B::Lease)>,
        mut result: Result<(), ProjectionError>,
    ) -> Result<(), ProjectionError> {
        drop(running);
        while let Some(done) = tasks.join_next().await {
            let error = match done {
                Ok((_, _, Err(e))) => Some(e),
                Err(e) => Some(wrap(
                    "partition",
                    StoreError::backend("running a partition's engine", e.to_string()),
                )),
                Ok(_) => None,
            };
            if let (Some(e), true) = (error, result.is_ok()) {
                result = Err(e);
            }
        }
        self.holding.lock().clear();
        if let Some((_, lease)) = slot {
            self.backend.release_lease(lease).await;
        }
        result
    }
}

fn wrap(projection: &'static str, source: StoreError) -> ProjectionError {
    ProjectionError::Store { projection, source }
}

/// The checkpoint, head and lag of each of the `count` partitions of
/// consumer `name` over `types` ([`Backend::partition_status`]), in order.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use es_core::InMemoryEventStore;
/// let store = InMemoryEventStore::new();
/// let status = es_core::consumer::partitions_status(&store, "orders", None, 3).await?;
/// assert_eq!(status.len(), 3);
/// assert!(status.iter().all(|(_, s)| s.caught_up()));
/// # Ok(()) }
/// ```
pub async fn partitions_status<B: Backend>(
    backend: &B,
    name: &str,
    types: Option<&[&str]>,
    count: u32,
) -> Result<Vec<(Partition, ConsumerStatus)>, StoreError> {
    let mut out = Vec::with_capacity(count as usize);
    for p in Partition::all(count.max(1)) {
        out.push((p, backend.partition_status(name, types, p).await?));
    }
    Ok(out)
}

/// The dead letters of every one of the `count` partitions of consumer
/// `name`, in global order; each names its partition's key in
/// [`DeadLetter::projection`] (`{name}#{index}/{count}`, see
/// [`Partition::key`]).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use es_core::InMemoryEventStore;
/// let store = InMemoryEventStore::new();
/// let letters = es_core::consumer::partitions_dead_letters(&store, "orders", 3).await?;
/// assert!(letters.is_empty());
/// # Ok(()) }
/// ```
pub async fn partitions_dead_letters<B: Backend>(
    backend: &B,
    name: &str,
    count: u32,
) -> Result<Vec<DeadLetter>, StoreError> {
    let mut out = Vec::new();
    for p in Partition::all(count.max(1)) {
        out.extend(backend.dead_letters(&p.key(name)).await?);
    }
    out.sort_by_key(|d| d.global_position);
    Ok(out)
}
