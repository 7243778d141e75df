//! The errors this crate adds to `es_core`'s.

/// A schema name the store refuses (see [`crate::PgEventStoreBuilder::schema`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid schema name {0:?}: use ASCII letters, digits and `_`, not starting with a digit, at most 48 bytes"
)]
pub struct InvalidSchemaName(pub String);

/// A payload PostgreSQL cannot store as `jsonb` (not UTF-8, not JSON, a NUL
/// byte or the `\u0000` escape). Arrives as the source of a
/// [`es_core::StoreError::Backend`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot store event `{event_type}`: {reason}")]
pub struct InvalidPayload {
    /// The event type (or types, for a batch).
    pub event_type: String,
    /// Why.
    pub reason: String,
}
