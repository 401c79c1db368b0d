//! Templates through the binary: `run --logical-date` renders each run's interval, and
//! `validate` reports a bad template at its file and JSON path.

use std::path::Path;
use std::process::{Command, Output};

fn dataforge(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dataforge"))
        .args(args)
        .current_dir(dir)
        .env("DATAFORGE_HOME", dir.join(".dataforge"))
        .env_remove("DATAFORGE_LOG")
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &Path, name: &str, content: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, content).expect("write");
}

fn rows(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

const DAILY: &str = r#"{
  "dag_id": "orders_daily",
  "schedule_interval": "@daily",
  "start_date": "2025-03-01",
  "source": {"type": "file", "path": "data/orders-{{ ds_nodash }}.jsonl"},
  "transforms": [
    {"type": "add_column", "name": "day", "value": "{{ ds }}"},
    {"type": "add_column", "name": "until", "expr": "'{{ data_interval_end }}'"},
    {"type": "filter", "expr": "id > 0"}
  ],
  "destination": {"type": "file", "path": "out/{{ params.table }}-{{ ds }}.jsonl"},
  "params": {"table": "orders"}
}"#;

#[test]
fn two_logical_dates_read_two_files_and_write_two() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(d, "orders.json", DAILY);
    write(
        d,
        "data/orders-20250301.jsonl",
        "{\"id\": 1}\n{\"id\": 2}\n",
    );
    write(d, "data/orders-20250302.jsonl", "{\"id\": 3}\n");
    for day in ["2025-03-01", "2025-03-02"] {
        let out = dataforge(d, &["run", "orders.json", "--logical-date", day]);
        assert_eq!(out.status.code(), Some(0), "{day}: {}", text(&out.stderr));
    }
    let first = rows(&d.join("out/orders-2025-03-01.jsonl"));
    let second = rows(&d.join("out/orders-2025-03-02.jsonl"));
    assert_eq!(
        first,
        vec![
            serde_json::json!({"id": 1, "day": "2025-03-01", "until": "2025-03-02T00:00:00+00:00"}),
            serde_json::json!({"id": 2, "day": "2025-03-01", "until": "2025-03-02T00:00:00+00:00"}),
        ]
    );
    assert_eq!(
        second,
        vec![
            serde_json::json!({"id": 3, "day": "2025-03-02", "until": "2025-03-03T00:00:00+00:00"})
        ]
    );
}

#[test]
fn a_run_whose_file_is_missing_for_its_date_fails_naming_the_rendered_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(d, "orders.json", DAILY);
    let out = dataforge(d, &["run", "orders.json", "--logical-date", "2025-04-09"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(all.contains("orders-20250409.jsonl"), "{all}");
}

#[test]
fn validate_reports_bad_templates_at_their_json_paths_and_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(
        d,
        "bad.json",
        r#"{
          "dag_id": "bad",
          "source": {"type": "file", "path": "data/{{ ds | nope }}.jsonl"},
          "transforms": [{"type": "filter", "expr": "day == '{{ undefined_var }}'"}],
          "destination": {"type": "file", "path": "out/{{ ds }.jsonl"}
        }"#,
    );
    write(d, "good.json", DAILY);
    let out = dataforge(d, &["validate", "."]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    for needle in [
        "bad.json: source.path: template: unknown filter",
        "nope",
        "bad.json: transforms[0].expr: template: undefined value",
        "undefined_var",
        "bad.json: destination.path: template: syntax error",
        "1 pipeline(s) valid",
    ] {
        assert!(err.contains(needle), "{needle:?} not in:\n{err}");
    }
    assert!(!err.contains("good.json"), "{err}");
}

#[test]
fn run_without_a_logical_date_renders_todays_interval() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(
        d,
        "now.json",
        r#"{
          "dag_id": "now",
          "source": {"type": "file", "path": "in.jsonl"},
          "transforms": [{"type": "add_column", "name": "ds", "value": "{{ ds }}"}],
          "destination": {"type": "file", "path": "out-{{ ds_nodash }}.jsonl"}
        }"#,
    );
    write(d, "in.jsonl", "{\"id\": 1}\n");
    let before = chrono::Utc::now();
    let out = dataforge(d, &["run", "now.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let after = chrono::Utc::now();
    let found = [before, after].iter().any(|t| {
        let path = d.join(format!("out-{}.jsonl", t.format("%Y%m%d")));
        path.exists() && rows(&path)[0]["ds"] == t.format("%Y-%m-%d").to_string()
    });
    assert!(found, "no output for today's date");
}
