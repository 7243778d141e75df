//! `es lint`: things in the stored log worth a second look.
//!
//! Findings (exit 1): event names that are not past tense, payloads over a
//! size limit, streams with version gaps. Information only (exit code
//! unchanged): event types stored at more than one schema version. That is
//! what evolving an event with upcasters produces (stored events never
//! change), so it is reported to help plan a clean-up, not flagged. And, on
//! PostgreSQL, statistics of the log that are missing or stale (after a
//! bulk load, before ANALYZE), which slow the server's plans.

use clap::Args;
use serde::Serialize;

use crate::backend;
use crate::backend::rows::{LargePayload, VersionGap};
use crate::db::Store;
use crate::error::CliError;
use crate::out;

mod names;
mod text;

use names::{past_tense, suggest};

/// How many rows of one kind are listed at most.
const LIST_LIMIT: i64 = 100;

#[derive(Debug, Args)]
pub(crate) struct LintArgs {
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
    /// Flag payloads larger than this (bytes of JSON text).
    #[arg(long, value_name = "N", default_value_t = 64 * 1024)]
    max_payload_bytes: u64,
}

#[derive(Debug, Serialize)]
struct Report {
    /// The PostgreSQL schema; `main` in an SQLite file.
    schema: String,
    /// The SQLite file (absent on PostgreSQL).
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<String>,
    /// "schema `es`" or "database `bank.db`", for the text.
    #[serde(skip)]
    place: String,
    events_checked: i64,
    event_types_checked: usize,
    max_payload_bytes: u64,
    findings: usize,
    event_names: Vec<NameFinding>,
    large_payloads: Vec<LargePayload>,
    /// How many events are over the limit (the list holds at most 100).
    large_payloads_total: i64,
    version_gaps: Vec<VersionGap>,
    /// Informational: not counted as findings.
    mixed_schema_versions: Vec<MixedVersions>,
    /// Informational (PostgreSQL only): the server's statistics of the log
    /// are missing or stale, so reads of the global log go in index order
    /// until ANALYZE runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    statistics_stale: Option<bool>,
}

#[derive(Debug, Serialize)]
struct NameFinding {
    event_type: String,
    events: i64,
    reason: String,
    suggestion: Option<String>,
}

#[derive(Debug, Serialize)]
struct MixedVersions {
    event_type: String,
    versions: Vec<VersionCount>,
}

#[derive(Debug, Serialize)]
struct VersionCount {
    schema_version: i32,
    events: i64,
}

/// Runs the checks; `Ok(true)` when something was found.
pub(crate) async fn run(store: &Store, args: &LintArgs) -> Result<bool, CliError> {
    let types = backend::event_type_counts(store).await?;
    let event_names: Vec<NameFinding> = types
        .iter()
        .filter_map(|(name, events)| {
            past_tense(name).err().map(|reason| NameFinding {
                event_type: name.clone(),
                events: *events,
                reason,
                suggestion: suggest(name),
            })
        })
        .collect();

    let limit = i64::try_from(args.max_payload_bytes).unwrap_or(i64::MAX);
    let (large_payloads_total, large_payloads) =
        backend::large_payloads(store, limit, LIST_LIMIT).await?;
    let version_gaps = backend::version_gaps(store, LIST_LIMIT).await?;
    let version_rows = backend::mixed_schema_versions(store).await?;
    let mut mixed_schema_versions: Vec<MixedVersions> = Vec::new();
    for (event_type, schema_version, events) in version_rows {
        let entry = VersionCount {
            schema_version,
            events,
        };
        match mixed_schema_versions.last_mut() {
            Some(m) if m.event_type == event_type => m.versions.push(entry),
            _ => mixed_schema_versions.push(MixedVersions {
                event_type,
                versions: vec![entry],
            }),
        }
    }

    let statistics_stale = backend::statistics_stale(store).await?;

    let findings = event_names.len()
        + usize::try_from(large_payloads_total).unwrap_or(usize::MAX)
        + version_gaps.len();
    let report = Report {
        schema: store.schema().to_owned(),
        database: store.database(),
        place: store.place(),
        events_checked: types.iter().map(|(_, n)| n).sum(),
        event_types_checked: types.len(),
        max_payload_bytes: args.max_payload_bytes,
        findings,
        event_names,
        large_payloads,
        large_payloads_total,
        version_gaps,
        mixed_schema_versions,
        statistics_stale,
    };
    if args.json {
        out::json_pretty(&report);
    } else {
        text::print_readable(&report);
    }
    Ok(findings > 0)
}
