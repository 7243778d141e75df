//! [`Condition`]: one comparison on an indexed field, and its semantics
//! (which every store's query keeps).

/// A comparison of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Equal.
    Eq,
    /// Less than.
    Lt,
    /// Less than or equal.
    Le,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Ge,
}

impl Op {
    /// The comparison's usual symbol (`=`, `<`, `<=`, `>`, `>=`), as SQL
    /// writes it.
    ///
    /// ```
    /// assert_eq!(es_core::document::Op::Le.symbol(), "<=");
    /// ```
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// `field op value` on a top-level indexed field. Numbers compare as
/// numbers, strings by their bytes; a document whose field is missing, or
/// of another JSON type than `value`, does not match.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The field.
    pub field: String,
    /// The comparison.
    pub op: Op,
    /// The value, as JSON.
    pub value: serde_json::Value,
}

impl Condition {
    /// Whether `doc` (a JSON object) matches.
    ///
    /// ```
    /// use es_core::document::{Condition, Op};
    /// let c = Condition { field: "balance".into(), op: Op::Ge, value: 10.into() };
    /// assert!(c.matches(&serde_json::json!({"balance": 12})));
    /// assert!(!c.matches(&serde_json::json!({"balance": "12"})));
    /// ```
    pub fn matches(&self, doc: &serde_json::Value) -> bool {
        use serde_json::Value;
        use std::cmp::Ordering;
        let Some(field) = doc.get(&self.field) else {
            return false;
        };
        let ordering = match (field, &self.value) {
            (Value::Number(a), Value::Number(b)) => match (a.as_i64(), b.as_i64()) {
                (Some(a), Some(b)) => Some(a.cmp(&b)),
                _ => a
                    .as_f64()
                    .zip(b.as_f64())
                    .and_then(|(a, b)| a.partial_cmp(&b)),
            },
            (Value::String(a), Value::String(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
            (Value::Bool(a), Value::Bool(b)) if self.op == Op::Eq => Some(a.cmp(b)),
            _ => None,
        };
        match (self.op, ordering) {
            (_, None) => false,
            (Op::Eq, Some(o)) => o == Ordering::Equal,
            (Op::Lt, Some(o)) => o == Ordering::Less,
            (Op::Le, Some(o)) => o != Ordering::Greater,
            (Op::Gt, Some(o)) => o == Ordering::Greater,
            (Op::Ge, Some(o)) => o != Ordering::Less,
        }
    }
}
