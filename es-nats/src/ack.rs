//! What one batch's acknowledgements said ([`Acked`]), and a publish
//! JetStream did not acknowledge ([`PublishFailed`]): shared by the relay
//! and its monitor.

use async_nats::jetstream::context::{PublishError, PublishErrorKind};
use async_nats::jetstream::publish::PublishAck;
use es_core::Uuid;

/// What one batch's acknowledgements said.
#[derive(Default)]
pub(crate) struct Acked {
    pub(crate) published: u64,
    pub(crate) duplicates: u64,
    pub(crate) last: u64,
}

pub(crate) type AckResult = (u64, Uuid, Result<PublishAck, PublishError>);

impl Acked {
    pub(crate) fn add(&mut self, (position, id, r): AckResult) -> Result<(), PublishFailed> {
        let ack = r.map_err(|source| PublishFailed::new(position, id, source))?;
        if ack.duplicate {
            self.duplicates += 1;
        } else {
            self.published += 1;
        }
        self.last = position;
        Ok(())
    }
}

/// A publish JetStream did not acknowledge.
#[derive(Debug, thiserror::Error)]
#[error("publishing the event {event_id} (position {position}) to JetStream failed")]
pub struct PublishFailed {
    /// The event's global position.
    pub position: u64,
    /// The event's id.
    pub event_id: String,
    #[source]
    source: PublishError,
}

impl PublishFailed {
    pub(crate) fn new(position: u64, event_id: Uuid, source: PublishError) -> Self {
        Self {
            position,
            event_id: event_id.to_string(),
            source,
        }
    }

    /// Whether trying again may succeed: everything but a message larger
    /// than the server accepts.
    ///
    /// ```
    /// fn retry(e: &es_nats::PublishFailed) -> bool { e.is_transient() }
    /// ```
    pub fn is_transient(&self) -> bool {
        !matches!(self.source.kind(), PublishErrorKind::MaxPayloadExceeded)
    }
}
