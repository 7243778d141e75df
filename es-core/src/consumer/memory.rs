//! The in-memory store as a [`Backend`], and [`MemoryProjection`]: a
//! projection that keeps its model in itself, run by the [`Engine`](super::Engine).

use std::sync::Arc;

use super::backend::{Backend, Consumer, ConsumerStatus, DeadLetter, Failed, Savepoint};
use crate::envelope::RecordedEvent;
use crate::memory::{InMemoryEventStore, SharedConsumers, lock_consumers as lock};
use crate::projection::{Dispatch, HandlerError, NoResetHook, ProjectionError};
use crate::store::StoreError;

pub(crate) enum Op {
    Init(String),
    Save(String, u64),
    Dead(DeadLetter),
    Clear(String),
    Process(crate::process::memory::tables::ProcessOp),
    Document(crate::document::memory_store::tables::DocumentOp),
}

/// A batch transaction of the in-memory store: its checkpoint moves and
/// dead letters, applied together at commit. (What a [`MemoryProjection`]
/// does to itself is not undone by a rollback; the engine handles its
/// events one at a time, see [`Backend::ROLLS_BACK`].)
#[derive(Default)]
pub struct MemoryTx {
    pub(crate) ops: Vec<Op>,
    savepoints: Vec<usize>,
}

impl std::fmt::Debug for MemoryTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryTx")
            .field("ops", &self.ops.len())
            .finish()
    }
}

/// The lease of a name in an in-memory store (one active engine per name
/// per store). Dropping it gives the name up.
pub struct MemoryLease {
    consumers: SharedConsumers,
    name: String,
    id: u64,
}

impl std::fmt::Debug for MemoryLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryLease")
            .field("name", &self.name)
            .finish()
    }
}

impl Drop for MemoryLease {
    fn drop(&mut self) {
        let mut c = lock(&self.consumers);
        if c.leases.get(&self.name) == Some(&self.id) {
            c.leases.remove(&self.name);
        }
    }
}

impl InMemoryEventStore {
    /// The stored checkpoint of a consumer (`None`: it has none).
    ///
    /// ```
    /// assert_eq!(es_core::InMemoryEventStore::new().load_checkpoint("count"), None);
    /// ```
    pub fn load_checkpoint(&self, name: &str) -> Option<u64> {
        lock(self.consumers()).checkpoints.get(name).copied()
    }

    /// The dead letters of a consumer, in global order.
    ///
    /// ```
    /// assert!(es_core::InMemoryEventStore::new().dead_letters("count").is_empty());
    /// ```
    pub fn dead_letters(&self, name: &str) -> Vec<DeadLetter> {
        let mut out: Vec<DeadLetter> = lock(self.consumers())
            .dead_letters
            .iter()
            .filter(|d| d.projection == name)
            .cloned()
            .collect();
        out.sort_by_key(|d| d.global_position);
        out
    }
}

impl Backend for InMemoryEventStore {
    type Tx = MemoryTx;
    type Lease = MemoryLease;
    const ROLLS_BACK: bool = false;

    async fn begin(&self) -> Result<MemoryTx, StoreError> {
        Ok(MemoryTx::default())
    }

    async fn commit(&self, tx: MemoryTx) -> Result<(), StoreError> {
        let mut c = lock(self.consumers());
        for op in tx.ops {
            match op {
                Op::Init(name) => {
                    c.checkpoints.entry(name).or_insert(0);
                }
                Op::Save(name, p) => {
                    c.checkpoints.insert(name, p);
                }
                Op::Dead(d) => {
                    c.dead_letters.retain(|x| {
                        !(x.projection == d.projection && x.global_position == d.global_position)
                    });
                    c.dead_letters.push(d);
                }
                Op::Clear(name) => c.dead_letters.retain(|x| x.projection != name),
                Op::Process(op) => c.processes.apply(op),
                Op::Document(op) => c.documents.apply(op),
            }
        }
        Ok(())
    }

    async fn init_checkpoint(&self, tx: &mut MemoryTx, name: &str) -> Result<u64, StoreError> {
        tx.ops.push(Op::Init(name.to_owned()));
        Ok(self.load_checkpoint(name).unwrap_or(0))
    }

    async fn lock_checkpoint(
        &self,
        _: &mut MemoryTx,
        name: &str,
    ) -> Result<Option<u64>, StoreError> {
        // The lease keeps other engines of the name away; nothing else
        // moves a checkpoint.
        Ok(self.load_checkpoint(name))
    }

    async fn save_checkpoint(
        &self,
        tx: &mut MemoryTx,
        name: &str,
        position: u64,
    ) -> Result<(), StoreError> {
        tx.ops.push(Op::Save(name.to_owned(), position));
        Ok(())
    }

    async fn savepoint(&self, tx: &mut MemoryTx, step: Savepoint) -> Result<(), StoreError> {
        match step {
            Savepoint::Begin => tx.savepoints.push(tx.ops.len()),
            Savepoint::Release => {
                tx.savepoints.pop();
            }
            Savepoint::Undo => {
                if let Some(mark) = tx.savepoints.pop() {
                    tx.ops.truncate(mark);
                }
            }
        }
        Ok(())
    }

    async fn record_dead_letter(
        &self,
        tx: &mut MemoryTx,
        name: &str,
        failed: Failed<'_>,
        error: &str,
    ) -> Result<(), StoreError> {
        let position = failed.position();
        let event = match failed {
            Failed::Event(e) => Some(e.clone()),
            Failed::Unreadable(p) => self.event_at(p),
        };
        tx.ops.push(Op::Dead(DeadLetter {
            projection: name.to_owned(),
            global_position: position,
            event_id: event.as_ref().map_or_else(uuid::Uuid::nil, |e| e.event_id),
            stream_id: event
                .as_ref()
                .map(|e| e.stream_id.clone())
                .unwrap_or_default(),
            stream_version: event.as_ref().map_or(0, |e| e.stream_version),
            event_type: event
                .as_ref()
                .map(|e| e.event_type.clone())
                .unwrap_or_default(),
            schema_version: event.as_ref().map_or(0, |e| e.schema_version),
            error: error.to_owned(),
            failed_at: chrono::Utc::now(),
        }));
        Ok(())
    }

    async fn dead_letters(&self, name: &str) -> Result<Vec<DeadLetter>, StoreError> {
        Ok(InMemoryEventStore::dead_letters(self, name))
    }

    async fn clear_dead_letters(&self, tx: &mut MemoryTx, name: &str) -> Result<(), StoreError> {
        tx.ops.push(Op::Clear(name.to_owned()));
        Ok(())
    }

    async fn try_lease(&self, name: &str) -> Result<Option<MemoryLease>, StoreError> {
        let consumers = Arc::clone(self.consumers());
        let mut c = lock(&consumers);
        if c.leases.contains_key(name) {
            return Ok(None);
        }
        c.next_lease += 1;
        let id = c.next_lease;
        c.leases.insert(name.to_owned(), id);
        drop(c);
        Ok(Some(MemoryLease {
            consumers,
            name: name.to_owned(),
            id,
        }))
    }

    async fn lease_alive(&self, lease: &mut MemoryLease, _: Option<&mut MemoryTx>) -> bool {
        lock(&lease.consumers).leases.get(&lease.name) == Some(&lease.id)
    }

    async fn release_lease(&self, lease: MemoryLease) {
        drop(lease);
    }

    async fn consumer_status(
        &self,
        name: &str,
        types: Option<&[&str]>,
    ) -> Result<ConsumerStatus, StoreError> {
        let position = self.load_checkpoint(name).unwrap_or(0);
        let (head, lag) = self.type_stats(types, position);
        Ok(ConsumerStatus {
            position,
            head,
            lag,
        })
    }

    fn is_transient(_: &(dyn std::error::Error + 'static)) -> bool {
        false
    }

    fn poll_interval(&self) -> std::time::Duration {
        // Every commit wakes the engine through the store's watch; this is
        // only the fallback.
        std::time::Duration::from_millis(100)
    }
}

/// A projection that keeps its read model in itself (`Dispatch<()>`), as a
/// [`Consumer`] of the in-memory store's [`Engine`](super::Engine).
///
/// Its model cannot be rolled back, so the engine handles its events one at
/// a time and moves the checkpoint past each one that succeeded: a handler
/// that fails should leave the model as it was. A rebuild needs a way to
/// empty the model: [`MemoryProjection::reset_to_default`].
///
/// ```
/// use es_core::consumer::MemoryProjection;
/// # use es_core::projection::*; use es_core::RecordedEvent;
/// # #[derive(Default)] struct Count(u64);
/// # impl Projection for Count { const NAME: &'static str = "count"; const EVENT_TYPES: &'static [&'static str] = &[]; }
/// # impl Dispatch for Count { async fn dispatch(&mut self, _: &RecordedEvent, _: &mut ()) -> Result<(), ProjectionError> { Ok(()) } }
/// let p = MemoryProjection::new(Count(3)).reset_to_default();
/// assert_eq!(p.get().0, 3);
/// assert_eq!(p.into_inner().0, 3);
/// ```
pub struct MemoryProjection<P> {
    projection: P,
    reset: Option<fn(&mut P)>,
}

impl<P: std::fmt::Debug> std::fmt::Debug for MemoryProjection<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("MemoryProjection")
            .field(&self.projection)
            .finish()
    }
}

impl<P> MemoryProjection<P> {
    /// Wraps `projection`; it has no reset (a rebuild is refused).
    pub fn new(projection: P) -> Self {
        Self {
            projection,
            reset: None,
        }
    }

    /// A rebuild starts from `P::default()`.
    pub fn reset_to_default(mut self) -> Self
    where
        P: Default,
    {
        self.reset = Some(|p| *p = P::default());
        self
    }

    /// The projection.
    pub fn get(&self) -> &P {
        &self.projection
    }

    /// The projection, mutably.
    pub fn get_mut(&mut self) -> &mut P {
        &mut self.projection
    }

    /// The projection, unwrapped.
    pub fn into_inner(self) -> P {
        self.projection
    }
}

impl<P: Dispatch<()>> Consumer<MemoryTx> for MemoryProjection<P> {
    fn name(&self) -> &'static str {
        P::NAME
    }

    fn event_types(&self) -> Option<&'static [&'static str]> {
        Some(P::EVENT_TYPES)
    }

    async fn handle(
        &mut self,
        event: &RecordedEvent,
        _: &mut MemoryTx,
    ) -> Result<(), ProjectionError> {
        self.projection.dispatch(event, &mut ()).await
    }

    async fn reset(&mut self, _: &mut MemoryTx) -> Result<(), HandlerError> {
        match self.reset {
            Some(reset) => {
                reset(&mut self.projection);
                Ok(())
            }
            None => Err(Box::new(NoResetHook)),
        }
    }
}

impl InMemoryEventStore {
    /// Runs `handler` for each committed event of `types`, at least once,
    /// in a task of its own: [`listen`](super::listen) over this store.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let store = es_core::InMemoryEventStore::new();
    /// let listener = store.listen("audit", None, |_event| async { Ok(()) });
    /// listener.stop().await;
    /// # }
    /// ```
    pub fn listen<F, Fut>(&self, name: &str, types: Option<&[&str]>, handler: F) -> super::Listener
    where
        F: FnMut(RecordedEvent) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        super::listen(self.clone(), name, types, handler)
    }
}
