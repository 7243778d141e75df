//! CI smoke: the benchmark runs end to end at a tiny scale and reports every
//! workload with positive figures. Speed is measured by the benchmark, not
//! asserted here. Needs the PostgreSQL server `DATABASE_URL` names (default
//! `postgres://postgres@127.0.0.1:5432/postgres`).

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn every_workload_reports_positive_figures_as_json() {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_es-bench"))
        .args(["--scale", "0.001", "--json"])
        .output()
        .expect("es-bench runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "es-bench failed:\n{stderr}");
    assert!(
        stderr.contains("dropped"),
        "the throwaway database was not dropped:\n{stderr}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("--json prints JSON");

    let workloads = report["workloads"].as_array().expect("a workloads array");
    let names: Vec<&str> = workloads
        .iter()
        .map(|w| w["workload"].as_str().expect("a workload name"))
        .collect();
    for prefix in [
        "batched_append",
        "command_round_trip_sequential",
        "command_round_trip_concurrent4",
        "aggregate_load_",
        "read_all",
        "projection_catch_up",
        "projection_catch_up_per_event",
        "partitions_read_",
        "partitions_catch_up_per_event_",
        "partitions_catch_up_batched_",
        "document_catch_up",
        "process_end_to_end",
        "decode_apply_in_memory_1core",
        "decode_upcast_3_steps",
    ] {
        assert!(
            names.iter().any(|n| n.starts_with(prefix)),
            "no `{prefix}` workload in {names:?}"
        );
    }
    assert!(
        names.iter().any(|n| n.ends_with("_snapshots")),
        "no snapshot load in {names:?}"
    );
    for w in workloads {
        for key in ["framework", "baseline", "ratio"] {
            let v = w[key].as_f64().unwrap_or(-1.0);
            assert!(
                v > 0.0 && v.is_finite(),
                "{}: {key} = {}",
                w["workload"],
                w[key]
            );
        }
        assert!(w["peak_rss_mb"]["framework"].as_f64().unwrap_or(-1.0) >= 0.0);
        // The per-event comparison line and the process manager's cost over
        // its commands have no target of their own.
        // Nor do the partitioned reads and the points of the catch-up curve.
        let comparison = w["workload"] == "projection_catch_up_per_event"
            || w["workload"] == "process_end_to_end"
            || w["workload"]
                .as_str()
                .is_some_and(|n| n.starts_with("partitions_"));
        assert!(
            w["target"].is_string() && (w["met"].is_boolean() || comparison && w["met"].is_null()),
            "{w}"
        );
    }
    for w in workloads.iter().filter(|w| {
        w["workload"]
            .as_str()
            .is_some_and(|n| n.starts_with("command_"))
    }) {
        for side in ["framework_latency", "baseline_latency"] {
            let p99 = w["details"][side]["p99_ms"].as_f64().unwrap_or(-1.0);
            assert!(p99 > 0.0, "{}: {side} p99 = {p99}", w["workload"]);
        }
    }
    let process = workloads
        .iter()
        .find(|w| w["workload"] == "process_end_to_end")
        .expect("the process workload");
    let steps = &process["details"]["steps_us_per_process"];
    assert!(
        steps["commands"]["us"].as_f64().unwrap_or(0.0) > 0.0
            && steps["engine_batches"]["us"].as_f64().unwrap_or(0.0) > 0.0,
        "the process workload says where its time goes: {process}"
    );
    assert!(report["machine"]["nproc"].as_u64().unwrap_or(0) > 0);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the smoke run took {:?}",
        started.elapsed()
    );
}
