//! Read-your-writes: [`Progress`] and what it waits for.

use std::time::Duration;

use crate::aggregate::Aggregate;
use crate::envelope::RecordedEvent;
use crate::repository::Executed;
use crate::store::AppendResult;

/// Something written to the store, at a global position (`None`: it wrote
/// nothing, so there is nothing to wait for).
///
/// ```
/// use es_core::consumer::Written;
/// assert_eq!(7u64.written_at(), Some(7));
/// assert_eq!(es_core::AppendResult::unchanged(3).written_at(), None);
/// ```
pub trait Written {
    /// The global position of the last event written.
    fn written_at(&self) -> Option<u64>;
}

impl Written for u64 {
    fn written_at(&self) -> Option<u64> {
        Some(*self)
    }
}

impl Written for AppendResult {
    fn written_at(&self) -> Option<u64> {
        self.last_position
    }
}

impl Written for RecordedEvent {
    fn written_at(&self) -> Option<u64> {
        Some(self.global_position)
    }
}

impl<A: Aggregate> Written for Executed<A> {
    fn written_at(&self) -> Option<u64> {
        self.last_position
    }
}

impl<T: Written + ?Sized> Written for &T {
    fn written_at(&self) -> Option<u64> {
        (**self).written_at()
    }
}

/// The wait of [`Progress::wait_for`] timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "consumer has not reached position {wanted} within {waited:?} (it is at {at}); is its engine running and active?"
)]
pub struct WaitTimeout {
    /// The position waited for.
    pub wanted: u64,
    /// Where the consumer was when the wait gave up.
    pub at: u64,
    /// How long it waited.
    pub waited: Duration,
}

/// How far an [`Engine`](super::Engine) has come: every event of its types
/// at or before [`position`](Progress::position) is handled and committed.
/// From [`Engine::progress`](super::Engine::progress); cheap to clone and
/// to keep.
///
/// The position only passes a write once the store vouches that nothing
/// before it can still commit ([`ReadAllPage::scanned_to`](crate::ReadAllPage::scanned_to)),
/// so a wait is right even while positions commit out of order. It follows
/// this engine's work: an engine standing by (another process holds the
/// lease) does not move it.
#[derive(Debug, Clone)]
pub struct Progress {
    rx: tokio::sync::watch::Receiver<u64>,
}

impl Progress {
    pub(super) fn new(rx: tokio::sync::watch::Receiver<u64>) -> Self {
        Self { rx }
    }

    /// The position the consumer has handled everything up to.
    pub fn position(&self) -> u64 {
        *self.rx.borrow()
    }

    /// Waits until the position moves (`false`: the engine is gone).
    pub(crate) async fn changed(&mut self) -> bool {
        self.rx.changed().await.is_ok()
    }

    /// Waits until the consumer has handled `written` (an
    /// [`Executed`], an [`AppendResult`], a position), or `timeout` passes;
    /// returns the position reached. A write of nothing returns at once.
    pub async fn wait_for(
        &self,
        written: impl Written,
        timeout: Duration,
    ) -> Result<u64, WaitTimeout> {
        let Some(wanted) = written.written_at() else {
            return Ok(self.position());
        };
        let mut rx = self.rx.clone();
        let reached = tokio::time::timeout(timeout, rx.wait_for(|p| *p >= wanted)).await;
        match reached {
            Ok(Ok(p)) => Ok(*p),
            // The engine is gone; what it reached is final.
            Ok(Err(_)) | Err(_) => {
                let at = *self.rx.borrow();
                if at >= wanted {
                    Ok(at)
                } else {
                    Err(WaitTimeout {
                        wanted,
                        at,
                        waited: timeout,
                    })
                }
            }
        }
    }
}
