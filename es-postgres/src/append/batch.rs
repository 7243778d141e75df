//! What one append binds ([`Batch`]), what its statement did
//! ([`Outcome`]), and the database error it may meet.

use es_core::{NewEvent, StoreError, stream_category};
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use crate::error::InvalidPayload;

/// What one append statement did.
#[derive(Default)]
pub(super) struct Outcome {
    /// An earlier batch with the same command id: its first and last version.
    pub(super) duplicate: Option<(i64, i64)>,
    /// The inserted events' first and last version and last position;
    /// `None` when nothing was inserted (the stream was not at the expected
    /// version).
    pub(super) inserted: Option<(i64, i64, i64)>,
    /// The stream's version before the statement, when the statement says.
    pub(super) current: Option<i64>,
}

impl Outcome {
    /// Adds one of the plain statement's returned rows (one per inserted
    /// event).
    pub(super) fn add_returned(&mut self, row: &PgRow) -> Result<(), sqlx::Error> {
        let position: i64 = row.try_get(0)?;
        let version: i64 = row.try_get(1)?;
        self.inserted = Some(match self.inserted {
            None => (version, version, position),
            Some((first, last, at)) => (first.min(version), last.max(version), at.max(position)),
        });
        Ok(())
    }

    /// From the full statement's one row.
    pub(super) fn from_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        let get = |name: &str| row.try_get::<Option<i64>, _>(name);
        let duplicate = get("dup_first")?.zip(get("dup_last")?);
        let inserted = if get("n")?.unwrap_or(0) > 0 {
            get("first_version")?
                .zip(get("last_version")?)
                .zip(get("last_position")?)
                .map(|((first, last), at)| (first, last, at))
        } else {
            None
        };
        Ok(Self {
            duplicate,
            inserted,
            current: get("current_version")?,
        })
    }
}

/// The arrays one append binds.
pub(super) struct Batch {
    pub(super) ids: Vec<Uuid>,
    pub(super) types: Vec<String>,
    /// The command id of the first event, if any: the append records it.
    pub(super) command_id: Option<Uuid>,
    pub(super) versions: Vec<i32>,
    pub(super) payloads: Vec<String>,
    /// `None` for empty metadata: the statement stores `{}` for it, so the
    /// common case neither encodes nor parses anything.
    pub(super) metadata: Vec<Option<String>>,
}

pub(super) type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

impl Batch {
    /// Binds what both array statements start with: $1 stream id, $2 its
    /// category, $3 the expected version (NULL: any), $4–$8 the arrays.
    pub(super) fn bind<'q>(
        &'q self,
        query: PgQuery<'q>,
        stream_id: &'q str,
        expected: Option<i64>,
    ) -> PgQuery<'q> {
        query
            .bind(stream_id)
            .bind(stream_category(stream_id))
            .bind(expected)
            .bind(&self.ids)
            .bind(&self.types)
            .bind(&self.versions)
            .bind(&self.payloads)
            .bind(&self.metadata)
    }

    pub(super) fn new(stream_id: &str, events: Vec<NewEvent>) -> Result<Self, StoreError> {
        let mut b = Self {
            command_id: events.first().and_then(|e| e.metadata.command_id),
            ids: Vec::with_capacity(events.len()),
            types: Vec::with_capacity(events.len()),
            versions: Vec::with_capacity(events.len()),
            payloads: Vec::with_capacity(events.len()),
            metadata: Vec::with_capacity(events.len()),
        };
        for e in events {
            let NewEvent {
                event_id,
                event_type,
                schema_version,
                payload,
                metadata,
            } = e;
            let invalid = |reason: String| {
                StoreError::backend(
                    format!("appending to stream `{stream_id}`"),
                    InvalidPayload {
                        event_type: event_type.clone(),
                        reason,
                    },
                )
            };
            let payload = String::from_utf8(payload)
                .map_err(|err| invalid(format!("payload is not UTF-8: {err}")))?;
            if payload.contains('\0') {
                return Err(invalid("payload contains a NUL byte".to_owned()));
            }
            let metadata = if metadata.is_empty() {
                None
            } else {
                Some(
                    serde_json::to_string(&metadata)
                        .map_err(|err| invalid(format!("metadata cannot be encoded: {err}")))?,
                )
            };
            b.ids.push(event_id);
            b.versions
                .push(i32::try_from(schema_version).unwrap_or(i32::MAX));
            b.types.push(event_type);
            b.payloads.push(payload);
            b.metadata.push(metadata);
        }
        Ok(b)
    }
}

/// The SQLSTATE and constraint of a database error.
pub(super) fn db_error(e: &sqlx::Error) -> Option<(String, Option<String>)> {
    let db = e.as_database_error()?;
    Some((
        db.code().map(|c| c.into_owned()).unwrap_or_default(),
        db.constraint().map(str::to_owned),
    ))
}
