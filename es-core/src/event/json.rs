//! The JSON codec of events, for hand-written [`Event`] impls (the derive
//! calls the same functions): encode a payload, decode one straight into a
//! type with the serde path of a fault, check a stored name and version
//! against a registry.
//!
//! ```
//! use es_core::event::json;
//! use es_core::{DecodeError, EncodeError, Event, EventTypeInfo};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize)]
//! struct Pinged { n: u32 }
//!
//! impl Event for Pinged {
//!     const EVENT_TYPES: &'static [EventTypeInfo] = &[EventTypeInfo::new("Pinged", 1, &[])];
//!     fn event_type(&self) -> &'static str { "Pinged" }
//!     fn schema_version(&self) -> u32 { 1 }
//!     fn encode(&self) -> Result<Vec<u8>, EncodeError> {
//!         json::encode_checked::<Self, _>("Pinged", 1, self)
//!     }
//!     fn decode(t: &str, v: u32, payload: &[u8]) -> Result<Self, DecodeError> {
//!         json::check_known::<Self>(t, v)?;
//!         json::decode_json(t, v, payload)
//!     }
//! }
//!
//! let bytes = Pinged { n: 7 }.encode()?;
//! assert_eq!(Pinged::decode("Pinged", 1, &bytes)?, Pinged { n: 7 });
//! assert!(matches!(Pinged::decode("Ponged", 1, &bytes), Err(DecodeError::UnknownEventType { .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, de::DeserializeOwned};

use super::{DecodeError, EncodeError, Event, EventTypeInfo};

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

/// Parses `bytes` the way every decoder of this crate does (serde_json,
/// which refuses nesting of 128 levels or more, numbers out of `f64`'s range,
/// invalid UTF-8 and bytes after the value) without building anything.
///
/// It accepts exactly what parsing into a `serde_json::Value` accepts,
/// which is what an upcast step starts from and what a typed decoder reads
/// before it looks at the shape: `IgnoredAny` would not do, as it skips
/// values without counting their depth or reading their numbers.
pub(crate) fn check_readable(bytes: &[u8]) -> Result<(), serde_json::Error> {
    serde_json::from_slice::<Readable>(bytes).map(|_| ())
}

/// Any JSON value, read and dropped.
struct Readable;

impl<'de> Deserialize<'de> for Readable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ReadableVisitor)
    }
}

struct ReadableVisitor;

impl<'de> Visitor<'de> for ReadableVisitor {
    type Value = Readable;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_none<E: de::Error>(self) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Readable, D::Error> {
        Readable::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Readable, A::Error> {
        while seq.next_element::<Readable>()?.is_some() {}
        Ok(Readable)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Readable, A::Error> {
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value::<Readable>()?;
        }
        Ok(Readable)
    }
}

#[cfg(test)]
mod tests {
    use super::check_readable;

    fn nested(depth: usize) -> Vec<u8> {
        let mut out = vec![b'['; depth];
        out.extend(std::iter::repeat_n(b']', depth));
        out
    }

    /// The check and `serde_json::Value` agree, at the depth limit too.
    #[test]
    fn accepts_what_a_value_parse_accepts() {
        let cases: Vec<Vec<u8>> = vec![
            br#"{"a":[1,-2,3.5,"x\u0041",null,true,{"b":{}}]}"#.to_vec(),
            b"  7 ".to_vec(),
            b"".to_vec(),
            b"{nope".to_vec(),
            br#"{"a":1} 2"#.to_vec(),
            b"[1e400]".to_vec(),
            b"[-1e400]".to_vec(),
            b"[1e-400]".to_vec(),
            b"[18446744073709551616]".to_vec(),
            b"\"\xff\"".to_vec(),
            b"\"a\0b\"".to_vec(),
            br#"{"a":1,"a":2}"#.to_vec(),
            br#"{1:2}"#.to_vec(),
            nested(127),
            nested(128),
            nested(100_000),
            br#"{"a":{"a":{"a":{"a":[[[]]]}}}}"#.to_vec(),
        ];
        for bytes in cases {
            let value = serde_json::from_slice::<serde_json::Value>(&bytes);
            let check = check_readable(&bytes);
            assert_eq!(
                value.is_ok(),
                check.is_ok(),
                "{:?}: Value {value:?}, check {check:?}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(40)])
            );
        }
        assert!(check_readable(&nested(127)).is_ok());
        let err = check_readable(&nested(128)).unwrap_err();
        assert!(err.to_string().contains("recursion limit"), "{err}");
    }
}
