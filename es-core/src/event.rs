//! The event traits: what a type must say about itself to be stored.

pub(crate) mod info;
pub mod json;

pub use info::EventTypeInfo;

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
///         es_core::event::json::encode_checked::<Self, Self>("Pinged", 1, self)
///     }
///     fn decode(event_type: &str, schema_version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
///         es_core::event::json::check_known::<Self>(event_type, schema_version)?;
///         es_core::event::json::decode_json("Pinged", schema_version, payload)
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

    /// The tags of this value (consistency boundaries by query, see
    /// [`crate::dcb`]): `kind:value` from each field marked `#[tag]`
    /// (`#[tag] course_id: String` gives `course:c1`; `#[tag("student")]
    /// who: String` gives `student:s7`); an enum gives its variant's. None
    /// by default. An error when a value cannot be a tag (empty, longer
    /// than [`MAX_TAG_BYTES`](crate::dcb::MAX_TAG_BYTES), a control character).
    ///
    /// ```
    /// use es_core::Event;
    /// # use serde::{Deserialize, Serialize};
    /// #[derive(Debug, Serialize, Deserialize, Event)]
    /// struct StudentSubscribed {
    ///     #[tag]
    ///     course_id: String,
    ///     #[tag("student")]
    ///     who: String,
    /// }
    ///
    /// let e = StudentSubscribed { course_id: "c1".into(), who: "s7".into() };
    /// let tags: Vec<String> = e.tags().unwrap().iter().map(|t| t.to_string()).collect();
    /// assert_eq!(tags, ["course:c1", "student:s7"]);
    /// ```
    fn tags(&self) -> Result<Vec<crate::dcb::Tag>, crate::dcb::InvalidTag> {
        Ok(Vec::new())
    }

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

    /// The JSON Schema of each of [`Event::EVENT_TYPES`] at its current
    /// version (feature `schema`; see [`crate::schema`]). `#[derive(Event)]`
    /// fills it from `schemars::JsonSchema` where the type derives it; the
    /// default (a hand-written impl) has no schemas.
    #[cfg(feature = "schema")]
    fn event_schemas() -> Vec<crate::schema::EventSchema> {
        Self::EVENT_TYPES
            .iter()
            .map(crate::schema::EventSchema::without_schema)
            .collect()
    }
}

/// An event could not be encoded, or its encoding would not decode again
/// (and would make its stream unreadable once stored).
///
/// ```
/// use es_core::Event;
/// # use serde::{Deserialize, Serialize};
/// #[derive(Debug, Serialize, Deserialize, Event)]
/// struct Measured { value: f64 }
///
/// // JSON has no NaN: serde writes `null`, which no `f64` decodes.
/// let err = Measured { value: f64::NAN }.encode().unwrap_err();
/// assert!(matches!(&err, es_core::EncodeError::Unreadable { path, .. } if path == "value"));
/// assert!(err.to_string().starts_with("event `Measured` would not read back: at `value`"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// serde refused the value (a map whose keys are not strings, a
    /// `Serialize` impl that failed).
    #[error("cannot encode event `{event_type}`")]
    Serialize {
        /// The event type.
        event_type: String,
        /// serde's error.
        #[source]
        source: serde_json::Error,
    },
    /// The encoding does not decode again as the event's type: a NaN or
    /// infinite float (encoded as `null`), nesting deeper than the decoder
    /// reads (128 levels), a `Serialize` impl its `Deserialize` does not
    /// match. Nothing was stored.
    #[error("event `{event_type}` would not read back: at `{path}`: {message}{hint}", hint = unreadable_hint(.message))]
    Unreadable {
        /// The event type.
        event_type: String,
        /// The serde path of the fault (`reading.value`), `.` for the root.
        path: String,
        /// What the decoder said.
        message: String,
    },
}

impl EncodeError {
    /// The event type that failed to encode.
    pub fn event_type(&self) -> &str {
        match self {
            Self::Serialize { event_type, .. } | Self::Unreadable { event_type, .. } => event_type,
        }
    }
}

/// The likely cause of the common case, a non-finite float.
fn unreadable_hint(message: &str) -> &'static str {
    if message.starts_with("invalid type: null") {
        " (JSON has no NaN or infinity: serde encodes them as null)"
    } else {
        ""
    }
}

/// A step of an upcast chain failed.
///
/// ```
/// let e = es_core::UpcastError::missing_field("amount");
/// assert_eq!(e.to_string(), "missing field `amount`");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct UpcastError {
    message: String,
}

impl UpcastError {
    /// An upcast failure with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
    /// The old payload lacks a field the step needs.
    pub fn missing_field(field: &str) -> Self {
        Self::new(format!("missing field `{field}`"))
    }
    /// The old payload is not a JSON object.
    pub fn not_an_object() -> Self {
        Self::new("payload is not a JSON object")
    }
}

impl From<serde_json::Error> for UpcastError {
    fn from(e: serde_json::Error) -> Self {
        Self::new(e.to_string())
    }
}

/// A stored event could not be turned into a typed event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// No type of this event enum is stored under this name.
    #[error("unknown event type `{event_type}`; known types: {}", known.join(", "))]
    UnknownEventType {
        /// The stored name.
        event_type: String,
        /// The names (and aliases) the type decodes.
        known: Vec<&'static str>,
    },
    /// The stored schema version is above the one this code knows.
    #[error(
        "event `{event_type}` has schema version {stored} but this code knows versions up to {current}: it was written by newer code"
    )]
    NewerVersion {
        /// The stored name.
        event_type: String,
        /// The stored version.
        stored: u32,
        /// The current version of the code.
        current: u32,
    },
    /// The stored version is 0, which no code writes.
    #[error("event `{event_type}` has schema version 0; versions start at 1")]
    InvalidVersion {
        /// The stored name.
        event_type: String,
    },
    /// The payload does not match the type's shape.
    #[error(
        "cannot decode `{event_type}` (schema version {schema_version}) at `{path}`: {message}"
    )]
    Payload {
        /// The stored name.
        event_type: String,
        /// The version the payload was read as.
        schema_version: u32,
        /// The serde path of the fault (`items[2].price`), `.` for the root.
        path: String,
        /// serde's message.
        message: String,
    },
    /// An upcast step failed.
    #[error("cannot upcast `{event_type}` from schema version {from}")]
    Upcast {
        /// The stored name.
        event_type: String,
        /// The version the failing step starts from.
        from: u32,
        /// The step's error.
        #[source]
        source: UpcastError,
    },
}
