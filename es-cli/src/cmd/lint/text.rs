//! The report as text, for people (`--json` prints the [`Report`] itself).

use super::{LIST_LIMIT, Report};
use crate::out;

pub(super) fn print_readable(r: &Report) {
    if !r.event_names.is_empty() {
        out::line("event names that are not past tense (an event names a fact that happened):");
        for f in &r.event_names {
            let hint = f
                .suggestion
                .as_ref()
                .map(|s| format!("; perhaps `{s}`"))
                .unwrap_or_default();
            out::line(format!(
                "  {} ({} event{}): {}{hint}",
                f.event_type,
                out::count(f.events),
                if f.events == 1 { "" } else { "s" },
                f.reason
            ));
        }
    }
    if !r.large_payloads.is_empty() {
        out::line(format!(
            "payloads over {} bytes ({}):",
            out::count(i64::try_from(r.max_payload_bytes).unwrap_or(i64::MAX)),
            out::count(r.large_payloads_total)
        ));
        for p in &r.large_payloads {
            out::line(format!(
                "  {} version {} ({}): {} bytes",
                p.stream_id,
                p.stream_version,
                p.event_type,
                out::count(p.bytes)
            ));
        }
        if r.large_payloads_total > LIST_LIMIT {
            out::line(format!(
                "  … and {} more",
                r.large_payloads_total - LIST_LIMIT
            ));
        }
    }
    if !r.version_gaps.is_empty() {
        out::line("streams with version gaps:");
        for g in &r.version_gaps {
            let missing = if g.missing == 1 {
                format!("version {} is missing", g.after_version + 1)
            } else {
                format!(
                    "versions {}..={} are missing",
                    g.after_version + 1,
                    g.next_version - 1
                )
            };
            if g.after_version == 0 {
                out::line(format!(
                    "  {}: starts at version {} ({missing})",
                    g.stream_id, g.next_version
                ));
            } else {
                out::line(format!(
                    "  {}: version {} is followed by {} ({missing})",
                    g.stream_id, g.after_version, g.next_version
                ));
            }
        }
    }
    if !r.mixed_schema_versions.is_empty() {
        out::line(
            "info: event types stored at several schema versions (normal after an upcast; not a finding):",
        );
        for m in &r.mixed_schema_versions {
            let parts: Vec<String> = m
                .versions
                .iter()
                .map(|v| format!("v{} × {}", v.schema_version, out::count(v.events)))
                .collect();
            out::line(format!("  {}: {}", m.event_type, parts.join(", ")));
        }
    }
    if r.statistics_stale == Some(true) {
        // Schema names are letters, digits and `_`; quoted when not lower case.
        let schema = if r.schema.chars().any(|c| c.is_ascii_uppercase()) {
            format!("\"{}\"", r.schema)
        } else {
            r.schema.clone()
        };
        out::line(format!(
            "info: the server's statistics of the log are missing or stale (a bulk load not yet analyzed); \
             reads of the global log go in index order until `ANALYZE {}.events` runs (not a finding)",
            schema
        ));
    }
    if r.findings == 0 {
        out::line(format!(
            "no findings in {} ({} events, {} event types checked)",
            r.place,
            out::count(r.events_checked),
            r.event_types_checked
        ));
    } else {
        out::line(format!(
            "{} finding{} in {}",
            r.findings,
            if r.findings == 1 { "" } else { "s" },
            r.place
        ));
    }
}
