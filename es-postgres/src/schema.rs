//! The store's schema: which names it accepts, how a name goes into SQL
//! text, and the embedded migrations that create its tables.

use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPool;

/// The embedded migrations (`es-postgres/migrations`).
/// [`PgEventStore::migrate`](crate::PgEventStore::migrate) runs them in the
/// store's schema.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The schema the tables live in unless
/// [`PgEventStoreBuilder::schema`](crate::PgEventStoreBuilder::schema) says otherwise.
pub const DEFAULT_SCHEMA: &str = "es";

/// An advisory-lock key that serializes `CREATE SCHEMA IF NOT EXISTS` of
/// concurrent migrations (two of them racing fail with a unique violation).
const SCHEMA_LOCK_KEY: i64 = 0x6573_5f70_6773_6368; // "es_pgsch"

/// Whether the store accepts `schema` as its schema name: ASCII letters,
/// digits and `_`, not starting with a digit, at most 48 bytes (the
/// notification channel `{schema}_events` must fit PostgreSQL's 63).
pub(crate) fn is_valid_name(schema: &str) -> bool {
    let ok_start = schema
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let ok_chars = schema
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok_start && ok_chars && schema.len() <= 48
}

/// Quotes an identifier for SQL text. Only schema names (validated by
/// [`PgEventStoreBuilder::schema`](crate::PgEventStoreBuilder::schema)) go
/// through here; values are always bound.
pub(crate) fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Creates `schema` if needed and runs [`MIGRATOR`] in it, on a connection
/// detached from `pool` whose `search_path` is that schema alone, closed
/// afterwards (see [`PgEventStore::migrate`](crate::PgEventStore::migrate)).
pub(crate) async fn migrate(pool: &PgPool, schema: &str) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?.detach();
    let result = async {
        let mut tx = Connection::begin(&mut conn).await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SCHEMA_LOCK_KEY)
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            quote_ident(schema)
        ))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        sqlx::query("SELECT set_config('search_path', $1, false)")
            .bind(quote_ident(schema))
            .execute(&mut conn)
            .await?;
        MIGRATOR.run(&mut conn).await.map_err(sqlx::Error::from)?;
        Ok::<_, sqlx::Error>(())
    }
    .await;
    let _ = conn.close().await;
    result
}
