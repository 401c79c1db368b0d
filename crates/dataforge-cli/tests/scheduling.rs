//! Scheduling through the binary: `serve` runs three second-level schedules, picks up a
//! changed file, keeps the last valid version of a broken one and drains on SIGTERM;
//! `backfill` runs 30 templated daily intervals in order; `runs` lists the history.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn dataforge(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dataforge"))
        .args(args)
        .current_dir(dir)
        .env("DATAFORGE_HOME", dir.join(".dataforge"))
        .env_remove("DATAFORGE_STATE_URL")
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

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

/// Waits up to 20 s for `done`.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn every_two_seconds(id: &str, out: &str) -> String {
    format!(
        r#"{{
  "dag_id": "{id}",
  "schedule_interval": "*/2 * * * * *",
  "source": {{"type": "file", "path": "in.jsonl"}},
  "destination": {{"type": "file", "path": "{out}/{{{{ run_id }}}}.jsonl"}}
}}"#
    )
}

fn runs_json(dir: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["runs", "--format", "json", "--limit", "1000"];
    args.extend_from_slice(extra);
    let out = dataforge(dir, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("a JSON array")
}

#[test]
fn serve_runs_schedules_reloads_changes_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(d, "in.jsonl", "{\"id\": 1}\n{\"id\": 2}\n");
    for id in ["a", "b", "c"] {
        write(
            d,
            &format!("pipelines/{id}.json"),
            &every_two_seconds(id, &format!("out/{id}")),
        );
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_dataforge"))
        .args(["serve", "pipelines", "--grace", "5s", "--poll", "200ms"])
        .current_dir(d)
        .env("DATAFORGE_HOME", d.join(".dataforge"))
        .env_remove("DATAFORGE_STATE_URL")
        .env_remove("DATAFORGE_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");

    for id in ["a", "b", "c"] {
        wait_for(&format!("two runs of {id}"), || {
            files_in(&d.join("out").join(id)) >= 2
        });
    }
    // A changed file is picked up; a broken one keeps its last valid version running.
    write(d, "pipelines/c.json", &every_two_seconds("c", "out/c2"));
    write(d, "pipelines/b.json", "{ not json");
    wait_for("a run of the changed c", || {
        files_in(&d.join("out/c2")) >= 1
    });
    let b_before = files_in(&d.join("out/b"));
    wait_for("b to keep running", || {
        files_in(&d.join("out/b")) > b_before
    });

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let sent = Instant::now();
    let code = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s.code();
        }
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "serve did not exit within the grace period"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = child
        .wait_with_output()
        .map(|o| text(&o.stderr))
        .unwrap_or_default();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("keeping its last valid version"),
        "{stderr}"
    );

    let runs = runs_json(d, &[]);
    assert!(runs.len() >= 6, "{runs:?}");
    for r in &runs {
        assert_eq!(r["trigger"], "scheduled", "{r}");
        assert!(
            r["status"] == "success" || r["status"] == "cancelled",
            "every run ended and was recorded: {r}"
        );
    }
    let successes = runs.iter().filter(|r| r["status"] == "success").count();
    let outputs: usize = ["a", "b", "c", "c2"]
        .iter()
        .map(|id| files_in(&d.join("out").join(id)))
        .sum();
    assert_eq!(successes, outputs, "one output file per successful run");
}

const DAILY: &str = r#"{
  "dag_id": "daily_files",
  "schedule_interval": "@daily",
  "start_date": "2025-03-01",
  "source": {"type": "file", "path": "in/{{ ds_nodash }}.jsonl"},
  "destination": {"type": "file", "path": "out/{{ ds_nodash }}.jsonl"}
}"#;

#[test]
fn backfill_runs_thirty_days_in_order_and_reprocess_failed_runs_nothing_after() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(d, "daily.json", DAILY);
    let days: Vec<String> = (1..=30).map(|n| format!("202503{n:02}")).collect();
    for (i, day) in days.iter().enumerate() {
        write(
            d,
            &format!("in/{day}.jsonl"),
            &format!("{{\"day\": {i}}}\n"),
        );
    }
    let args = [
        "backfill",
        "daily.json",
        "--pipeline",
        "daily_files",
        "--from",
        "2025-03-01",
        "--to",
        "2025-03-30",
    ];
    let dry = dataforge(d, &[&args[..], &["--dry-run"]].concat());
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry.stderr));
    let lines: Vec<String> = text(&dry.stdout).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 30, "{lines:?}");
    assert!(lines.iter().all(|l| l.ends_with("would run")), "{lines:?}");
    assert!(!d.join("out").exists(), "a dry run runs nothing");

    let out = dataforge(d, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let order: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("succeeded"))
        .map(|l| &l[..10])
        .collect();
    let expected: Vec<String> = (1..=30).map(|n| format!("2025-03-{n:02}")).collect();
    assert_eq!(order, expected, "{stdout}");
    for (i, day) in days.iter().enumerate() {
        let written = std::fs::read_to_string(d.join(format!("out/{day}.jsonl"))).expect("output");
        let row: serde_json::Value = serde_json::from_str(written.trim()).expect("one row");
        assert_eq!(row, serde_json::json!({"day": i}), "{day}");
    }

    let again = dataforge(d, &[&args[..], &["--reprocess", "failed"]].concat());
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert!(
        text(&again.stdout).contains("0 run, 30 skipped"),
        "{}",
        text(&again.stdout)
    );

    let runs = runs_json(d, &["--pipeline", "daily_files"]);
    assert_eq!(runs.len(), 30);
    assert!(
        runs.iter()
            .all(|r| r["trigger"] == "backfill" && r["status"] == "success")
    );
    assert_eq!(runs[0]["logical_date"], "2025-03-30T00:00:00Z");
    let table = dataforge(d, &["runs", "--limit", "3"]);
    assert_eq!(
        text(&table.stdout).lines().count(),
        4,
        "{}",
        text(&table.stdout)
    );
}

#[test]
fn trigger_runs_once_with_conf_in_params() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(
        d,
        "p.json",
        r#"{
  "dag_id": "triggered",
  "schedule_interval": null,
  "source": {"type": "file", "path": "in.jsonl"},
  "destination": {"type": "file", "path": "out/{{ params.name }}.jsonl"},
  "params": {"name": "default"}
}"#,
    );
    write(d, "in.jsonl", "{\"id\": 1}\n");
    let out = dataforge(
        d,
        &[
            "trigger",
            "p.json",
            "--pipeline",
            "triggered",
            "--conf",
            r#"{"name": "given"}"#,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(d.join("out/given.jsonl").exists());
    let runs = runs_json(d, &[]);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["trigger"], "trigger");
    let bad = dataforge(d, &["trigger", "p.json", "--pipeline", "nope"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn sigterm_during_a_long_load_leaves_the_table_unchanged_or_fully_loaded() {
    const ROWS: usize = 300_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let input: String = (0..ROWS)
        .map(|i| format!("{{\"id\": {i}, \"name\": \"row {i}\"}}\n"))
        .collect();
    write(d, "big.jsonl", &input);
    write(
        d,
        "pipelines/big.json",
        r#"{
  "dag_id": "big",
  "schedule_interval": "*/2 * * * * *",
  "source": {"type": "file", "path": "big.jsonl"},
  "destination": {"type": "sqlite", "path": "db.sqlite", "table": "t", "write_mode": "append"}
}"#,
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_dataforge"))
        .args(["serve", "pipelines", "--grace", "0s"])
        .current_dir(d)
        .env("DATAFORGE_HOME", d.join(".dataforge"))
        .env_remove("DATAFORGE_STATE_URL")
        .env_remove("DATAFORGE_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    wait_for("a running load", || {
        d.join(".dataforge").exists() && runs_json(d, &[]).iter().any(|r| r["status"] == "running")
    });
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let sent = Instant::now();
    let code = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s.code();
        }
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "serve did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(0));
    let runs = runs_json(d, &[]);
    assert!(
        runs.iter()
            .all(|r| r["status"] == "success" || r["status"] == "cancelled"),
        "{runs:?}"
    );
    let successes = runs.iter().filter(|r| r["status"] == "success").count();
    let states: Vec<&serde_json::Value> = runs.iter().map(|r| &r["status"]).collect();
    eprintln!("runs after SIGTERM: {states:?}");
    let rows: i64 = if d.join("db.sqlite").exists() {
        let db = rusqlite::Connection::open(d.join("db.sqlite")).expect("open");
        db.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap_or(0)
    } else {
        0
    };
    assert_eq!(
        rows,
        (successes * ROWS) as i64,
        "each run is either fully loaded or not at all, as `runs` says: {runs:?}"
    );
}
