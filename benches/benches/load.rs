//! End-to-end load benchmark: N Shopify-like orders, file → flatten/cast → postgres `replace`,
//! against `psql \copy` of the same rows (flattened, as CSV) into an identical table, in the same
//! run.
//!
//! ```text
//! cargo bench -p dataforge-benches --bench load
//! DATAFORGE_BENCH_SIZES=100000,1000000 DATAFORGE_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench -p dataforge-benches --bench load
//! ```
//!
//! DataForge runs as a child process (the release `dataforge` binary, built by this bench), so
//! its peak RSS is its own (`peak_rss_bytes` of the run report). The flat CSV for psql is made
//! by the same pipeline with the `file` destination, outside the timed runs.
#![allow(clippy::print_stdout)] // a bench prints its results

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use dataforge_destinations as _;
use dataforge_sources as _;
use dataforge_transforms as _;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn dataforge_binary() -> PathBuf {
    let root = workspace_root();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-q", "-p", "dataforge-cli"])
        .current_dir(&root)
        .status()
        .expect("cargo build the dataforge CLI");
    assert!(status.success(), "building the dataforge CLI failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    target.join("release").join("dataforge")
}

fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-Atqc", sql])
        .output()
        .expect("psql (apt-get install postgresql-client)");
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn pipeline(source: &Path, destination: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "dag_id": "bench_load",
        "schedule_interval": null,
        "start_date": "2026-01-01",
        "source": {"type": "file", "path": source, "format": "jsonl"},
        "transforms": [
            {"type": "flatten", "separator": "_"},
            {"type": "cast", "columns": {"total_price": "decimal", "created_at": "timestamp"}}
        ],
        "destination": destination,
    })
}

struct Run {
    seconds: f64,
    report_seconds: f64,
    rows: u64,
    peak_rss: u64,
}

fn run_dataforge(bin: &Path, dir: &Path, name: &str, p: &serde_json::Value, url: &str) -> Run {
    let file = dir.join(format!("{name}.json"));
    let report = dir.join(format!("{name}.report.json"));
    std::fs::write(&file, serde_json::to_vec_pretty(p).expect("json")).expect("write pipeline");
    let started = Instant::now();
    let out = Command::new(bin)
        .arg("run")
        .arg(&file)
        .arg("--report")
        .arg(&report)
        .env("DATAFORGE_CONN_POSTGRES_DEFAULT", url)
        .env("DATAFORGE_HOME", dir.join("home"))
        .env("RUST_LOG", "warn")
        .output()
        .expect("run dataforge");
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "dataforge run failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&report).expect("report");
    let v: serde_json::Value = serde_json::from_str(&text).expect("report json");
    let r = v.get(0).unwrap_or(&v);
    Run {
        seconds,
        report_seconds: r["seconds"]["total"].as_f64().unwrap_or(f64::NAN),
        rows: r["rows_loaded"].as_u64().unwrap_or(0),
        peak_rss: r["peak_rss_bytes"].as_u64().unwrap_or(0),
    }
}

fn main() {
    let url = std::env::var("DATAFORGE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let sizes: Vec<u64> = std::env::var("DATAFORGE_BENCH_SIZES")
        .unwrap_or_else(|_| "100000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let bin = dataforge_binary();
    let dir = tempfile::tempdir().expect("tempdir");
    psql(&url, "CREATE SCHEMA IF NOT EXISTS dataforge_bench");
    println!(
        "end-to-end load: file (JSONL) -> flatten, cast -> postgres replace, vs psql \\copy (CSV)"
    );
    let mut peaks = Vec::new();
    for n in sizes {
        let jsonl = dir.path().join(format!("orders_{n}.jsonl"));
        dataforge_benches::write_orders_jsonl(&jsonl, n).expect("generate orders");
        // The flat CSV for psql, made by the same transforms (not timed).
        let csv = dir.path().join(format!("orders_{n}.csv"));
        let to_csv = pipeline(
            &jsonl,
            serde_json::json!({"type": "file", "path": csv, "format": "csv", "write_mode": "replace"}),
        );
        run_dataforge(&bin, dir.path(), "to_csv", &to_csv, &url);
        psql(
            &url,
            "DROP TABLE IF EXISTS dataforge_bench.orders_df; DROP TABLE IF EXISTS dataforge_bench.orders_psql",
        );
        let to_pg = pipeline(
            &jsonl,
            serde_json::json!({"type": "postgres", "schema": "dataforge_bench", "table": "orders_df",
                               "write_mode": "replace"}),
        );
        let df = run_dataforge(&bin, dir.path(), "to_pg", &to_pg, &url);
        assert_eq!(df.rows, n, "dataforge loaded every row");
        // An identical, empty table for psql (same columns and types), and its CSV header.
        psql(
            &url,
            "CREATE TABLE dataforge_bench.orders_psql (LIKE dataforge_bench.orders_df)",
        );
        let header = std::fs::read_to_string(&csv)
            .ok()
            .and_then(|s| s.lines().next().map(str::to_owned))
            .unwrap_or_default();
        let cols: Vec<String> = header
            .split(',')
            .map(|c| format!("\"{}\"", c.trim_matches('"').replace('"', "\"\"")))
            .collect();
        let copy = format!(
            "\\copy dataforge_bench.orders_psql ({}) FROM '{}' WITH (FORMAT csv, HEADER true)",
            cols.join(", "),
            csv.display()
        );
        let started = Instant::now();
        psql(&url, &copy);
        let psql_seconds = started.elapsed().as_secs_f64();
        let loaded: u64 = psql(&url, "SELECT count(*) FROM dataforge_bench.orders_psql")
            .parse()
            .unwrap_or(0);
        assert_eq!(loaded, n, "psql loaded every row");
        let df_rate = n as f64 / df.seconds;
        let psql_rate = n as f64 / psql_seconds;
        println!(
            "N = {n:>9}: dataforge {df_rate:>9.0} rows/s ({:.2} s wall, {:.2} s in-run), psql \\copy {psql_rate:>9.0} rows/s ({psql_seconds:.2} s), ratio {:.2}x, dataforge peak RSS {:.1} MB",
            df.seconds,
            df.report_seconds,
            df_rate / psql_rate,
            df.peak_rss as f64 / 1e6
        );
        peaks.push((n, df.peak_rss));
    }
    if let [(n1, p1), .., (n2, p2)] = peaks.as_slice() {
        println!(
            "peak RSS {:.1} MB at N = {n1} vs {:.1} MB at N = {n2}: {:.2}x",
            *p1 as f64 / 1e6,
            *p2 as f64 / 1e6,
            *p2 as f64 / (*p1).max(1) as f64
        );
    }
    psql(&url, "DROP SCHEMA dataforge_bench CASCADE");
}
