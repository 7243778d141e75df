//! Rendering events and differences for the fixture's failure messages.

use std::fmt::{Debug, Write as _};

use es_core::Event;
use serde_json::Value;

/// An event as the failure messages show it: type, version and payload.
pub(crate) struct Shown {
    pub(crate) event_type: &'static str,
    pub(crate) version: u32,
    pub(crate) payload: Value,
}

impl Shown {
    pub(crate) fn of<E: Event>(event: &E) -> Self {
        let payload = match event.encode() {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| Value::String(format!("<payload is not JSON: {e}>"))),
            Err(e) => Value::String(format!("<cannot encode: {e}>", e = es_core::ErrorChain(&e))),
        };
        Self {
            event_type: event.event_type(),
            version: event.schema_version(),
            payload,
        }
    }

    /// `MoneyWithdrawn v1 {"amount":50}`
    pub(crate) fn line(&self) -> String {
        format!("{} v{} {}", self.event_type, self.version, self.payload)
    }

    /// The header line and the pretty-printed payload, for line diffs.
    fn block(&self, index: usize) -> String {
        let pretty = serde_json::to_string_pretty(&self.payload).unwrap_or_default();
        let mut out = format!("#{index} {} v{}\n", self.event_type, self.version);
        for line in pretty.lines() {
            let _ = writeln!(out, "    {line}");
        }
        out
    }
}

/// A numbered list of events, one per line, or `(none)`.
pub(crate) fn list<E: Event>(events: &[E], indent: &str) -> String {
    if events.is_empty() {
        return format!("{indent}(none)\n");
    }
    let mut out = String::new();
    for (i, e) in events.iter().enumerate() {
        let _ = writeln!(out, "{indent}{}. {}", i + 1, Shown::of(e).line());
    }
    out
}

/// `1 event`, `3 events`.
pub(crate) fn count(n: usize) -> String {
    if n == 1 {
        "1 event".to_owned()
    } else {
        format!("{n} events")
    }
}

/// Compares two JSON values field by field, pushing one line per difference.
pub(crate) fn json_differences(
    path: &str,
    expected: &Value,
    actual: &Value,
    out: &mut Vec<String>,
) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, ev) in e {
                let p = format!("{path}.{key}");
                match a.get(key) {
                    Some(av) => json_differences(&p, ev, av, out),
                    None => out.push(format!("`{p}`: expected {ev}, missing in actual")),
                }
            }
            for (key, av) in a {
                if !e.contains_key(key) {
                    out.push(format!("`{path}.{key}`: not expected, actual {av}"));
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                json_differences(&format!("{path}[{i}]"), ev, av, out);
            }
            if e.len() != a.len() {
                out.push(format!(
                    "`{}`: expected {} elements, actual {}",
                    if path.is_empty() { "." } else { path },
                    e.len(),
                    a.len()
                ));
            }
        }
        (e, a) if e != a => out.push(format!(
            "`{}`: expected {e}, actual {a}",
            if path.is_empty() { "." } else { path }
        )),
        _ => {}
    }
}

/// A line diff of two texts: `-` lines only in `old`, `+` lines only in
/// `new`, unchanged lines indented.
pub(crate) fn line_diff(old: &str, new: &str, indent: &str) -> String {
    let diff = similar::TextDiff::from_lines(old, new);
    let mut out = String::new();
    for change in diff.iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => "-",
            similar::ChangeTag::Insert => "+",
            similar::ChangeTag::Equal => " ",
        };
        let _ = write!(out, "{indent}{sign} {}", change.value());
        if change.missing_newline() {
            out.push('\n');
        }
    }
    out
}

/// The line diff of two event lists, each event as a header and its
/// pretty-printed payload.
pub(crate) fn events_diff<E: Event>(expected: &[E], actual: &[E]) -> String {
    let render = |events: &[E]| -> String {
        events
            .iter()
            .enumerate()
            .map(|(i, e)| Shown::of(e).block(i + 1))
            .collect()
    };
    line_diff(&render(expected), &render(actual), "  ")
}

/// The fields whose `{:#?}` lines differ between two values:
/// `(field, line before, line after)`.
pub(crate) fn debug_field_changes<T: Debug>(before: &T, after: &T) -> Vec<(String, String)> {
    let (b, a) = (format!("{before:#?}"), format!("{after:#?}"));
    let diff = similar::TextDiff::from_lines(&b, &a);
    let mut fields: Vec<(String, String)> = Vec::new();
    for change in diff.iter_all_changes() {
        if change.tag() == similar::ChangeTag::Equal {
            continue;
        }
        let line = change.value().trim().trim_end_matches(',');
        let Some((name, _)) = line.split_once(": ") else {
            continue;
        };
        let name = name.trim_start_matches("r#");
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let side = if change.tag() == similar::ChangeTag::Delete {
            "before"
        } else {
            "after"
        };
        let entry = format!("{side}: {line}");
        match fields.iter_mut().find(|(f, _)| f == name) {
            Some((_, lines)) => {
                let _ = write!(lines, "; {entry}");
            }
            None => fields.push((name.to_owned(), entry)),
        }
    }
    fields
}

/// A type's name without module paths: `Vec<bank::Deposit>` → `Vec<Deposit>`.
pub(crate) fn short_type_name<T: ?Sized>() -> String {
    let full = std::any::type_name::<T>();
    let mut out = String::with_capacity(full.len());
    let mut segment = String::new();
    let mut chars = full.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            segment.clear();
        } else if c.is_alphanumeric() || c == '_' {
            segment.push(c);
        } else {
            out.push_str(&segment);
            segment.clear();
            out.push(c);
        }
    }
    out.push_str(&segment);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names() {
        assert_eq!(short_type_name::<String>(), "String");
        assert_eq!(
            short_type_name::<Vec<Option<String>>>(),
            "Vec<Option<String>>"
        );
    }

    #[test]
    fn json_field_paths() {
        let e = serde_json::json!({"a": 1, "b": {"c": [1, 2]}, "d": "x"});
        let a = serde_json::json!({"a": 2, "b": {"c": [1, 3, 4]}, "e": true});
        let mut out = Vec::new();
        json_differences("", &e, &a, &mut out);
        assert_eq!(
            out,
            [
                "`.a`: expected 1, actual 2",
                "`.b.c[1]`: expected 2, actual 3",
                "`.b.c`: expected 2 elements, actual 3",
                "`.d`: expected \"x\", missing in actual",
                "`.e`: not expected, actual true",
            ]
        );
    }

    #[test]
    fn debug_fields() {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct S {
            a: i32,
            note: String,
        }
        let f = debug_field_changes(
            &S {
                a: 1,
                note: "x".into(),
            },
            &S {
                a: 1,
                note: String::new(),
            },
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].0, "note");
        assert!(f[0].1.contains("before: note: \"x\""), "{}", f[0].1);
    }
}
