//! What the stores answer the commands: the rows and reports both
//! backends build and the commands print.

use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Serialize, sqlx::FromRow)]
pub(crate) struct LargePayload {
    pub(crate) stream_id: String,
    pub(crate) stream_version: i64,
    pub(crate) event_type: String,
    pub(crate) bytes: i64,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
pub(crate) struct VersionGap {
    pub(crate) stream_id: String,
    /// The version before the gap (0: the stream does not start at 1).
    pub(crate) after_version: i64,
    /// The next version present.
    pub(crate) next_version: i64,
    /// How many versions are missing between them.
    pub(crate) missing: i64,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
pub(crate) struct Checkpoint {
    pub(crate) name: String,
    pub(crate) position: i64,
    /// Events stored after the checkpoint (all types: an upper bound for a
    /// projection that handles only some).
    pub(crate) lag: i64,
    pub(crate) updated_at: DateTime<Utc>,
    /// Events its runner skipped (`dead_letters` table; 0 when the store has none).
    pub(crate) dead_letters: i64,
    /// Whether a runner holds the projection's lease right now (PostgreSQL:
    /// its advisory lock; SQLite: an unexpired row of `leases`).
    pub(crate) active: bool,
}

/// What `projections reset` found.
#[derive(Debug)]
pub(crate) enum ResetOutcome {
    /// A runner holds the lease: nothing was changed.
    Running,
    /// No checkpoint of that name; `known` lists some that exist.
    NotFound { known: Vec<String> },
    /// The checkpoint (at `position`) and `cleared` dead letters were deleted.
    Reset { position: i64, cleared: u64 },
}

/// What either store answers (see `crate::backend`).
#[derive(Debug, Serialize)]
pub(crate) struct StatsData {
    pub(crate) events: i64,
    pub(crate) streams: i64,
    /// Payload size as JSON text, summed.
    pub(crate) payload_bytes: i64,
    pub(crate) oldest: Option<DateTime<Utc>>,
    pub(crate) newest: Option<DateTime<Utc>>,
    pub(crate) event_types: Vec<EventType>,
    pub(crate) aggregate_types: Vec<AggregateType>,
    pub(crate) longest_streams: Vec<LongStream>,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
pub(crate) struct EventType {
    pub(crate) event_type: String,
    pub(crate) events: i64,
    pub(crate) payload_bytes: i64,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
pub(crate) struct AggregateType {
    pub(crate) aggregate_type: String,
    pub(crate) events: i64,
    pub(crate) streams: i64,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
pub(crate) struct LongStream {
    pub(crate) stream_id: String,
    pub(crate) events: i64,
    pub(crate) version: i64,
}
