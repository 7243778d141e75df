//! `validate`: do these event JSON files read with this build's types? (An admin
//! [`Tool`](crate::Tool) subcommand; it needs no database.)
//!
//! A file holds one event (a JSON object), a JSON array of them, or JSON lines
//! (objects one after another, usually one a line). Each event object has
//! `type` (or `event_type`), `schema_version` (optional: the type's current
//! version when absent) and `data` (or `payload`), the event's JSON.
//!
//! Lines are exact: each event's line is the line where its object starts
//! (its `{`), found from the byte offset where the parser starts reading it
//! (`StreamDeserializer::byte_offset` after the previous value, past
//! whitespace and, in an array, the `,`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use es_core::ErrorChain;
use serde::Serialize;
use serde_json::Value;

use crate::cmd::check::Registered;
use crate::error::CliError;
use crate::out;

/// Failures listed in full in the text output before the rest are only counted
/// (`--json` lists them all).
const TEXT_LIMIT: usize = 1000;

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// An event JSON file, or a directory: its `*.json` and `*.jsonl` files
    /// (not its subdirectories), in name order.
    #[arg(value_name = "FILE|DIR")]
    path: PathBuf,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
}

/// Why an event (or a file) does not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum FailureKind {
    /// The file cannot be read, or is not valid JSON (one failure for the file).
    InvalidJson,
    /// Not an event object: not an object, no `type`, no `data`, a bad `schema_version`.
    InvalidEvent,
    /// No registered type knows its name.
    UnknownType,
    /// Its schema version is newer than the one this build writes.
    NewerVersion,
    /// A registered type refused it (payload, upcaster).
    Decode,
}

#[derive(Debug, Serialize)]
struct Failure {
    file: String,
    /// 1-based: the line where the event's object starts, or where the JSON breaks.
    line: usize,
    /// Set for [`FailureKind::InvalidJson`]: the column serde reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<usize>,
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

/// What a validation found.
#[derive(Debug, Default, Serialize)]
struct Report {
    /// The path as given.
    path: String,
    /// The files read.
    files: u64,
    /// Events checked (those of the files that are valid JSON).
    checked: u64,
    /// Events that fail.
    failed: u64,
    /// Files that are not valid JSON (or cannot be read): one failure each.
    invalid_files: u64,
    per_type: Vec<TypeCount>,
    /// Every failure, file by file, in file order.
    failures: Vec<Failure>,
}

/// Runs `validate` and prints its report; `Ok(true)` when anything failed.
pub(crate) fn run(types: &[Registered], args: &ValidateArgs) -> Result<bool, CliError> {
    let files = files_of(&args.path)?;
    let mut report = Report {
        path: args.path.display().to_string(),
        files: files.len() as u64,
        ..Report::default()
    };
    let mut counts = BTreeMap::new();
    for file in &files {
        validate_file(types, file, &mut report, &mut counts);
    }
    report.per_type = counts.into_values().collect();
    if args.json {
        out::json_pretty(&report);
    } else {
        print_text(&report);
    }
    Ok(!report.failures.is_empty())
}

/// The path itself, or a directory's `*.json` / `*.jsonl` files in name order.
fn files_of(path: &Path) -> Result<Vec<PathBuf>, CliError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| CliError::config(format!("cannot read `{}`: {e}", path.display())))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| {
        CliError::config(format!(
            "cannot list the directory `{}`: {e}",
            path.display()
        ))
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| {
            CliError::config(format!(
                "cannot list the directory `{}`: {e}",
                path.display()
            ))
        })?;
        let file = entry.path();
        let json = file
            .extension()
            .is_some_and(|x| x == "json" || x == "jsonl");
        if json && file.is_file() {
            files.push(file);
        }
    }
    files.sort();
    if files.is_empty() {
        // Exit 0 still (nothing fails), but a gate pointed at the wrong directory should say so.
        out::warn(format!(
            "no *.json or *.jsonl files in `{}` (subdirectories are not read)",
            path.display()
        ));
    }
    Ok(files)
}

fn validate_file(
    types: &[Registered],
    file: &Path,
    report: &mut Report,
    counts: &mut BTreeMap<String, TypeCount>,
) {
    let name = file.display().to_string();
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => {
            report.invalid_files += 1;
            report.failures.push(Failure {
                file: name,
                line: 1,
                column: None,
                event_type: None,
                schema_version: None,
                kind: FailureKind::InvalidJson,
                error: format!("cannot read the file: {e}"),
            });
            return;
        }
    };
    let values = match values_of(&text) {
        Ok(values) => values,
        Err(e) => {
            report.invalid_files += 1;
            report.failures.push(Failure {
                file: name,
                line: e.line(),
                column: Some(e.column()),
                event_type: None,
                schema_version: None,
                kind: FailureKind::InvalidJson,
                error: format!("not valid JSON: {e}"),
            });
            return;
        }
    };
    for (offset, value) in values {
        report.checked += 1;
        let line = line_at(&text, offset);
        let failure = check_event(types, &value, counts);
        if let Err((event_type, schema_version, kind, error)) = failure {
            report.failed += 1;
            if let Some(count) = event_type.as_ref().and_then(|t| counts.get_mut(t)) {
                count.failed += 1;
            }
            report.failures.push(Failure {
                file: name.clone(),
                line,
                column: None,
                event_type,
                schema_version,
                kind,
                error,
            });
        }
    }
}

type EventFailure = (Option<String>, Option<u32>, FailureKind, String);

/// Checks one event object; counts it under its type.
fn check_event(
    types: &[Registered],
    value: &Value,
    counts: &mut BTreeMap<String, TypeCount>,
) -> Result<(), EventFailure> {
    let invalid = |t: Option<String>, v: Option<u32>, why: &str| {
        (t, v, FailureKind::InvalidEvent, why.to_owned())
    };
    let Some(object) = value.as_object() else {
        return Err(invalid(
            None,
            None,
            "not an event: expected a JSON object with `type`, `schema_version` and `data`",
        ));
    };
    let Some(event_type) = object
        .get("type")
        .or_else(|| object.get("event_type"))
        .and_then(Value::as_str)
    else {
        return Err(invalid(
            None,
            None,
            "no event type: expected a string `type` (or `event_type`)",
        ));
    };
    let known = types
        .iter()
        .find_map(|r| r.registry.resolve(event_type).map(|info| (r, info)));
    counts
        .entry(event_type.to_owned())
        .or_insert_with(|| TypeCount {
            event_type: event_type.to_owned(),
            known: known.is_some(),
            ..TypeCount::default()
        })
        .checked += 1;
    let t = Some(event_type.to_owned());
    let stated = match object.get("schema_version") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64().and_then(|v| u32::try_from(v).ok()) {
            Some(v) => Some(v),
            None => {
                return Err(invalid(
                    t,
                    None,
                    "`schema_version` is not a whole number from 0 to 4294967295",
                ));
            }
        },
    };
    let Some((registered, info)) = known else {
        return Err((
            t,
            stated,
            FailureKind::UnknownType,
            format!(
                "unknown event type `{event_type}`: no registered event type decodes it; register \
                 the type that does (.events::<E>()) or add this name as an alias of its new name"
            ),
        ));
    };
    let version = stated.unwrap_or(info.version);
    if version > info.version {
        return Err((
            t,
            Some(version),
            FailureKind::NewerVersion,
            format!(
                "event `{event_type}` has schema version {version} but this code knows versions \
                 up to {}: it was written by newer code",
                info.version
            ),
        ));
    }
    let Some(data) = object.get("data").or_else(|| object.get("payload")) else {
        return Err(invalid(
            t,
            Some(version),
            "no event data: expected `data` (or `payload`), the event's JSON",
        ));
    };
    let payload = data.to_string();
    (registered.decode)(event_type, version, payload.as_bytes()).map_err(|e| {
        (
            t,
            Some(version),
            FailureKind::Decode,
            without_position(&ErrorChain(&e).to_string()).to_owned(),
        )
    })
}

/// A decode error without serde's trailing ` at line L column C`: that
/// position is in the `data` as re-encoded for decoding, not in the file
/// (the failure's own line is).
fn without_position(message: &str) -> &str {
    let Some((head, tail)) = message.rsplit_once(" at line ") else {
        return message;
    };
    let mut words = tail.split(' ');
    let position = matches!(
        (words.next(), words.next(), words.next(), words.next()),
        (Some(l), Some("column"), Some(c), None)
            if l.bytes().all(|b| b.is_ascii_digit()) && c.bytes().all(|b| b.is_ascii_digit())
    );
    if position { head } else { message }
}

/// JSON whitespace.
fn skip_ws(text: &str, mut at: usize) -> usize {
    let bytes = text.as_bytes();
    while bytes
        .get(at)
        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        at += 1;
    }
    at
}

/// The 1-based line of a byte offset.
fn line_at(text: &str, offset: usize) -> usize {
    1 + text
        .as_bytes()
        .iter()
        .take(offset)
        .filter(|&&b| b == b'\n')
        .count()
}

/// Each top-level event value with the byte offset where it starts: the
/// elements of a top-level array, or else the values one after another (one
/// object, or JSON lines). An error carries serde's line and column in the file.
fn values_of(text: &str) -> Result<Vec<(usize, Value)>, serde_json::Error> {
    let start = skip_ws(text, 0);
    let mut values = Vec::new();
    if text.as_bytes().get(start) != Some(&b'[') {
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
        let mut end = 0;
        while let Some(value) = stream.next() {
            values.push((skip_ws(text, end), value?));
            end = stream.byte_offset();
        }
        return Ok(values);
    }
    // The whole file first: a broken array is reported where serde finds it.
    serde_json::from_str::<serde::de::IgnoredAny>(text)?;
    // Valid: walk the elements, each from its own offset.
    let mut at = skip_ws(text, start + 1);
    if text.as_bytes().get(at) == Some(&b']') {
        return Ok(values);
    }
    while let Some(rest) = text.get(at..) {
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
        let Some(value) = stream.next() else { break };
        values.push((at, value?));
        at = skip_ws(text, at + stream.byte_offset());
        if text.as_bytes().get(at) != Some(&b',') {
            break; // `]`: checked above
        }
        at = skip_ws(text, at + 1);
    }
    Ok(values)
}

fn print_text(r: &Report) {
    out::line(format!(
        "validated {} event(s) in {} file(s) at `{}`",
        out::count(to_i64(r.checked)),
        out::count(to_i64(r.files)),
        r.path
    ));
    if !r.per_type.is_empty() {
        let rows: Vec<Vec<String>> = r
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
        out::line("");
        out::table(&["event type", "checked", "failed", ""], &[1, 2], &rows);
    }
    out::line("");
    if r.failures.is_empty() {
        out::line("ok: every event decodes with this build's types");
        return;
    }
    let files = if r.invalid_files > 0 {
        format!(
            "; {} file(s) are not valid JSON",
            out::count(to_i64(r.invalid_files))
        )
    } else {
        String::new()
    };
    out::line(format!(
        "FAILED: {} of {} event(s) do not decode with this build's types{files}:",
        out::count(to_i64(r.failed)),
        out::count(to_i64(r.checked))
    ));
    for f in r.failures.iter().take(TEXT_LIMIT) {
        let at = match f.column {
            Some(c) => format!("{}:{}:{c}", f.file, f.line),
            None => format!("{}:{}", f.file, f.line),
        };
        let what = match (&f.event_type, f.schema_version) {
            (Some(t), Some(v)) => format!("  {t}@{v}"),
            (Some(t), None) => format!("  {t}"),
            _ => String::new(),
        };
        out::line(format!("  {at}{what}: {}", f.error));
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
    use super::*;

    fn starts(text: &str) -> Vec<usize> {
        values_of(text)
            .unwrap()
            .into_iter()
            .map(|(at, _)| line_at(text, at))
            .collect()
    }

    #[test]
    fn each_value_is_found_at_the_line_where_it_starts() {
        assert_eq!(starts("\n\n  {\"a\": 1}\n"), [3]);
        assert_eq!(starts("{\"a\":1}\n{\"a\":2}\n\n{\"a\":\n3}\n"), [1, 2, 4]);
        assert_eq!(
            starts("[\n  {\"a\": [1, 2]},\n\n  {\n\"b\": \"]\"}\n , 5]"),
            [2, 4, 6]
        );
        assert_eq!(starts(" [ ] "), Vec::<usize>::new());
        assert_eq!(starts(""), Vec::<usize>::new());
    }

    #[test]
    fn serdes_position_in_the_re_encoded_data_is_dropped() {
        assert_eq!(
            without_position("cannot decode `A` at `.`: missing field `x` at line 1 column 21"),
            "cannot decode `A` at `.`: missing field `x`"
        );
        assert_eq!(without_position("at line one"), "at line one");
        assert_eq!(without_position("no position"), "no position");
    }

    #[test]
    fn broken_json_is_reported_where_serde_finds_it() {
        let e = values_of("[\n {\"a\": 1},\n {\"a\": ").unwrap_err();
        assert_eq!(e.line(), 3);
        let e = values_of("{\"a\": 1}\n{\"a\" 2}").unwrap_err();
        assert_eq!((e.line(), e.column()), (2, 6));
    }
}
