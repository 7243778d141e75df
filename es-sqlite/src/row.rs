//! How the store writes values and reads them back: event rows, times as
//! sortable text, integers, and the corruption error when a row holds what
//! the store never wrote.

use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use es_core::{Metadata, RecordedEvent, StoreError, Timestamp, Uuid};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

pub(crate) fn decode_event(
    row: &SqliteRow,
    stream_hint: &str,
) -> Result<RecordedEvent, StoreError> {
    let stream_id: String = row
        .try_get("stream_id")
        .map_err(|e| corrupt(stream_hint, format!("event row: {e}")))?;
    let s = stream_id.as_str();
    let column = |e: sqlx::Error| corrupt(s, format!("event row: {e}"));
    let position: i64 = row.try_get("global_position").map_err(column)?;
    let event_id: String = row.try_get("event_id").map_err(column)?;
    let version: i64 = row.try_get("stream_version").map_err(column)?;
    let event_type: String = row.try_get("event_type").map_err(column)?;
    let schema_version: i64 = row.try_get("schema_version").map_err(column)?;
    let payload: Vec<u8> = row.try_get("payload").map_err(column)?;
    let metadata: String = row.try_get("metadata").map_err(column)?;
    let recorded_at: String = row.try_get("recorded_at").map_err(column)?;
    let at = |what: &str| format!("{what} of event at position {position}");
    Ok(RecordedEvent {
        event_id: Uuid::parse_str(&event_id)
            .map_err(|e| corrupt(s, format!("{} {event_id:?}: {e}", at("event id"))))?,
        stream_version: to_u64(version, s, "stream version")?,
        global_position: to_u64(position, s, "global position")?,
        event_type,
        schema_version: u32::try_from(schema_version)
            .map_err(|_| corrupt(s, format!("{} {schema_version}", at("schema version"))))?,
        payload,
        metadata: serde_json::from_str::<Metadata>(&metadata)
            .map_err(|e| corrupt(s, format!("{}: {e}", at("metadata"))))?,
        recorded_at: parse_time(&recorded_at)
            .map_err(|e| corrupt(s, format!("{} {recorded_at:?}: {e}", at("recorded_at"))))?,
        stream_id,
    })
}

pub(crate) fn corrupt(stream_id: &str, message: String) -> StoreError {
    StoreError::Corrupt {
        stream_id: stream_id.to_owned(),
        message,
    }
}

/// Recorded times are stored as RFC 3339 UTC with exactly six fractional
/// digits, so text order is time order.
pub(crate) fn format_time(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(crate) fn parse_time(s: &str) -> Result<Timestamp, chrono::ParseError> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc))
}

/// A time bound as stored text. Stored times have whole microseconds, so
/// truncating the bound keeps `recorded_at <= bound` exact; bounds outside
/// years 0..=9999 (which RFC 3339 text cannot order) are clamped.
pub(crate) fn time_bound(t: Timestamp) -> String {
    let year = t.year();
    if year > 9999 {
        return "9999-12-31T23:59:59.999999Z".to_owned();
    }
    if year < 0 {
        // Before every stored time ('-' sorts before every digit).
        return "-".to_owned();
    }
    format_time(t)
}

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(v: i64, stream_id: &str, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| corrupt(stream_id, format!("negative {what} {v}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn stored_times_sort_as_text() {
        let a = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        let b = a + chrono::Duration::microseconds(1);
        assert!(format_time(a) < format_time(b));
        assert_eq!(format_time(a), "2024-01-02T03:04:05.000000Z");
        assert_eq!(parse_time(&format_time(b)).unwrap(), b);
    }

    #[test]
    fn time_bounds_are_clamped() {
        assert_eq!(
            time_bound(DateTime::<Utc>::MAX_UTC),
            "9999-12-31T23:59:59.999999Z"
        );
        assert!(time_bound(DateTime::<Utc>::MIN_UTC) < format_time(Utc::now()));
        let t = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap()
            + chrono::Duration::nanoseconds(1_500);
        assert_eq!(time_bound(t), "2024-01-02T03:04:05.000001Z");
    }
}
