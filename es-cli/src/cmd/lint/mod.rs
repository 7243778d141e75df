//! `es lint`: things in the stored log worth a second look.
//!
//! Findings (exit 1): event names that are not past tense, payloads over a
//! size limit, streams with version gaps. Information only (exit code
//! unchanged): event types stored at more than one schema version. That is
//! what evolving an event with upcasters produces (stored events never
//! change), so it is reported to help plan a clean-up, not flagged.

use clap::Args;
use es_postgres::PgEventStore;
use serde::Serialize;

use crate::db::quote_ident;
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
    schema: String,
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
}

#[derive(Debug, Serialize)]
struct NameFinding {
    event_type: String,
    events: i64,
    reason: String,
    suggestion: Option<String>,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
struct LargePayload {
    stream_id: String,
    stream_version: i64,
    event_type: String,
    bytes: i64,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
struct VersionGap {
    stream_id: String,
    /// The version before the gap (0: the stream does not start at 1).
    after_version: i64,
    /// The next version present.
    next_version: i64,
    /// How many versions are missing between them.
    missing: i64,
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
pub(crate) async fn run(store: &PgEventStore, args: &LintArgs) -> Result<bool, CliError> {
    let s = quote_ident(store.schema());
    let pool = store.pool();

    let types: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT event_type, count(*) FROM {s}.events GROUP BY event_type ORDER BY event_type"
    ))
    .fetch_all(pool)
    .await?;
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
    let (large_payloads_total,): (i64,) = sqlx::query_as(&format!(
        "SELECT count(*) FROM {s}.events WHERE octet_length(payload::text) > $1"
    ))
    .bind(limit)
    .fetch_one(pool)
    .await?;
    let large_payloads: Vec<LargePayload> = if large_payloads_total == 0 {
        Vec::new()
    } else {
        sqlx::query_as(&format!(
            "SELECT stream_id, stream_version, event_type, \
                    octet_length(payload::text)::bigint AS bytes \
             FROM {s}.events WHERE octet_length(payload::text) > $1 \
             ORDER BY bytes DESC, stream_id, stream_version LIMIT {LIST_LIMIT}"
        ))
        .bind(limit)
        .fetch_all(pool)
        .await?
    };

    let version_gaps: Vec<VersionGap> = sqlx::query_as(&format!(
        "SELECT stream_id, after_version, next_version, \
                next_version - after_version - 1 AS missing \
         FROM (SELECT stream_id, stream_version AS next_version, \
                      lag(stream_version, 1, 0::bigint) \
                          OVER (PARTITION BY stream_id ORDER BY stream_version) AS after_version \
               FROM {s}.events) AS v \
         WHERE next_version <> after_version + 1 \
         ORDER BY stream_id, next_version LIMIT {LIST_LIMIT}"
    ))
    .fetch_all(pool)
    .await?;

    let version_rows: Vec<(String, i32, i64)> = sqlx::query_as(&format!(
        "SELECT event_type, schema_version, count(*) FROM {s}.events \
         WHERE event_type IN (SELECT event_type FROM {s}.events GROUP BY event_type \
                              HAVING count(DISTINCT schema_version) > 1) \
         GROUP BY event_type, schema_version ORDER BY event_type, schema_version"
    ))
    .fetch_all(pool)
    .await?;
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

    let findings = event_names.len()
        + usize::try_from(large_payloads_total).unwrap_or(usize::MAX)
        + version_gaps.len();
    let report = Report {
        schema: store.schema().to_owned(),
        events_checked: types.iter().map(|(_, n)| n).sum(),
        event_types_checked: types.len(),
        max_payload_bytes: args.max_payload_bytes,
        findings,
        event_names,
        large_payloads,
        large_payloads_total,
        version_gaps,
        mixed_schema_versions,
    };
    if args.json {
        out::json_pretty(&report);
    } else {
        text::print_readable(&report);
    }
    Ok(findings > 0)
}
