//! `max_rejected` through the CLI, on real databases: a run over its bad-row budget exits 1 and
//! leaves the table as it was, even with `on_error: skip`; a run within it commits and reports
//! the rejected rows.
#![allow(clippy::unwrap_used)] // tests

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::{dataforge, runtime, test_db, text, write};

const SCHEMA: &str = "cli_reject_budget";

/// 20 orders; every 4th has an amount that is not a number (5 bad rows, 25%).
fn orders(dir: &Path) {
    let lines: Vec<String> = (1..=20)
        .map(|id| {
            let amount = if id % 4 == 0 {
                json!("n/a")
            } else {
                json!(id * 10)
            };
            json!({"id": id, "amount": amount}).to_string()
        })
        .collect();
    write(dir, "orders.jsonl", &(lines.join("\n") + "\n"));
}

/// A pipeline appending `orders.jsonl` to `destination`, amounts cast to integers (bad ones
/// skipped), with `budget` as `max_rejected`.
fn pipeline(dir: &Path, destination: &Value, budget: &Value) {
    let mut p = json!({
        "dag_id": "budgeted",
        "schedule_interval": null,
        "start_date": "2026-01-01",
        "source": {"type": "file", "path": "orders.jsonl", "format": "jsonl"},
        "transforms": [
            {"type": "cast", "columns": {"amount": "integer"}, "on_error": "skip"}
        ],
        "destination": destination,
    });
    if !budget.is_null() {
        p["max_rejected"] = budget.clone();
    }
    write(dir, "budgeted.json", &p.to_string());
}

/// Runs the pipeline; returns the exit code, stderr, and the report (when written).
fn run(dir: &Path, env: &[(&str, &str)]) -> (i32, String, Option<Value>) {
    let report = dir.join("report.json");
    let _ = std::fs::remove_file(&report);
    let out = dataforge(
        dir,
        &["run", "budgeted.json", "--report", report.to_str().unwrap()],
        env,
    );
    let report = std::fs::read_to_string(&report)
        .ok()
        .map(|t| serde_json::from_str::<Value>(&t).unwrap());
    let report = report.map(|r| r.get(0).cloned().unwrap_or(r));
    (out.status.code().unwrap_or(-1), text(&out.stderr), report)
}

/// The check every destination goes through: a clean first load, a run over the budget
/// (count, then share) that changes nothing, and one within it that commits.
fn over_and_within_the_budget(
    dir: &Path,
    destination: &Value,
    env: &[(&str, &str)],
    count: &dyn Fn() -> i64,
) {
    orders(dir);
    // Within the budget: 5 rejected of 20, allowed 5.
    pipeline(dir, destination, &json!(5));
    let (code, stderr, report) = run(dir, env);
    assert_eq!(code, 0, "{stderr}");
    let report = report.expect("a report");
    assert_eq!(report["rows_rejected"], 5, "{report}");
    assert_eq!(report["rows_loaded"], 15, "{report}");
    assert_eq!(count(), 15);

    for (budget, says) in [
        (json!(4), "over its budget of 4 rows (max_rejected)"),
        (
            json!("24.5%"),
            "5 rows rejected out of 20 read, over its budget of 24.5% of the rows read",
        ),
    ] {
        pipeline(dir, destination, &budget);
        let (code, stderr, report) = run(dir, env);
        assert_eq!(code, 1, "{budget}: {stderr}");
        assert!(stderr.contains(says), "{budget}: {stderr}");
        assert!(stderr.contains("rolled back"), "{budget}: {stderr}");
        let report = report.expect("a report for a failed run too");
        assert_eq!(report["status"], "failed", "{report}");
        assert_eq!(report["rows_loaded"], 0, "{report}");
        assert_eq!(
            count(),
            15,
            "{budget}: the table is as the last good run left it"
        );
    }

    // A share the run stays within commits.
    pipeline(dir, destination, &json!("25%"));
    let (code, stderr, report) = run(dir, env);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report.expect("a report")["rows_rejected"], 5);
    assert_eq!(count(), 30);
}

#[test]
fn a_run_over_the_budget_commits_nothing_in_postgres() {
    let rt = runtime();
    let Some(client) = test_db(&rt, SCHEMA) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = support::database_url();
    let destination = json!({"type": "postgres", "schema": SCHEMA, "table": "orders",
                             "write_mode": "append"});
    let count = || -> i64 {
        rt.block_on(client.query_one(&format!("SELECT count(*) FROM {SCHEMA}.orders"), &[]))
            .map(|r| r.get(0))
            .unwrap_or(-1)
    };
    over_and_within_the_budget(
        dir.path(),
        &destination,
        &[("DATAFORGE_CONN_POSTGRES_DEFAULT", url.as_str())],
        &count,
    );
    rt.block_on(client.batch_execute(&format!("DROP SCHEMA {SCHEMA} CASCADE")))
        .unwrap();
}

#[test]
fn a_run_over_the_budget_commits_nothing_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("orders.db");
    let destination = json!({"type": "sqlite", "path": "orders.db", "table": "orders",
                             "write_mode": "append"});
    let count = || -> i64 {
        rusqlite::Connection::open(&db)
            .and_then(|c| c.query_row("SELECT count(*) FROM orders", [], |r| r.get(0)))
            .unwrap_or(-1)
    };
    over_and_within_the_budget(dir.path(), &destination, &[], &count);
}

#[test]
fn a_malformed_budget_is_a_config_error_at_its_path() {
    let dir = tempfile::tempdir().unwrap();
    orders(dir.path());
    let destination = json!({"type": "sqlite", "path": "orders.db", "table": "orders"});
    pipeline(dir.path(), &destination, &json!("lots"));
    let out = dataforge(dir.path(), &["validate", "budgeted.json"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr) + &text(&out.stdout);
    assert!(
        stderr.contains("budgeted.json")
            && stderr.contains("max_rejected")
            && stderr.contains("a percentage of the rows read"),
        "{stderr}"
    );
}
