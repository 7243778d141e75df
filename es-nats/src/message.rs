//! How a [`RecordedEvent`] travels as a NATS message: its subject, its
//! headers and its payload, and the way back.

use std::borrow::Cow;

use async_nats::HeaderMap;
use async_nats::header::{HeaderName, HeaderValue, NATS_EXPECTED_LAST_MESSAGE_ID, NATS_MESSAGE_ID};
use bytes::Bytes;
use es_core::{Metadata, RecordedEvent, Timestamp, Uuid};

/// The names of the headers every published event carries.
///
/// ```
/// assert_eq!(es_nats::headers::EVENT_ID, "Es-Event-Id");
/// ```
pub mod headers {
    /// The event's id (a UUID). `Nats-Msg-Id` carries it too, for
    /// JetStream's duplicate window.
    pub const EVENT_ID: &str = "Es-Event-Id";
    /// The stream id (`{Aggregate::NAME}-{id}`).
    pub const STREAM: &str = "Es-Stream";
    /// The event's version in its stream, from 1.
    pub const STREAM_VERSION: &str = "Es-Stream-Version";
    /// The event's global position in the store, from 1.
    pub const POSITION: &str = "Es-Position";
    /// The stored event type name.
    pub const EVENT_TYPE: &str = "Es-Event-Type";
    /// The payload's schema version.
    pub const SCHEMA_VERSION: &str = "Es-Schema-Version";
    /// When the store recorded it (RFC 3339, UTC, nanoseconds).
    pub const RECORDED_AT: &str = "Es-Recorded-At";
    /// The metadata as JSON (correlation id, causation id, command id,
    /// actor, extra); absent when the metadata is empty.
    pub const METADATA: &str = "Es-Metadata";
}

const EVENT_ID: HeaderName = HeaderName::from_static(headers::EVENT_ID);
const STREAM: HeaderName = HeaderName::from_static(headers::STREAM);
const STREAM_VERSION: HeaderName = HeaderName::from_static(headers::STREAM_VERSION);
const POSITION: HeaderName = HeaderName::from_static(headers::POSITION);
const EVENT_TYPE: HeaderName = HeaderName::from_static(headers::EVENT_TYPE);
const SCHEMA_VERSION: HeaderName = HeaderName::from_static(headers::SCHEMA_VERSION);
const RECORDED_AT: HeaderName = HeaderName::from_static(headers::RECORDED_AT);
const METADATA: HeaderName = HeaderName::from_static(headers::METADATA);

/// A subject token made safe: NATS forbids `.` (the separator), `*` and
/// `>` (wildcards) and whitespace inside a token; each becomes `_`, and an
/// empty token is `_`.
///
/// ```
/// assert_eq!(es_nats::subject_token("Order"), "Order");
/// assert_eq!(es_nats::subject_token("a.b*c>d e\tf"), "a_b_c_d_e_f");
/// assert_eq!(es_nats::subject_token(""), "_");
/// ```
pub fn subject_token(s: &str) -> Cow<'_, str> {
    let bad = |c: char| matches!(c, '.' | '*' | '>') || c.is_whitespace() || c.is_control();
    if s.is_empty() {
        Cow::Borrowed("_")
    } else if s.contains(bad) {
        Cow::Owned(s.chars().map(|c| if bad(c) { '_' } else { c }).collect())
    } else {
        Cow::Borrowed(s)
    }
}

/// The subject an event is published on: `{prefix}.{aggregate type}.{event
/// type}`, the aggregate type being the stream id's part before the first
/// `-` ([`RecordedEvent::category`]); both tokens pass through
/// [`subject_token`]. The prefix is used as given (it may hold dots).
///
/// ```
/// # let mut e = es_core::RecordedEvent { event_id: es_core::Uuid::nil(), stream_id: String::new(),
/// #     stream_version: 1, global_position: 1, event_type: String::new(), schema_version: 1,
/// #     payload: vec![], metadata: Default::default(), recorded_at: Default::default() };
/// e.stream_id = "Order-42".into();
/// e.event_type = "OrderPlaced".into();
/// assert_eq!(es_nats::event_subject("shop.events", &e), "shop.events.Order.OrderPlaced");
/// ```
pub fn event_subject(prefix: &str, event: &RecordedEvent) -> String {
    let aggregate = subject_token(event.category());
    let kind = subject_token(&event.event_type);
    let mut s = String::with_capacity(prefix.len() + aggregate.len() + kind.len() + 2);
    s.push_str(prefix);
    s.push('.');
    s.push_str(&aggregate);
    s.push('.');
    s.push_str(&kind);
    s
}

/// An event that cannot travel as a NATS message.
#[derive(Debug, thiserror::Error)]
#[error("the stream id {stream_id:?} holds a line break, which a NATS header cannot carry")]
pub struct UnsendableEvent {
    stream_id: String,
}

/// The headers of an event's message (see [`headers`]), `Nats-Msg-Id`
/// included.
///
/// ```
/// # let e = es_core::RecordedEvent { event_id: es_core::Uuid::nil(), stream_id: "Order-1".into(),
/// #     stream_version: 3, global_position: 9, event_type: "OrderPlaced".into(), schema_version: 2,
/// #     payload: vec![], metadata: Default::default(), recorded_at: Default::default() };
/// let h = es_nats::event_headers(&e)?;
/// assert_eq!(h.get("Es-Stream-Version").map(|v| v.as_str()), Some("3"));
/// assert_eq!(h.get("Nats-Msg-Id").map(|v| v.as_str()), Some(e.event_id.to_string().as_str()));
/// # Ok::<(), es_nats::UnsendableEvent>(())
/// ```
pub fn event_headers(event: &RecordedEvent) -> Result<HeaderMap, UnsendableEvent> {
    if event.stream_id.contains(['\r', '\n']) {
        return Err(UnsendableEvent {
            stream_id: event.stream_id.clone(),
        });
    }
    let mut buf = Uuid::encode_buffer();
    let id: &str = event.event_id.hyphenated().encode_lower(&mut buf);
    let mut h = HeaderMap::new();
    h.insert(NATS_MESSAGE_ID, id);
    h.insert(EVENT_ID, id);
    h.insert(STREAM, event.stream_id.as_str());
    h.insert(STREAM_VERSION, HeaderValue::from(event.stream_version));
    h.insert(POSITION, HeaderValue::from(event.global_position));
    // Type names come from Rust identifiers or `#[event(name = …)]`.
    h.insert(EVENT_TYPE, event.event_type.replace(['\r', '\n'], " "));
    h.insert(SCHEMA_VERSION, HeaderValue::from(event.schema_version));
    h.insert(
        RECORDED_AT,
        event
            .recorded_at
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
    );
    if event.metadata != Metadata::default() {
        // serde_json escapes line breaks inside strings: one line.
        let json = serde_json::to_string(&event.metadata).unwrap_or_else(|_| "{}".into());
        h.insert(METADATA, json);
    }
    Ok(h)
}

/// A message that is not an event this crate published: a header is
/// missing or does not parse.
#[derive(Debug, thiserror::Error)]
#[error("the message on `{subject}` is not a published event: {problem}")]
pub struct NotAnEvent {
    /// The message's subject.
    pub subject: String,
    /// What is wrong.
    pub problem: String,
}

/// Rebuilds the [`RecordedEvent`] a message carries (the inverse of
/// [`event_headers`] and the payload).
///
/// ```
/// # let e = es_core::RecordedEvent { event_id: es_core::Uuid::now_v7(), stream_id: "Order-1".into(),
/// #     stream_version: 3, global_position: 9, event_type: "OrderPlaced".into(), schema_version: 2,
/// #     payload: br#"{"n":1}"#.to_vec(), metadata: es_core::Metadata::new().actor("ann"),
/// #     recorded_at: es_core::chrono::Utc::now() };
/// let headers = es_nats::event_headers(&e)?;
/// let back = es_nats::decode_event("s.Order.OrderPlaced", Some(&headers), &e.payload)?;
/// assert_eq!(back, e);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn decode_event(
    subject: &str,
    headers: Option<&HeaderMap>,
    payload: &[u8],
) -> Result<RecordedEvent, NotAnEvent> {
    let fail = |problem: String| NotAnEvent {
        subject: subject.to_owned(),
        problem,
    };
    let h = headers.ok_or_else(|| fail("it has no headers".into()))?;
    let get = |name: HeaderName, label: &str| {
        h.get(name)
            .map(|v| v.as_str())
            .ok_or_else(|| fail(format!("no `{label}` header")))
    };
    fn parse<T: std::str::FromStr>(
        value: &str,
        label: &str,
        fail: &dyn Fn(String) -> NotAnEvent,
    ) -> Result<T, NotAnEvent>
    where
        T::Err: std::fmt::Display,
    {
        value
            .parse()
            .map_err(|e| fail(format!("`{label}` is {value:?}: {e}")))
    }
    let metadata = match h.get(METADATA) {
        Some(v) => serde_json::from_str(v.as_str())
            .map_err(|e| fail(format!("`{}` is not metadata: {e}", headers::METADATA)))?,
        None => Metadata::default(),
    };
    let recorded_at: Timestamp =
        chrono::DateTime::parse_from_rfc3339(get(RECORDED_AT, headers::RECORDED_AT)?)
            .map_err(|e| fail(format!("`{}` is not a time: {e}", headers::RECORDED_AT)))?
            .to_utc();
    Ok(RecordedEvent {
        event_id: parse(get(EVENT_ID, headers::EVENT_ID)?, headers::EVENT_ID, &fail)?,
        stream_id: get(STREAM, headers::STREAM)?.to_owned(),
        stream_version: parse(
            get(STREAM_VERSION, headers::STREAM_VERSION)?,
            headers::STREAM_VERSION,
            &fail,
        )?,
        global_position: parse(get(POSITION, headers::POSITION)?, headers::POSITION, &fail)?,
        event_type: get(EVENT_TYPE, headers::EVENT_TYPE)?.to_owned(),
        schema_version: parse(
            get(SCHEMA_VERSION, headers::SCHEMA_VERSION)?,
            headers::SCHEMA_VERSION,
            &fail,
        )?,
        payload: payload.to_vec(),
        metadata,
        recorded_at,
    })
}

/// An event ready to publish: subject, headers, payload.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) subject: String,
    pub(crate) headers: HeaderMap,
    pub(crate) payload: Bytes,
}

impl Outgoing {
    /// The message of `event`; `previous` is the event published before it
    /// in the batch, which JetStream must find the stream's last
    /// (`Nats-Expected-Last-Msg-Id`).
    pub(crate) fn new(
        prefix: &str,
        event: &RecordedEvent,
        previous: Option<Uuid>,
    ) -> Result<Self, UnsendableEvent> {
        let mut headers = event_headers(event)?;
        if let Some(p) = previous {
            let mut buf = Uuid::encode_buffer();
            headers.insert(
                NATS_EXPECTED_LAST_MESSAGE_ID,
                &*p.hyphenated().encode_lower(&mut buf),
            );
        }
        Ok(Self {
            subject: event_subject(prefix, event),
            headers,
            payload: Bytes::copy_from_slice(&event.payload),
        })
    }
}
