//! The report: one `Figure` per measured workload (framework, baseline,
//! ratio, target, peak RSS, details), the description of the machine the
//! run was on, and the two ways of printing them, a table or JSON.

use serde_json::json;
use sqlx::{Connection as _, PgConnection};

/// One measured figure: the framework's, the baseline's and their ratio.
#[derive(Debug, Clone)]
pub(crate) struct Figure {
    pub(crate) workload: String,
    pub(crate) unit: &'static str,
    pub(crate) framework: f64,
    pub(crate) baseline: f64,
    /// framework / baseline.
    pub(crate) ratio: f64,
    /// The target as text, and whether it is met.
    pub(crate) target: String,
    pub(crate) met: Option<bool>,
    /// Peak resident memory (MB) while the framework / baseline ran.
    pub(crate) rss_framework_mb: f64,
    pub(crate) rss_baseline_mb: f64,
    pub(crate) details: serde_json::Value,
}

impl Figure {
    pub(crate) fn json(&self) -> serde_json::Value {
        json!({
            "workload": self.workload,
            "unit": self.unit,
            "framework": self.framework,
            "baseline": self.baseline,
            "ratio": self.ratio,
            "target": self.target,
            "met": self.met,
            "peak_rss_mb": { "framework": self.rss_framework_mb, "baseline": self.rss_baseline_mb },
            "details": self.details,
        })
    }
}

/// Cores, memory, load and the PostgreSQL server's version and durability
/// settings, for the report's header.
pub(crate) async fn machine_info(database_url: &str) -> serde_json::Value {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_total_mb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| (kb / 1024.0).round());
    let load = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let (mut version, mut fsync, mut sync_commit) = (String::new(), String::new(), String::new());
    if let Ok(mut c) = PgConnection::connect(database_url).await {
        let get = async |c: &mut PgConnection, q: &str| -> String {
            sqlx::query_scalar::<_, String>(q)
                .fetch_one(c)
                .await
                .unwrap_or_default()
        };
        version = get(&mut c, "SHOW server_version").await;
        fsync = get(&mut c, "SHOW fsync").await;
        sync_commit = get(&mut c, "SHOW synchronous_commit").await;
        let _ = c.close().await;
    }
    json!({
        "nproc": nproc,
        "memory_mb": mem_total_mb,
        "load_average_at_end": load,
        "postgres_version": version,
        "fsync": fsync,
        "synchronous_commit": sync_commit,
    })
}

/// Prints the figures as a table, then each figure's details.
pub(crate) fn print_table(figures: &[Figure], machine: &serde_json::Value, scale: f64) {
    println!(
        "es-bench (scale {scale}) — {} cores, {} MB, PostgreSQL {}, fsync {}, synchronous_commit {}, load at end {}",
        machine["nproc"],
        machine["memory_mb"],
        machine["postgres_version"].as_str().unwrap_or("?"),
        machine["fsync"].as_str().unwrap_or("?"),
        machine["synchronous_commit"].as_str().unwrap_or("?"),
        machine["load_average_at_end"].as_str().unwrap_or("?"),
    );
    println!(
        "{:<34} {:>14} {:>14} {:>7}  {:<26} {:<5} {:>14}  unit",
        "workload", "framework", "baseline", "ratio", "target", "met", "peak RSS MB"
    );
    for f in figures {
        let met = match f.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "-",
        };
        println!(
            "{:<34} {:>14} {:>14} {:>7.3}  {:<26} {:<5} {:>6.0} / {:<6.0} {}",
            f.workload,
            fmt_num(f.framework),
            fmt_num(f.baseline),
            f.ratio,
            f.target,
            met,
            f.rss_framework_mb,
            f.rss_baseline_mb,
            f.unit,
        );
    }
    println!();
    for f in figures {
        if f.details.as_object().is_some_and(|o| !o.is_empty()) {
            println!("{}: {}", f.workload, f.details);
        }
    }
}

/// A figure with as many decimals as its size wants.
fn fmt_num(x: f64) -> String {
    if x >= 1000.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}
