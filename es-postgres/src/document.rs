//! PostgreSQL under document projections: [`PgEventStore`] as an
//! [`es_core::document::DocumentBackend`], with its SQL.
//!
//! # One shared table
//!
//! Every projection's documents live in one table, `documents (projection,
//! key, body jsonb, updated_at)` with the primary key `(projection, key)`
//! (migration `20250101000004_documents.sql`), rather than a table per
//! projection:
//!
//! - the table is the migrations', like every other table of the store: it
//!   exists (with its grants) before any projection runs, an upgrade is
//!   `migrate`, and no projection name is ever turned into a table name;
//! - the statements of a batch (load, upsert, delete, clear) are the same
//!   text for every projection, prepared once per connection, with the
//!   projection a bound value;
//! - a rebuild deletes the projection's rows (`DELETE … WHERE projection =
//!   $1`) in the batch transaction that moves its checkpoint back, so a
//!   reader sees the old documents until the new run commits its first
//!   batch, as on the other stores.
//!
//! The price is that a projection's indexes must be partial: each declared
//! indexed field becomes two expression indexes, created by
//! `setup_documents` when an engine of the projection becomes active (only
//! those missing: once they exist it creates nothing):
//!
//! ```sql
//! CREATE INDEX documents_<hash>_n ON documents
//!   ((CASE WHEN jsonb_typeof(body -> 'owner') = 'number' THEN (body ->> 'owner')::numeric END))
//!   WHERE projection = 'accounts';
//! CREATE INDEX documents_<hash>_s ON documents
//!   ((CASE WHEN jsonb_typeof(body -> 'owner') = 'string' THEN body ->> 'owner' END) COLLATE "C")
//!   WHERE projection = 'accounts';
//! ```
//!
//! (`<hash>`: 64-bit FNV-1a of the projection and the field, so the name
//! fits PostgreSQL's 63 bytes whatever the names are.) `CREATE INDEX` runs
//! in the checkpoint's transaction, so the role that runs the engine must
//! own the table the first time a projection with new indexes starts (the
//! role that ran `migrate` does). While it builds, `CREATE INDEX` holds a
//! `SHARE` lock on the table, so other projections' batches wait for that
//! transaction (once per new index: later activations find the indexes and
//! create nothing). An index of a field no longer declared stays until
//! dropped by hand.
//!
//! # Filters compare as the in-memory store does
//!
//! [`Condition::matches`] is the reference. A condition on a number is
//! `(CASE WHEN jsonb_typeof(body -> f) = 'number' THEN (body ->> f)::numeric
//! END) < $n::numeric`: numbers compare as numbers (`numeric`, exact), and
//! a field that is missing or holds another JSON type is `NULL`, which
//! matches nothing. A condition on a string is the same with `'string'`,
//! `text` and `COLLATE "C"`: by bytes (UTF-8 byte order is code point
//! order), whatever the database's collation. A `bool` only with `Eq`:
//! `body -> f = 'true'::jsonb` (jsonb equality is exact in type). Any
//! other value (`null`, an array, an object, a `bool` with a range) is
//! `false`. Both the query and the index write the same expression, so the
//! planner uses the index; the projection is written into the query as a
//! literal (quoted) so that it can prove the partial index applies. Keys
//! are `COLLATE "C"` too: pages (`key > $after ORDER BY key LIMIT $n`)
//! are in byte order, on the primary key.
//!
//! # Bodies
//!
//! `body` is jsonb, so a document comes back equal, not byte for byte (key
//! order and spacing are jsonb's). PostgreSQL's jsonb refuses the escape
//! `\u0000` in strings: a document holding a NUL character fails its
//! batch with the server's error.
//!
//! [`Condition::matches`]: es_core::document::Condition::matches

use std::fmt::Write as _;

use es_core::StoreError;
use es_core::document::{Condition, DocumentBackend, DocumentQuery, Op, StoredDocument, Write};

use crate::inline::PgTx;
use crate::row::limit_i64;
use crate::schema::quote_ident;
use crate::store::PgEventStore;

pub(crate) mod sql;

/// `text` as an SQL string literal (`standard_conforming_strings` is on
/// since PostgreSQL 9.1: only `'` needs doubling).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The expression a numeric condition on `field` compares (and its index holds).
fn number_of(field: &str) -> String {
    let f = literal(field);
    format!("(CASE WHEN jsonb_typeof(body -> {f}) = 'number' THEN (body ->> {f})::numeric END)")
}

/// The expression a string condition on `field` compares (and its index holds).
fn string_of(field: &str) -> String {
    let f = literal(field);
    format!("(CASE WHEN jsonb_typeof(body -> {f}) = 'string' THEN body ->> {f} END)")
}

/// A stable name for an index of `projection`'s `field` (FNV-1a, 64 bits).
fn index_name(projection: &str, field: &str, kind: char) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in projection.bytes().chain([0]).chain(field.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("documents_{hash:016x}_{kind}")
}

/// A condition as SQL: its text, and the value it binds (if any) as the
/// `$n`-th parameter.
fn condition(c: &Condition, n: usize) -> (String, Option<String>) {
    use serde_json::Value;
    let op = c.op.symbol();
    match &c.value {
        Value::Number(v) => (
            format!("{} {op} ${n}::numeric", number_of(&c.field)),
            Some(v.to_string()),
        ),
        Value::String(v) => (
            format!("{} COLLATE \"C\" {op} ${n}::text", string_of(&c.field)),
            Some(v.clone()),
        ),
        Value::Bool(v) if c.op == Op::Eq => (
            format!("body -> {} = ${n}::jsonb", literal(&c.field)),
            Some(v.to_string()),
        ),
        _ => ("false".to_owned(), None),
    }
}

/// A committed read of `projection`'s documents as SQL, and its parameters
/// after the keys (`$1`, when there are keys).
fn select(table: &str, projection: &str, q: &DocumentQuery) -> (String, Vec<String>) {
    let mut sql = format!(
        "SELECT key, body::text FROM {table} WHERE projection = {}",
        literal(projection)
    );
    let mut n = usize::from(q.keys.is_some());
    if n == 1 {
        sql.push_str(" AND key = ANY($1)");
    }
    let mut binds = Vec::new();
    if let Some(after) = &q.after {
        n += 1;
        let _ = write!(sql, " AND key > ${n}");
        binds.push(after.clone());
    }
    for c in &q.conditions {
        let (text, bind) = condition(c, n + 1);
        let _ = write!(sql, " AND {text}");
        if let Some(b) = bind {
            n += 1;
            binds.push(b);
        }
    }
    let _ = write!(sql, " ORDER BY key LIMIT ${}", n + 1);
    (sql, binds)
}

fn backend(context: String, e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
    StoreError::backend(context, e)
}

fn rows_to_documents(rows: Vec<(String, String)>) -> Vec<StoredDocument> {
    rows.into_iter()
        .map(|(key, body)| StoredDocument {
            key,
            body: body.into_bytes(),
        })
        .collect()
}

impl PgEventStore {
    /// This store with the document projection `D` run inline: in each
    /// append's own transaction, for the appended events of `D`'s types,
    /// so its documents are never behind the events (no runner, no
    /// checkpoint) and an append whose documents cannot be written stores
    /// nothing. Appends that touch one document at once (a key gathering
    /// many streams) take its lock in turn, so no update is lost
    /// ([`DocumentProjection::locking`]). [`PgEventStore::migrate`] creates
    /// its indexes. Run a document projection inline or on an
    /// [`Engine`](es_core::consumer::Engine), not both; to rebuild an inline
    /// one, stop the writers and run [`Engine::rebuild`](es_core::consumer::Engine::rebuild)
    /// once. As for [`PgEventStore::with_inline`], clones of the store made
    /// before this call do not run it.
    ///
    /// ```no_run
    /// # use es_core::document::{Document, DocumentState, Documents, Evolve};
    /// # use es_core::{Event, Recorded};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Debug, Serialize, Deserialize, Event)] struct Opened { owner: String }
    /// #[derive(Debug, Default, Serialize, Deserialize, Document)]
    /// #[document(events(Opened), index(owner))]
    /// struct Account { owner: String }
    /// # impl Evolve<Opened> for Account {
    /// #     fn evolve(&mut self, e: &Recorded<Opened>, _: &mut DocumentState) { self.owner.clone_from(&e.event.owner) } }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = es_postgres::PgEventStore::connect("postgres://postgres@127.0.0.1:5432/app")
    ///     .await?
    ///     .with_inline_document::<Account>();
    /// store.migrate().await?;
    /// // ... after an append, its documents are there:
    /// let accounts = Documents::<Account, _>::new(store.clone());
    /// # Ok(()) }
    /// ```
    ///
    /// [`DocumentProjection::locking`]: es_core::document::DocumentProjection::locking
    #[must_use]
    pub fn with_inline_document<D: es_core::document::Document>(mut self) -> Self {
        // A clone made before the projection is added: it does not run the
        // projection, so the store and its projection hold no cycle.
        let documents = self.clone();
        self.add_inline_consumer(es_core::document::DocumentProjection::<D, Self>::locking(
            documents,
        ));
        self
    }
}

impl DocumentBackend for PgEventStore {
    async fn setup_documents(
        &self,
        tx: &mut PgTx,
        projection: &str,
        indexes: &[&str],
    ) -> Result<(), StoreError> {
        let ctx = || format!("creating the indexes of documents `{projection}`");
        let wanted: Vec<(String, String)> = indexes
            .iter()
            .flat_map(|f| {
                [
                    (index_name(projection, f, 'n'), number_of(f)),
                    (
                        index_name(projection, f, 's'),
                        format!("{} COLLATE \"C\"", string_of(f)),
                    ),
                ]
            })
            .collect();
        let names: Vec<&str> = wanted.iter().map(|(n, _)| n.as_str()).collect();
        let present: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND indexname = ANY($2)",
        )
        .bind(self.schema())
        .bind(&names)
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| backend(ctx(), e))?;
        if usize::try_from(present).is_ok_and(|p| p == wanted.len()) {
            return Ok(());
        }
        let table = &self.documents().table;
        for (name, expression) in &wanted {
            let create = format!(
                "CREATE INDEX IF NOT EXISTS {} ON {table} ({expression}) WHERE projection = {}",
                quote_ident(name),
                literal(projection)
            );
            sqlx::query(&create)
                .execute(&mut **tx)
                .await
                .map_err(|e| backend(ctx(), e))?;
        }
        Ok(())
    }

    async fn load_documents(
        &self,
        tx: &mut PgTx,
        projection: &str,
        keys: &[String],
    ) -> Result<Vec<StoredDocument>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, String)> = sqlx::query_as(&self.documents().load)
            .bind(projection)
            .bind(keys)
            .fetch_all(&mut **tx)
            .await
            .map_err(|e| {
                let n = keys.len();
                backend(format!("loading {n} document(s) of `{projection}`"), e)
            })?;
        Ok(rows_to_documents(rows))
    }

    async fn lock_documents(
        &self,
        tx: &mut PgTx,
        projection: &str,
        keys: &[String],
    ) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        sqlx::query(&self.documents().lock)
            .bind(projection)
            .bind(keys)
            .execute(&mut **tx)
            .await
            .map_err(|e| {
                let n = keys.len();
                backend(format!("locking {n} document(s) of `{projection}`"), e)
            })?;
        Ok(())
    }

    async fn write_documents(
        &self,
        tx: &mut PgTx,
        projection: &str,
        writes: &[Write],
    ) -> Result<(), StoreError> {
        let ctx = || format!("writing {} document(s) of `{projection}`", writes.len());
        // One delete and one upsert, of disjoint keys: what the batch leaves.
        let net = Write::net(writes);
        let put_keys: Vec<&str> = net.puts.iter().map(|(k, _)| *k).collect();
        let put_bodies = net
            .puts
            .iter()
            .map(|(_, b)| std::str::from_utf8(b))
            .collect::<Result<Vec<&str>, _>>()
            .map_err(|e| backend(ctx(), e))?;
        let deleted = net.deletes;
        let sql = self.documents();
        if !deleted.is_empty() {
            sqlx::query(&sql.delete)
                .bind(projection)
                .bind(&deleted)
                .execute(&mut **tx)
                .await
                .map_err(|e| backend(ctx(), e))?;
        }
        if !put_keys.is_empty() {
            sqlx::query(&sql.upsert)
                .bind(projection)
                .bind(&put_keys)
                .bind(&put_bodies)
                .execute(&mut **tx)
                .await
                .map_err(|e| backend(ctx(), e))?;
        }
        Ok(())
    }

    async fn clear_documents(&self, tx: &mut PgTx, projection: &str) -> Result<(), StoreError> {
        sqlx::query(&self.documents().clear)
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
        let (sql, binds) = select(&self.documents().table, projection, query);
        let mut q = sqlx::query_as::<_, (String, String)>(&sql);
        if let Some(keys) = &query.keys {
            q = q.bind(keys);
        }
        for b in binds {
            q = q.bind(b);
        }
        let rows = q
            .bind(limit_i64(query.limit))
            .fetch_all(self.pool())
            .await
            .map_err(|e| backend(format!("reading documents of `{projection}`"), e))?;
        Ok(rows_to_documents(rows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_are_short_stable_and_distinct() {
        let a = index_name("accounts", "owner", 'n');
        assert_eq!(a.len(), "documents_".len() + 16 + 2);
        assert_eq!(a, index_name("accounts", "owner", 'n'));
        assert_ne!(a, index_name("account", "sowner", 'n'));
        assert_ne!(a, index_name("accounts", "owner", 's'));
    }

    #[test]
    fn conditions_bind_their_values_in_order() {
        let q = DocumentQuery {
            keys: None,
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
                    op: Op::Lt,
                    value: 2.5.into(),
                },
            ],
            after: Some("k".into()),
            limit: 3,
        };
        let (sql, binds) = select("t", "p'", &q);
        assert!(sql.contains("projection = 'p'''"), "{sql}");
        assert!(sql.contains("key > $1"), "{sql}");
        assert!(sql.contains("body -> 'o''k'"), "{sql}");
        assert!(
            sql.contains("COLLATE \"C\" >= $2::text AND false AND"),
            "{sql}"
        );
        assert!(sql.contains("< $3::numeric ORDER BY key LIMIT $4"), "{sql}");
        assert_eq!(binds, ["k", "a", "2.5"]);
    }
}
