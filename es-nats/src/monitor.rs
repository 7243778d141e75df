//! [`RelayMonitor`]: a relay's health, and its checkpoint and lag.

use std::sync::{Arc, Mutex, PoisonError};

use es_core::consumer::{Backend, ConsumerStatus};
use es_core::{ErrorChain, StoreError, Timestamp};

use crate::ack::{Acked, PublishFailed};

/// How the relay has fared, as of its last batch.
///
/// ```
/// let h = es_nats::RelayHealth::default();
/// assert!(h.last_error.is_none() && h.failures == 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayHealth {
    /// Events JetStream acknowledged as stored, since the relay started.
    pub published: u64,
    /// Events JetStream acknowledged as duplicates (inside its window:
    /// republished after a crash or a failed batch) and dropped.
    pub duplicates: u64,
    /// The position of the last acknowledged event (0: none yet).
    pub last_position: u64,
    /// Batches that failed in a row (0 after a success): the engine is
    /// backing off while this is above 0.
    pub failures: u64,
    /// Batches that failed since the relay started.
    pub total_failures: u64,
    /// The last failure, with its causes.
    pub last_error: Option<String>,
    /// When it happened.
    pub last_error_at: Option<Timestamp>,
}

/// The relay's health and its checkpoint in one (see [`RelayMonitor::status`]).
///
/// ```
/// let s = es_nats::RelayStatus::default();
/// assert!(s.checkpoint.caught_up());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayStatus {
    /// The checkpoint, head and lag (events not yet acknowledged).
    pub checkpoint: ConsumerStatus,
    /// Counts and the last failure.
    pub health: RelayHealth,
}

/// A cloneable handle on a [`Relay`](crate::Relay)'s health (see [`Relay::monitor`](crate::Relay::monitor)).
///
/// ```no_run
/// # async fn f(js: async_nats::jetstream::Context) -> Result<(), es_core::StoreError> {
/// let store = es_core::InMemoryEventStore::new();
/// let monitor = es_nats::Relay::new(js, "shop.events").monitor();
/// let status = monitor.status(&store).await?;
/// if status.health.failures > 0 {
///     eprintln!("relay failing: {:?}, {} events behind", status.health.last_error, status.checkpoint.lag);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RelayMonitor {
    name: &'static str,
    types: Option<&'static [&'static str]>,
    health: Arc<Mutex<RelayHealth>>,
}

impl RelayMonitor {
    pub(crate) fn new(name: &'static str, types: Option<&'static [&'static str]>) -> Self {
        Self {
            name,
            types,
            health: Arc::default(),
        }
    }

    fn update<R>(&self, f: impl FnOnce(&mut RelayHealth) -> R) -> R {
        f(&mut self.health.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn succeeded(&self, acked: &Acked) {
        self.update(|h| {
            h.published += acked.published;
            h.duplicates += acked.duplicates;
            h.last_position = h.last_position.max(acked.last);
            h.failures = 0;
        });
    }

    pub(crate) fn failed(&self, e: &PublishFailed) -> u64 {
        let text = ErrorChain(e).to_string();
        self.update(|h| {
            h.failures += 1;
            h.total_failures += 1;
            h.last_error = Some(text);
            h.last_error_at = Some(chrono::Utc::now());
            h.failures
        })
    }

    /// The relay's counts and last failure, now.
    ///
    /// ```no_run
    /// # fn f(m: es_nats::RelayMonitor) {
    /// let h = m.health();
    /// println!("{} published, {} duplicates, {} failures in a row", h.published, h.duplicates, h.failures);
    /// # }
    /// ```
    pub fn health(&self) -> RelayHealth {
        self.update(|h| h.clone())
    }

    /// The health with the relay's checkpoint, head and lag, read from
    /// `store` (the store the relay's engine runs on).
    ///
    /// ```no_run
    /// # async fn f(m: es_nats::RelayMonitor, store: es_core::InMemoryEventStore) -> Result<(), es_core::StoreError> {
    /// let s = m.status(&store).await?;
    /// println!("checkpoint {}, {} behind", s.checkpoint.position, s.checkpoint.lag);
    /// # Ok(()) }
    /// ```
    pub async fn status<B: Backend>(&self, store: &B) -> Result<RelayStatus, StoreError> {
        let checkpoint = store.consumer_status(self.name, self.types).await?;
        Ok(RelayStatus {
            checkpoint,
            health: self.health(),
        })
    }
}
