//! The `dataforge` binary, run as a user runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn dataforge(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dataforge"))
        .args(args)
        .current_dir(dir)
        .env("DATAFORGE_HOME", dir.join(".dataforge"))
        .env_remove("DATAFORGE_LOG")
        .env_remove("DATAFORGE_STATE_URL")
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write");
    path
}

#[test]
fn components_lists_exactly_the_builtin_types() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dataforge(dir.path(), &["components"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let names: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| {
            let mut words = l.split_whitespace();
            format!(
                "{} {}",
                words.next().unwrap_or(""),
                words.next().unwrap_or("")
            )
        })
        .collect();
    let expected = [
        "source file",
        "source gsheet",
        "source shopify",
        "transform add_column",
        "transform cast",
        "transform deduplicate",
        "transform drop_columns",
        "transform explode",
        "transform fill_null",
        "transform filter",
        "transform flatten",
        "transform hash",
        "transform rename_columns",
        "transform select_columns",
        "transform string",
        "transform validate",
        "destination file",
        "destination postgres",
        "destination sqlite",
    ];
    assert_eq!(names, expected);
}

#[test]
fn validate_reports_file_json_path_and_reason_and_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "orders.json",
        r#"{
          "dag_id": "orders",
          "source": {"type": "file", "path": "orders.jsonl"},
          "transforms": [
            {"type": "flatten"},
            {"type": "rename_columns", "mapping": "x"}
          ],
          "destination": {"type": "file", "path": "out.jsonl"}
        }"#,
    );
    let out = dataforge(dir.path(), &["validate", "orders.json"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.lines().any(|l| l
            == r#"orders.json: transforms[1].mapping: invalid type: string "x", expected a map"#),
        "{stderr}"
    );
}

#[test]
fn validate_a_directory_reports_bad_files_and_counts_good_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = r#"{"dag_id": "ID", "schedule_interval": "@hourly",
                   "source": {"type": "file", "path": "in.jsonl"},
                   "destination": {"type": "file", "path": "out.jsonl"}}"#;
    std::fs::create_dir(dir.path().join("pipelines")).expect("mkdir");
    write(dir.path(), "pipelines/a.json", &good.replace("ID", "a"));
    write(dir.path(), "pipelines/b.json", &good.replace("ID", "b"));
    write(
        dir.path(),
        "pipelines/c.json",
        &good.replace("@hourly", "every hour"),
    );
    let out = dataforge(dir.path(), &["validate", "pipelines"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("c.json: schedule_interval: invalid cron expression \"every hour\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 error(s) in 1 file(s); 2 pipeline(s) valid"),
        "{stderr}"
    );

    std::fs::remove_file(dir.path().join("pipelines/c.json")).expect("rm");
    let out = dataforge(dir.path(), &["validate", "pipelines"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = dataforge(dir.path(), &["list", "pipelines"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("a ") && l.contains("@hourly") && l.contains("file → file")),
        "{stdout}"
    );
}

#[test]
fn run_loads_writes_a_report_and_uses_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "in.jsonl",
        "{\"id\":1,\"customer\":{\"name\":\"Zoë\"}}\n{\"id\":2,\"customer\":{\"name\":\"Ada\"}}\n",
    );
    write(
        dir.path(),
        "p.json",
        r#"{"dag_id": "copy", "source": {"type": "file", "path": "in.jsonl"},
            "transforms": [{"type": "flatten"}],
            "destination": {"type": "file", "path": "out/out.csv"}}"#,
    );
    let out = dataforge(dir.path(), &["run", "p.json", "--report", "report.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("copy: succeeded"),
        "{}",
        text(&out.stdout)
    );
    let csv = std::fs::read_to_string(dir.path().join("out/out.csv")).expect("output");
    assert_eq!(csv, "id,customer_name\n1,Zoë\n2,Ada\n");
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("report.json")).expect("report"),
    )
    .expect("json");
    assert_eq!(report[0]["status"], "succeeded");
    assert_eq!(report[0]["rows_loaded"], 2);
    assert!(report[0]["peak_rss_bytes"].as_u64().is_some_and(|b| b > 0));

    // A run that fails: the input is missing. Exit 1, and the error names the file.
    write(
        dir.path(),
        "broken.json",
        r#"{"dag_id": "broken", "source": {"type": "file", "path": "missing.jsonl"},
            "destination": {"type": "file", "path": "never.jsonl"}}"#,
    );
    let out = dataforge(dir.path(), &["run", "broken.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("missing.jsonl"),
        "{}",
        text(&out.stdout)
    );
    assert!(!dir.path().join("never.jsonl").exists());

    // Usage errors and unknown pipelines: exit 2.
    assert_eq!(dataforge(dir.path(), &["run"]).status.code(), Some(2));
    assert_eq!(
        dataforge(dir.path(), &["run", "p.json", "--pipeline", "nope"])
            .status
            .code(),
        Some(2)
    );
}

/// `(run_id, status, trigger, attempts, rows extracted, rejected, loaded, error)` of the runs
/// in the SQLite state file, oldest first.
type RunRow = (String, String, String, i64, i64, i64, i64, Option<String>);

fn recorded_runs(home: &Path, pipeline: &str) -> Vec<RunRow> {
    let conn = rusqlite::Connection::open(home.join("state.db")).expect("the state file");
    let mut stmt = conn
        .prepare(
            "SELECT run_id, status, run_trigger, attempts, rows_extracted, rows_rejected, \
             rows_loaded, error FROM runs WHERE pipeline_id = ?1 ORDER BY started_at",
        )
        .expect("prepare");
    stmt.query_map([pipeline], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
        ))
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

/// `dataforge run` records each run in `$DATAFORGE_HOME/state.db`: the run id of the report,
/// `success` with its row counts, and a failed run as `failed` with its error.
#[test]
fn run_records_each_run_in_the_sqlite_state_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join(".dataforge");
    write(
        dir.path(),
        "in.jsonl",
        "{\"id\":1,\"n\":\"1\"}\n{\"id\":2,\"n\":\"x\"}\n{\"id\":3,\"n\":\"3\"}\n",
    );
    write(
        dir.path(),
        "p.json",
        r#"{"dag_id": "copy", "source": {"type": "file", "path": "in.jsonl"},
            "transforms": [{"type": "cast", "columns": {"n": "integer"}, "on_error": "skip"}],
            "destination": {"type": "file", "path": "out.jsonl"}}"#,
    );
    let out = dataforge(dir.path(), &["run", "p.json", "--report", "report.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("report.json")).expect("report"),
    )
    .expect("json");
    let runs = recorded_runs(&home, "copy");
    assert_eq!(runs.len(), 1, "{runs:?}");
    let (run_id, status, trigger, attempts, extracted, rejected, loaded, error) = &runs[0];
    assert_eq!(Some(run_id.as_str()), report[0]["run_id"].as_str());
    assert_eq!((status.as_str(), trigger.as_str()), ("success", "manual"));
    assert_eq!((*attempts, *extracted, *rejected, *loaded), (1, 3, 1, 2));
    assert_eq!(error, &None);

    // A second run is a second record; a failed one says why.
    assert_eq!(
        dataforge(dir.path(), &["run", "p.json"]).status.code(),
        Some(0)
    );
    assert_eq!(recorded_runs(&home, "copy").len(), 2);
    write(
        dir.path(),
        "broken.json",
        r#"{"dag_id": "broken", "source": {"type": "file", "path": "missing.jsonl"},
            "destination": {"type": "file", "path": "never.jsonl"}}"#,
    );
    assert_eq!(
        dataforge(dir.path(), &["run", "broken.json"]).status.code(),
        Some(1)
    );
    let runs = recorded_runs(&home, "broken");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].1, "failed");
    assert!(
        runs[0]
            .7
            .as_deref()
            .is_some_and(|e| e.contains("missing.jsonl")),
        "{runs:?}"
    );
}

/// Integers beyond 64 bits load exactly; one beyond a decimal fails the run (exit 1) naming
/// the file, the line and the number: never a rounded float, never exit 0.
#[test]
fn integers_beyond_64_bits_load_exactly_or_fail_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "in.jsonl",
        "{\"id\":123456789012345678901234567,\"n\":-9223372036854775809,\"f\":2.5}\n",
    );
    write(
        dir.path(),
        "p.json",
        r#"{"dag_id": "big", "source": {"type": "file", "path": "in.jsonl"},
            "destination": {"type": "file", "path": "out.csv"}}"#,
    );
    let out = dataforge(dir.path(), &["run", "p.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let csv = std::fs::read_to_string(dir.path().join("out.csv")).expect("output");
    assert_eq!(
        csv,
        "id,n,f\n123456789012345678901234567,-9223372036854775809,2.5\n"
    );

    write(
        dir.path(),
        "huge.jsonl",
        "{\"id\":1}\n{\"id\":123456789012345678901234567890}\n",
    );
    write(
        dir.path(),
        "huge.json",
        r#"{"dag_id": "huge", "source": {"type": "file", "path": "huge.jsonl"},
            "destination": {"type": "file", "path": "huge.csv"}}"#,
    );
    let out = dataforge(dir.path(), &["run", "huge.json"]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("huge.jsonl: line 2: "), "{said}");
    assert!(said.contains("123456789012345678901234567890"), "{said}");
    assert!(said.contains("quote it"), "{said}");
    assert!(!dir.path().join("huge.csv").exists());
}

#[test]
fn schema_is_json_with_every_component() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dataforge(dir.path(), &["schema"]);
    assert_eq!(out.status.code(), Some(0));
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let types: Vec<&str> = schema["properties"]["transforms"]["items"]["oneOf"]
        .as_array()
        .expect("branches")
        .iter()
        .filter_map(|b| b["properties"]["type"]["const"].as_str())
        .collect();
    assert!(
        types.contains(&"cast") && types.contains(&"filter"),
        "{types:?}"
    );
}

fn write_rows(path: &Path, n: u64) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    for i in 0..n {
        writeln!(
            f,
            "{{\"id\":{i},\"name\":\"customer {i}\",\"amount\":{}.5,\"tags\":[\"a\",\"b\"]}}",
            i % 997
        )
        .expect("write");
    }
    f.flush().expect("flush");
}

fn peak_rss_of_run(dir: &Path, rows: u64) -> u64 {
    let input = dir.join(format!("in_{rows}.jsonl"));
    write_rows(&input, rows);
    let pipeline = write(
        dir,
        &format!("p_{rows}.json"),
        &format!(
            r#"{{"dag_id": "flat_{rows}", "batch_size": 1000,
                "source": {{"type": "file", "path": "{}"}},
                "destination": {{"type": "file", "path": "out_{rows}.jsonl"}}}}"#,
            input.display()
        ),
    );
    let report = dir.join(format!("report_{rows}.json"));
    let out = dataforge(
        dir,
        &[
            "run",
            &pipeline.display().to_string(),
            "--report",
            &report.display().to_string(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report).expect("report")).expect("json");
    assert_eq!(report[0]["rows_loaded"], rows);
    let lines = std::io::BufRead::lines(std::io::BufReader::new(
        std::fs::File::open(dir.join(format!("out_{rows}.jsonl"))).expect("output"),
    ))
    .count() as u64;
    assert_eq!(lines, rows);
    report[0]["peak_rss_bytes"].as_u64().expect("peak rss")
}

#[test]
fn file_to_file_peak_memory_is_flat_from_100k_to_1m_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let small = peak_rss_of_run(dir.path(), 100_000);
    let large = peak_rss_of_run(dir.path(), 1_000_000);
    let mib = |b: u64| b as f64 / 1048576.0;
    eprintln!(
        "peak RSS: {:.1} MiB at 100k rows, {:.1} MiB at 1M rows",
        mib(small),
        mib(large)
    );
    assert!(
        (large as f64) < (small as f64) * 1.3 + 8.0 * 1048576.0,
        "peak RSS grew with the row count: {:.1} MiB at 100k rows, {:.1} MiB at 1M rows",
        mib(small),
        mib(large)
    );
    assert!(mib(large) < 200.0, "{:.1} MiB", mib(large));
}

#[cfg(unix)]
#[test]
fn sigterm_cancels_a_run_and_leaves_no_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("big.jsonl");
    write_rows(&input, 2_000_000);
    write(
        dir.path(),
        "p.json",
        r#"{"dag_id": "big", "source": {"type": "file", "path": "big.jsonl"},
            "destination": {"type": "file", "path": "out.jsonl"}}"#,
    );
    let child = Command::new(env!("CARGO_BIN_EXE_dataforge"))
        .args(["run", "p.json"])
        .current_dir(dir.path())
        .env("DATAFORGE_HOME", dir.path().join(".dataforge"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(700));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let start = Instant::now();
    let out = child.wait_with_output().expect("wait");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "took {:?} to stop",
        start.elapsed()
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("big: cancelled"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        !dir.path().join("out.jsonl").exists(),
        "a cancelled replace must not leave output"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp") || n.starts_with(".out"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "in.jsonl", "{\"id\":1}\n");
    write(
        dir.path(),
        "p.json",
        r#"{"dag_id": "logs", "source": {"type": "file", "path": "in.jsonl"},
            "destination": {"type": "file", "path": "out.jsonl"}}"#,
    );
    let out = dataforge(dir.path(), &["--log-format", "json", "run", "p.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        events.iter().any(|e| e["message"] == "run succeeded"
            && e["pipeline"] == "logs"
            && e["rows_loaded"] == 1),
        "{stderr}"
    );
}

#[test]
fn a_connection_password_never_reaches_logs_or_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "in.jsonl", "{\"id\":1}\n");
    write(
        dir.path(),
        "p.json",
        r#"{"dag_id": "secret", "source": {"type": "file", "path": "in.jsonl"},
            "destination": {"type": "postgres", "conn_id": "warehouse", "table": "t"}}"#,
    );
    // Nothing listens on port 1: the connection fails, and everything about it is printed.
    let out = Command::new(env!("CARGO_BIN_EXE_dataforge"))
        .args(["-vv", "run", "p.json"])
        .current_dir(dir.path())
        .env("DATAFORGE_HOME", dir.path().join(".dataforge"))
        .env(
            "DATAFORGE_CONN_WAREHOUSE",
            "postgres://loader:Sup3r-S3cret@127.0.0.1:1/warehouse?sslmode=disable",
        )
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.contains("Sup3r-S3cret"), "the password leaked:\n{all}");
    assert!(all.contains("destination `postgres` failed"), "{all}");
}

#[test]
fn the_shipped_example_pipelines_are_valid() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let out = dataforge(&examples, &["validate", "."]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("ok  quickstart_orders")
            && stdout.contains("ok  orders_to_postgres")
            && stdout.contains("ok  shopify_orders_daily")
            && stdout.contains("ok  gsheet_targets"),
        "{stdout}"
    );
}

#[test]
fn the_quickstart_writes_the_sample_orders_into_sqlite() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = std::fs::read_to_string(root.join("examples/quickstart/orders_to_sqlite.json"))
        .expect("quickstart pipeline")
        .replace(
            "examples/quickstart/data/orders.jsonl",
            &root
                .join("examples/quickstart/data/orders.jsonl")
                .display()
                .to_string(),
        );
    write(dir.path(), "quickstart.json", &config);
    let out = dataforge(
        dir.path(),
        &["run", "quickstart.json", "--report", "report.json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(dir.path().join("dataforge-quickstart.db").exists());
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("report.json")).expect("report"),
    )
    .expect("json");
    assert_eq!(report[0]["rows_loaded"], 25);
    assert_eq!(
        report[0]["load"]["target"],
        "dataforge-quickstart.db:orders"
    );
}

/// The hardening probe's inputs, exactly: each is a config error with its file and JSON path
/// (exit 2), never a panic or an abort, in `validate`, `list` and `run`. Before, the durations
/// panicked in `Duration::from_secs_f64`, the expressions overflowed the stack (SIGABRT), the
/// repeated key loaded elsewhere and the BOM was invalid JSON.
#[test]
fn the_probe_inputs_are_config_errors_with_paths_never_crashes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = r#"{"dag_id": "good", "source": {"type": "file", "path": "in.jsonl"},
                   "destination": {"type": "file", "path": "out.jsonl"}}"#;
    let with = |extra: &str| good.replacen('{', &format!("{{{extra}"), 1);
    let probes = [
        (
            r#""default_args": {"retry_delay": 1e300},"#.to_owned(),
            "default_args.retry_delay: 1e300 seconds is out of range",
        ),
        (
            r#""default_args": {"max_retry_delay": 18446744073709551616},"#.to_owned(),
            "default_args.max_retry_delay: 1.8446744073709552e19 seconds is out of range",
        ),
        (
            r#""default_args": {"execution_timeout": 1e300},"#.to_owned(),
            "default_args.execution_timeout: 1e300 seconds is out of range",
        ),
        (
            r#""default_args": {"execution_timeout": 18446744073709551616},"#.to_owned(),
            "default_args.execution_timeout: 1.8446744073709552e19 seconds",
        ),
        (
            format!(
                r#""transforms": [{{"type": "filter", "expr": "1{}"}}],"#,
                " + 1".repeat(10_000)
            ),
            "transforms[0].expr: expression is too long",
        ),
        (
            format!(
                r#""transforms": [{{"type": "add_column", "name": "c", "expr": "{}b"}}],"#,
                "a.".repeat(25_000)
            ),
            "transforms[0].expr: expression is too long",
        ),
        (
            format!(
                r#""transforms": [{{"type": "filter", "expr": "1{}"}}],"#,
                " + 1".repeat(100)
            ),
            "transforms[0].expr: expression is too deeply nested",
        ),
        (
            r#""destination": {"type": "file", "path": "elsewhere.jsonl"},"#.to_owned(),
            "destination: repeated key `destination`",
        ),
        (
            format!(r#""{}": 1,"#, "k".repeat(10 * 1024 * 1024)),
            "unknown field",
        ),
    ];
    for (i, (extra, expected)) in probes.iter().enumerate() {
        let name = format!("probe{i}.json");
        write(
            dir.path(),
            &name,
            &with(extra).replace("\"good\"", &format!("\"p{i}\"")),
        );
        for command in ["validate", "list", "run"] {
            let out = dataforge(dir.path(), &[command, &name]);
            let stderr = text(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{command} {name}: {stderr:.300}"
            );
            // The unknown key's path is the key itself, cut in its middle.
            let at = if expected.starts_with("unknown") {
                format!("{name}: kkk")
            } else {
                format!("{name}: {expected}")
            };
            assert!(
                stderr.contains(&at) && stderr.contains(expected),
                "{command} {name}: {stderr:.500}"
            );
            assert!(
                !stderr.contains("panicked") && stderr.len() < 4000,
                "{command} {name}: {stderr:.500}"
            );
        }
    }
    // A byte-order mark is fine.
    std::fs::write(dir.path().join("bom.json"), format!("\u{feff}{good}")).expect("write");
    let out = dataforge(dir.path(), &["validate", "bom.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// One bad file (retry_delay 1e300) next to a good one: the good one validates, the bad one is
/// reported with its path, exit 2; before, the whole command panicked.
#[test]
fn a_directory_with_one_bad_duration_validates_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("pipelines")).expect("mkdir");
    let good = r#"{"dag_id": "ID", "source": {"type": "file", "path": "in.jsonl"},
                   "destination": {"type": "file", "path": "out.jsonl"}}"#;
    write(
        dir.path(),
        "pipelines/good.json",
        &good.replace("ID", "good"),
    );
    write(
        dir.path(),
        "pipelines/bad.json",
        &good.replace(
            "\"ID\",",
            "\"bad\", \"default_args\": {\"retry_delay\": 1e300},",
        ),
    );
    for command in ["validate", "list", "run"] {
        let out = dataforge(dir.path(), &[command, "pipelines"]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains("bad.json: default_args.retry_delay: 1e300 seconds is out of range"),
            "{command}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{command}: {stderr}");
    }
    let out = dataforge(dir.path(), &["validate", "pipelines"]);
    assert!(
        text(&out.stderr).contains("1 error(s) in 1 file(s); 1 pipeline(s) valid"),
        "{}",
        text(&out.stderr)
    );
}
