//! Process manager end to end: the shop's checkout (`es_testing::process::shop`)
//! on PostgreSQL. Per process, a placed order's reaction sends a
//! reservation to its SKU's stock; the reservation's reaction confirms the
//! order and completes the instance: two events handled (state, outbox and
//! checkpoint written in the batch), two commands executed through the
//! repository with their ids, the process complete. The baseline is the
//! same two commands done by the application itself in raw sqlx (select,
//! fold, insert, twice), with no process: what durable coordination costs
//! over the commands it sends. ABBA rounds on one connection each side.
//! Figure `process_end_to_end` (processes per second); the details say
//! where the time goes per step (from the framework's own `tracing` spans).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use es_core::process::ProcessRunner;
use es_core::{Repository, SnapshotStore};
use es_postgres::PgEventStore;
use es_testing::process::shop::{Checkout, Order, OrderPlaced, PlaceOrder, Restock, Stock};
use serde_json::json;
use sqlx::PgPool;
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::commands::raw_command;
use crate::env::{Env, scaled};
use crate::measure::{Side, Tally, abba, per_sec, round_range, round3};
use crate::report::Figure;

const ROUNDS: usize = 4;

/// Wall time per span name, summed, while a workload runs.
#[derive(Default)]
struct SpanTimes {
    by_name: Mutex<HashMap<&'static str, (u64, Duration)>>,
}

struct Started(Instant);

impl SpanTimes {
    /// What was recorded since the last call, and starts over.
    fn take(&self) -> HashMap<&'static str, (u64, Duration)> {
        std::mem::take(&mut *self.by_name.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The layer that fills a [`SpanTimes`].
struct Timer(Arc<SpanTimes>);

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Timer {
    fn on_new_span(&self, _: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Started(Instant::now()));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(started) = span.extensions().get::<Started>().map(|s| s.0) else {
            return;
        };
        let mut by_name = self.0.by_name.lock().unwrap_or_else(|p| p.into_inner());
        let entry = by_name.entry(span.name()).or_default();
        entry.0 += 1;
        entry.1 += started.elapsed();
    }
}

/// The span timer, installed once for the process as the global subscriber
/// (the benchmark prints nothing through `tracing` otherwise).
fn span_times() -> &'static Arc<SpanTimes> {
    static TIMES: OnceLock<Arc<SpanTimes>> = OnceLock::new();
    TIMES.get_or_init(|| {
        use tracing_subscriber::layer::SubscriberExt;
        let times = Arc::new(SpanTimes::default());
        let subscriber = tracing_subscriber::registry().with(Timer(Arc::clone(&times)));
        // Another subscriber already set: the details then lack the steps.
        let _ = tracing::subscriber::set_global_default(subscriber);
        times
    })
}

/// Places `ids` (one order of one unit each, on a SKU of its own with
/// stock), untimed.
async fn place<S: es_core::EventStore + SnapshotStore>(store: &S, ids: &[String]) -> Result<()> {
    let orders = Repository::<Order, _>::new(store.clone());
    let stocks = Repository::<Stock, _>::new(store.clone());
    for id in ids {
        stocks
            .execute(&format!("sku-{id}"), Restock { quantity: 1 })
            .await?;
        let placed = OrderPlaced {
            order_id: id.clone(),
            sku: format!("sku-{id}"),
            quantity: 1,
            approve_within_ms: None,
        };
        orders.execute(id, PlaceOrder(placed)).await?;
    }
    Ok(())
}

/// The baseline's streams: an order and a stock of one event each.
async fn raw_setup(pool: &PgPool, ids: &[String]) -> Result<()> {
    let streams: Vec<String> = ids
        .iter()
        .flat_map(|id| [format!("RawOrder-{id}"), format!("RawStock-{id}")])
        .collect();
    sqlx::query(
        "INSERT INTO raw.events (event_id, stream_id, stream_version, aggregate_type, event_type, \
           schema_version, payload) \
         SELECT gen_random_uuid(), s, 1, 'Counter', 'Credited', 1, '{\"amount\":1}'::jsonb \
         FROM unnest($1::text[]) AS s",
    )
    .bind(&streams)
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn process(env: &Env, scale: f64) -> Result<Vec<Figure>> {
    let times = span_times();
    let n = scaled(1_000.0, scale, ROUNDS * 10);
    let ids: Vec<String> = (0..n).map(|i| format!("p{i:06}")).collect();
    let store: PgEventStore = env.seq_store.clone();
    let mut runner = ProcessRunner::<Checkout, _>::new(store.clone()).batch_size(100);
    let (mut fw, mut raw) = (Tally::default(), Tally::default());
    let mut round_ratios = Vec::with_capacity(ROUNDS);
    let mut settled_events = 0;
    let mut settled_commands = 0;
    // The framework's spans of the timed sections only (not the setup's).
    let mut steps: HashMap<&'static str, (u64, Duration)> = HashMap::new();
    for r in 0..ROUNDS {
        let slice = &ids[round_range(n, ROUNDS, r)];
        let (mut fw_t, mut raw_t) = (Duration::ZERO, Duration::ZERO);
        for side in abba(r) {
            match side {
                Side::Framework => {
                    place(&env.par_store, slice).await?;
                    times.take();
                    let (settled, t) = fw.round(async { Ok(runner.catch_up().await?) }).await?;
                    for (name, (count, time)) in times.take() {
                        let entry = steps.entry(name).or_default();
                        entry.0 += count;
                        entry.1 += time;
                    }
                    ensure!(
                        settled.commands == 2 * slice.len() as u64,
                        "the process sent {} commands for {} orders",
                        settled.commands,
                        slice.len()
                    );
                    settled_events += settled.events;
                    settled_commands += settled.commands;
                    fw_t = t;
                }
                Side::Baseline => {
                    raw_setup(&env.par, slice).await?;
                    let pool = &env.seq;
                    let (_, t) = raw
                        .round(async {
                            for id in slice {
                                raw_command(pool, &format!("RawStock-{id}")).await?;
                                raw_command(pool, &format!("RawOrder-{id}")).await?;
                            }
                            Ok(())
                        })
                        .await?;
                    raw_t = t;
                }
            }
        }
        round_ratios.push(round3(raw_t.as_secs_f64() / fw_t.as_secs_f64()));
    }
    let counts = es_core::process::ProcessBackend::process_counts(&store, "checkout").await?;
    ensure!(
        counts.finished as usize == n && counts.active == 0 && counts.pending_commands == 0,
        "not every checkout completed: {counts:?}"
    );
    let steps = step_costs(&steps, n, fw.time);
    let (fw_rate, raw_rate) = (per_sec(n, fw.time), per_sec(n, raw.time));
    Ok(vec![Figure {
        workload: "process_end_to_end".into(),
        unit: "processes/s",
        framework: fw_rate,
        baseline: raw_rate,
        ratio: fw_rate / raw_rate,
        target: "reported: the cost of coordination over its two commands".into(),
        met: None,
        rss_framework_mb: fw.rss_mb,
        rss_baseline_mb: raw.rss_mb,
        details: json!({
            "processes": n,
            "events_handled": settled_events,
            "commands_sent": settled_commands,
            "rounds": ROUNDS,
            "round_ratios": round_ratios,
            "steps_us_per_process": steps,
            "cpu_us_per_process": { "framework": fw.cpu_us_per(n), "baseline": raw.cpu_us_per(n) },
        }),
    }])
}

/// Microseconds per process in each of the framework's steps (its spans),
/// and what is left of the total.
fn step_costs(
    by_name: &HashMap<&'static str, (u64, Duration)>,
    processes: usize,
    total: Duration,
) -> serde_json::Value {
    let per = |d: Duration| round3(d.as_secs_f64() * 1e6 / processes.max(1) as f64);
    let get = |name: &str| by_name.get(name).copied().unwrap_or_default();
    let (batches, engine) = get("es.consumer.batch");
    let (commands, dispatch) = get("es.process.command");
    let (_, execute) = get("es.execute");
    let (_, append) = get("es.append");
    let rest = total.saturating_sub(engine).saturating_sub(dispatch);
    json!({
        "engine_batches": { "count": batches, "us": per(engine) },
        "commands": { "count": commands, "us": per(dispatch), "of_which_execute_us": per(execute), "of_which_append_us": per(append) },
        "rest_us": per(rest),
        "total_us": per(total),
    })
}
