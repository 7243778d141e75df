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
        print_readable(&report);
    }
    Ok(findings > 0)
}

fn print_readable(r: &Report) {
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
    if r.findings == 0 {
        out::line(format!(
            "no findings in schema `{}` ({} events, {} event types checked)",
            r.schema,
            out::count(r.events_checked),
            r.event_types_checked
        ));
    } else {
        out::line(format!(
            "{} finding{} in schema `{}`",
            r.findings,
            if r.findings == 1 { "" } else { "s" },
            r.schema
        ));
    }
}

/// Past participles that do not end in -ed.
const IRREGULAR: &[&str] = &[
    "arisen",
    "awoken",
    "been",
    "beaten",
    "become",
    "begun",
    "bent",
    "bet",
    "bid",
    "bitten",
    "blown",
    "born",
    "borne",
    "bought",
    "bound",
    "broken",
    "brought",
    "broadcast",
    "built",
    "burnt",
    "burst",
    "cast",
    "caught",
    "chosen",
    "clung",
    "come",
    "cost",
    "crept",
    "cut",
    "dealt",
    "done",
    "drawn",
    "dreamt",
    "driven",
    "drunk",
    "dug",
    "dwelt",
    "eaten",
    "fallen",
    "fed",
    "felt",
    "fled",
    "flown",
    "forbidden",
    "forecast",
    "forgiven",
    "forgotten",
    "fought",
    "found",
    "frozen",
    "given",
    "gone",
    "got",
    "gotten",
    "ground",
    "grown",
    "had",
    "heard",
    "held",
    "hidden",
    "hit",
    "hung",
    "hurt",
    "input",
    "kept",
    "knelt",
    "known",
    "laid",
    "learnt",
    "led",
    "left",
    "lent",
    "let",
    "lit",
    "lost",
    "made",
    "meant",
    "met",
    "output",
    "paid",
    "proven",
    "put",
    "quit",
    "read",
    "rid",
    "ridden",
    "risen",
    "run",
    "rung",
    "said",
    "sat",
    "seen",
    "sent",
    "set",
    "sewn",
    "shaken",
    "shed",
    "shone",
    "shot",
    "shown",
    "shrunk",
    "shut",
    "slept",
    "slid",
    "sold",
    "sought",
    "sped",
    "spent",
    "spilt",
    "spoken",
    "split",
    "spoilt",
    "spread",
    "sprung",
    "spun",
    "stolen",
    "stood",
    "struck",
    "stuck",
    "stung",
    "sunk",
    "swept",
    "sworn",
    "swum",
    "swung",
    "taken",
    "taught",
    "thought",
    "thrown",
    "told",
    "torn",
    "undone",
    "understood",
    "upheld",
    "upset",
    "withdrawn",
    "withheld",
    "won",
    "worn",
    "wound",
    "woven",
    "written",
    "wrung",
];

/// Words ending in -ed that are not past participles.
const NOT_PAST: &[&str] = &[
    "bed", "breed", "creed", "embed", "feed", "greed", "heed", "need", "proceed", "seed", "shed",
    "shred", "sled", "sped", "speed", "steed", "succeed", "weed", "exceed",
];

/// Prefixes that keep a participle a participle (Rebuilt, Unpaid, Overpaid…).
const PREFIXES: &[&str] = &["re", "un", "pre", "over", "under", "mis", "out", "co", "de"];

/// The words of an event name: CamelCase, snake_case, kebab-case, dotted.
/// A trailing version tag (`V2`) is dropped.
fn words(name: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1).copied();
        let boundary = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_uppercase() && next.is_some_and(char::is_lowercase))
            });
        if boundary && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    if !current.is_empty() {
        words.push(current);
    }
    // A trailing version tag: MoneyDepositedV2, order_placed_v3.
    if words.len() > 1
        && words.last().is_some_and(|w| {
            let mut cs = w.chars();
            matches!(cs.next(), Some('v' | 'V'))
                && cs.clone().next().is_some()
                && cs.all(|c| c.is_ascii_digit())
        })
    {
        words.pop();
    }
    words
}

fn is_participle(word: &str) -> bool {
    let w = word.to_lowercase();
    let known = |w: &str| {
        IRREGULAR.contains(&w) || (w.ends_with("ed") && w.len() > 3 && !NOT_PAST.contains(&w))
    };
    if known(&w) {
        return true;
    }
    PREFIXES.iter().any(|p| {
        w.strip_prefix(p)
            .is_some_and(|rest| rest.len() >= 3 && IRREGULAR.contains(&rest))
    })
}

/// Whether an event name reads as past tense: its last word looks like a
/// past participle (ends in -ed or is a known irregular one). `Err` says why not.
pub(crate) fn past_tense(name: &str) -> Result<(), String> {
    let words = words(name);
    let Some(last) = words.last() else {
        return Err("the name has no words".to_owned());
    };
    if is_participle(last) {
        return Ok(());
    }
    let lower = last.to_lowercase();
    if lower.ends_with("ing") && lower.len() > 4 {
        return Err(format!(
            "the last word `{last}` is a present participle (something going on), not a fact that happened"
        ));
    }
    if words.len() > 1 && is_participle(&words[0]) {
        return Err(format!(
            "the past-tense word `{}` should come last (the name reads Subject + Verb-ed)",
            words[0]
        ));
    }
    Err(format!(
        "the last word `{last}` is not a past participle (expected a verb ending in -ed, \
         or an irregular one like Sent, Paid, Built); it reads as a command or a noun"
    ))
}

/// A past-tense rewrite for names like `CreateOrder` (imperative verb first)
/// or `ShippedOrder` (participle first): `OrderCreated`, `OrderShipped`.
fn suggest(name: &str) -> Option<String> {
    let words = words(name);
    if words.len() < 2 {
        return None;
    }
    let (first, rest) = words.split_first()?;
    let rest = rest.concat();
    if is_participle(first) {
        return Some(format!("{rest}{first}"));
    }
    let last = words.last()?.to_lowercase();
    if last.ends_with("ing") {
        return None;
    }
    // Imperative first word: make it a participle.
    let f = first.to_lowercase();
    let participle = if f.ends_with('e') {
        format!("{first}d")
    } else if f.ends_with('y') && !f.ends_with("ay") && !f.ends_with("ey") && !f.ends_with("oy") {
        format!("{}ied", &first[..first.len() - 1])
    } else {
        format!("{first}ed")
    };
    // Only when the first word looks like a verb we know to be one.
    const VERBS: &[&str] = &[
        "add", "approve", "archive", "assign", "book", "cancel", "change", "charge", "close",
        "complete", "confirm", "create", "debit", "credit", "delete", "deliver", "deposit",
        "disable", "enable", "finish", "open", "place", "publish", "register", "reject", "remove",
        "rename", "request", "reserve", "reset", "schedule", "ship", "start", "stop", "submit",
        "update", "verify", "withdraw",
    ];
    if !VERBS.contains(&f.as_str()) {
        return None;
    }
    let participle = match f.as_str() {
        "ship" => "Shipped".to_owned(),
        "cancel" => "Cancelled".to_owned(),
        "stop" => "Stopped".to_owned(),
        "withdraw" => "Withdrawn".to_owned(),
        "reset" => "Reset".to_owned(),
        _ => participle,
    };
    Some(format!("{rest}{participle}"))
}

#[cfg(test)]
mod tests {
    use super::{past_tense, suggest, words};

    #[test]
    fn splits_names_into_words() {
        assert_eq!(words("OrderPlaced"), ["Order", "Placed"]);
        assert_eq!(words("HTTPRequestSent"), ["HTTP", "Request", "Sent"]);
        assert_eq!(words("order_placed_v2"), ["order", "placed"]);
        assert_eq!(words("MoneyDepositedV2"), ["Money", "Deposited"]);
        assert_eq!(
            words("billing.invoice-paid"),
            ["billing", "invoice", "paid"]
        );
    }

    #[test]
    fn past_tense_names_pass() {
        for name in [
            "AccountOpened",
            "MoneyDeposited",
            "OrderShipped",
            "InvoiceSent",
            "InvoicePaid",
            "HouseBuilt",
            "PaymentMade",
            "FundsWithdrawn",
            "CacheRebuilt",
            "PasswordReset",
            "order_placed_v3",
        ] {
            assert_eq!(past_tense(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn other_names_fail_with_a_reason() {
        let reason = past_tense("CreateOrder").unwrap_err();
        assert!(reason.contains("`Order`"), "{reason}");
        assert!(
            past_tense("OrderShipping")
                .unwrap_err()
                .contains("present participle")
        );
        assert!(
            past_tense("ShippedOrder")
                .unwrap_err()
                .contains("should come last")
        );
        assert!(past_tense("FeedNeed").is_err());
        assert!(past_tense("Ping").is_err());
        assert!(past_tense("").is_err());
    }

    #[test]
    fn suggests_a_rewrite() {
        assert_eq!(suggest("CreateOrder").as_deref(), Some("OrderCreated"));
        assert_eq!(suggest("ShipOrder").as_deref(), Some("OrderShipped"));
        assert_eq!(suggest("ShippedOrder").as_deref(), Some("OrderShipped"));
        assert_eq!(suggest("Ping"), None);
        assert_eq!(suggest("OrderShipping"), None);
    }
}
