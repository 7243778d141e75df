//! Runtime support for the derives. Not public API: the names here may change
//! in any release.

pub use serde;
pub use serde_json;

use serde::{Serialize, de::DeserializeOwned};

use crate::error::{DecodeError, EncodeError};
use crate::event::{Event, EventTypeInfo};

/// Encodes a payload as JSON bytes.
pub fn encode_json<T: Serialize + ?Sized>(
    event_type: &str,
    value: &T,
) -> Result<Vec<u8>, EncodeError> {
    serde_json::to_vec(value).map_err(|source| EncodeError {
        event_type: event_type.to_owned(),
        source,
    })
}

/// Decodes JSON bytes straight into `T` (no intermediate `Value`), naming the
/// serde path of a fault.
pub fn decode_json<T: DeserializeOwned>(
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

/// The first name (or alias) declared twice in a list of event types, if any.
pub const fn duplicate_name(types: &[EventTypeInfo]) -> Option<&'static str> {
    let mut i = 0;
    while i < types.len() {
        let mut j = i + 1;
        while j < types.len() {
            if str_eq(types[i].name, types[j].name) {
                return Some(types[i].name);
            }
            j += 1;
        }
        i += 1;
    }
    None
}
