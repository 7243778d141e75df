//! `check`: does this build decode every stored event? (An admin [`Tool`](crate::Tool)
//! subcommand: it needs the application's event types.)

use std::collections::BTreeMap;

use clap::Args;
use es_core::{ErrorChain, EventStore, RecordedEvent, StoreError};
use serde::Serialize;

use crate::db::Store;
use crate::error::CliError;
use crate::out;

/// One registered event type: the names it decodes and how.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Registered {
    pub(crate) registry: es_core::EventRegistry,
    pub(crate) decode: fn(&str, u32, &[u8]) -> Result<(), es_core::DecodeError>,
    /// The JSON Schema of each of its event types (`schema`).
    #[cfg(feature = "schema")]
    pub(crate) schemas: fn() -> Vec<es_core::schema::EventSchema>,
}

/// Events read per round trip.
const PAGE: usize = 500;

/// Failures listed in full in the text output before the rest are only counted
/// (`--json` lists them all).
const TEXT_LIMIT: usize = 1000;

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// Check only these event types (comma-separated stored names; a registered type's former
    /// names are included).
    #[arg(long, value_name = "T,U", value_delimiter = ',', value_parser = parse_type_name)]
    types: Vec<String>,
    /// Check only the events after this global position (0: from the start).
    #[arg(long, value_name = "POSITION", default_value_t = 0)]
    after: u64,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
}

fn parse_type_name(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("an empty event type name; pass names separated by commas, e.g. --types AccountOpened,MoneyDeposited".to_owned());
    }
    Ok(s.to_owned())
}

/// Why one stored event does not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum FailureKind {
    /// A registered type refused it (payload, newer schema version, upcaster).
    Decode,
    /// No registered type knows its name.
    UnknownType,
    /// The store itself cannot read the row.
    Unreadable,
}

#[derive(Debug, Serialize)]
struct Failure {
    position: u64,
    stream_id: String,
    /// `None` for a row the store cannot read.
    stream_version: Option<u64>,
    event_type: Option<String>,
    schema_version: Option<u32>,
    kind: FailureKind,
    error: String,
}

#[derive(Debug, Default, Serialize)]
struct TypeCount {
    event_type: String,
    /// Whether a registered type decodes this name.
    known: bool,
    checked: u64,
    failed: u64,
}

/// What a check found.
#[derive(Debug, Default, Serialize)]
struct Report {
    /// Where the events are: "schema `es`" or "database `bank.db`".
    store: String,
    after: u64,
    /// The `--types` filter as read (with aliases), `None` for every type.
    types: Option<Vec<String>>,
    /// How far the check read.
    scanned_to: u64,
    checked: u64,
    failed: u64,
    /// Rows the store itself could not read (counted in `failed`).
    unreadable: u64,
    per_type: Vec<TypeCount>,
    failures: Vec<Failure>,
}

/// Counts as the check goes.
struct Tally<'a> {
    types: &'a [Registered],
    counts: BTreeMap<String, TypeCount>,
    report: Report,
}

impl Tally<'_> {
    fn record(&mut self, e: &RecordedEvent) {
        self.report.checked += 1;
        let known = self
            .types
            .iter()
            .find(|r| r.registry.resolve(&e.event_type).is_some());
        let count = self
            .counts
            .entry(e.event_type.clone())
            .or_insert_with(|| TypeCount {
                event_type: e.event_type.clone(),
                known: known.is_some(),
                ..TypeCount::default()
            });
        count.checked += 1;
        let failure = match known {
            Some(r) => match (r.decode)(&e.event_type, e.schema_version, &e.payload) {
                Ok(()) => return,
                Err(err) => (FailureKind::Decode, ErrorChain(&err).to_string()),
            },
            None => (
                FailureKind::UnknownType,
                format!(
                    "unknown event type `{}`: no registered event type decodes it; register the type \
                     that does (.events::<E>()) or add this name as an alias of its new name",
                    e.event_type
                ),
            ),
        };
        count.failed += 1;
        self.report.failed += 1;
        tracing::debug!(position = e.global_position, stream = %e.stream_id, error = %failure.1, "does not decode");
        self.report.failures.push(Failure {
            position: e.global_position,
            stream_id: e.stream_id.clone(),
            stream_version: Some(e.stream_version),
            event_type: Some(e.event_type.clone()),
            schema_version: Some(e.schema_version),
            kind: failure.0,
            error: failure.1,
        });
    }

    fn unreadable(&mut self, position: u64, stream_id: &str, err: &StoreError) {
        self.report.checked += 1;
        self.report.failed += 1;
        self.report.unreadable += 1;
        self.report.failures.push(Failure {
            position,
            stream_id: stream_id.to_owned(),
            stream_version: None,
            event_type: None,
            schema_version: None,
            kind: FailureKind::Unreadable,
            error: ErrorChain(err).to_string(),
        });
    }
}

/// Runs `check` and prints its report; `Ok(true)` when an event failed.
pub(crate) async fn run(
    store: &Store,
    types: &[Registered],
    args: &CheckArgs,
) -> Result<bool, CliError> {
    let report = match store {
        Store::Postgres(s) => check(s, &store.place(), types, args).await?,
        Store::Sqlite(s) => check(&s.store, &store.place(), types, args).await?,
    };
    if args.json {
        out::json_pretty(&report);
    } else {
        print_text(&report);
    }
    Ok(report.failed > 0)
}

/// The `--types` filter with each registered type's aliases (so events
/// stored under a former name are checked too).
fn type_filter(types: &[Registered], names: &[String]) -> Option<Vec<String>> {
    if names.is_empty() {
        return None;
    }
    let mut filter: Vec<String> = Vec::new();
    let mut add = |name: &str| {
        if !filter.iter().any(|n| n == name) {
            filter.push(name.to_owned());
        }
    };
    for name in names {
        add(name);
        if let Some(info) = types.iter().find_map(|r| r.registry.resolve(name)) {
            add(info.name);
            for alias in info.aliases {
                add(alias);
            }
        }
    }
    Some(filter)
}

/// Reads the events page by page and decodes each.
async fn check<S: EventStore>(
    store: &S,
    place: &str,
    types: &[Registered],
    args: &CheckArgs,
) -> Result<Report, CliError> {
    let filter = type_filter(types, &args.types);
    let filter_refs: Option<Vec<&str>> = filter
        .as_ref()
        .map(|f| f.iter().map(String::as_str).collect());
    let head = store.head_position().await?;
    let bar = out::progress(
        "checking [{bar:30}] position {pos}/{len} {per_sec} eta {eta}",
        head > 0,
    );
    bar.set_length(head);
    bar.set_position(args.after.min(head));
    let mut tally = Tally {
        types,
        counts: BTreeMap::new(),
        report: Report {
            store: place.to_owned(),
            after: args.after,
            types: filter.clone(),
            ..Report::default()
        },
    };
    let mut from = args.after;
    loop {
        match store.read_all(from, PAGE, filter_refs.as_deref()).await {
            Ok(page) => {
                let Some(last) = page.events.last().map(|e| e.global_position) else {
                    from = from.max(page.scanned_to);
                    break;
                };
                for e in &page.events {
                    tally.record(e);
                }
                from = page.scanned_to.max(last).max(from);
            }
            Err(err) => {
                // A row the store cannot read: report it and go on after it.
                let unreadable = match &err {
                    StoreError::UnreadableEvent {
                        position,
                        stream_id,
                        ..
                    } if *position > from => Some((*position, stream_id.clone())),
                    _ => None,
                };
                let Some((position, stream_id)) = unreadable else {
                    bar.finish_and_clear();
                    return Err(CliError::from(err).context("reading the events"));
                };
                tally.unreadable(position, &stream_id, &err);
                from = position;
            }
        }
        bar.set_position(from.min(head.max(from)));
    }
    bar.finish_and_clear();
    let mut report = tally.report;
    report.scanned_to = from;
    report.per_type = tally.counts.into_values().collect();
    Ok(report)
}

fn print_text(r: &Report) {
    let what = match &r.types {
        Some(t) => format!("types {}", t.join(", ")),
        None => "all types".to_owned(),
    };
    let after = if r.after > 0 {
        format!(" after position {}", r.after)
    } else {
        String::new()
    };
    out::line(format!(
        "checked {} event(s) in {}{after} ({what}), up to position {}",
        out::count(to_i64(r.checked)),
        r.store,
        r.scanned_to
    ));
    if !r.per_type.is_empty() || r.unreadable > 0 {
        let mut rows: Vec<Vec<String>> = r
            .per_type
            .iter()
            .map(|t| {
                vec![
                    t.event_type.clone(),
                    out::count(to_i64(t.checked)),
                    out::count(to_i64(t.failed)),
                    if t.known { "" } else { "unknown type" }.to_owned(),
                ]
            })
            .collect();
        if r.unreadable > 0 {
            rows.push(vec![
                "(unreadable rows)".to_owned(),
                out::count(to_i64(r.unreadable)),
                out::count(to_i64(r.unreadable)),
                "the store cannot read them".to_owned(),
            ]);
        }
        out::line("");
        out::table(&["event type", "checked", "failed", ""], &[1, 2], &rows);
    }
    out::line("");
    if r.failed == 0 {
        out::line("ok: every event decodes with this build's types");
        return;
    }
    out::line(format!(
        "FAILED: {} of {} event(s) do not decode with this build's types:",
        out::count(to_i64(r.failed)),
        out::count(to_i64(r.checked))
    ));
    for f in r.failures.iter().take(TEXT_LIMIT) {
        let what = match (&f.event_type, f.stream_version, f.schema_version) {
            (Some(t), Some(v), Some(s)) => format!("stream {} version {v}  {t}@{s}", f.stream_id),
            _ => format!("stream {} (unreadable row)", f.stream_id),
        };
        out::line(format!("  position {}  {what}: {}", f.position, f.error));
    }
    if r.failures.len() > TEXT_LIMIT {
        out::line(format!(
            "  … and {} more (--json lists them all)",
            r.failures.len() - TEXT_LIMIT
        ));
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use es_core::{DecodeError, EventRegistry, EventTypeInfo};

    use super::*;

    static TYPES: [EventTypeInfo; 2] = [
        EventTypeInfo::new("AccountOpened", 1, &[]),
        EventTypeInfo::new("MoneyDeposited", 2, &["Deposited", "CashIn"]),
    ];

    fn registered() -> Registered {
        fn decode(_: &str, _: u32, _: &[u8]) -> Result<(), DecodeError> {
            Ok(())
        }
        Registered {
            registry: EventRegistry::new(&TYPES),
            decode,
            #[cfg(feature = "schema")]
            schemas: Vec::new,
        }
    }

    #[test]
    fn the_type_filter_includes_each_registered_types_former_names() {
        let types = [registered()];
        assert_eq!(type_filter(&types, &[]), None);
        let names = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            type_filter(&types, &names(&["Deposited", "Unknown"])),
            Some(names(&["Deposited", "MoneyDeposited", "CashIn", "Unknown"]))
        );
        assert_eq!(
            type_filter(&types, &names(&["AccountOpened", "AccountOpened"])),
            Some(names(&["AccountOpened"]))
        );
    }

    #[test]
    fn an_empty_type_name_is_refused_with_the_fix() {
        let err = parse_type_name(" ").unwrap_err();
        assert!(
            err.contains("--types AccountOpened,MoneyDeposited"),
            "{err}"
        );
        assert_eq!(parse_type_name(" Opened ").unwrap(), "Opened");
    }
}
