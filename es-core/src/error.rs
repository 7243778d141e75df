//! One error enum per layer: events ([`EncodeError`], [`DecodeError`],
//! [`UpcastError`]), stores ([`StoreError`]) and the repository
//! ([`RepositoryError`]).
//!
//! Each error's message states only its own layer (the stream, the event,
//! what was being done); the cause is its [`std::error::Error::source`], never
//! repeated in the message. A reporter that walks the chain (anyhow's `{:#}`,
//! or [`ErrorChain`]) prints every cause once.

use std::convert::Infallible;
use std::fmt;

use crate::store::ExpectedVersion;

/// A boxed error from a store's backend (a database driver, say).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An event could not be encoded, or its encoding would not decode again
/// (and would make its stream unreadable once stored).
///
/// ```
/// use es_core::Event;
/// # use serde::{Deserialize, Serialize};
/// #[derive(Debug, Serialize, Deserialize, Event)]
/// struct Measured { value: f64 }
///
/// // JSON has no NaN: serde writes `null`, which no `f64` decodes.
/// let err = Measured { value: f64::NAN }.encode().unwrap_err();
/// assert!(matches!(&err, es_core::EncodeError::Unreadable { path, .. } if path == "value"));
/// assert!(err.to_string().starts_with("event `Measured` would not read back: at `value`"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// serde refused the value (a map whose keys are not strings, a
    /// `Serialize` impl that failed).
    #[error("cannot encode event `{event_type}`")]
    Serialize {
        /// The event type.
        event_type: String,
        /// serde's error.
        #[source]
        source: serde_json::Error,
    },
    /// The encoding does not decode again as the event's type: a NaN or
    /// infinite float (encoded as `null`), nesting deeper than the decoder
    /// reads (128 levels), a `Serialize` impl its `Deserialize` does not
    /// match. Nothing was stored.
    #[error("event `{event_type}` would not read back: at `{path}`: {message}{hint}", hint = unreadable_hint(.message))]
    Unreadable {
        /// The event type.
        event_type: String,
        /// The serde path of the fault (`reading.value`), `.` for the root.
        path: String,
        /// What the decoder said.
        message: String,
    },
}

impl EncodeError {
    /// The event type that failed to encode.
    pub fn event_type(&self) -> &str {
        match self {
            Self::Serialize { event_type, .. } | Self::Unreadable { event_type, .. } => event_type,
        }
    }
}

/// The likely cause of the common case, a non-finite float.
fn unreadable_hint(message: &str) -> &'static str {
    if message.starts_with("invalid type: null") {
        " (JSON has no NaN or infinity: serde encodes them as null)"
    } else {
        ""
    }
}

/// A step of an upcast chain failed.
///
/// ```
/// let e = es_core::UpcastError::missing_field("amount");
/// assert_eq!(e.to_string(), "missing field `amount`");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct UpcastError {
    message: String,
}

impl UpcastError {
    /// An upcast failure with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
    /// The old payload lacks a field the step needs.
    pub fn missing_field(field: &str) -> Self {
        Self::new(format!("missing field `{field}`"))
    }
    /// The old payload is not a JSON object.
    pub fn not_an_object() -> Self {
        Self::new("payload is not a JSON object")
    }
}

impl From<serde_json::Error> for UpcastError {
    fn from(e: serde_json::Error) -> Self {
        Self::new(e.to_string())
    }
}

/// A stored event could not be turned into a typed event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// No type of this event enum is stored under this name.
    #[error("unknown event type `{event_type}`; known types: {}", known.join(", "))]
    UnknownEventType {
        /// The stored name.
        event_type: String,
        /// The names (and aliases) the type decodes.
        known: Vec<&'static str>,
    },
    /// The stored schema version is above the one this code knows.
    #[error(
        "event `{event_type}` has schema version {stored} but this code knows versions up to {current}: it was written by newer code"
    )]
    NewerVersion {
        /// The stored name.
        event_type: String,
        /// The stored version.
        stored: u32,
        /// The current version of the code.
        current: u32,
    },
    /// The stored version is 0, which no code writes.
    #[error("event `{event_type}` has schema version 0; versions start at 1")]
    InvalidVersion {
        /// The stored name.
        event_type: String,
    },
    /// The payload does not match the type's shape.
    #[error(
        "cannot decode `{event_type}` (schema version {schema_version}) at `{path}`: {message}"
    )]
    Payload {
        /// The stored name.
        event_type: String,
        /// The version the payload was read as.
        schema_version: u32,
        /// The serde path of the fault (`items[2].price`), `.` for the root.
        path: String,
        /// serde's message.
        message: String,
    },
    /// An upcast step failed.
    #[error("cannot upcast `{event_type}` from schema version {from}")]
    Upcast {
        /// The stored name.
        event_type: String,
        /// The version the failing step starts from.
        from: u32,
        /// The step's error.
        #[source]
        source: UpcastError,
    },
}

/// Why a stream id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidStreamId {
    /// The id is empty.
    #[error("stream id is empty")]
    Empty,
    /// The id contains a NUL byte.
    #[error("stream id {0:?} contains a NUL byte")]
    ContainsNul(String),
    /// The id is longer than [`crate::MAX_STREAM_ID_LEN`] bytes.
    #[error("stream id of {len} bytes is longer than the limit of {max} bytes (starts {prefix:?})")]
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
        /// Its first characters.
        prefix: String,
    },
}

/// A store's failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The stream is not at the version the append expected.
    #[error(
        "version conflict on stream `{stream_id}`: expected {expected}, actual version {actual}"
    )]
    VersionConflict {
        /// The stream.
        stream_id: String,
        /// What the append expected.
        expected: ExpectedVersion,
        /// The stream's version when the append ran.
        actual: u64,
    },
    /// The stream id was refused before anything was stored.
    #[error(transparent)]
    InvalidStreamId(#[from] InvalidStreamId),
    /// An event is over the store's size limit (payload and metadata
    /// together); nothing of its batch was stored.
    #[error(
        "event `{event_type}` on stream `{stream_id}` is {size} bytes (payload and metadata), over the limit of {limit} bytes"
    )]
    PayloadTooLarge {
        /// The stream.
        stream_id: String,
        /// The event type.
        event_type: String,
        /// Its size: the payload's bytes plus the encoded metadata's.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// An event's payload or metadata would not read back (not JSON, bytes
    /// after the value, a number out of range, nested deeper than the decoder
    /// reads); nothing of its batch was stored.
    #[error("the {part} of event `{event_type}` on stream `{stream_id}` would not read back")]
    UnreadablePayload {
        /// The stream.
        stream_id: String,
        /// The event type.
        event_type: String,
        /// `"payload"` or `"metadata"`.
        part: &'static str,
        /// What the decoder said about it.
        #[source]
        source: serde_json::Error,
    },
    /// A stored record is not what the store wrote (undecodable metadata, say).
    #[error("corrupt record on stream `{stream_id}`: {message}")]
    Corrupt {
        /// The stream.
        stream_id: String,
        /// What is wrong.
        message: String,
    },
    /// One stored event cannot be read back (its metadata or a column does
    /// not decode; written by another tool, say). A global read hands out
    /// the events before it, then reports this for the event itself, so a
    /// consumer can stop naming it, or record it as a dead letter and go on
    /// past `position`.
    #[error("the event at position {position} on stream `{stream_id}` cannot be read: {message}")]
    UnreadableEvent {
        /// Its global position.
        position: u64,
        /// Its stream (`?` where the stream id itself does not decode).
        stream_id: String,
        /// What is wrong.
        message: String,
    },
    /// The backend failed (connection lost, database error, …).
    #[error("event store failure ({context})")]
    Backend {
        /// What the store was doing, naming the stream where there is one.
        context: String,
        /// The backend's error.
        #[source]
        source: BoxError,
    },
}

impl StoreError {
    /// A backend failure with context.
    pub fn backend(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Backend {
            context: context.into(),
            source: source.into(),
        }
    }

    /// The error for the stored event at `position` that failed to decode
    /// with `cause` (a [`StoreError::Corrupt`] gives its message, anything
    /// else its text).
    pub fn unreadable(position: u64, stream_id: impl Into<String>, cause: StoreError) -> Self {
        let message = match cause {
            Self::Corrupt { message, .. } => message,
            other => other.to_string(),
        };
        Self::UnreadableEvent {
            position,
            stream_id: stream_id.into(),
            message,
        }
    }

    /// The global position of the stored event this error is about, when
    /// it is one that cannot be read back ([`StoreError::UnreadableEvent`]).
    ///
    /// ```
    /// let e = es_core::StoreError::UnreadableEvent {
    ///     position: 7,
    ///     stream_id: "Order-1".into(),
    ///     message: "undecodable metadata".into(),
    /// };
    /// assert_eq!(e.unreadable_position(), Some(7));
    /// ```
    pub fn unreadable_position(&self) -> Option<u64> {
        match self {
            Self::UnreadableEvent { position, .. } => Some(*position),
            _ => None,
        }
    }

    /// Whether this is a version conflict.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::VersionConflict { .. })
    }
}

/// The repository's error: the domain's rejection, unchanged, or what went
/// wrong around it. Loading (which decides nothing) uses
/// `RepositoryError<Infallible>`, the default.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepositoryError<E = Infallible> {
    /// The aggregate rejected the command; nothing was stored.
    #[error("command rejected on stream `{stream_id}`")]
    Rejected {
        /// The stream.
        stream_id: String,
        /// The domain's own error.
        #[source]
        error: E,
    },
    /// Another writer appended first (and retries, if any, ran out).
    #[error(
        "version conflict on stream `{stream_id}`: expected {expected}, actual version {actual}"
    )]
    Conflict {
        /// The stream.
        stream_id: String,
        /// What the append expected.
        expected: ExpectedVersion,
        /// The stream's version when the append ran.
        actual: u64,
    },
    /// A stored event of a known type could not be decoded.
    #[error("cannot decode event {version} of stream `{stream_id}`")]
    Decode {
        /// The stream.
        stream_id: String,
        /// The event's stream version.
        version: u64,
        /// Its stored type.
        event_type: String,
        /// Its stored schema version.
        schema_version: u32,
        /// Why (boxed: it is the rare path and would bloat every `Result`).
        #[source]
        source: Box<DecodeError>,
    },
    /// A stored event's type is not one the aggregate's event type knows.
    #[error("event {version} of stream `{stream_id}` has unknown type `{event_type}`; known types: {}", known.join(", "))]
    UnknownEventType {
        /// The stream.
        stream_id: String,
        /// The event's stream version.
        version: u64,
        /// Its stored type.
        event_type: String,
        /// The names the aggregate's events decode.
        known: Vec<&'static str>,
    },
    /// A new event could not be encoded.
    #[error("cannot encode an event for stream `{stream_id}`")]
    Encode {
        /// The stream.
        stream_id: String,
        /// Why.
        #[source]
        source: EncodeError,
    },
    /// The id makes an invalid stream id.
    #[error("invalid id for aggregate `{aggregate}`")]
    InvalidStreamId {
        /// The aggregate type.
        aggregate: &'static str,
        /// Why.
        #[source]
        source: InvalidStreamId,
    },
    /// The store failed.
    #[error("store failure on stream `{stream_id}`")]
    Store {
        /// The stream.
        stream_id: String,
        /// The store's error.
        #[source]
        source: StoreError,
    },
}

impl<E> RepositoryError<E> {
    /// The domain error, when the command was rejected.
    pub fn rejection(&self) -> Option<&E> {
        match self {
            Self::Rejected { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Whether this is a version conflict.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }

    pub(crate) fn from_store(stream_id: &str, e: StoreError) -> Self {
        match e {
            StoreError::VersionConflict {
                stream_id,
                expected,
                actual,
            } => Self::Conflict {
                stream_id,
                expected,
                actual,
            },
            source => Self::Store {
                stream_id: stream_id.to_owned(),
                source,
            },
        }
    }

    pub(crate) fn from_decode(recorded: &crate::envelope::RecordedEvent, e: DecodeError) -> Self {
        Self::from_decode_at(
            &recorded.stream_id,
            recorded.stream_version,
            &recorded.event_type,
            recorded.schema_version,
            e,
        )
    }

    /// The error for an event of `stream_id` that does not decode.
    pub(crate) fn from_decode_at(
        stream_id: &str,
        version: u64,
        event_type: &str,
        schema_version: u32,
        e: DecodeError,
    ) -> Self {
        match e {
            DecodeError::UnknownEventType { event_type, known } => Self::UnknownEventType {
                stream_id: stream_id.to_owned(),
                version,
                event_type,
                known,
            },
            source => Self::Decode {
                stream_id: stream_id.to_owned(),
                version,
                event_type: event_type.to_owned(),
                schema_version,
                source: Box::new(source),
            },
        }
    }
}

impl RepositoryError<Infallible> {
    /// Widens a loading error into any command's error type, so `?` works in
    /// code that both loads and executes.
    pub fn widen<E>(self) -> RepositoryError<E> {
        match self {
            Self::Rejected { error, .. } => match error {},
            Self::Conflict {
                stream_id,
                expected,
                actual,
            } => RepositoryError::Conflict {
                stream_id,
                expected,
                actual,
            },
            Self::Decode {
                stream_id,
                version,
                event_type,
                schema_version,
                source,
            } => RepositoryError::Decode {
                stream_id,
                version,
                event_type,
                schema_version,
                source,
            },
            Self::UnknownEventType {
                stream_id,
                version,
                event_type,
                known,
            } => RepositoryError::UnknownEventType {
                stream_id,
                version,
                event_type,
                known,
            },
            Self::Encode { stream_id, source } => RepositoryError::Encode { stream_id, source },
            Self::InvalidStreamId { aggregate, source } => {
                RepositoryError::InvalidStreamId { aggregate, source }
            }
            Self::Store { stream_id, source } => RepositoryError::Store { stream_id, source },
        }
    }
}

/// Displays an error followed by each of its causes, separated by `: `: the
/// one-line report of a whole chain, for logs and messages.
///
/// ```
/// use es_core::{ErrorChain, StoreError};
/// let e = StoreError::backend("appending to stream `S-1`", std::io::Error::other("disk full"));
/// assert_eq!(e.to_string(), "event store failure (appending to stream `S-1`)");
/// assert_eq!(
///     ErrorChain(&e).to_string(),
///     "event store failure (appending to stream `S-1`): disk full"
/// );
/// ```
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any version"),
            Self::NoStream => f.write_str("no stream"),
            Self::Exact(v) => write!(f, "version {v}"),
        }
    }
}
