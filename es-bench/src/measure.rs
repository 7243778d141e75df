//! The measurement helpers every workload shares: elapsed time and peak
//! resident memory of one run (`measured`), the CPU time of the PostgreSQL
//! server and of this process, the ABBA interleaving of framework and
//! baseline rounds (`Side`, `abba`, `round_range`, `Tally`), and the
//! statistics of the report (rates, medians, latency percentiles).

use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;

// ---------------------------------------------------------------------------
// Peak memory: VmHWM of this process, reset through /proc/self/clear_refs.

/// Resets this process's peak resident set size.
pub(crate) fn reset_peak_rss() {
    // "5" resets the peak resident set size (Linux ≥ 4.0); harmless elsewhere.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// This process's peak resident set size since the last reset, in MB.
pub(crate) fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

// CPU time: of this process (every thread), and of every `postgres`
// process on the machine (the server runs here; its background processes
// count too, on whichever side runs at the time, which the ABBA order
// spreads over both). From /proc/<pid>/schedstat, in nanoseconds.

/// CPU time consumed so far: (server, client).
fn cpu_now() -> (Duration, Duration) {
    fn schedstat(path: &std::path::Path) -> u64 {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }
    let mut server = 0;
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let path = entry.path();
            let is_pg = std::fs::read_to_string(path.join("comm"))
                .is_ok_and(|c| c.trim_end() == "postgres");
            if is_pg {
                server += schedstat(&path.join("schedstat"));
            }
        }
    }
    let mut client = 0;
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for entry in dir.flatten() {
            client += schedstat(&entry.path().join("schedstat"));
        }
    }
    (Duration::from_nanos(server), Duration::from_nanos(client))
}

/// Runs `f`, returning its result, the elapsed time and the peak RSS (MB).
pub(crate) async fn measured<T>(f: impl Future<Output = Result<T>>) -> Result<(T, Duration, f64)> {
    reset_peak_rss();
    let t0 = Instant::now();
    let out = f.await?;
    let elapsed = t0.elapsed();
    Ok((out, elapsed, peak_rss_mb()))
}

// ---------------------------------------------------------------------------
// Interleaving: append, commands and load alternate the two sides in rounds,
// in ABBA order, so that drift on the machine (checkpoints, autovacuum,
// other processes) falls on both sides alike.

/// One side of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Framework,
    Baseline,
}

/// The order of round `r`: the framework first in even rounds, the baseline
/// first in odd ones (ABBA).
pub(crate) fn abba(r: usize) -> [Side; 2] {
    if r.is_multiple_of(2) {
        [Side::Framework, Side::Baseline]
    } else {
        [Side::Baseline, Side::Framework]
    }
}

/// The items of round `r` of `rounds` over `n` items (sizes differ by at
/// most one; together the rounds cover `0..n`).
pub(crate) fn round_range(n: usize, rounds: usize, r: usize) -> std::ops::Range<usize> {
    n * r / rounds..n * (r + 1) / rounds
}

/// One side's totals over interleaved rounds: the summed time of its rounds
/// and the highest peak RSS among them (the peak is reset before each).
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) time: Duration,
    pub(crate) rss_mb: f64,
    /// CPU time of the PostgreSQL server during this side's rounds.
    server_cpu: Duration,
    /// CPU time of this process during this side's rounds.
    client_cpu: Duration,
}

impl Tally {
    /// Runs one round of this side through `measured`, returning its result
    /// and its time.
    pub(crate) async fn round<T>(
        &mut self,
        f: impl Future<Output = Result<T>>,
    ) -> Result<(T, Duration)> {
        let (server0, client0) = cpu_now();
        let (out, elapsed, rss) = measured(f).await?;
        let (server1, client1) = cpu_now();
        self.time += elapsed;
        self.rss_mb = self.rss_mb.max(rss);
        self.server_cpu += server1.saturating_sub(server0);
        self.client_cpu += client1.saturating_sub(client0);
        Ok((out, elapsed))
    }

    /// CPU microseconds per item of work (event or command), server and
    /// client, for the details.
    pub(crate) fn cpu_us_per(&self, items: usize) -> serde_json::Value {
        let per = |d: Duration| round3(d.as_secs_f64() * 1e6 / items.max(1) as f64);
        json!({ "server": per(self.server_cpu), "client": per(self.client_cpu) })
    }
}

/// Rounded to three decimals, for the per-round ratios in the details.
pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `n` items over `d`, per second.
pub(crate) fn per_sec(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// p50/p95/p99/max of latencies in milliseconds (sorted Vec; nearest rank).
pub(crate) fn percentiles(mut lat: Vec<Duration>) -> serde_json::Value {
    lat.sort_unstable();
    let pick = |q: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let rank = ((q * lat.len() as f64).ceil() as usize).clamp(1, lat.len());
        (lat[rank - 1].as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
    };
    json!({ "p50_ms": pick(0.50), "p95_ms": pick(0.95), "p99_ms": pick(0.99), "max_ms": pick(1.0) })
}

/// The median of `v` (the upper one of an even count); `v` is not empty.
pub(crate) fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}
