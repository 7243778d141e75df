//! Cost as the log grows (`--only growth`; not in a plain run, it takes
//! long): the log is grown to each size of `--growth-sizes` (1M and 10M
//! events by default, times `--scale`), loaded fast with set-based SQL as
//! the framework's own rows (`load`), and at each size the same six
//! figures are taken through the framework and through raw sqlx on the
//! same table (`points`): batched append, the command round trip on
//! existing aggregates, `read_stream` of a 1,000-event stream, a
//! `read_all` page from the middle, and a rare event type caught up from a
//! checkpoint (by a projection runner, and by the store's type-filtered
//! `read_all` alone). The target: each figure at 10M within 1.2× of its cost at
//! 1M. At the first size of 10M (times the scale) or more, the same rows
//! are copied into a table partitioned by aggregate type and measured
//! against the plain log (`partitioned`).
//!
//! Figures: `growth_{name}@{size}` (framework against raw at one size),
//! `growth_{name}_{size}_vs_{first}` (the framework's figure at a size
//! against the reference's, with the whole curve in `details.curve` and the
//! relative cost in `details.cost_curve`, which `es-bench plot` draws),
//! `growth_log_size` (bytes on disk per size) and
//! `growth_part_{name}@{size}`.

mod load;
mod partitioned;
mod points;
mod writes;

use std::time::Instant;

use anyhow::{Result, ensure};
use es_core::projection::HandlerError;
use es_core::{Event, Projection, Recorded};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgConnection;

use self::load::{CHUNK, Chunk, checkpoint, disk_free, load_chunk, size_on_disk, vacuum_analyze};
use self::points::{Log, Point};
use crate::env::{Env, scaled};
use crate::measure::{Side, abba};
use crate::report::Figure;

/// The log sizes by default (events, times the scale).
pub(crate) const DEFAULT_SIZES: [u64; 2] = [1_000_000, 10_000_000];

/// The target: the cost of each figure at 10M within this factor of 1M.
const TARGET: f64 = 1.2;

/// The rare event type, as the catch-up's projection decodes it.
#[derive(Debug, Clone, Serialize, Deserialize, Event)]
pub(crate) struct Flagged {
    /// The event's number within its chunk.
    pub(crate) n: i64,
}

/// A projection of the rare type only: counts what it handles (no read
/// model to write, so the catch-up's cost is the framework's reads and
/// batch transactions).
#[derive(Debug, Default, Clone, Projection)]
#[projection(name = "growth_flagged", events(Flagged))]
pub(crate) struct FlaggedCount(pub(crate) u64);

impl es_core::projection::On<Flagged, PgConnection> for FlaggedCount {
    async fn on(&mut self, _: Recorded<Flagged>, _: &mut PgConnection) -> Result<(), HandlerError> {
        self.0 += 1;
        Ok(())
    }
}

impl es_postgres::PgProjection for FlaggedCount {
    async fn reset(&mut self, _: &mut PgConnection) -> Result<(), HandlerError> {
        self.0 = 0;
        Ok(())
    }
}

/// A small deterministic random source (SplitMix64): which streams and
/// positions are read, the same in every run.
pub(crate) struct Sampler(u64);

impl Sampler {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A size as text: `1M`, `10M`, `20k`, `1500`.
pub(crate) fn label(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

/// What one size of the log measured.
struct Size {
    /// The size asked for.
    target: u64,
    /// Events in the log when the figures were taken.
    events: i64,
    load_s: f64,
    vacuum_s: f64,
    bytes: (i64, i64, i64),
    points: Vec<Point>,
    /// The reference log's figures, taken in rounds with these (none at
    /// the first size).
    reference: Option<Vec<Point>>,
}

/// How much each figure measures at one size.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// Streams read and pages read.
    n: usize,
    /// Catch-ups of the rare type.
    reps: usize,
    commands: usize,
    appended: usize,
    /// Events behind the head the rare type is caught up from.
    tail: u64,
}

impl Plan {
    /// Half of each (a round of two), at least a few.
    fn halved(self) -> Self {
        Self {
            n: (self.n / 2).max(5),
            reps: (self.reps / 2).max(3),
            commands: (self.commands / 2).max(4),
            appended: (self.appended / 2).max(200),
            tail: self.tail,
        }
    }
}

/// The six figures on one log.
async fn measure_log(
    log: &Log,
    chunks: &[Chunk],
    rng: &mut Sampler,
    plan: &Plan,
    label: &str,
) -> Result<Vec<Point>> {
    Ok(vec![
        points::read_stream(log, chunks, rng, plan.n).await?,
        points::read_all_page(log, chunks, rng, plan.n).await?,
        points::rare_catch_up(log, plan.tail, plan.reps).await?,
        points::rare_read(log, plan.tail, plan.reps).await?,
        writes::commands(log, chunks, rng, plan.commands, 4.min(plan.commands)).await?,
        writes::append(log, label, plan.appended, 4).await?,
    ])
}

/// The reference: a copy of the log at its first size in a schema of its
/// own (`growth_ref`, migrated by the framework), so that each later size
/// is measured in rounds with it, and drift on the machine between the
/// sizes falls on both.
async fn copy_reference(env: &Env, chunks: &[Chunk]) -> Result<(Log, Vec<Chunk>)> {
    let log = Log::in_schema(env, "growth_ref", "growth_ref.events")?;
    log.par_store.migrate().await?;
    let t = Instant::now();
    sqlx::query("INSERT INTO growth_ref.events SELECT * FROM es.events ORDER BY global_position")
        .execute(&env.par)
        .await?;
    vacuum_analyze(&env.par, "growth_ref.events").await?;
    checkpoint(&env.par).await;
    eprintln!(
        "es-bench:   reference copy (schema growth_ref) in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    Ok((log, chunks.to_vec()))
}

/// Grows the log to each size, measures there, and returns the figures.
pub(crate) async fn growth(env: &Env, scale: f64, sizes: &[u64]) -> Result<Vec<Figure>> {
    let targets: Vec<u64> = sizes
        .iter()
        .map(|&s| scaled(s as f64, scale, 2000) as u64)
        .collect();
    ensure!(
        targets.windows(2).all(|w| w[0] < w[1]),
        "the growth sizes must grow: {targets:?}"
    );
    let pool = &env.par;
    let mut have: u64 = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM es.events")
        .fetch_one(pool)
        .await? as u64;
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut rng = Sampler(0x5EED);
    let mut done: Vec<Size> = Vec::new();
    let mut out = Vec::new();
    let partition_at = scaled(10_000_000.0, scale, 2000) as u64;
    let mut partitioned_done = false;
    let plan = Plan {
        n: scaled(100.0, scale.max(0.05), 5),
        reps: scaled(10.0, scale, 5),
        commands: scaled(1000.0, scale, 8),
        appended: scaled(50_000.0, scale, 400),
        tail: scaled(100_000.0, scale, 1000) as u64,
    };
    let tail = plan.tail;
    let first_target = targets[0];
    let mut ref_log: Option<(Log, Vec<Chunk>)> = None;
    for &target in &targets {
        if target <= have {
            continue;
        }
        if let Some(free) = disk_free(pool).await {
            // Bytes per event so far (400 before any), twice for the WAL,
            // and 5 GB to spare.
            let (bytes, _, _) = size_on_disk(pool, "es.events").await?;
            let per_event = (bytes as u64).checked_div(have).unwrap_or(400);
            let need = per_event.max(300) * (target - have) * 2 + (5 << 30);
            if need > free {
                eprintln!(
                    "es-bench:   skipping {} events and beyond: about {} GB needed, {} GB free",
                    label(target),
                    need >> 30,
                    free >> 30
                );
                break;
            }
        }
        eprintln!("es-bench:   growing the log from {have} to {target} events",);
        let t = Instant::now();
        while have < target {
            let k = chunks.len() as u64;
            let c = Instant::now();
            let chunk = load_chunk(pool, k, CHUNK.min(target - have)).await?;
            have += chunk.events;
            chunks.push(chunk);
            eprintln!(
                "es-bench:     chunk {k}: {} events in {:.1} s; {have} in the log",
                chunk.events,
                c.elapsed().as_secs_f64()
            );
        }
        let load_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        vacuum_analyze(pool, "es.events").await?;
        checkpoint(pool).await;
        let vacuum_s = t.elapsed().as_secs_f64();
        let bytes = size_on_disk(pool, "es.events").await?;
        let events: i64 = sqlx::query_scalar("SELECT count(*) FROM es.events")
            .fetch_one(pool)
            .await?;
        eprintln!(
            "es-bench:   {events} events, {} MB on disk (loaded in {load_s:.0} s, VACUUM ANALYZE and CHECKPOINT {vacuum_s:.0} s); measuring",
            bytes.0 >> 20
        );
        let size = label(target);
        let main = Log::main(env);
        let (pts, reference) = if let Some((log, ref_chunks)) = &ref_log {
            // A later size: the grown log and the reference in two
            // rounds, the first of them alternating.
            let half = plan.halved();
            let (mut grown, mut refs) = (Vec::new(), Vec::new());
            for r in 0..2 {
                for side in abba(r) {
                    if side == Side::Framework {
                        let l = format!("{size}r{r}");
                        grown.push(measure_log(&main, &chunks, &mut rng, &half, &l).await?);
                    } else {
                        let l = format!("{size}ref{r}");
                        refs.push(measure_log(log, ref_chunks, &mut rng, &half, &l).await?);
                    }
                }
            }
            (points::mean(&grown), Some(points::mean(&refs)))
        } else {
            // The first size: its figures, then the reference copy of it.
            let pts = measure_log(&main, &chunks, &mut rng, &plan, &size).await?;
            ref_log = Some(copy_reference(env, &chunks).await?);
            (pts, None)
        };
        for (i, p) in pts.iter().enumerate() {
            let against = reference.as_ref().map_or(String::new(), |r| {
                format!(
                    "  reference ({}) {:>10.3}",
                    label(first_target),
                    r[i].framework
                )
            });
            eprintln!(
                "es-bench:   {size}: {:<14} framework {:>10.3}  raw {:>10.3}{against}  {}",
                p.name, p.framework, p.baseline, p.unit
            );
        }
        if !partitioned_done && target >= partition_at {
            partitioned_done = true;
            let figures = partitioned::compare(env, &chunks, &mut rng, scale, tail, &size).await?;
            for f in &figures {
                eprintln!(
                    "es-bench:   {}: partitioned {:.3}, plain {:.3} {} (ratio {:.3})",
                    f.workload, f.framework, f.baseline, f.unit, f.ratio
                );
            }
            out.extend(figures);
        }
        have = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM es.events")
            .fetch_one(pool)
            .await? as u64;
        done.push(Size {
            target,
            events,
            load_s,
            vacuum_s,
            bytes,
            points: pts,
            reference,
        });
    }
    let mut figures = figures(&done);
    figures.extend(out);
    Ok(figures)
}

/// The figures of the sizes measured: per size, per figure against the
/// first size (with the curve), and the size on disk.
fn figures<'d>(done: &'d [Size]) -> Vec<Figure> {
    let mut out = Vec::new();
    for s in done {
        for p in &s.points {
            let mut details = p.details.clone();
            if let Some(d) = details.as_object_mut() {
                d.insert("log_events".into(), json!(s.events));
            }
            out.push(Figure {
                workload: format!("growth_{}@{}", p.name, label(s.target)),
                unit: p.unit,
                framework: p.framework,
                baseline: p.baseline,
                ratio: p.framework / p.baseline,
                target: "- (framework vs raw)".into(),
                met: None,
                rss_framework_mb: 0.0,
                rss_baseline_mb: 0.0,
                details,
            });
        }
    }
    let Some(first) = done.first() else {
        return out;
    };
    for (i, p0) in first.points.iter().enumerate() {
        // The cost of the framework's figure at a size against the first
        // size's: against the reference copy measured in the same rounds
        // where there is one, else against the first size's own figure.
        // A time over a time, or a rate over a rate inverted.
        let against = |s: &'d Size| s.reference.as_ref().map_or(p0, |r| &r[i]);
        let cost = |s: &'d Size| {
            let (p, q) = (&s.points[i], against(s));
            if p.rate {
                q.framework / p.framework
            } else {
                p.framework / q.framework
            }
        };
        // The same for the raw side.
        let raw_cost = |s: &'d Size| {
            let (p, q) = (&s.points[i], against(s));
            if p.rate {
                q.baseline / p.baseline
            } else {
                p.baseline / q.baseline
            }
        };
        let curve: Vec<_> = done
            .iter()
            .map(|s| {
                let p = &s.points[i];
                json!({ "size": label(s.target), "events": s.events, "framework": p.framework,
                        "baseline": p.baseline, "reference_framework": against(s).framework,
                        "reference_baseline": against(s).baseline,
                        "cost": cost(s), "raw_cost": raw_cost(s) })
            })
            .collect();
        for s in &done[1..] {
            let (p, q) = (&s.points[i], against(s));
            // The target: 10 times the first size.
            let tenfold = s.target == first.target * 10;
            let (target, met) = match (tenfold, p.rate) {
                (true, true) => (
                    format!(">= {:.3} (cost <= {TARGET}x)", 1.0 / TARGET),
                    Some(cost(s) <= TARGET),
                ),
                (true, false) => (format!("<= {TARGET} (cost)"), Some(cost(s) <= TARGET)),
                (false, _) => ("- (curve)".to_owned(), None),
            };
            out.push(Figure {
                workload: format!(
                    "growth_{}_{}_vs_{}",
                    p.name,
                    label(s.target),
                    label(first.target)
                ),
                unit: p.unit,
                framework: p.framework,
                baseline: q.framework,
                ratio: p.framework / q.framework,
                target,
                met,
                rss_framework_mb: 0.0,
                rss_baseline_mb: 0.0,
                details: json!({ "measure": p.name, "rate": p.rate, "cost": cost(s),
                                 "raw_cost": raw_cost(s),
                                 "against": if s.reference.is_some() { "the reference copy of the first size, measured in the same rounds" } else { "the first size's own figure" },
                                 "curve": curve, "cost_curve": curve.iter().map(|c| json!({
                                     "events": c["events"], "cost": c["cost"] })).collect::<Vec<_>>() }),
            });
        }
    }
    let mb = |b: i64| b as f64 / 1_048_576.0;
    let last = done.last().unwrap_or(first);
    out.push(Figure {
        workload: "growth_log_size".into(),
        unit: "MB",
        framework: mb(last.bytes.0),
        baseline: mb(first.bytes.0),
        ratio: last.bytes.0 as f64 / first.bytes.0 as f64,
        target: "- (largest vs first size)".into(),
        met: None,
        rss_framework_mb: 0.0,
        rss_baseline_mb: 0.0,
        details: json!({ "sizes": done.iter().map(|s| json!({
            "size": label(s.target), "events": s.events,
            "total_bytes": s.bytes.0, "heap_bytes": s.bytes.1, "index_bytes": s.bytes.2,
            "bytes_per_event": s.bytes.0 as f64 / s.events as f64,
            "load_s": s.load_s, "vacuum_analyze_checkpoint_s": s.vacuum_s })).collect::<Vec<_>>() }),
    });
    out
}
