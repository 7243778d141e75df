//! The repository's error: one enum for every way a command or a load can fail.

use std::convert::Infallible;

use crate::envelope::RecordedEvent;
use crate::event::{DecodeError, EncodeError};
use crate::store::{ExpectedVersion, InvalidStreamId, StoreError};

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

    pub(crate) fn from_decode(recorded: &RecordedEvent, e: DecodeError) -> Self {
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
