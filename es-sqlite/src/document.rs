//! SQLite under document projections: [`SqliteEventStore`] as an
//! [`es_core::document::DocumentBackend`], with its SQL.
//!
//! One table shared by every projection, `documents (projection, key, body,
//! updated_at)` with the primary key `(projection, key)` (migration
//! `0004_documents.sql`), as on PostgreSQL and for the same reasons: the
//! migrations own it, an upgrade is opening the file, no projection name
//! becomes a table name, and a batch's statements are the same text for
//! every projection. `body` is the document's JSON as TEXT, byte for byte
//! as the projection wrote it.
//!
//! Per batch: one `SELECT` of the touched keys (`key IN (SELECT value FROM
//! json_each(?))`, the keys bound as one JSON array), one `DELETE` of the
//! deleted keys and one upsert of the rest (`INSERT … SELECT … FROM
//! json_each(?)` over `[key, body]` pairs), on the batch's `BEGIN
//! IMMEDIATE` transaction.
//!
//! # Indexes and filters
//!
//! Each declared indexed field `f` of a projection `p` becomes an
//! expression index partial on the projection, created by
//! `setup_documents` (`IF NOT EXISTS`) when an engine of the projection
//! starts:
//!
//! ```sql
//! CREATE INDEX IF NOT EXISTS "documents.1.p.f" ON documents (json_extract(body, '$."f"'))
//!   WHERE projection = 'p';
//! ```
//!
//! (The name holds the projection's length, so no two projections and
//! fields share one.) A filter compares the same expression, guarded by
//! `json_type`, with the projection written into the query as a literal so
//! the planner can use the partial index: a number is `json_type(body,
//! '$."f"') IN ('integer', 'real') AND json_extract(body, '$."f"') < ?`
//! (SQLite compares integers and reals as numbers), a string `… = 'text'
//! AND …` (the BINARY collation: by bytes), a `bool` only with `Eq`
//! (`json_type(…) = 'true'`); any other value matches nothing. A field
//! that is missing or of another JSON type fails the `json_type` guard, as
//! [`Condition::matches`] says.
//!
//! [`Condition::matches`]: es_core::document::Condition::matches

use std::fmt::Write as _;

use es_core::StoreError;
use es_core::document::{Condition, DocumentBackend, DocumentQuery, Op, StoredDocument, Write};

use crate::projection::SqliteTx;
use crate::row::format_time;
use crate::store::SqliteEventStore;

const LOAD: &str = "SELECT key, body FROM documents \
    WHERE projection = ? AND key IN (SELECT value FROM json_each(?))";
const UPSERT: &str = "INSERT INTO documents (projection, key, body, updated_at) \
    SELECT ?1, json_extract(value, '$[0]'), json_extract(value, '$[1]'), ?3 \
    FROM json_each(?2) WHERE true \
    ON CONFLICT (projection, key) DO UPDATE SET body = excluded.body, \
      updated_at = excluded.updated_at";
const DELETE: &str = "DELETE FROM documents \
    WHERE projection = ? AND key IN (SELECT value FROM json_each(?))";
const CLEAR: &str = "DELETE FROM documents WHERE projection = ?";

/// `text` as an SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The JSON path of a top-level `field`, as an SQL literal.
fn path(field: &str) -> String {
    literal(&format!("$.\"{field}\""))
}

/// The index of `projection`'s `field`, quoted.
fn index_name(projection: &str, field: &str) -> String {
    let name = format!("documents.{}.{projection}.{field}", projection.len());
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A value a condition binds.
#[derive(Debug, PartialEq)]
enum Bind {
    Int(i64),
    Real(f64),
    Text(String),
}

/// A condition as SQL, and the value it binds (if any).
fn condition(c: &Condition) -> (String, Option<Bind>) {
    use serde_json::Value;
    let p = path(&c.field);
    let op = c.op.symbol();
    let compare = |types: &str| {
        format!("json_type(body, {p}) IN ({types}) AND json_extract(body, {p}) {op} ?")
    };
    match &c.value {
        Value::Number(n) => {
            let bind = match n.as_i64() {
                Some(i) => Bind::Int(i),
                None => Bind::Real(n.as_f64().unwrap_or(f64::NAN)),
            };
            (compare("'integer', 'real'"), Some(bind))
        }
        Value::String(s) => (compare("'text'"), Some(Bind::Text(s.clone()))),
        Value::Bool(b) if c.op == Op::Eq => (format!("json_type(body, {p}) = '{b}'"), None),
        _ => ("0".to_owned(), None),
    }
}

/// A committed read as SQL, and its values after the projection (and the
/// keys, as one JSON array, when there are keys).
fn select(projection: &str, q: &DocumentQuery) -> (String, Vec<Bind>) {
    let mut sql = format!(
        "SELECT key, body FROM documents WHERE projection = {}",
        literal(projection)
    );
    let mut binds = Vec::new();
    if let Some(keys) = &q.keys {
        sql.push_str(" AND key IN (SELECT value FROM json_each(?))");
        binds.push(Bind::Text(
            serde_json::Value::from(keys.clone()).to_string(),
        ));
    }
    if let Some(after) = &q.after {
        sql.push_str(" AND key > ?");
        binds.push(Bind::Text(after.clone()));
    }
    for c in &q.conditions {
        let (text, bind) = condition(c);
        let _ = write!(sql, " AND {text}");
        binds.extend(bind);
    }
    sql.push_str(" ORDER BY key LIMIT ?");
    (sql, binds)
}

fn backend(context: String, e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
    StoreError::backend(context, e)
}

fn documents(rows: Vec<(String, String)>) -> Vec<StoredDocument> {
    rows.into_iter()
        .map(|(key, body)| StoredDocument {
            key,
            body: body.into_bytes(),
        })
        .collect()
}

impl DocumentBackend for SqliteEventStore {
    async fn setup_documents(
        &self,
        tx: &mut SqliteTx,
        projection: &str,
        indexes: &[&str],
    ) -> Result<(), StoreError> {
        for field in indexes {
            let create = format!(
                "CREATE INDEX IF NOT EXISTS {} ON documents (json_extract(body, {})) \
                 WHERE projection = {}",
                index_name(projection, field),
                path(field),
                literal(projection)
            );
            sqlx::query(&create).execute(&mut **tx).await.map_err(|e| {
                backend(format!("indexing `{field}` of documents `{projection}`"), e)
            })?;
        }
        Ok(())
    }

    async fn load_documents(
        &self,
        tx: &mut SqliteTx,
        projection: &str,
        keys: &[String],
    ) -> Result<Vec<StoredDocument>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, String)> = sqlx::query_as(LOAD)
            .bind(projection)
            .bind(serde_json::Value::from(keys.to_vec()).to_string())
            .fetch_all(&mut **tx)
            .await
            .map_err(|e| {
                let n = keys.len();
                backend(format!("loading {n} document(s) of `{projection}`"), e)
            })?;
        Ok(documents(rows))
    }

    async fn write_documents(
        &self,
        tx: &mut SqliteTx,
        projection: &str,
        writes: &[Write],
    ) -> Result<(), StoreError> {
        let ctx = || format!("writing {} document(s) of `{projection}`", writes.len());
        // One delete and one upsert, of disjoint keys: what the batch leaves.
        let net = Write::net(writes);
        let mut puts = Vec::with_capacity(net.puts.len());
        for (key, body) in net.puts {
            let text = std::str::from_utf8(body).map_err(|e| backend(ctx(), e))?;
            puts.push(serde_json::json!([key, text]));
        }
        let deleted = net.deletes;
        if !deleted.is_empty() {
            sqlx::query(DELETE)
                .bind(projection)
                .bind(serde_json::Value::from(deleted).to_string())
                .execute(&mut **tx)
                .await
                .map_err(|e| backend(ctx(), e))?;
        }
        if !puts.is_empty() {
            sqlx::query(UPSERT)
                .bind(projection)
                .bind(serde_json::Value::from(puts).to_string())
                .bind(format_time(chrono::Utc::now()))
                .execute(&mut **tx)
                .await
                .map_err(|e| backend(ctx(), e))?;
        }
        Ok(())
    }

    async fn clear_documents(&self, tx: &mut SqliteTx, projection: &str) -> Result<(), StoreError> {
        sqlx::query(CLEAR)
            .bind(projection)
            .execute(&mut **tx)
            .await
            .map_err(|e| backend(format!("deleting the documents of `{projection}`"), e))?;
        Ok(())
    }

    async fn query_documents(
        &self,
        projection: &str,
        query: &DocumentQuery,
    ) -> Result<Vec<StoredDocument>, StoreError> {
        let (sql, binds) = select(projection, query);
        let mut q = sqlx::query_as::<_, (String, String)>(&sql);
        for b in binds {
            q = match b {
                Bind::Int(i) => q.bind(i),
                Bind::Real(r) => q.bind(r),
                Bind::Text(t) => q.bind(t),
            };
        }
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        let rows = q
            .bind(limit)
            .fetch_all(self.pool())
            .await
            .map_err(|e| backend(format!("reading documents of `{projection}`"), e))?;
        Ok(documents(rows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_keep_projection_and_field_apart() {
        assert_eq!(index_name("a.b", "c"), "\"documents.3.a.b.c\"");
        assert_ne!(index_name("a.b", "c"), index_name("a", "b.c"));
        assert_eq!(index_name("q\"", "f"), "\"documents.2.q\"\".f\"");
    }

    #[test]
    fn conditions_bind_their_values_in_order() {
        let q = DocumentQuery {
            keys: Some(vec!["k1".into()]),
            conditions: vec![
                Condition {
                    field: "o'k".into(),
                    op: Op::Ge,
                    value: "a".into(),
                },
                Condition {
                    field: "n".into(),
                    op: Op::Lt,
                    value: true.into(),
                },
                Condition {
                    field: "n".into(),
                    op: Op::Eq,
                    value: false.into(),
                },
                Condition {
                    field: "n".into(),
                    op: Op::Lt,
                    value: 2.5.into(),
                },
            ],
            after: Some("k".into()),
            limit: 3,
        };
        let (sql, binds) = select("p'", &q);
        assert!(sql.contains("projection = 'p'''"), "{sql}");
        assert!(
            sql.contains("json_extract(body, '$.\"o''k\"') >= ?"),
            "{sql}"
        );
        assert!(
            sql.contains("AND 0 AND json_type(body, '$.\"n\"') = 'false'"),
            "{sql}"
        );
        assert_eq!(
            binds,
            [
                Bind::Text(r#"["k1"]"#.into()),
                Bind::Text("k".into()),
                Bind::Text("a".into()),
                Bind::Real(2.5)
            ]
        );
    }
}
