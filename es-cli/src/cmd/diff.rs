//! What changed between two serialized states: the JSON paths added,
//! removed and changed (`inspect` shows one list per event).

use serde::Serialize;
use serde_json::Value;

/// What happened at one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ChangeKind {
    Added,
    Removed,
    Changed,
}

/// One change: the path (`balance`, `lines[0].sku`, `tags["a b"]`; empty
/// for the whole state), and the value before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Change {
    pub(crate) path: String,
    pub(crate) kind: ChangeKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) old: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) new: Option<Value>,
}

/// The changes from `old` to `new`, in path order: objects key by key,
/// arrays index by index (a longer array adds its tail, a shorter one
/// removes it), anything else as one changed value.
pub(crate) fn diff(old: &Value, new: &Value) -> Vec<Change> {
    let mut changes = Vec::new();
    walk(String::new(), old, new, &mut changes);
    changes
}

fn key_path(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (plain, parent.is_empty()) {
        (true, true) => key.to_owned(),
        (true, false) => format!("{parent}.{key}"),
        (false, _) => format!("{parent}[{}]", Value::String(key.to_owned())),
    }
}

fn walk(path: String, old: &Value, new: &Value, out: &mut Vec<Change>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, before) in a {
                let p = key_path(&path, key);
                match b.get(key) {
                    Some(after) => walk(p, before, after, out),
                    None => out.push(removed(p, before)),
                }
            }
            for (key, after) in b {
                if !a.contains_key(key) {
                    out.push(added(key_path(&path, key), after));
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (before, after)) in a.iter().zip(b).enumerate() {
                walk(format!("{path}[{i}]"), before, after, out);
            }
            for (i, before) in a.iter().enumerate().skip(b.len()) {
                out.push(removed(format!("{path}[{i}]"), before));
            }
            for (i, after) in b.iter().enumerate().skip(a.len()) {
                out.push(added(format!("{path}[{i}]"), after));
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(Change {
            path,
            kind: ChangeKind::Changed,
            old: Some(a.clone()),
            new: Some(b.clone()),
        }),
    }
}

fn added(path: String, value: &Value) -> Change {
    Change {
        path,
        kind: ChangeKind::Added,
        old: None,
        new: Some(value.clone()),
    }
}

fn removed(path: String, value: &Value) -> Change {
    Change {
        path,
        kind: ChangeKind::Removed,
        old: Some(value.clone()),
        new: None,
    }
}

/// One line for a change: `~ balance: 100 -> 150`, `+ lines[1]: {…}`,
/// `- note: "x"`.
pub(crate) fn describe(c: &Change) -> String {
    let path = if c.path.is_empty() {
        "(state)"
    } else {
        &c.path
    };
    let show = |v: &Option<Value>| v.as_ref().map(Value::to_string).unwrap_or_default();
    match c.kind {
        ChangeKind::Added => format!("+ {path}: {}", show(&c.new)),
        ChangeKind::Removed => format!("- {path}: {}", show(&c.old)),
        ChangeKind::Changed => format!("~ {path}: {} -> {}", show(&c.old), show(&c.new)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{ChangeKind, describe, diff};

    #[test]
    fn objects_arrays_and_scalars() {
        let old = json!({"balance": 100, "open": true, "lines": [{"sku": "a"}], "note": "x"});
        let new = json!({"balance": 150, "open": true, "lines": [{"sku": "b"}, {"sku": "c"}], "odd key": 1});
        let lines: Vec<String> = diff(&old, &new).iter().map(describe).collect();
        assert_eq!(
            lines,
            [
                "~ balance: 100 -> 150",
                "~ lines[0].sku: \"a\" -> \"b\"",
                "+ lines[1]: {\"sku\":\"c\"}",
                "- note: \"x\"",
                "+ [\"odd key\"]: 1",
            ]
        );
    }

    #[test]
    fn equal_states_have_no_changes_and_a_new_shape_changes_the_whole() {
        assert!(diff(&json!({"a": [1, 2]}), &json!({"a": [1, 2]})).is_empty());
        let whole = diff(&json!(null), &json!({"a": 1}));
        assert_eq!(whole.len(), 1);
        assert_eq!(whole[0].kind, ChangeKind::Changed);
        assert_eq!(describe(&whole[0]), "~ (state): null -> {\"a\":1}");
        let shorter = diff(&json!([1, 2, 3]), &json!([1]));
        assert_eq!(shorter.len(), 2);
        assert_eq!(describe(&shorter[1]), "- [2]: 3");
    }
}
