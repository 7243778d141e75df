//! Upcasting: turning a payload stored at an old schema version into the
//! current type, on read. Stored events never change.
//!
//! A derived event declares its steps with `upcast(from = K, with = path)`
//! (a JSON step from version K to K+1) or `upcast(from = K, via = Type)`
//! (decode version K as `Type`, then `Into<Self>`). A version with no
//! declared step decodes directly as the current type. The helpers here run
//! the JSON steps; the derive calls them.

use crate::event::{DecodeError, UpcastError};

/// A JSON upcast step: version N's payload in, version N+1's payload out.
pub type UpcastFn = fn(serde_json::Value) -> Result<serde_json::Value, UpcastError>;

/// Runs JSON steps in order, starting at version `from`; each step `i` turns
/// version `from + i` into `from + i + 1`.
///
/// ```
/// use es_core::upcast::run_steps;
/// use serde_json::json;
/// fn add_category(mut v: serde_json::Value) -> Result<serde_json::Value, es_core::UpcastError> {
///     v["category"] = json!("general");
///     Ok(v)
/// }
/// let out = run_steps("MoneyDeposited", 1, json!({"amount": 5}), &[add_category]).unwrap();
/// assert_eq!(out, json!({"amount": 5, "category": "general"}));
/// ```
pub fn run_steps(
    event_type: &str,
    from: u32,
    mut value: serde_json::Value,
    steps: &[UpcastFn],
) -> Result<serde_json::Value, DecodeError> {
    for (i, step) in steps.iter().enumerate() {
        value = step(value).map_err(|source| DecodeError::Upcast {
            event_type: event_type.to_owned(),
            from: from + i as u32,
            source,
        })?;
    }
    Ok(value)
}

/// Reads an object field of an old payload as a step's input, with an
/// [`UpcastError`] that names it when it is missing.
///
/// ```
/// let v = serde_json::json!({"amount": 5});
/// assert_eq!(es_core::upcast::field(&v, "amount").unwrap(), 5);
/// assert!(es_core::upcast::field(&v, "owner").is_err());
/// ```
pub fn field<'v>(
    value: &'v serde_json::Value,
    name: &str,
) -> Result<&'v serde_json::Value, UpcastError> {
    value
        .as_object()
        .ok_or_else(UpcastError::not_an_object)?
        .get(name)
        .ok_or_else(|| UpcastError::missing_field(name))
}
