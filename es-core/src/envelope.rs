//! Envelopes: an event on its way into a store, and one read back out of it.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::Event;
use crate::event::{DecodeError, EncodeError};

/// The time an event was recorded (UTC).
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// What travels with every event besides its payload.
///
/// ```
/// use es_core::Metadata;
/// use uuid::Uuid;
/// let request = Uuid::now_v7();
/// let m = Metadata::new()
///     .correlation_id(request)
///     .causation_id(request)
///     .actor("user-17")
///     .with("ip", "10.0.0.1");
/// assert_eq!(m.actor.as_deref(), Some("user-17"));
/// assert_eq!(m.extra["ip"], "10.0.0.1");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Metadata {
    /// Ties together every event of one business transaction or request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    /// The message (command or event) that directly caused this event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    /// The client's id for the command; a repeated id is answered from the
    /// stream's record instead of being decided again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_id: Option<Uuid>,
    /// Who or what issued the command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Free-form application data.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Metadata {
    /// Empty metadata.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the correlation id.
    pub fn correlation_id(mut self, id: Uuid) -> Self {
        self.correlation_id = Some(id);
        self
    }
    /// Sets the causation id.
    pub fn causation_id(mut self, id: Uuid) -> Self {
        self.causation_id = Some(id);
        self
    }
    /// Sets the command id that makes the command idempotent on its stream.
    pub fn command_id(mut self, id: Uuid) -> Self {
        self.command_id = Some(id);
        self
    }
    /// Sets the actor.
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }
    /// Adds one free-form entry.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// An encoded event on its way into a store.
///
/// ```
/// # use es_core::{Metadata, NewEvent};
/// let e = NewEvent::from_raw("Pinged", 1, br#"{"at":1}"#.to_vec(), Metadata::new());
/// assert_eq!(e.event_id.get_version_num(), 7);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// A fresh UUID v7 (time-ordered).
    pub event_id: Uuid,
    /// The stored type name.
    pub event_type: String,
    /// The schema version the payload is encoded at.
    pub schema_version: u32,
    /// The JSON payload.
    pub payload: Vec<u8>,
    /// Correlation, causation, command id, actor and free-form data.
    pub metadata: Metadata,
}

impl NewEvent {
    /// Encodes a typed event with a fresh event id.
    pub fn new<E: Event>(event: &E, metadata: Metadata) -> Result<Self, EncodeError> {
        Ok(Self {
            event_id: Uuid::now_v7(),
            event_type: event.event_type().to_owned(),
            schema_version: event.schema_version(),
            payload: event.encode()?,
            metadata,
        })
    }

    /// Wraps an already encoded payload, with a fresh event id.
    pub fn from_raw(
        event_type: impl Into<String>,
        schema_version: u32,
        payload: Vec<u8>,
        metadata: Metadata,
    ) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            event_type: event_type.into(),
            schema_version,
            payload,
            metadata,
        }
    }
}

/// An event as a store recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    /// The event's unique id.
    pub event_id: Uuid,
    /// The stream it belongs to.
    pub stream_id: String,
    /// Its version within the stream, from 1.
    pub stream_version: u64,
    /// Its position in the store's global order, from 1.
    pub global_position: u64,
    /// The stored type name.
    pub event_type: String,
    /// The schema version the payload was written at.
    pub schema_version: u32,
    /// The JSON payload as written.
    pub payload: Vec<u8>,
    /// Correlation, causation, command id, actor and free-form data.
    pub metadata: Metadata,
    /// When the store recorded it.
    pub recorded_at: Timestamp,
}

impl RecordedEvent {
    /// Decodes (and upcasts) the payload into a typed event.
    pub fn decode<E: Event>(&self) -> Result<E, DecodeError> {
        E::decode(&self.event_type, self.schema_version, &self.payload)
    }

    /// The stream's category: the part before the first `-`, which for
    /// repository streams (`{Aggregate::NAME}-{id}`) is the aggregate type.
    pub fn category(&self) -> &str {
        stream_category(&self.stream_id)
    }
}

/// One event of a replay, as replaying an aggregate needs it: its version,
/// type, schema version and payload, borrowed from the store's read buffer
/// (see [`EventStore::replay_stream`](crate::EventStore::replay_stream)).
///
/// ```
/// use es_core::ReplayedEvent;
/// let row = (7_u64, String::from("Added"), 1_u32, br#"{"n":2}"#.to_vec());
/// let replayed = ReplayedEvent {
///     stream_version: row.0,
///     event_type: &row.1,
///     schema_version: row.2,
///     payload: &row.3,
/// };
/// assert_eq!(replayed.event_type, "Added");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayedEvent<'a> {
    /// Its version within the stream, from 1.
    pub stream_version: u64,
    /// The stored type name.
    pub event_type: &'a str,
    /// The schema version the payload was written at.
    pub schema_version: u32,
    /// The JSON payload as written.
    pub payload: &'a [u8],
}

impl ReplayedEvent<'_> {
    /// Decodes (and upcasts) the payload into a typed event.
    pub fn decode<E: Event>(&self) -> Result<E, DecodeError> {
        E::decode(self.event_type, self.schema_version, self.payload)
    }
}

impl<'a> From<&'a RecordedEvent> for ReplayedEvent<'a> {
    fn from(e: &'a RecordedEvent) -> Self {
        Self {
            stream_version: e.stream_version,
            event_type: &e.event_type,
            schema_version: e.schema_version,
            payload: &e.payload,
        }
    }
}

/// The category of a stream id: the part before its first `-`, or the whole
/// id when it has none.
///
/// ```
/// assert_eq!(es_core::stream_category("BankAccount-acc-1"), "BankAccount");
/// ```
pub fn stream_category(stream_id: &str) -> &str {
    stream_id.split_once('-').map_or(stream_id, |(c, _)| c)
}

/// A typed event together with its recorded envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded<E> {
    /// The decoded, upcast event.
    pub event: E,
    /// The stream it belongs to.
    pub stream_id: String,
    /// Its version within the stream.
    pub stream_version: u64,
    /// Its global position.
    pub global_position: u64,
    /// Its id.
    pub event_id: Uuid,
    /// Its metadata.
    pub metadata: Metadata,
    /// When it was recorded.
    pub recorded_at: Timestamp,
}

impl<E: Event> Recorded<E> {
    /// Decodes a recorded event.
    pub fn decode(recorded: &RecordedEvent) -> Result<Self, DecodeError> {
        Ok(Self {
            event: recorded.decode()?,
            stream_id: recorded.stream_id.clone(),
            stream_version: recorded.stream_version,
            global_position: recorded.global_position,
            event_id: recorded.event_id,
            metadata: recorded.metadata.clone(),
            recorded_at: recorded.recorded_at,
        })
    }
}
