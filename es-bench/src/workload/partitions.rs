//! Partitioned catch-up: the same projection caught up from the start by
//! one engine (`ProjectionRunner::catch_up`), then by 2 and by 4 partition
//! engines (`Engine::in_partition`, one task each, in this process) whose
//! reads PostgreSQL filters by partition. Twice: with one upsert per event
//! (`StreamTotals`, round-trip bound) and with one set-wise upsert per batch
//! (`BatchedStreamTotals`). Figures: events per second with N partitions
//! against the single engine (`partitions_catch_up_{per_event,batched}_{n}`),
//! and the curve on stderr. First, what filtering a partition in SQL saves
//! over filtering `read_all` pages in the process (`partitions_read_4`).

use anyhow::{Result, bail};
use es_bench::{BATCHED_TOTALS_TABLE, BatchedStreamTotals, StreamTotals, TOTALS_TABLE};
use es_core::EventStore;
use es_core::consumer::{Backend, Engine, Partition};
use es_postgres::{PgConsumer, PgProjection, ProjectionRunner};
use serde_json::json;

use crate::env::{Env, populate, scaled_step};
use crate::measure::{measured, per_sec};
use crate::report::Figure;

const BATCH: usize = 1000;
const COUNTS: [u32; 2] = [2, 4];

/// Writes about 200,000 events (at scale 1) in 100-event streams, then
/// catches each projection up with 1, 2 and 4 partitions.
pub(crate) async fn partitions(env: &Env, scale: f64) -> Result<Vec<Figure>> {
    const PER_STREAM: usize = 100;
    let total = scaled_step(200_000.0, scale, PER_STREAM);
    let streams: Vec<String> = (0..total / PER_STREAM)
        .map(|i| format!("Counter-pt-{i}"))
        .collect();
    eprintln!("es-bench:   writing {total} events");
    populate(&env.par_store, streams, PER_STREAM, PER_STREAM).await?;
    sqlx::query("VACUUM ANALYZE es.events")
        .execute(&env.par)
        .await?;
    let mut out = vec![partition_reads(env).await?];
    out.extend(curve(env, "per_event", TOTALS_TABLE, StreamTotals::default).await?);
    out.extend(
        curve(
            env,
            "batched",
            BATCHED_TOTALS_TABLE,
            BatchedStreamTotals::default,
        )
        .await?,
    );
    Ok(out)
}

/// What filtering in SQL saves: every event of the projection's types,
/// read partition by partition (4 partitions, pages of [`BATCH`]), once
/// through `read_partition` (PostgreSQL filters) and once as es-core's
/// default does it, from `read_all` pages filtered in this process.
/// Events of the partitions delivered per second.
async fn partition_reads(env: &Env) -> Result<Figure> {
    const COUNT: u32 = 4;
    let store = &env.par_store;
    let types = Some(&["Credited", "Debited"][..]);
    let (sql_n, sql_time, sql_rss) = measured(async {
        let mut n = 0;
        for p in Partition::all(COUNT) {
            let mut from = 0;
            loop {
                let page = store.read_partition(from, BATCH, types, p).await?;
                n += page.events.len();
                if page.events.len() < BATCH {
                    break;
                }
                from = page.scanned_to;
            }
        }
        Ok(n)
    })
    .await?;
    let (client_n, client_time, client_rss) = measured(async {
        let mut n = 0;
        for p in Partition::all(COUNT) {
            let mut from = 0;
            loop {
                let page = store.read_all(from, BATCH, types).await?;
                n += page.events.iter().filter(|e| p.owns(&e.stream_id)).count();
                if page.events.len() < BATCH {
                    break;
                }
                from = page.scanned_to;
            }
        }
        Ok(n)
    })
    .await?;
    if sql_n != client_n {
        bail!("the partitions read {sql_n} events filtered in SQL, {client_n} filtered here");
    }
    let fw = per_sec(sql_n, sql_time);
    let base = per_sec(client_n, client_time);
    eprintln!(
        "es-bench:   reading {COUNT} partitions (events/s): filtered in SQL {fw:.0}, filtered in the process {base:.0}"
    );
    Ok(Figure {
        workload: format!("partitions_read_{COUNT}"),
        unit: "events/s",
        framework: fw,
        baseline: base,
        ratio: fw / base,
        target: "- (comparison)".into(),
        met: None,
        rss_framework_mb: sql_rss,
        rss_baseline_mb: client_rss,
        details: json!({ "events": sql_n, "partitions": COUNT, "page": BATCH,
                         "framework": "Backend::read_partition on PostgreSQL: the partition hash computed in the page query",
                         "baseline": "read_all pages of the same types, filtered by Partition::owns in the process (es-core's default read_partition)",
                         "framework_s": sql_time.as_secs_f64(), "baseline_s": client_time.as_secs_f64() }),
    })
}

/// The single engine, then each partition count, from an empty read model.
async fn curve<P>(env: &Env, label: &str, table: &str, make: fn() -> P) -> Result<Vec<Figure>>
where
    P: PgProjection + Send + Sync + 'static,
{
    reset(env, P::NAME, table).await?;
    let mut runner = ProjectionRunner::new(env.par_store.clone(), make()).batch_size(BATCH);
    let (single_n, single_time, single_rss) =
        measured(async { Ok(runner.catch_up().await? as usize) }).await?;
    runner.release().await;
    let single = per_sec(single_n, single_time);
    let rows = rows(env, table).await?;
    let mut points = vec![json!({ "partitions": 1, "events_per_s": single })];
    let mut out = Vec::new();
    for count in COUNTS {
        reset(env, P::NAME, table).await?;
        let (n, time, rss) = measured(async {
            let mut tasks = Vec::new();
            for p in Partition::all(count) {
                let store = env.par_store.clone();
                tasks.push(tokio::spawn(async move {
                    let mut engine = Engine::new(store, PgConsumer(make()))
                        .in_partition(p)
                        .batch_size(BATCH);
                    let n = engine.catch_up().await?;
                    engine.release().await;
                    Ok::<_, es_core::projection::ProjectionError>(n)
                }));
            }
            let mut n = 0usize;
            for t in tasks {
                n += t.await?? as usize;
            }
            Ok(n)
        })
        .await?;
        if n != single_n || self::rows(env, table).await? != rows {
            bail!(
                "{count} partitions handled {n} events (one engine: {single_n}) or wrote other rows"
            );
        }
        let fw = per_sec(n, time);
        points.push(json!({ "partitions": count, "events_per_s": fw }));
        out.push(Figure {
            workload: format!("partitions_catch_up_{label}_{count}"),
            unit: "events/s",
            framework: fw,
            baseline: single,
            ratio: fw / single,
            target: "- (curve)".into(),
            met: None,
            rss_framework_mb: rss,
            rss_baseline_mb: single_rss,
            details: json!({ "events": n, "partitions": count, "batch": BATCH,
                             "framework": "one Engine::in_partition per partition, a task each, catch_up; reads filtered by partition in SQL",
                             "baseline": "one ProjectionRunner::catch_up (unpartitioned)",
                             "framework_s": time.as_secs_f64(), "baseline_s": single_time.as_secs_f64() }),
        });
    }
    let curve: Vec<String> = points
        .iter()
        .map(|p| {
            format!(
                "{} -> {:.0}",
                p["partitions"],
                p["events_per_s"].as_f64().unwrap_or(0.0)
            )
        })
        .collect();
    eprintln!(
        "es-bench:   partitions {label} (events/s): {}",
        curve.join(", ")
    );
    if let Some(first) = out.first_mut() {
        first.details["curve"] = json!(points);
    }
    // Leave the projection as never run: the workloads after this one run
    // it unpartitioned, which its recorded partition count would refuse.
    reset(env, P::NAME, table).await?;
    Ok(out)
}

/// Empties the read model and removes the projection's checkpoints (its
/// own, its partitions', the recorded count): each run starts from 0.
async fn reset(env: &Env, name: &str, table: &str) -> Result<()> {
    sqlx::query(&format!("TRUNCATE {table}"))
        .execute(&env.par)
        .await
        .ok();
    sqlx::query("DELETE FROM es.checkpoints WHERE projection = $1 OR projection LIKE $1 || '#%'")
        .bind(name)
        .execute(&env.par)
        .await?;
    Ok(())
}

async fn rows(env: &Env, table: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(&env.par)
        .await?)
}
