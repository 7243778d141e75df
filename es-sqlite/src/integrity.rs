//! A damaged file: `PRAGMA quick_check` on demand, and the corruption any
//! operation meets, after which the store refuses appends.

use std::path::Path;

use es_core::StoreError;

use crate::store::SqliteEventStore;

impl SqliteEventStore {
    /// Runs SQLite's `PRAGMA quick_check` over the whole file: an `Err`
    /// ([`StoreError::Corrupt`]) when it finds damage, after which this
    /// store refuses appends. Without it, damage shows when a read reaches
    /// it (any read that meets `SQLITE_CORRUPT` has the same effect).
    ///
    /// It reads every page, so its cost grows with the file (see
    /// [`SqliteEventStore::open_checked`] for figures); run it at start-up
    /// where that is affordable.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), es_core::StoreError> {
    /// let store = es_sqlite::SqliteEventStore::in_memory().await?;
    /// store.check_integrity().await?;
    /// # Ok(()) }
    /// ```
    pub async fn check_integrity(&self) -> Result<(), StoreError> {
        let label = &self.inner.label;
        let found = match sqlx::query_scalar::<_, String>("PRAGMA quick_check")
            .fetch_all(&self.inner.pool)
            .await
        {
            Ok(rows) if rows.len() == 1 && rows[0] == "ok" => return Ok(()),
            Ok(rows) => rows.iter().take(5).cloned().collect::<Vec<_>>().join("; "),
            // The check itself can stop at the damage.
            Err(e) => {
                let e = self.observe_sqlx(format!("checking {label}"), e);
                match corruption_in(&e) {
                    Some(cause) => cause,
                    None => return Err(e),
                }
            }
        };
        let _ = self.inner.corrupt.set(format!("quick_check: {found}"));
        Err(StoreError::Corrupt {
            stream_id: "*".to_owned(),
            message: format!(
                "the database file {label} is corrupt (quick_check: {found}); \
                 appends are refused; restore it from a backup"
            ),
        })
    }

    /// [`SqliteEventStore::open`], then [`SqliteEventStore::check_integrity`]:
    /// a damaged file is refused at start-up instead of when a read reaches
    /// the damage. Measured on a 2-core machine (release build, small
    /// payloads, the file in the page cache): 4.5 ms for 10,000 events
    /// (2 MB), 48–63 ms for 100,000 (21 MB), 0.70–0.74 s for 1,000,000
    /// (215 MB), against 2–4 ms for the open itself. It grows with the
    /// file (about 3.4 ms per MB), so it is opt-in rather than the default.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), es_core::StoreError> {
    /// let store = es_sqlite::SqliteEventStore::open_checked("bank.db").await?;
    /// # Ok(()) }
    /// ```
    pub async fn open_checked(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let store = Self::open(path).await?;
        store.check_integrity().await?;
        Ok(store)
    }

    /// Whether this store has seen its file corrupt (and so refuses
    /// appends).
    pub fn has_seen_corruption(&self) -> bool {
        self.inner.corrupt.get().is_some()
    }

    /// Notes a corruption that `result`'s error reports (`SQLITE_CORRUPT`,
    /// `SQLITE_NOTADB`), so later appends are refused.
    pub(crate) fn observe<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(e) = &result
            && let Some(cause) = corruption_in(e)
            && self.inner.corrupt.set(cause.clone()).is_ok()
        {
            tracing::error!(
                database = %self.inner.label,
                cause = %cause,
                "the database file is corrupt; appends are refused from now on"
            );
        }
        result
    }

    /// A backend error from sqlx, noting a corruption it reports.
    pub(crate) fn observe_sqlx(&self, context: impl Into<String>, e: sqlx::Error) -> StoreError {
        match self.observe::<()>(Err(StoreError::backend(context, e))) {
            Err(e) => e,
            Ok(()) => unreachable!("observe returns what it is given"),
        }
    }
}

/// SQLite's words when an error in `e`'s chain says the file is damaged
/// (`SQLITE_CORRUPT`, `SQLITE_NOTADB`).
pub(crate) fn corruption_in(e: &StoreError) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(sqlx::Error::Database(db)) = err.downcast_ref::<sqlx::Error>()
            && let Some(code) = db.code().and_then(|c| c.parse::<i32>().ok())
            && matches!(code & 0xff, 11 | 26)
        {
            return Some(db.message().to_owned());
        }
        cur = err.source();
    }
    None
}
