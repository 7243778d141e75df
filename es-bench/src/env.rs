//! The benchmark environment: the connection pools and stores of the
//! throwaway database (`Env`, `setup`), the raw baseline's schema, the
//! workload sizes by scale, the small events the bulk workloads write, and
//! the population of streams through the framework and their copy into the
//! raw table, so both sides read the same rows.

use anyhow::Result;
use es_bench::{CounterEvent, Credited, Debited, totals_table_sql};
use es_core::{EventStore, ExpectedVersion, Metadata, NewEvent};
use es_postgres::PgEventStore;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// A workload size: `base` times the scale, rounded, at least `min`.
pub(crate) fn scaled(base: f64, scale: f64, min: usize) -> usize {
    ((base * scale).round() as usize).max(min)
}

/// Scaled to a multiple of `step` (at least one step).
pub(crate) fn scaled_step(base: f64, scale: f64, step: usize) -> usize {
    (((base * scale) / step as f64).round() as usize).max(1) * step
}

/// The throwaway database: its pools and the framework's stores on them.
pub(crate) struct Env {
    /// One connection: the sequential workloads.
    pub(crate) seq: PgPool,
    /// Eight connections: the concurrent workloads, runners, setup.
    pub(crate) par: PgPool,
    pub(crate) seq_store: PgEventStore,
    pub(crate) par_store: PgEventStore,
}

/// The raw baseline's tables: the same columns as the framework's log, and
/// a checkpoint table for the raw projections.
const RAW_SCHEMA: &str = r#"
CREATE SCHEMA raw;
CREATE TABLE raw.events (
    global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        uuid        NOT NULL UNIQUE,
    stream_id       text        NOT NULL,
    stream_version  bigint      NOT NULL,
    aggregate_type  text        NOT NULL,
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL,
    payload         jsonb       NOT NULL,
    metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream_id, stream_version)
);
CREATE INDEX ON raw.events (event_type, global_position);
CREATE TABLE raw.checkpoints (projection text PRIMARY KEY, position bigint NOT NULL);
"#;

/// Connects the two pools, migrates the framework's schema and creates the
/// raw one.
pub(crate) async fn setup(options: PgConnectOptions) -> Result<Env> {
    let seq = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone())
        .await?;
    let par = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await?;
    let par_store = PgEventStore::builder().build(par.clone());
    par_store.migrate().await?;
    let seq_store = PgEventStore::builder().build(seq.clone());
    sqlx::raw_sql(RAW_SCHEMA).execute(&par).await?;
    sqlx::raw_sql(&totals_table_sql("raw.totals"))
        .execute(&par)
        .await?;
    Ok(Env {
        seq,
        par,
        seq_store,
        par_store,
    })
}

/// A `Credited` event of `amount`, ready to append.
pub(crate) fn credited(amount: i64) -> NewEvent {
    NewEvent::new(
        &CounterEvent::Credited(Credited { amount }),
        Metadata::new(),
    )
    .expect("a Credited event encodes")
}

/// The small event of the bulk workloads: every 10th one a debit.
pub(crate) fn small_event(i: usize) -> CounterEvent {
    if i % 10 == 9 {
        CounterEvent::Debited(Debited { amount: 1 })
    } else {
        CounterEvent::Credited(Credited { amount: 2 })
    }
}

/// [`small_event`] as the raw side writes it: its type and its JSON.
pub(crate) fn small_event_raw(i: usize) -> serde_json::Result<(&'static str, String)> {
    Ok(match small_event(i) {
        CounterEvent::Credited(e) => ("Credited", serde_json::to_string(&e)?),
        CounterEvent::Debited(e) => ("Debited", serde_json::to_string(&e)?),
    })
}

/// Appends `per_stream` events to each stream through the framework, in
/// batches of `batch`, with 4 concurrent writers.
pub(crate) async fn populate(
    store: &PgEventStore,
    streams: Vec<String>,
    per_stream: usize,
    batch: usize,
) -> Result<()> {
    let chunks: Vec<Vec<String>> = (0..4)
        .map(|k| streams.iter().skip(k).step_by(4).cloned().collect())
        .collect();
    let mut tasks = Vec::new();
    for chunk in chunks {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for s in chunk {
                let mut written = 0;
                while written < per_stream {
                    let n = batch.min(per_stream - written);
                    let events = (written..written + n)
                        .map(|i| NewEvent::new(&small_event(i), Metadata::new()))
                        .collect::<Result<Vec<_>, _>>()?;
                    store
                        .append(&s, ExpectedVersion::from_version(written as u64), events)
                        .await?;
                    written += n;
                }
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// Copies streams from the framework's table into the raw one, same rows.
pub(crate) async fn copy_to_raw(pool: &PgPool, stream_like: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO raw.events (event_id, stream_id, stream_version, aggregate_type, event_type, \
           schema_version, payload, metadata, recorded_at) \
         SELECT event_id, stream_id, stream_version, aggregate_type, event_type, schema_version, \
           payload, metadata, recorded_at FROM es.events WHERE stream_id LIKE $1 \
         ORDER BY global_position",
    )
    .bind(stream_like)
    .execute(pool)
    .await?;
    sqlx::query("ANALYZE raw.events").execute(pool).await?;
    sqlx::query("ANALYZE es.events").execute(pool).await?;
    Ok(())
}
