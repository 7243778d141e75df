//! Runtime support for the derives. Not public API: the names here may change
//! in any release.

pub use serde;
pub use serde_json;

use serde::{Serialize, de::DeserializeOwned};

use crate::event::{DecodeError, EncodeError, Event, EventTypeInfo};

/// Encodes a payload as JSON bytes.
pub fn encode_json<T: Serialize + ?Sized>(
    event_type: &str,
    value: &T,
) -> Result<Vec<u8>, EncodeError> {
    serde_json::to_vec(value).map_err(|source| EncodeError::Serialize {
        event_type: event_type.to_owned(),
        source,
    })
}

/// Encodes a payload and decodes the bytes again as `D`, the type events of
/// this name are decoded as at the current `schema_version`, so that nothing
/// an event encodes fails to read back once stored (a NaN that serde writes
/// as `null`, nesting deeper than the decoder reads). A failure is
/// [`EncodeError::Unreadable`] with the serde path of the fault.
/// `#[derive(Event)]` encodes through this.
pub fn encode_checked<D: DeserializeOwned, T: Serialize + ?Sized>(
    event_type: &str,
    schema_version: u32,
    value: &T,
) -> Result<Vec<u8>, EncodeError> {
    let bytes = encode_json(event_type, value)?;
    match decode_json::<D>(event_type, schema_version, &bytes) {
        Ok(_) => Ok(bytes),
        Err(DecodeError::Payload { path, message, .. }) => Err(EncodeError::Unreadable {
            event_type: event_type.to_owned(),
            path: shorten_path(path),
            message,
        }),
        Err(other) => Err(EncodeError::Unreadable {
            event_type: event_type.to_owned(),
            path: ".".to_owned(),
            message: other.to_string(),
        }),
    }
}

/// A serde path cut to its first 64 bytes (`a[0][0][0]…`): nesting past the
/// decoder's limit has a path of 128 segments.
fn shorten_path(mut path: String) -> String {
    const MAX: usize = 64;
    if path.len() > MAX {
        let mut end = MAX;
        while !path.is_char_boundary(end) {
            end -= 1;
        }
        path.truncate(end);
        path.push('…');
    }
    path
}

/// Decodes JSON bytes straight into `T` (no intermediate `Value`), naming the
/// serde path of a fault.
///
/// The plain serde_json parse runs first (it rejects trailing bytes too);
/// only a payload that fails it is parsed again with path tracking, so the
/// common case does not pay for the path bookkeeping.
pub fn decode_json<T: DeserializeOwned>(
    event_type: &str,
    schema_version: u32,
    payload: &[u8],
) -> Result<T, DecodeError> {
    match serde_json::from_slice(payload) {
        Ok(value) => Ok(value),
        Err(_) => decode_json_tracked(event_type, schema_version, payload),
    }
}

/// [`decode_json`] with the serde path of a fault in the error.
fn decode_json_tracked<T: DeserializeOwned>(
    event_type: &str,
    schema_version: u32,
    payload: &[u8],
) -> Result<T, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(payload);
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| payload_error(event_type, schema_version, e))?;
    // Bytes after the value mean a corrupt payload, not a shorter one.
    de.end().map_err(|e| DecodeError::Payload {
        event_type: event_type.to_owned(),
        schema_version,
        path: ".".to_owned(),
        message: e.to_string(),
    })?;
    Ok(value)
}

/// Parses JSON bytes into a tree, for upcast steps.
pub fn parse_value(
    event_type: &str,
    schema_version: u32,
    payload: &[u8],
) -> Result<serde_json::Value, DecodeError> {
    serde_json::from_slice(payload).map_err(|e| DecodeError::Payload {
        event_type: event_type.to_owned(),
        schema_version,
        path: ".".to_owned(),
        message: e.to_string(),
    })
}

/// Decodes an (upcast) JSON tree into `T`, naming the serde path of a fault.
pub fn decode_value<T: DeserializeOwned>(
    event_type: &str,
    schema_version: u32,
    value: serde_json::Value,
) -> Result<T, DecodeError> {
    // As in `decode_json`: the path is tracked only when the plain decode fails.
    if let Ok(decoded) = T::deserialize(&value) {
        return Ok(decoded);
    }
    serde_path_to_error::deserialize(value)
        .map_err(|e| payload_error(event_type, schema_version, e))
}

fn payload_error(
    event_type: &str,
    schema_version: u32,
    e: serde_path_to_error::Error<serde_json::Error>,
) -> DecodeError {
    let path = e.path().to_string();
    DecodeError::Payload {
        event_type: event_type.to_owned(),
        schema_version,
        path,
        message: e.into_inner().to_string(),
    }
}

/// Checks a stored name and version against an event type's registry:
/// known name, version between 1 and the current one.
pub fn check_known<E: Event>(
    event_type: &str,
    schema_version: u32,
) -> Result<&'static EventTypeInfo, DecodeError> {
    let Some(info) = E::EVENT_TYPES.iter().find(|t| t.matches(event_type)) else {
        return Err(unknown_event_type::<E>(event_type));
    };
    check_version(info, event_type, schema_version)?;
    Ok(info)
}

/// Checks a stored version against one event type's current version.
pub fn check_version(
    info: &EventTypeInfo,
    event_type: &str,
    schema_version: u32,
) -> Result<(), DecodeError> {
    if schema_version == 0 {
        return Err(DecodeError::InvalidVersion {
            event_type: event_type.to_owned(),
        });
    }
    if schema_version > info.version {
        return Err(DecodeError::NewerVersion {
            event_type: event_type.to_owned(),
            stored: schema_version,
            current: info.version,
        });
    }
    Ok(())
}

/// The error for a name no type of `E` decodes, listing the known ones.
pub fn unknown_event_type<E: Event>(event_type: &str) -> DecodeError {
    DecodeError::UnknownEventType {
        event_type: event_type.to_owned(),
        known: E::type_names(),
    }
}

/// Compile-time string equality, for the derives' duplicate-name checks.
pub const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The total number of event types in several lists, for [`concat_event_types`].
pub const fn count_event_types(parts: &[&[EventTypeInfo]]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < parts.len() {
        n += parts[i].len();
        i += 1;
    }
    n
}

/// Concatenates event type lists at compile time (an enum's registry from its
/// variants'). `N` must be `count_event_types(parts)`.
pub const fn concat_event_types<const N: usize>(parts: &[&[EventTypeInfo]]) -> [EventTypeInfo; N] {
    let mut out = [EventTypeInfo::new("", 0, &[]); N];
    let mut k = 0;
    let mut i = 0;
    while i < parts.len() {
        let mut j = 0;
        while j < parts[i].len() {
            out[k] = parts[i][j];
            k += 1;
            j += 1;
        }
        i += 1;
    }
    assert!(k == N, "concat_event_types: N does not match the parts");
    out
}

/// The first name or alias declared twice in a list of event types (across
/// entries, or an entry whose alias repeats its own name or another alias),
/// if any.
pub const fn duplicate_name(types: &[EventTypeInfo]) -> Option<&'static str> {
    let mut i = 0;
    while i < types.len() {
        // Names of entry i against themselves: the name and each alias.
        let mut a = 0;
        while a <= types[i].aliases.len() {
            let x = name_at(&types[i], a);
            let mut b = a + 1;
            while b <= types[i].aliases.len() {
                if str_eq(x, name_at(&types[i], b)) {
                    return Some(x);
                }
                b += 1;
            }
            // Against every later entry.
            let mut j = i + 1;
            while j < types.len() {
                let mut c = 0;
                while c <= types[j].aliases.len() {
                    if str_eq(x, name_at(&types[j], c)) {
                        return Some(x);
                    }
                    c += 1;
                }
                j += 1;
            }
            a += 1;
        }
        i += 1;
    }
    None
}

/// Name 0 is the type's name, name `k` its alias `k - 1`.
const fn name_at(info: &EventTypeInfo, k: usize) -> &'static str {
    if k == 0 {
        info.name
    } else {
        info.aliases[k - 1]
    }
}

/// Applies an event value to an aggregate by dispatching to its
/// [`Apply`](crate::Apply) impls. `#[derive(Event)]` implements it for every
/// aggregate that applies each of the type's events; `#[derive(Aggregate)]`
/// requires it, so a missing `Apply<X>` is reported as such.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no generated apply dispatch for `{A}`",
    label = "`{Self}` does not derive `Event`",
    note = "derive `es_core::Event` on `{Self}`, or implement `es_core::Aggregate` for `{A}` by hand"
)]
pub trait ApplyEvents<A: ?Sized> {
    /// Applies `self` to `aggregate`.
    fn apply_to(&self, aggregate: &mut A);
}

/// The event type of an aggregate whose derive failed, so one mistake does not
/// cascade into errors about the missing `Event` type.
#[derive(Debug)]
pub enum NoEvent {}

impl Event for NoEvent {
    const EVENT_TYPES: &'static [EventTypeInfo] = &[];
    fn event_type(&self) -> &'static str {
        match *self {}
    }
    fn schema_version(&self) -> u32 {
        match *self {}
    }
    fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        match *self {}
    }
    fn decode(event_type: &str, _: u32, _: &[u8]) -> Result<Self, DecodeError> {
        Err(unknown_event_type::<Self>(event_type))
    }
}

impl<A: ?Sized> ApplyEvents<A> for NoEvent {
    fn apply_to(&self, _: &mut A) {
        match *self {}
    }
}

/// Whether a stored name is `name` or one of `aliases` (an inline variant's
/// event type, in the enum derive's decoding).
pub fn matches_name(stored: &str, name: &str, aliases: &[&str]) -> bool {
    stored == name || aliases.contains(&stored)
}

/// A message assembled at compile time, for a const panic (whose format
/// arguments can only be one `&str`).
pub struct ConstMessage {
    buf: [u8; 512],
    len: usize,
}

impl ConstMessage {
    /// Concatenates the parts, cut at 512 bytes.
    pub const fn new(parts: &[&str]) -> Self {
        let mut buf = [0u8; 512];
        let mut len = 0;
        let mut i = 0;
        while i < parts.len() {
            let bytes = parts[i].as_bytes();
            let mut j = 0;
            while j < bytes.len() && len < buf.len() {
                buf[len] = bytes[j];
                len += 1;
                j += 1;
            }
            i += 1;
        }
        Self { buf, len }
    }

    /// The message (empty if the cut split a character).
    pub const fn as_str(&self) -> &str {
        match std::str::from_utf8(self.buf.split_at(self.len).0) {
            Ok(s) => s,
            Err(_) => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_name_considers_aliases() {
        let t = |n, a| EventTypeInfo::new(n, 1, a);
        assert_eq!(duplicate_name(&[t("A", &[]), t("B", &[])]), None);
        assert_eq!(duplicate_name(&[t("A", &[]), t("A", &[])]), Some("A"));
        assert_eq!(
            duplicate_name(&[t("A", &["Old"]), t("B", &["Old"])]),
            Some("Old")
        );
        assert_eq!(duplicate_name(&[t("A", &["B"]), t("B", &[])]), Some("B"));
        assert_eq!(duplicate_name(&[t("A", &["A"])]), Some("A"));
        assert_eq!(duplicate_name(&[t("A", &["X", "X"])]), Some("X"));
    }
}
