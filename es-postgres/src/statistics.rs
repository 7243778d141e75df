//! Whether PostgreSQL's statistics describe the log well enough to plan a
//! `read_all` page, looked up at most once a second per store.
//!
//! Right after a bulk load, before autovacuum's ANALYZE, the server has
//! no statistics for `events`; after a load that more than doubled a table
//! analyzed when it was smaller, they describe a table that is gone. In
//! both cases it can plan a page of the global log (of some types, or of a
//! partition) as a bitmap scan of every matching event after the position
//! and a sort: the rest of the log read for each page. While the
//! statistics are missing or stale, `read_all` takes the statement that
//! reads in index order whatever the plan's guesses (migration
//! `20250101000008_reads_in_index_order.sql`); otherwise its usual one,
//! which is faster by about a quarter on an analyzed table.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use es_core::StoreError;
use sqlx::postgres::PgPool;

use crate::PgEventStore;

/// How long a look at the statistics holds.
const RECHECK: Duration = Duration::from_secs(1);

/// Below this size of `events` (bytes of its heap, about 40,000 events)
/// the usual statement is kept whatever the statistics: a page that sorts
/// the rest of so small a log costs a few milliseconds.
const SMALL_TABLE_BYTES: i64 = 8 << 20;

/// The share of the table written since its last ANALYZE above which its
/// statistics count as stale: a fifth (autovacuum's default analyzes after
/// a tenth).
const STALE_SHARE_DIVISOR: i64 = 5;

/// The last look at the statistics of one store's `events`.
pub(crate) struct StatisticsWatch {
    check: String,
    schema: String,
    last: Mutex<Option<(Instant, bool)>>,
}

impl StatisticsWatch {
    pub(crate) fn new(schema: &str) -> Self {
        // pg_stats shows a column's statistics to any role that may read
        // the column; the counters of writes since the last ANALYZE are the
        // server's cumulative statistics (which a crash resets to zero,
        // leaving the table "analyzed": the usual statement, as before).
        let check = format!(
            "SELECT pg_relation_size(c.oid) > {SMALL_TABLE_BYTES} \
               AND (NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stats AS s \
                                WHERE s.schemaname = $1 AND s.tablename = 'events' \
                                  AND s.attname = 'event_type') \
                    OR pg_stat_get_mod_since_analyze(c.oid) \
                       > pg_stat_get_live_tuples(c.oid) / {STALE_SHARE_DIVISOR}) \
             FROM pg_catalog.pg_class AS c \
             JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = 'events'"
        );
        Self {
            check,
            schema: schema.to_owned(),
            last: Mutex::new(None),
        }
    }

    /// Whether `read_all` should read in index order: the statistics of
    /// `events` are missing or stale and the table is not small. Looked up
    /// at most once a second; a failed look counts as "no" (the usual
    /// statement, which the read that follows runs on the same server) and
    /// is not retried before the second is up.
    pub(crate) async fn stale(&self, pool: &PgPool) -> bool {
        if let Some((at, stale)) = *self.last.lock().unwrap_or_else(|e| e.into_inner())
            && at.elapsed() < RECHECK
        {
            return stale;
        }
        let stale = match self.look(pool).await {
            Ok(stale) => stale,
            Err(e) => {
                tracing::debug!(error = %e, "looking up the statistics of the log failed");
                false
            }
        };
        self.record(stale);
        stale
    }

    /// Looks now (and keeps the answer for the next second's reads).
    pub(crate) async fn look(&self, pool: &PgPool) -> Result<bool, sqlx::Error> {
        let stale = sqlx::query_scalar::<_, Option<bool>>(&self.check)
            .bind(&self.schema)
            .fetch_optional(pool)
            .await?
            .flatten()
            .unwrap_or(false);
        self.record(stale);
        Ok(stale)
    }

    fn record(&self, stale: bool) {
        let previous = self
            .last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace((Instant::now(), stale));
        if previous.map(|(_, s)| s) != Some(stale) {
            tracing::debug!(
                schema = %self.schema,
                stale,
                "statistics of the log looked up; reads of the global log {}",
                if stale { "go in index order" } else { "use their usual plan" }
            );
        }
    }
}

impl PgEventStore {
    /// Whether PostgreSQL's statistics of the log are missing or stale
    /// (never analyzed, or more than a fifth of the table written since
    /// the last ANALYZE) on a table over 8 MB: while they are, `read_all`
    /// and partitioned reads go in index order, whatever the plan's
    /// guesses (README, "Reads after a bulk load"). Looks now; `es lint`
    /// reports it. `ANALYZE {schema}.events` ends it.
    ///
    /// ```no_run
    /// # async fn f(store: es_postgres::PgEventStore) -> Result<(), es_core::StoreError> {
    /// if store.statistics_stale().await? {
    ///     eprintln!("run ANALYZE on the event log after the import");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn statistics_stale(&self) -> Result<bool, StoreError> {
        self.reads()
            .statistics()
            .look(self.pool())
            .await
            .map_err(|e| StoreError::backend("looking up the statistics of the log", e))
    }
}
