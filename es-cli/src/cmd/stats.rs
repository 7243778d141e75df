//! `es stats`: what the store holds.

use chrono::{DateTime, SecondsFormat, Utc};
use clap::Args;
use es_postgres::PgEventStore;
use serde::Serialize;

use crate::db::quote_ident;
use crate::error::CliError;
use crate::out;

/// How many of the longest streams are listed.
const LONGEST: i64 = 10;

#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    /// Print one JSON document instead of tables.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Stats {
    schema: String,
    events: i64,
    streams: i64,
    /// Payload size as JSON text, summed.
    payload_bytes: i64,
    oldest: Option<DateTime<Utc>>,
    newest: Option<DateTime<Utc>>,
    event_types: Vec<EventType>,
    aggregate_types: Vec<AggregateType>,
    longest_streams: Vec<LongStream>,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
struct EventType {
    event_type: String,
    events: i64,
    payload_bytes: i64,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
struct AggregateType {
    aggregate_type: String,
    events: i64,
    streams: i64,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
struct LongStream {
    stream_id: String,
    events: i64,
    version: i64,
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "-".to_owned(),
        |t| t.to_rfc3339_opts(SecondsFormat::Millis, true),
    )
}

pub(crate) async fn run(store: &PgEventStore, args: &StatsArgs) -> Result<(), CliError> {
    let s = quote_ident(store.schema());
    let pool = store.pool();
    let (events, streams, payload_bytes, oldest, newest): (
        i64,
        i64,
        i64,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
    ) = sqlx::query_as(&format!(
        "SELECT count(*), count(DISTINCT stream_id), \
                COALESCE(sum(octet_length(payload::text)), 0)::bigint, \
                min(recorded_at), max(recorded_at) \
         FROM {s}.events"
    ))
    .fetch_one(pool)
    .await?;
    let event_types: Vec<EventType> = sqlx::query_as(&format!(
        "SELECT event_type, count(*) AS events, \
                COALESCE(sum(octet_length(payload::text)), 0)::bigint AS payload_bytes \
         FROM {s}.events GROUP BY event_type ORDER BY events DESC, event_type"
    ))
    .fetch_all(pool)
    .await?;
    let aggregate_types: Vec<AggregateType> = sqlx::query_as(&format!(
        "SELECT aggregate_type, count(*) AS events, count(DISTINCT stream_id) AS streams \
         FROM {s}.events GROUP BY aggregate_type ORDER BY events DESC, aggregate_type"
    ))
    .fetch_all(pool)
    .await?;
    let longest_streams: Vec<LongStream> = sqlx::query_as(&format!(
        "SELECT stream_id, count(*) AS events, max(stream_version) AS version \
         FROM {s}.events GROUP BY stream_id ORDER BY events DESC, stream_id LIMIT {LONGEST}"
    ))
    .fetch_all(pool)
    .await?;
    let stats = Stats {
        schema: store.schema().to_owned(),
        events,
        streams,
        payload_bytes,
        oldest,
        newest,
        event_types,
        aggregate_types,
        longest_streams,
    };
    if args.json {
        out::json_pretty(&stats);
        return Ok(());
    }
    print_readable(&stats);
    Ok(())
}

fn print_readable(stats: &Stats) {
    out::line(format!("schema         {}", stats.schema));
    out::line(format!("events         {}", out::count(stats.events)));
    out::line(format!("streams        {}", out::count(stats.streams)));
    out::line(format!(
        "payload bytes  {} ({})",
        out::count(stats.payload_bytes),
        out::bytes(stats.payload_bytes)
    ));
    out::line(format!("oldest         {}", time(stats.oldest)));
    out::line(format!("newest         {}", time(stats.newest)));
    if stats.events == 0 {
        return;
    }
    out::line("");
    out::line("event types:");
    let rows: Vec<Vec<String>> = stats
        .event_types
        .iter()
        .map(|t| {
            vec![
                t.event_type.clone(),
                out::count(t.events),
                out::bytes(t.payload_bytes),
            ]
        })
        .collect();
    out::table(&["event type", "events", "payload"], &[1, 2], &rows);
    out::line("");
    out::line("aggregate types:");
    let rows: Vec<Vec<String>> = stats
        .aggregate_types
        .iter()
        .map(|t| {
            vec![
                t.aggregate_type.clone(),
                out::count(t.events),
                out::count(t.streams),
            ]
        })
        .collect();
    out::table(&["aggregate type", "events", "streams"], &[1, 2], &rows);
    out::line("");
    out::line(format!("longest streams (top {LONGEST}):"));
    let rows: Vec<Vec<String>> = stats
        .longest_streams
        .iter()
        .map(|l| {
            vec![
                l.stream_id.clone(),
                out::count(l.events),
                l.version.to_string(),
            ]
        })
        .collect();
    out::table(&["stream", "events", "version"], &[1, 2], &rows);
}
