//! In memory, no database: decoding and applying recorded events to an
//! aggregate against a plain serde_json parse and match, and decoding an
//! event through a three-step upcast chain against a plain decode, each the
//! best of three runs. Figures: `decode_apply_in_memory_1core` (events per
//! second) and `decode_upcast_3_steps` (ns per event).

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use es_bench::{Counter, CounterEvent, RawAmount, Tagged};
use es_core::{Aggregate, Event, Metadata, RecordedEvent};
use serde_json::json;
use uuid::Uuid;

use crate::env::{scaled, small_event};
use crate::measure::{peak_rss_mb, per_sec, reset_peak_rss};
use crate::report::Figure;

/// Recorded event `i` of the in-memory stream, as a store would hand it out.
fn recorded(i: usize, event_type: &str, schema_version: u32, payload: Vec<u8>) -> RecordedEvent {
    RecordedEvent {
        event_id: Uuid::now_v7(),
        stream_id: "Counter-mem".into(),
        stream_version: i as u64 + 1,
        global_position: i as u64 + 1,
        event_type: event_type.into(),
        schema_version,
        payload,
        metadata: Metadata::new(),
        recorded_at: chrono::Utc::now(),
    }
}

/// Best of three runs of `f`, as time per call of `n` items.
fn best_of_3(mut f: impl FnMut() -> Result<()>) -> Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        f()?;
        best = best.min(t.elapsed());
    }
    Ok(best)
}

/// The decode-and-apply and upcast figures.
pub(crate) fn in_memory(scale: f64) -> Result<Vec<Figure>> {
    // 200,000 recorded events replayed 10 times: 2,000,000 decodes and
    // applies per run, without holding 2,000,000 events in memory.
    const PASSES: usize = 10;
    let distinct = scaled(200_000.0, scale, 1000);
    let n = distinct * PASSES;
    let events: Vec<RecordedEvent> = (0..distinct)
        .map(|i| {
            let e = small_event(i);
            recorded(
                i,
                e.event_type(),
                e.schema_version(),
                e.encode().expect("encodes"),
            )
        })
        .collect();

    reset_peak_rss();
    let fw_time = best_of_3(|| {
        let mut state = Counter::default();
        for _ in 0..PASSES {
            for rec in &events {
                let e = rec.decode::<CounterEvent>()?;
                state.apply_event(&e);
            }
        }
        std::hint::black_box(&state);
        Ok(())
    })?;
    let raw_time = best_of_3(|| {
        let mut state = Counter::default();
        for _ in 0..PASSES {
            for rec in &events {
                let a: RawAmount = serde_json::from_slice(&rec.payload)?;
                match rec.event_type.as_str() {
                    "Credited" => state.balance += a.amount,
                    "Debited" => state.balance -= a.amount,
                    other => bail!("unknown event type {other}"),
                }
                state.events += 1;
            }
        }
        std::hint::black_box(&state);
        Ok(())
    })?;
    let rss = peak_rss_mb();
    let fw = per_sec(n, fw_time);
    let raw = per_sec(n, raw_time);

    let m = scaled(200_000.0, scale, 1000);
    let current = Tagged {
        count: 7,
        label: "x".into(),
        flag: true,
    }
    .encode()?;
    let v1 = br#"{"n":7}"#.to_vec();
    let plain_time = best_of_3(|| {
        for _ in 0..m {
            std::hint::black_box(Tagged::decode("Tagged", 4, std::hint::black_box(&current))?);
        }
        Ok(())
    })?;
    let upcast_time = best_of_3(|| {
        for _ in 0..m {
            std::hint::black_box(Tagged::decode("Tagged", 1, std::hint::black_box(&v1))?);
        }
        Ok(())
    })?;
    let ns = |d: Duration| d.as_secs_f64() * 1e9 / m as f64;
    let (up, plain) = (ns(upcast_time), ns(plain_time));
    Ok(vec![
        Figure {
            workload: "decode_apply_in_memory_1core".into(),
            unit: "events/s",
            framework: fw,
            baseline: raw,
            ratio: fw / raw,
            target: ">= 5000000 events/s".into(),
            met: Some(fw >= 5_000_000.0),
            rss_framework_mb: rss,
            rss_baseline_mb: rss,
            details: json!({ "events": n, "distinct_events": distinct, "payload": "{\"amount\":2}",
                             "baseline": "serde_json::from_slice into a struct + match on the type name" }),
        },
        Figure {
            workload: "decode_upcast_3_steps".into(),
            unit: "ns/event",
            framework: up,
            baseline: plain,
            ratio: up / plain,
            target: "<= 4x a plain decode".into(),
            met: Some(up / plain <= 4.0),
            rss_framework_mb: rss,
            rss_baseline_mb: rss,
            details: json!({ "events": m, "baseline": "Tagged::decode at the current version 4" }),
        },
    ])
}
