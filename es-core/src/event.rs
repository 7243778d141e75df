//! The event traits: what a type must say about itself to be stored.

use crate::error::{DecodeError, EncodeError};

/// One event type that a Rust type can decode: its stored name, the schema
/// version it writes, and the former names it still reads.
///
/// ```
/// use es_core::EventTypeInfo;
/// const OPENED: EventTypeInfo = EventTypeInfo::new("AccountOpened", 1, &["Opened"]);
/// assert!(OPENED.matches("Opened"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventTypeInfo {
    /// The name events of this type are stored under.
    pub name: &'static str,
    /// The schema version this code writes; older versions are upcast on read.
    pub version: u32,
    /// Former names that still decode as this type.
    pub aliases: &'static [&'static str],
}

impl EventTypeInfo {
    /// Describes an event type.
    pub const fn new(name: &'static str, version: u32, aliases: &'static [&'static str]) -> Self {
        Self {
            name,
            version,
            aliases,
        }
    }

    /// Whether a stored type name is this type's name or one of its aliases.
    pub fn matches(&self, stored_name: &str) -> bool {
        self.name == stored_name || self.aliases.contains(&stored_name)
    }
}

/// A value that can be stored as an event and read back.
///
/// `#[derive(Event)]` writes this for structs (one event type) and for enums
/// (the union of events one aggregate emits). Written by hand it looks like
/// this:
///
/// ```
/// use es_core::{DecodeError, EncodeError, Event, EventTypeInfo};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Serialize, Deserialize)]
/// struct Pinged { at: u64 }
///
/// impl Event for Pinged {
///     const EVENT_TYPES: &'static [EventTypeInfo] = &[EventTypeInfo::new("Pinged", 1, &[])];
///     fn event_type(&self) -> &'static str { "Pinged" }
///     fn schema_version(&self) -> u32 { 1 }
///     fn encode(&self) -> Result<Vec<u8>, EncodeError> {
///         // Encodes, then decodes the bytes again: what is stored reads back.
///         es_core::__private::encode_checked::<Self, Self>("Pinged", 1, self)
///     }
///     fn decode(event_type: &str, schema_version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
///         es_core::__private::check_known::<Self>(event_type, schema_version)?;
///         es_core::__private::decode_json("Pinged", schema_version, payload)
///     }
/// }
///
/// let bytes = Pinged { at: 7 }.encode().unwrap();
/// assert_eq!(Pinged::decode("Pinged", 1, &bytes).unwrap().at, 7);
/// assert!(Pinged::decode("Pinged", 2, &bytes).is_err()); // written by newer code
/// ```
pub trait Event: Sized + Send + Sync + 'static {
    /// Every event type (name, current version, aliases) this type decodes.
    const EVENT_TYPES: &'static [EventTypeInfo];

    /// The stored type name of this value (for an enum, its variant's event).
    fn event_type(&self) -> &'static str;

    /// The schema version this value is encoded at (always the current one).
    fn schema_version(&self) -> u32;

    /// Encodes the payload as JSON bytes at the current schema version.
    ///
    /// The derive's encoding decodes the bytes again before returning them:
    /// a value whose encoding would not read back (a NaN or infinite float,
    /// which JSON writes as `null`; nesting deeper than the decoder's 128
    /// levels) is [`EncodeError::Unreadable`], naming the field path, and is
    /// never stored.
    fn encode(&self) -> Result<Vec<u8>, EncodeError>;

    /// Decodes a stored payload, upcasting older schema versions.
    fn decode(event_type: &str, schema_version: u32, payload: &[u8]) -> Result<Self, DecodeError>;

    /// The names this type decodes (current names and aliases), e.g. for a
    /// store's event-type filter.
    fn type_names() -> Vec<&'static str> {
        let mut names = Vec::new();
        for info in Self::EVENT_TYPES {
            names.push(info.name);
            names.extend_from_slice(info.aliases);
        }
        names
    }
}
