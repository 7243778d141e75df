//! The documents table's statements, with the schema name filled in once
//! (kept by the store, used by the [`DocumentBackend`](es_core::document::DocumentBackend) impl).

use crate::schema::quote_ident;

/// The document statements, with the schema name filled in once.
#[derive(Clone)]
pub(crate) struct DocumentSql {
    pub(crate) table: String,
    pub(crate) load: String,
    pub(crate) lock: String,
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
            // Transaction-scoped advisory locks, one per key (absent keys
            // too), taken in one order (by the lock's number) so two
            // transactions never wait on each other in a circle.
            lock: format!(
                "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT \
                 hashtextextended('{table_text}' || '/' || $1 || '/' || k, 0) AS h \
                 FROM unnest($2::text[]) AS k ORDER BY h) AS locks",
                table_text = table.replace('\'', "''")
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
