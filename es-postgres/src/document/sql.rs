//! The documents table's statements, with the schema name filled in once
//! (kept by the store, used by the [`DocumentBackend`](es_core::document::DocumentBackend) impl).

use crate::schema::quote_ident;

/// The document statements, with the schema name filled in once.
#[derive(Clone)]
pub(crate) struct DocumentSql {
    pub(crate) table: String,
    pub(crate) load: String,
    pub(crate) upsert: String,
    pub(crate) delete: String,
    pub(crate) clear: String,
}

impl DocumentSql {
    pub(crate) fn new(schema: &str) -> Self {
        let table = format!("{}.documents", quote_ident(schema));
        Self {
            load: format!(
                "SELECT key, body::text FROM {table} WHERE projection = $1 AND key = ANY($2)"
            ),
            upsert: format!(
                "INSERT INTO {table} (projection, key, body, updated_at) \
                 SELECT $1, u.key, u.body::jsonb, now() \
                 FROM UNNEST($2::text[], $3::text[]) AS u(key, body) \
                 ON CONFLICT (projection, key) DO UPDATE SET body = EXCLUDED.body, \
                   updated_at = EXCLUDED.updated_at"
            ),
            delete: format!("DELETE FROM {table} WHERE projection = $1 AND key = ANY($2)"),
            clear: format!("DELETE FROM {table} WHERE projection = $1"),
            table,
        }
    }
}
