//! DCB decision round trip: a decision model built from the events of its
//! query (ten tagged events), a decision, and an append under the query's
//! condition, through `Decisions::execute`; against the aggregate command
//! round trip (`Repository::execute` on an aggregate with the same ten
//! events) in the same run, each decision and command on an entity of its
//! own. Sequentially on one connection and from four concurrent tasks,
//! ABBA rounds. Figures: decisions per second against commands per second
//! (`dcb_decision_sequential`, `dcb_decision_concurrent4`); target 0.8x.

use std::time::{Duration, Instant};

use anyhow::Result;
use es_bench::{Counter, Credit};
use es_core::dcb::{DcbStore, DecisionModel, Decisions, TaggedEvent};
use es_core::{Apply, Event, Metadata, NewEvent, Repository};
use es_postgres::PgEventStore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::postgres::PgPoolOptions;

use crate::env::{Env, copy_to_raw, populate, scaled};
use crate::measure::{Side, abba, per_sec, percentiles, round_range, round3};
use crate::report::Figure;
use crate::workload::commands::{TASKS, concurrent_commands};

/// A tagged event of the bench's decision model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
struct Tallied {
    #[tag]
    counter_id: String,
    amount: i64,
}

/// The decision model: a counter's total, by its tag.
#[derive(Debug, Clone, Default, DecisionModel)]
#[decision(events(Tallied))]
struct CounterModel {
    #[tag]
    counter_id: String,
    total: i64,
    events: u32,
}

impl Apply<Tallied> for CounterModel {
    fn apply(&mut self, e: &Tallied) {
        self.total += e.amount;
        self.events += 1;
    }
}

/// The refusal of [`tally`].
#[derive(Debug)]
struct Negative;

impl std::fmt::Display for Negative {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the total is negative")
    }
}

impl std::error::Error for Negative {}

/// The decision: add one (refused only for a negative total, never here).
fn tally(t: &CounterModel) -> Result<Vec<Tallied>, Negative> {
    if t.total < 0 {
        return Err(Negative);
    }
    Ok(vec![Tallied {
        counter_id: t.counter_id.clone(),
        amount: 1,
    }])
}

fn model(id: &str) -> CounterModel {
    CounterModel {
        counter_id: id.to_owned(),
        ..CounterModel::default()
    }
}

/// Ten tagged events for each id.
async fn populate_tagged(store: &PgEventStore, ids: &[String], history: usize) -> Result<()> {
    let mut tasks = Vec::new();
    for k in 0..4 {
        let store = store.clone();
        let ids: Vec<String> = ids.iter().skip(k).step_by(4).cloned().collect();
        tasks.push(tokio::spawn(async move {
            for id in ids {
                let events = (0..history)
                    .map(|i| {
                        let e = Tallied {
                            counter_id: id.clone(),
                            amount: i as i64,
                        };
                        Ok(TaggedEvent::new(
                            NewEvent::new(&e, Metadata::new())?,
                            e.tags()?,
                        ))
                    })
                    .collect::<Result<Vec<_>>>()?;
                store
                    .append_tagged(&format!("counter-{id}"), events, None)
                    .await?;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

fn figure(
    workload: &str,
    mut details: serde_json::Value,
    n: usize,
    [dcb, agg]: [&Tally2; 2],
    [dcb_lat, agg_lat]: [Vec<Duration>; 2],
    round_ratios: Vec<f64>,
) -> Figure {
    let (dcb_rate, agg_rate) = (per_sec(n, dcb.time), per_sec(n, agg.time));
    if let Some(d) = details.as_object_mut() {
        d.insert("rounds".into(), json!(round_ratios.len()));
        d.insert("round_ratios".into(), json!(round_ratios));
        d.insert(
            "baseline_is".into(),
            json!("the aggregate command round trip (Repository::execute)"),
        );
        d.insert("framework_latency".into(), percentiles(dcb_lat));
        d.insert("baseline_latency".into(), percentiles(agg_lat));
    }
    Figure {
        workload: workload.into(),
        unit: "decisions/s",
        framework: dcb_rate,
        baseline: agg_rate,
        ratio: dcb_rate / agg_rate,
        target: ">= 0.8x aggregate".into(),
        met: Some(dcb_rate / agg_rate >= 0.8),
        rss_framework_mb: dcb.rss_mb,
        rss_baseline_mb: agg.rss_mb,
        details,
    }
}

use crate::measure::Tally as Tally2;

pub(crate) async fn dcb(env: &Env, scale: f64) -> Result<Vec<Figure>> {
    const HISTORY: usize = 10;
    let seq_n = scaled(1000.0, scale, 4);
    let conc_n = scaled(2000.0, scale, 8);
    let ids = |prefix: &str, n: usize| -> Vec<String> {
        (0..n).map(|i| format!("{prefix}-{i}")).collect()
    };
    let (dcb_seq, dcb_conc) = (ids("dseq", seq_n), ids("dconc", conc_n));
    let (agg_seq, agg_conc) = (ids("aseq", seq_n), ids("aconc", conc_n));
    populate_tagged(
        &env.par_store,
        &[dcb_seq.clone(), dcb_conc.clone(), vec!["dwarm".into()]].concat(),
        HISTORY,
    )
    .await?;
    let agg_streams = [agg_seq.clone(), agg_conc.clone(), vec!["awarm".into()]]
        .concat()
        .iter()
        .map(|id| format!("Counter-{id}"))
        .collect();
    populate(&env.par_store, agg_streams, HISTORY, HISTORY).await?;
    // The raw baseline's log holds the same Counter streams, as after the
    // command workloads, so the later catch-up workloads compare equal logs.
    for pattern in ["Counter-aseq-%", "Counter-aconc-%", "Counter-awarm"] {
        copy_to_raw(&env.par, pattern).await?;
    }
    sqlx::query("ANALYZE").execute(&env.par).await?;

    let mut out = Vec::new();
    // Sequential, one connection each side.
    let decisions = Decisions::new(env.seq_store.clone());
    let repo = Repository::<Counter, _>::new(env.seq_store.clone());
    for _ in 0..3 {
        decisions.execute(model("dwarm"), tally).await?;
        repo.execute("awarm", Credit { amount: 1 }).await?;
    }
    let rounds = scaled(10.0, scale, 1).min(seq_n);
    let (mut dt, mut at) = (Tally2::default(), Tally2::default());
    let (mut dl, mut al) = (Vec::new(), Vec::new());
    let mut ratios = Vec::new();
    for r in 0..rounds {
        let range = round_range(seq_n, rounds, r);
        let (mut d_time, mut a_time) = (Duration::ZERO, Duration::ZERO);
        for side in abba(r) {
            match side {
                Side::Framework => {
                    let ids = &dcb_seq[range.clone()];
                    let (lat, t) = dt
                        .round(async {
                            let mut lat = Vec::with_capacity(ids.len());
                            for id in ids {
                                let t = Instant::now();
                                let done = decisions.execute(model(id), tally).await?;
                                lat.push(t.elapsed());
                                debug_assert_eq!(done.model.events, HISTORY as u32);
                            }
                            Ok(lat)
                        })
                        .await?;
                    dl.extend(lat);
                    d_time = t;
                }
                Side::Baseline => {
                    let ids = &agg_seq[range.clone()];
                    let (lat, t) = at
                        .round(async {
                            let mut lat = Vec::with_capacity(ids.len());
                            for id in ids {
                                let t = Instant::now();
                                repo.execute(id, Credit { amount: 1 }).await?;
                                lat.push(t.elapsed());
                            }
                            Ok(lat)
                        })
                        .await?;
                    al.extend(lat);
                    a_time = t;
                }
            }
        }
        ratios.push(round3(a_time.as_secs_f64() / d_time.as_secs_f64()));
    }
    out.push(figure(
        "dcb_decision_sequential",
        json!({ "decisions": seq_n, "history": HISTORY }),
        seq_n,
        [&dt, &at],
        [dl, al],
        ratios,
    ));

    // Four tasks, four connections each side.
    let pool = |n: u32| {
        PgPoolOptions::new()
            .max_connections(n)
            .connect_with(env.par.connect_options().as_ref().clone())
    };
    let (dpool, apool) = (pool(TASKS as u32).await?, pool(TASKS as u32).await?);
    let decisions = Decisions::new(PgEventStore::builder().build(dpool.clone()));
    let repo = Repository::<Counter, _>::new(PgEventStore::builder().build(apool.clone()));
    for _ in 0..TASKS {
        decisions.execute(model("dwarm"), tally).await?;
        repo.execute("awarm", Credit { amount: 1 }).await?;
    }
    let rounds = scaled(10.0, scale, 1).min(conc_n / TASKS);
    let (mut dt, mut at) = (Tally2::default(), Tally2::default());
    let (mut dl, mut al) = (Vec::new(), Vec::new());
    let mut ratios = Vec::new();
    for r in 0..rounds {
        let range = round_range(conc_n, rounds, r);
        let (mut d_time, mut a_time) = (Duration::ZERO, Duration::ZERO);
        for side in abba(r) {
            match side {
                Side::Framework => {
                    let d = decisions.clone();
                    let f = concurrent_commands(&dcb_conc[range.clone()], move |id| {
                        let d = d.clone();
                        async move {
                            d.execute(model(&id), tally).await?;
                            Ok(())
                        }
                    });
                    let (lat, t) = dt.round(f).await?;
                    dl.extend(lat);
                    d_time = t;
                }
                Side::Baseline => {
                    let repo = repo.clone();
                    let f = concurrent_commands(&agg_conc[range.clone()], move |id| {
                        let repo = repo.clone();
                        async move {
                            repo.execute(&id, Credit { amount: 1 }).await?;
                            Ok(())
                        }
                    });
                    let (lat, t) = at.round(f).await?;
                    al.extend(lat);
                    a_time = t;
                }
            }
        }
        ratios.push(round3(a_time.as_secs_f64() / d_time.as_secs_f64()));
    }
    dpool.close().await;
    apool.close().await;
    out.push(figure(
        "dcb_decision_concurrent4",
        json!({ "decisions": conc_n, "tasks": TASKS, "history": HISTORY }),
        conc_n,
        [&dt, &at],
        [dl, al],
        ratios,
    ));
    Ok(out)
}
