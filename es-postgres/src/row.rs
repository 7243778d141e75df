//! An event row as the store's statements read it: its columns, how a row
//! decodes into a [`RecordedEvent`], how a global position is laid out, and
//! the conversions between Rust's unsigned numbers and PostgreSQL's
//! `bigint`.

use es_core::{Metadata, RecordedEvent, StoreError, StreamEnd};
use sqlx::Row;
use sqlx::postgres::PgRow;

/// How far a global position shifts the id of the transaction that wrote
/// it: the low 20 bits number the events of one transaction (see the crate
/// docs, "Global order").
pub(crate) const POSITION_SHIFT: u32 = 20;

/// The columns of an event row, in the order `decode_event_at` reads them.
pub(crate) const COLUMNS: &str = "global_position, event_id, stream_id, stream_version, event_type, \
     schema_version, payload::text AS payload, metadata::text AS metadata, recorded_at";

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(crate) fn limit_i64(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A stream read's end as its statements bind it: the last version
/// (`i64::MAX` for none) and the time bound, if any.
/// The versions and time a page of a stream read covers: from
/// `from_version` (at least 1) to the last version it may return, and the
/// time bound of [`StreamEnd::Time`].
///
/// A stream's versions are dense (1, 2, 3, … with no gap: appends take the
/// next ones and nothing is deleted), so a page of `limit` events without
/// a time bound lies within `from_version ..= from_version + limit - 1`,
/// and the statement says so: whatever plan the server picks, even on
/// stale or missing statistics (a bulk load before ANALYZE, where it
/// estimated a stream at 0.5% of the table and fetched and sorted the rest
/// of a 300,000-event stream for each page), it touches at most `limit`
/// rows. A time bound cannot narrow the versions (a later version may carry
/// an earlier time), so such a page keeps the stream's end.
pub(crate) fn stream_window(
    from_version: u64,
    to: StreamEnd,
    limit: usize,
) -> (i64, i64, Option<es_core::Timestamp>) {
    let from = from_version.max(1);
    let page_end = from.saturating_add(u64::try_from(limit.max(1)).unwrap_or(u64::MAX) - 1);
    let (to_version, to_time) = match to {
        StreamEnd::Head => (page_end, None),
        StreamEnd::Version(v) => (v.min(page_end), None),
        StreamEnd::Time(t) => (u64::MAX, Some(t)),
    };
    (to_i64(from), to_i64(to_version), to_time)
}

pub(crate) fn decode_event(row: &PgRow) -> Result<RecordedEvent, StoreError> {
    decode_event_at(row, 0)
}

/// Decodes the [`COLUMNS`] of a row that start at column `base`, by
/// position: a by-name lookup per column per row showed up in the profile
/// of long reads.
///
/// Unchecked: the row comes from the store's own statements over its own
/// schema, so the column types are known; sqlx's check of each column's
/// type against the Rust type (a type-info clone and comparison per
/// column per row) was a tenth of a catch-up's client time. A column of
/// another type would still fail to decode (wrong length, invalid UTF-8),
/// never be read as something else silently: each decoder checks its
/// bytes.
pub(crate) fn decode_event_at(row: &PgRow, base: usize) -> Result<RecordedEvent, StoreError> {
    let stream_id: String = row
        .try_get_unchecked(base + 2)
        .map_err(|e| StoreError::backend("decoding an event row", e))?;
    let backend = |e: sqlx::Error| {
        StoreError::backend(format!("decoding an event of stream `{stream_id}`"), e)
    };
    let metadata: &str = row.try_get_unchecked(base + 7).map_err(backend)?;
    // Most events carry no metadata: skip the parser for `{}`.
    let metadata: Metadata = if metadata == "{}" {
        Metadata::default()
    } else {
        serde_json::from_str(metadata).map_err(|e| StoreError::Corrupt {
            stream_id: stream_id.clone(),
            message: format!("undecodable metadata: {e}"),
        })?
    };
    let payload: String = row.try_get_unchecked(base + 6).map_err(backend)?;
    let schema_version: i32 = row.try_get_unchecked(base + 5).map_err(backend)?;
    Ok(RecordedEvent {
        global_position: to_u64(row.try_get_unchecked(base).map_err(backend)?),
        event_id: row.try_get_unchecked(base + 1).map_err(backend)?,
        stream_version: to_u64(row.try_get_unchecked(base + 3).map_err(backend)?),
        event_type: row.try_get_unchecked(base + 4).map_err(backend)?,
        schema_version: u32::try_from(schema_version).unwrap_or(0),
        payload: payload.into_bytes(),
        metadata,
        recorded_at: row.try_get_unchecked(base + 8).map_err(backend)?,
        stream_id,
    })
}
