//! `inspect STREAM [--at VERSION|TIME]`: an aggregate's state after each
//! event of its stream, and what each event changed. (An admin
//! [`Tool`](crate::Tool) subcommand: it needs the aggregate's code.)

use chrono::{DateTime, SecondsFormat, Utc};
use clap::Args;
use es_core::{Aggregate, ErrorChain, EventStore, RecordedEvent, StreamEnd};
use serde::Serialize;
use serde_json::Value;

use super::diff::{self, Change};
use super::stream::{parse_time, payload_value};
use crate::db::Store;
use crate::error::{CliError, Exit};
use crate::out;

/// Events read per round trip.
const PAGE: usize = 500;

/// Why a replay stopped: at which event (`None`: the state itself) and why.
pub(crate) type ReplayError = (Option<usize>, String);

/// One registered aggregate: its name and how to replay its events.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RegisteredAggregate {
    pub(crate) name: &'static str,
    /// The serialized state before the first event, then after each.
    pub(crate) replay: fn(&[RecordedEvent]) -> Result<Vec<Value>, ReplayError>,
}

impl RegisteredAggregate {
    pub(crate) fn of<A: Aggregate>() -> Self {
        Self {
            name: A::NAME,
            replay: replay_as::<A>,
        }
    }
}

/// Decodes each event as `A::Event` (through its upcasters), applies it to
/// the state, and serializes the state after each.
fn replay_as<A: Aggregate>(events: &[RecordedEvent]) -> Result<Vec<Value>, ReplayError> {
    let serialize = |state: &A, at: Option<usize>| {
        serde_json::to_value(state).map_err(|e| {
            (
                at,
                format!("cannot serialize the state of aggregate `{}`: {e}", A::NAME),
            )
        })
    };
    let mut state = A::default();
    let mut states = Vec::with_capacity(events.len() + 1);
    states.push(serialize(&state, None)?);
    for (i, e) in events.iter().enumerate() {
        let event = e
            .decode::<A::Event>()
            .map_err(|err| (Some(i), ErrorChain(&err).to_string()))?;
        state.apply_event(&event);
        states.push(serialize(&state, Some(i))?);
    }
    Ok(states)
}

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// The stream: its full id (BankAccount-acc-1), or only the id (acc-1)
    /// when the tool knows one aggregate.
    stream: String,
    /// End at this stream version, or at the last event recorded at or
    /// before this RFC 3339 time (e.g. 2025-06-01T12:00:00Z); default: the
    /// stream's last event.
    #[arg(long, value_name = "VERSION|TIME", value_parser = parse_at)]
    at: Option<At>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
}

/// Where `--at` ends the replay.
#[derive(Debug, Clone, Copy)]
enum At {
    Version(u64),
    Time(DateTime<Utc>),
}

fn parse_at(s: &str) -> Result<At, String> {
    if s.chars().all(|c| c.is_ascii_digit()) {
        return match s.parse::<u64>() {
            Ok(0) => Err("versions start at 1".to_owned()),
            Ok(v) => Ok(At::Version(v)),
            Err(e) => Err(format!("{e}")),
        };
    }
    parse_time(s)
        .map(At::Time)
        .map_err(|e| format!("neither a stream version nor a time: {e}"))
}

#[derive(Debug, Serialize)]
struct Step {
    version: u64,
    global_position: u64,
    event_type: String,
    schema_version: u32,
    recorded_at: String,
    /// The payload as stored (before upcasting).
    payload: Value,
    changes: Vec<Change>,
    /// The state after this event.
    state: Value,
}

#[derive(Debug, Serialize)]
struct Report {
    stream_id: String,
    aggregate: &'static str,
    /// The stream's last version.
    head: u64,
    /// The version the replay ended at.
    version: u64,
    initial: Value,
    steps: Vec<Step>,
    /// The state at `version`.
    state: Value,
}

/// The aggregate a STREAM argument names, and the full stream id.
fn resolve<'a>(
    aggregates: &'a [RegisteredAggregate],
    stream: &str,
) -> Result<(&'a RegisteredAggregate, String), CliError> {
    if let Some(a) = aggregates.iter().find(|a| {
        stream
            .strip_prefix(a.name)
            .is_some_and(|r| r.starts_with('-'))
    }) {
        return Ok((a, stream.to_owned()));
    }
    match aggregates {
        [] => Err(CliError::config(format!(
            "{} knows no aggregate; register one with .aggregate::<A>() to inspect streams",
            out::program()
        ))),
        [one] => Ok((one, format!("{}-{stream}", one.name))),
        several => {
            let names: Vec<&str> = several.iter().map(|a| a.name).collect();
            Err(CliError::not_found(format!(
                "`{stream}` is not a stream of a known aggregate ({}); pass the full stream id, \
                 e.g. {}-{stream}",
                names.join(", "),
                names[0]
            )))
        }
    }
}

/// Runs `inspect` and prints the steps.
pub(crate) async fn run(
    store: &Store,
    aggregates: &[RegisteredAggregate],
    args: &InspectArgs,
) -> Result<(), CliError> {
    let (aggregate, stream_id) = resolve(aggregates, &args.stream)?;
    es_core::validate_stream_id(&stream_id).map_err(|e| CliError::not_found(e.to_string()))?;
    let place = store.place();
    let (head, events) = match store {
        Store::Postgres(s) => read(s, &place, &stream_id, args.at).await?,
        Store::Sqlite(s) => read(&s.store, &place, &stream_id, args.at).await?,
    };
    let states = (aggregate.replay)(&events).map_err(|(at, why)| match at {
        Some(i) => CliError::new(
            Exit::Findings,
            format!(
                "cannot replay event {} of stream `{stream_id}` ({}, schema version {}): {why}; \
                 `check` lists every event this build cannot read",
                events[i].stream_version, events[i].event_type, events[i].schema_version
            ),
        ),
        None => CliError::other(why),
    })?;
    let report = report(aggregate.name, stream_id, head, &events, states);
    if args.json {
        out::json_pretty(&report);
    } else {
        print_text(&report);
    }
    Ok(())
}

fn report(
    aggregate: &'static str,
    stream_id: String,
    head: u64,
    events: &[RecordedEvent],
    states: Vec<Value>,
) -> Report {
    let steps = events
        .iter()
        .zip(states.windows(2))
        .map(|(e, pair)| Step {
            version: e.stream_version,
            global_position: e.global_position,
            event_type: e.event_type.clone(),
            schema_version: e.schema_version,
            recorded_at: e.recorded_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            payload: payload_value(e),
            changes: diff::diff(&pair[0], &pair[1]),
            state: pair[1].clone(),
        })
        .collect();
    let mut states = states.into_iter();
    let initial = states.next().unwrap_or(Value::Null);
    let state = states.last().unwrap_or_else(|| initial.clone());
    Report {
        stream_id,
        aggregate,
        head,
        version: events.last().map_or(0, |e| e.stream_version),
        initial,
        steps,
        state,
    }
}

/// The stream's last version and its events up to `at`; an unknown stream,
/// a version past its end or a time before its first event is "not found".
async fn read<S: EventStore>(
    store: &S,
    place: &str,
    stream_id: &str,
    at: Option<At>,
) -> Result<(u64, Vec<RecordedEvent>), CliError> {
    let head = store.stream_version(stream_id).await?;
    if head == 0 {
        return Err(CliError::not_found(format!(
            "stream `{stream_id}` not found in {place}"
        )));
    }
    let end = match at {
        Some(At::Version(v)) if v > head => {
            return Err(CliError::not_found(format!(
                "stream `{stream_id}` ends at version {head}; --at {v} is past its end"
            )));
        }
        Some(At::Version(v)) => StreamEnd::Version(v),
        Some(At::Time(t)) => StreamEnd::Time(t),
        None => StreamEnd::Head,
    };
    let mut events: Vec<RecordedEvent> = Vec::new();
    loop {
        let from = events.last().map_or(1, |e| e.stream_version + 1);
        let page = store.read_stream(stream_id, from, end, PAGE).await?;
        let full = page.len() == PAGE;
        events.extend(page);
        if !full {
            break;
        }
    }
    if events.is_empty() {
        let first = store.read_stream(stream_id, 1, StreamEnd::Head, 1).await?;
        let when = first.first().map_or_else(String::new, |e| {
            format!(
                " (its first was recorded at {})",
                e.recorded_at.to_rfc3339_opts(SecondsFormat::Millis, true)
            )
        });
        return Err(CliError::not_found(format!(
            "stream `{stream_id}` has no event recorded at or before that time{when}"
        )));
    }
    Ok((head, events))
}

fn print_text(r: &Report) {
    out::line(format!(
        "{} (aggregate {}): {} of {} event(s), up to version {}",
        r.stream_id,
        r.aggregate,
        r.steps.len(),
        r.head,
        r.version
    ));
    out::line(format!("initial state  {}", r.initial));
    for s in &r.steps {
        out::line("");
        out::line(format!(
            "v{}  {}  {}@{}  (position {})",
            s.version, s.recorded_at, s.event_type, s.schema_version, s.global_position
        ));
        if s.changes.is_empty() {
            out::line("    (no change)");
        }
        for c in &s.changes {
            out::line(format!("    {}", diff::describe(c)));
        }
        out::line(format!("    state  {}", s.state));
    }
    out::line("");
    out::line(format!("state at version {}:", r.version));
    out::line(serde_json::to_string_pretty(&r.state).unwrap_or_else(|_| r.state.to_string()));
}

#[cfg(test)]
mod tests {
    use super::{At, RegisteredAggregate, parse_at, resolve};

    #[test]
    fn at_is_a_version_or_a_time() {
        assert!(matches!(parse_at("3"), Ok(At::Version(3))));
        assert!(matches!(parse_at("2025-06-01T12:00:00Z"), Ok(At::Time(_))));
        assert!(parse_at("0").is_err());
        assert!(parse_at("yesterday").is_err());
    }

    #[test]
    fn a_stream_is_its_full_id_or_the_one_aggregates_id() {
        let replay: fn(&[es_core::RecordedEvent]) -> _ = |_| Ok(Vec::new());
        let account = RegisteredAggregate {
            name: "BankAccount",
            replay,
        };
        let order = RegisteredAggregate {
            name: "Order",
            replay,
        };
        let one = [account];
        assert_eq!(resolve(&one, "acc-1").unwrap().1, "BankAccount-acc-1");
        assert_eq!(
            resolve(&one, "BankAccount-acc-1").unwrap().1,
            "BankAccount-acc-1"
        );
        let two = [account, order];
        assert_eq!(resolve(&two, "Order-7").unwrap().0.name, "Order");
        assert_eq!(resolve(&two, "7").unwrap_err().exit as u8, 4);
        assert_eq!(resolve(&[], "7").unwrap_err().exit as u8, 3);
    }
}
