//! Document projection: catch-up of [`StreamTotalsDocument`] (the
//! framework stores the documents: one read and one write per batch)
//! against [`BatchedStreamTotals`], the hand-written projection of the same
//! model whose `flush` writes one set-wise `UNNEST` upsert per batch, both
//! through the engine over the same events, rebuilt from the start in ABBA
//! rounds. Then lookups of the documents: by key, and by the indexed
//! `balance`, with latencies. Figure `document_catch_up` (events/s).

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use es_bench::{BatchedStreamTotals, StreamTotalsDocument};
use es_core::consumer::Engine;
use es_core::document::{DocumentProjection, Documents, Filter};
use es_postgres::ProjectionRunner;
use serde_json::json;

use crate::env::{Env, populate, scaled_step};
use crate::measure::{Side, Tally, abba, per_sec, percentiles, round3};
use crate::report::Figure;

const ROUNDS: usize = 2;
const PER_STREAM: usize = 100;

pub(crate) async fn documents(env: &Env, scale: f64) -> Result<Vec<Figure>> {
    let total = scaled_step(200_000.0, scale, PER_STREAM);
    let streams: Vec<String> = (0..total / PER_STREAM)
        .map(|i| format!("Counter-doc-{i}"))
        .collect();
    eprintln!("es-bench:   writing {total} events");
    populate(&env.par_store, streams.clone(), PER_STREAM, PER_STREAM).await?;
    sqlx::query("VACUUM ANALYZE es.events")
        .execute(&env.par)
        .await?;

    let store = env.seq_store.clone();
    let mut docs = Engine::new(
        store.clone(),
        DocumentProjection::<StreamTotalsDocument, _>::new(store.clone()),
    )
    .batch_size(1000);
    let mut flushed =
        ProjectionRunner::new(store.clone(), BatchedStreamTotals::default()).batch_size(1000);
    // First runs create the tables and checkpoints; then rebuilds, timed.
    docs.catch_up().await?;
    flushed.catch_up().await?;
    let (mut fw, mut raw) = (Tally::default(), Tally::default());
    let (mut fw_events, mut raw_events) = (0u64, 0u64);
    let mut round_ratios = Vec::with_capacity(ROUNDS);
    for r in 0..ROUNDS {
        let (mut fw_t, mut raw_t) = (Duration::ZERO, Duration::ZERO);
        for side in abba(r) {
            match side {
                Side::Framework => {
                    let (n, t) = fw
                        .round(async { Ok(docs.rebuild(|_, _| {}).await?) })
                        .await?;
                    fw_events += n;
                    fw_t = t;
                }
                Side::Baseline => {
                    let (n, t) = raw
                        .round(async { Ok(flushed.rebuild(|_, _| {}).await?) })
                        .await?;
                    raw_events += n;
                    raw_t = t;
                }
            }
        }
        round_ratios.push(round3(raw_t.as_secs_f64() / fw_t.as_secs_f64()));
    }
    docs.release().await;
    flushed.release().await;
    ensure!(
        fw_events == raw_events,
        "the sides read {fw_events} and {raw_events} events"
    );

    // The same model on both sides.
    let read = Documents::<StreamTotalsDocument, _>::new(store.clone());
    let sample = read.get(streams[0].trim_start_matches("Counter-")).await?;
    let row: (i64, i64) = sqlx::query_as(
        "SELECT events, balance FROM bench_stream_totals_flushed WHERE stream_id = $1",
    )
    .bind(&streams[0])
    .fetch_one(&env.seq)
    .await?;
    ensure!(
        sample.as_ref().map(|d| (d.events, d.balance)) == Some(row),
        "the document {sample:?} and the row {row:?} differ"
    );

    // Lookups: by key, and a page by the indexed balance.
    let mut by_key = Vec::with_capacity(500);
    for i in 0..500 {
        let key = streams[(i * 7919) % streams.len()]
            .trim_start_matches("Counter-")
            .to_owned();
        let t = Instant::now();
        ensure!(read.get(&key).await?.is_some(), "document {key} is missing");
        by_key.push(t.elapsed());
    }
    let mut by_index = Vec::with_capacity(200);
    for i in 0..200i64 {
        let t = Instant::now();
        let page = read
            .filter(&Filter::new().ge("balance", 1000 + i * 10).limit(50))
            .await?;
        std::hint::black_box(page);
        by_index.push(t.elapsed());
    }

    let events = usize::try_from(fw_events).unwrap_or(usize::MAX);
    let (fw_rate, raw_rate) = (per_sec(events, fw.time), per_sec(events, raw.time));
    Ok(vec![Figure {
        workload: "document_catch_up".into(),
        unit: "events/s",
        framework: fw_rate,
        baseline: raw_rate,
        ratio: fw_rate / raw_rate,
        target: ">= 0.8x the hand-written flush-batched projection".into(),
        met: Some(fw_rate / raw_rate >= 0.8),
        rss_framework_mb: fw.rss_mb,
        rss_baseline_mb: raw.rss_mb,
        details: json!({
            "events_per_rebuild": fw_events / ROUNDS as u64,
            "documents": streams.len(),
            "rounds": ROUNDS,
            "round_ratios": round_ratios,
            "cpu_us_per_event": { "framework": fw.cpu_us_per(events), "baseline": raw.cpu_us_per(events) },
            "get_by_key_latency": percentiles(by_key),
            "filter_by_index_latency": percentiles(by_index),
        }),
    }])
}
