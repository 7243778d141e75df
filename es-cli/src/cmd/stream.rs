//! `es stream ID`: the events of one stream.

use chrono::{DateTime, SecondsFormat, Utc};
use clap::Args;
use es_core::{EventStore, RecordedEvent, StreamEnd};
use serde::Serialize;

use crate::db::Store;
use crate::error::CliError;
use crate::out;

/// Events read per round trip.
const PAGE: usize = 500;

#[derive(Debug, Args)]
pub(crate) struct StreamArgs {
    /// The stream id, e.g. BankAccount-42.
    id: String,
    /// The first stream version to show (1 is the first event).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    from: u64,
    /// The last stream version to show.
    #[arg(long, value_name = "N", conflicts_with = "until")]
    until_version: Option<u64>,
    /// Show the events recorded at or before this time (RFC 3339, e.g. 2025-06-01T12:00:00Z).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    until: Option<DateTime<Utc>>,
    /// One JSON object per event, one per line.
    #[arg(long)]
    json: bool,
}

pub(crate) fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{e} (expected RFC 3339, e.g. 2025-06-01T12:00:00Z)"))
}

#[derive(Serialize)]
struct JsonEvent<'a> {
    stream_id: &'a str,
    stream_version: u64,
    global_position: u64,
    event_id: String,
    event_type: &'a str,
    schema_version: u32,
    recorded_at: String,
    payload: serde_json::Value,
    metadata: serde_json::Value,
}

pub(crate) fn payload_value(e: &RecordedEvent) -> serde_json::Value {
    serde_json::from_slice(&e.payload)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&e.payload).into()))
}

fn print_event(e: &RecordedEvent, json: bool) {
    let metadata = serde_json::to_value(&e.metadata).unwrap_or(serde_json::Value::Null);
    let recorded_at = e.recorded_at.to_rfc3339_opts(SecondsFormat::Micros, true);
    if json {
        out::json(&JsonEvent {
            stream_id: &e.stream_id,
            stream_version: e.stream_version,
            global_position: e.global_position,
            event_id: e.event_id.to_string(),
            event_type: &e.event_type,
            schema_version: e.schema_version,
            recorded_at,
            payload: payload_value(e),
            metadata,
        });
        return;
    }
    let payload = payload_value(e).to_string();
    out::line(format!(
        "{:>4}  {}  {}@{}  {}",
        e.stream_version,
        e.recorded_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        e.event_type,
        e.schema_version,
        payload
    ));
    let empty = match &metadata {
        serde_json::Value::Object(m) => m.is_empty(),
        serde_json::Value::Null => true,
        _ => false,
    };
    if !empty {
        out::line(format!("      metadata: {metadata}"));
    }
}

pub(crate) async fn run(store: &Store, args: &StreamArgs) -> Result<(), CliError> {
    let place = store.place();
    match store {
        Store::Postgres(s) => show(s, &place, args).await,
        Store::Sqlite(s) => show(&s.store, &place, args).await,
    }
}

/// Prints the stream through the store's `EventStore` API (`place`: where
/// it is, for messages).
async fn show<S: EventStore>(store: &S, place: &str, args: &StreamArgs) -> Result<(), CliError> {
    es_core::validate_stream_id(&args.id).map_err(|e| CliError::not_found(e.to_string()))?;
    let head = store.stream_version(&args.id).await?;
    if head == 0 {
        return Err(CliError::not_found(format!(
            "stream `{}` not found in {place}",
            args.id
        )));
    }
    let end = match (args.until_version, args.until) {
        (Some(v), _) => StreamEnd::Version(v),
        (None, Some(t)) => StreamEnd::Time(t),
        (None, None) => StreamEnd::Head,
    };
    let mut from = args.from;
    let mut shown = 0usize;
    loop {
        let page = store.read_stream(&args.id, from, end, PAGE).await?;
        for e in &page {
            print_event(e, args.json);
        }
        shown += page.len();
        match page.last() {
            Some(last) if page.len() == PAGE => from = last.stream_version + 1,
            _ => break,
        }
    }
    if shown == 0 && !args.json {
        out::line(format!(
            "(no events in that range; stream `{}` is at version {head})",
            args.id
        ));
    }
    Ok(())
}
