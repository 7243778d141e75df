//! Loading the log fast: one set-based `INSERT … SELECT FROM
//! generate_series` per chunk of at most [`CHUNK`] events, each chunk its
//! own transaction, writing rows exactly as the framework's append does
//! (`global_position = tx_id << 20 | n`, `tx_id` the writing transaction,
//! dense stream versions from 1, a UUID v7 event id, `metadata` and
//! `recorded_at` by their defaults).
//!
//! The layout of a chunk's rows `i = 1..=n`, interleaved as a long-running
//! application writes them:
//!
//! - every 1,000th row (`i % 1000 = 0`, 0.1%) is the rare type: a
//!   `Flagged` event of an `Audit` stream of 10 events;
//! - every 10th row (`i % 10 = 5`, 10%) is a `Posted` event of a `Ledger`
//!   stream of 1,000 events (100 such streams per full chunk, each spread
//!   over the whole chunk, so a stream's events lie on 1,000 heap pages);
//! - the rest (89.9%) are `Credited`/`Debited` events of `Counter` streams
//!   of 10 events (every 10th a debit, as `small_event` writes them),
//!   1,000 streams interleaved at a time, so a stream spans about 10,000
//!   rows.
//!
//! Stream ids carry the chunk's number `k`: `Audit-{k}-{m}`,
//! `Ledger-{k}-{m}`, `Counter-g{k}-{m}`.

use anyhow::{Context as _, Result};
use sqlx::postgres::PgPool;

/// Events per load transaction: below the 2^20 − 1 events one transaction
/// may write (the low 20 bits of a position number them), and a multiple of
/// 10,000 so a full chunk's ledger streams hold exactly 1,000 events each.
pub(super) const CHUNK: u64 = 1_000_000;

/// Events of a full ledger stream.
pub(super) const LONG_STREAM: u64 = 1000;

/// The rare event type (0.1% of the log).
pub(super) const RARE_TYPE: &str = "Flagged";

/// One loaded chunk: its number, its events and its transaction id.
#[derive(Debug, Clone, Copy)]
pub(super) struct Chunk {
    /// The chunk's number, in its stream ids.
    pub(super) k: u64,
    /// Events written.
    pub(super) events: u64,
    /// The writing transaction's id (its positions are `xid << 20 | 1..=events`).
    pub(super) xid: i64,
}

impl Chunk {
    /// Rows `i % 10 = 5` in `1..=events`: the ledger events.
    fn long_slots(&self) -> u64 {
        (self.events + 5) / 10
    }

    /// Ledger streams of this chunk (each at most [`LONG_STREAM`] events).
    pub(super) fn long_streams(&self) -> u64 {
        self.long_slots().div_ceil(LONG_STREAM)
    }

    /// Counter streams `0..small_streams()` all exist (the last block's
    /// streams may hold fewer than 10 events).
    pub(super) fn small_streams(&self) -> u64 {
        (self.events - self.long_slots() - self.events / 1000) / 10
    }

    /// The global position of row `i` of this chunk.
    pub(super) fn position(&self, i: u64) -> i64 {
        (self.xid << 20) + i as i64
    }
}

/// The chunk statement: `$1` the chunk number, `$2` its events, `$3` its
/// ledger streams. The window numbers each kind's rows (`j`, from 0) in
/// row order; the stream and version follow from `j`.
const CHUNK_SQL: &str = r#"
INSERT INTO es.events (global_position, event_id, stream_id, stream_version,
    aggregate_type, event_type, schema_version, payload, tx_id)
SELECT (x.xid << 20) + g.i,
       (lpad(to_hex(x.ms), 12, '0') || '7000' || '8'
        || substr(lpad(to_hex((x.xid << 20) + g.i), 16, '0'), 2, 15))::uuid,
       CASE g.kind WHEN 0 THEN 'Audit-' || $1::text || '-' || (g.j / 10)
                   WHEN 1 THEN 'Ledger-' || $1::text || '-' || (g.j % $3::bigint)
                   ELSE 'Counter-g' || $1::text || '-' || ((g.j / 10000) * 1000 + g.j % 1000) END,
       CASE g.kind WHEN 0 THEN g.j % 10 + 1
                   WHEN 1 THEN g.j / $3::bigint + 1
                   ELSE (g.j % 10000) / 1000 + 1 END,
       CASE g.kind WHEN 0 THEN 'Audit' WHEN 1 THEN 'Ledger' ELSE 'Counter' END,
       CASE g.kind WHEN 0 THEN 'Flagged' WHEN 1 THEN 'Posted'
                   ELSE CASE WHEN (g.j % 10000) / 1000 = 9 THEN 'Debited' ELSE 'Credited' END END,
       1,
       CASE g.kind WHEN 0 THEN jsonb_build_object('n', g.j)
                   WHEN 1 THEN jsonb_build_object('amount', g.j % 100)
                   ELSE CASE WHEN (g.j % 10000) / 1000 = 9 THEN '{"amount":1}'::jsonb
                             ELSE '{"amount":2}'::jsonb END END,
       x.tx
FROM (SELECT pg_current_xact_id() AS tx, pg_current_xact_id()::text::bigint AS xid,
             (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms) AS x,
     (SELECT i, kind, row_number() OVER (PARTITION BY kind ORDER BY i) - 1 AS j
      FROM (SELECT i, CASE WHEN i % 1000 = 0 THEN 0 WHEN i % 10 = 5 THEN 1 ELSE 2 END AS kind
            FROM generate_series(1, $2::bigint) AS i) AS c) AS g"#;

/// Writes chunk `k` of `events` events in one transaction.
pub(super) async fn load_chunk(pool: &PgPool, k: u64, events: u64) -> Result<Chunk> {
    assert!(
        events > 0 && events <= CHUNK,
        "a chunk holds 1..=CHUNK events"
    );
    let long_streams = Chunk { k, events, xid: 0 }.long_streams();
    let mut tx = pool.begin().await?;
    // The window's sort stays in memory.
    sqlx::query("SET LOCAL work_mem = '256MB'")
        .execute(&mut *tx)
        .await?;
    let xid: i64 = sqlx::query_scalar("SELECT pg_current_xact_id()::text::bigint")
        .fetch_one(&mut *tx)
        .await?;
    let written = sqlx::query(CHUNK_SQL)
        .bind(k as i64)
        .bind(events as i64)
        .bind(long_streams.max(1) as i64)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("loading chunk {k} ({events} events)"))?
        .rows_affected();
    tx.commit().await?;
    anyhow::ensure!(written == events, "chunk {k}: wrote {written} of {events}");
    Ok(Chunk { k, events, xid })
}

/// `VACUUM (ANALYZE)` of the log after a load step: the statistics the
/// planner needs and the visibility map index-only scans need. Autovacuum
/// does both in production (insert-driven autovacuum since PostgreSQL 13);
/// it is off on this server, so the benchmark runs it.
pub(super) async fn vacuum_analyze(pool: &PgPool, table: &str) -> Result<()> {
    sqlx::query(&format!("VACUUM (ANALYZE) {table}"))
        .execute(pool)
        .await?;
    Ok(())
}

/// `CHECKPOINT` after a load step, so the dirty pages of the load are
/// written before the figures are taken and not by the checkpointer in the
/// middle of them (a superuser's statement, as the benchmark's role is
/// here; skipped with a note where it is not allowed).
pub(super) async fn checkpoint(pool: &PgPool) {
    if let Err(e) = sqlx::query("CHECKPOINT").execute(pool).await {
        eprintln!("es-bench:   no CHECKPOINT after the load: {e}");
    }
}

/// Bytes on disk of a table with its indexes and TOAST: (total, heap,
/// indexes). For a partitioned table, the sum over its partitions.
pub(super) async fn size_on_disk(pool: &PgPool, table: &str) -> Result<(i64, i64, i64)> {
    let sizes: (i64, i64, i64) = sqlx::query_as(
        "SELECT coalesce(sum(pg_total_relation_size(relid)), 0)::int8, \
                coalesce(sum(pg_relation_size(relid)), 0)::int8, \
                coalesce(sum(pg_indexes_size(relid)), 0)::int8 \
         FROM (SELECT relid FROM pg_partition_tree($1::regclass) \
               UNION SELECT $1::regclass) AS t",
    )
    .bind(table)
    .fetch_one(pool)
    .await?;
    Ok(sizes)
}

/// Free bytes on the file system of the server's data directory (`None`
/// when it cannot be found out: no `df`, or a server on another machine).
pub(super) async fn disk_free(pool: &PgPool) -> Option<u64> {
    let dir: String = sqlx::query_scalar("SHOW data_directory")
        .fetch_one(pool)
        .await
        .ok()?;
    let out = std::process::Command::new("df")
        .args(["-B1", "--output=avail", &dir])
        .output()
        .ok()?;
    String::from_utf8(out.stdout)
        .ok()?
        .lines()
        .nth(1)?
        .trim()
        .parse()
        .ok()
}
