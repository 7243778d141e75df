//! The store's errors: a refused stream id, and every way a store call can fail.

use std::fmt;

use super::ExpectedVersion;
use crate::error::BoxError;

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
    /// An event matching an append's condition is in the log after the
    /// position the decision read up to
    /// ([`DcbStore::append_tagged`](crate::dcb::DcbStore::append_tagged));
    /// nothing was stored. Read again and decide again.
    #[error(
        "append condition failed: an event matching its query is at position {position}, after position {after}"
    )]
    ConditionFailed {
        /// The position the condition allowed events up to.
        after: u64,
        /// The first matching event after it.
        position: u64,
    },
    /// The stream id was refused before anything was stored.
    #[error(transparent)]
    InvalidStreamId(#[from] InvalidStreamId),
    /// An event's type holds a NUL character, which no store can keep (a
    /// PostgreSQL `text` cannot); nothing of its batch was stored. The type
    /// is shown with the NUL written as `\0`.
    #[error(
        "event type `{event_type}` on stream `{stream_id}` holds a NUL character, which no store can keep"
    )]
    InvalidEventType {
        /// The stream.
        stream_id: String,
        /// The event type, its NUL characters written as `\0`.
        event_type: String,
    },
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

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any version"),
            Self::NoStream => f.write_str("no stream"),
            Self::Exact(v) => write!(f, "version {v}"),
        }
    }
}
