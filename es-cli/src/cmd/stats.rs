//! `es stats`: what the store holds.

use chrono::{DateTime, SecondsFormat, Utc};
use clap::Args;
use serde::Serialize;

use crate::backend;
use crate::backend::rows::StatsData;
use crate::db::Store;
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
    /// The PostgreSQL schema; `main` in an SQLite file.
    schema: String,
    /// The SQLite file (absent on PostgreSQL).
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<String>,
    #[serde(flatten)]
    data: StatsData,
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "-".to_owned(),
        |t| t.to_rfc3339_opts(SecondsFormat::Millis, true),
    )
}

pub(crate) async fn run(store: &Store, args: &StatsArgs) -> Result<(), CliError> {
    let stats = Stats {
        schema: store.schema().to_owned(),
        database: store.database(),
        data: backend::stats(store, LONGEST).await?,
    };
    if args.json {
        out::json_pretty(&stats);
        return Ok(());
    }
    print_readable(store, &stats.data);
    Ok(())
}

fn print_readable(store: &Store, stats: &StatsData) {
    out::line(format!("{:<15}{}", store.place_kind(), store.place_name()));
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
