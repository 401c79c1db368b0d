//! The `dataforge` binary against the local fake Google Sheets (`dataforge-fake-gsheets`), as a
//! user runs it: the fake serves from a tokio runtime inside this test process while the test
//! spawns `dataforge` pointed at it through `DATAFORGE_CONN_GOOGLE_SHEETS_DEFAULT`
//! (`google-sheets://?key_file=…&endpoint=…` or `google-sheets://?key=…&endpoint=…`).
//!
//! - a tab with ragged rows, an empty cell, a repeated header name and typed cells, end to end
//!   into PostgreSQL (`cast`, `write_mode: replace`), on one access token;
//! - 200,000 generated rows into a JSON Lines file, 10,000 rows per request, in about the
//!   memory 20,000 rows take;
//! - the API's refusals (403 not shared, 404, unknown tab, invalid API key): exit 1 after one
//!   request, a message that names what to check; 429 and 5xx are retried and the run succeeds;
//! - the API key, the access tokens and the private key never reach stdout, stderr (trace
//!   logs, text and JSON), the run report or any file the run leaves.
//!
//! PostgreSQL comes from `DATAFORGE_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), one schema per test; when it is unreachable the
//! PostgreSQL test is skipped with a loud message, except under `CI=true` where it fails.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use dataforge_fake_gsheets::cell;
use dataforge_fake_gsheets::{FakeSheets, FakeSheetsConfig, FaultKind, Faults, Rows, Sheet};
use serde_json::{Value as Json, json};

mod support;
use support::{database_url, dataforge, files_under, runtime, test_db, text, write};

/// The API key of the leak test: easy to find wherever it appears.
const SECRET_KEY: &str = "AIzaTEST_KEY_MUST_NOT_LEAK";

/// The prefix of every access token the fake issues (`ya29.fake-…`).
const TOKEN_PREFIX: &str = "ya29.";

/// The service account of the fake's key file.
const CLIENT_EMAIL: &str = "loader@fake-project.iam.gserviceaccount.com";

fn start(rt: &tokio::runtime::Runtime, config: FakeSheetsConfig) -> FakeSheets {
    rt.block_on(FakeSheets::start(config))
}

/// A pipeline file in the original's shape around `source`, `transforms` and `destination`.
fn pipeline(dag_id: &str, source: Json, transforms: Json, destination: Json) -> String {
    support::pipeline_file(
        dag_id,
        "gsheet",
        "Targets from a Google Sheet, from the fake Sheets API",
        source,
        transforms,
        destination,
    )
}

/// `google-sheets://?key_file=PATH&endpoint=ENDPOINT` for a key file the fake wrote.
fn key_file_uri(fake: &FakeSheets, key_file: &Path) -> String {
    format!(
        "google-sheets://?key_file={}&endpoint={}",
        key_file.display(),
        fake.endpoint()
    )
}

/// `google-sheets://?key=KEY&endpoint=ENDPOINT`.
fn api_key_uri(fake: &FakeSheets, key: &str) -> String {
    format!("google-sheets://?key={key}&endpoint={}", fake.endpoint())
}

/// The `Targets` tab of the end-to-end test: a header with `owner` twice, ragged rows (the
/// API stops each row at its last non-empty cell), an empty cell in the middle of a row, a
/// blank row between data rows, a cell past the range's last column, and typed cells (money,
/// a percentage, a formula, dates in two formats, booleans).
fn targets_tab() -> Sheet {
    Sheet {
        title: "Targets".into(),
        rows: Rows::Literal(vec![
            vec![
                json!("region"),
                json!("target"),
                json!("share"),
                json!("starts_on"),
                json!("active"),
                json!("owner"),
                json!("owner"),
            ],
            vec![
                json!("North"),
                cell::money(1234.5),
                cell::number(0.125, "0.0%"),
                cell::date("2024-01-31", "yyyy-mm-dd"),
                json!(true),
                json!("alice"),
                json!("bob"),
            ],
            // An empty cell in the middle (`share`), the last cell missing (ragged).
            vec![
                json!("South"),
                json!(980),
                json!(""),
                cell::date("2024-02-29", "yyyy-mm-dd"),
                json!(false),
                json!("carol"),
            ],
            // A blank row between data rows: skipped (`skip_empty_rows` defaults to true).
            vec![],
            // Stops after `starts_on`: active, owner, owner_2 are null.
            vec![
                json!("East"),
                cell::formula("=B2*2", json!(2469)),
                cell::number(0.5, "0%"),
                cell::date("2024-12-01T00:00:00", "yyyy-mm-dd"),
            ],
            // A cell in H, past the range's last column G: not read.
            vec![
                json!("West"),
                cell::number(-42.25, "#,##0.00"),
                json!(0.3),
                cell::date("2025-03-15", "yyyy-mm-dd"),
                json!(true),
                json!(""),
                json!("erin"),
                json!("past the range"),
            ],
        ]),
    }
}

/// A tab as the end-to-end pipeline reads it; `starts_on` is a date, `target` a decimal,
/// `share` a float.
fn targets_pipeline(dag_id: &str, spreadsheet_id: &str, schema: &str) -> String {
    pipeline(
        dag_id,
        json!({"type": "gsheet", "conn_id": "google_sheets_default",
               "spreadsheet_id": spreadsheet_id, "range": "Targets!A1:G"}),
        json!([
            {"type": "cast", "columns": {"target": "decimal", "share": "float",
                                          "starts_on": "date"}}
        ]),
        json!({"type": "postgres", "conn_id": "postgres_default", "schema": schema,
               "table": "targets", "write_mode": "replace"}),
    )
}

/// region, target (numeric as text), share, starts_on (as text), active, owner, owner_2.
type TargetRow = (
    String,
    Option<String>,
    Option<f64>,
    Option<String>,
    Option<bool>,
    Option<String>,
    Option<String>,
);

/// The Targets tab through a service account into PostgreSQL (cast, replace): exit 0, one row
/// per non-blank sheet row with its values, the blank row skipped, the repeated `owner` as
/// `owner_2`, the cell past the range not read; one token for all the run's API calls. A
/// second run replaces the table rather than appending to it.
#[test]
fn a_sheet_loads_into_postgres_value_by_value_on_one_access_token() {
    let rt = runtime();
    let schema = "dft_cli_gsheet_e2e";
    let Some(client) = test_db(&rt, schema) else {
        return;
    };
    let fake = start(&rt, FakeSheetsConfig::default());
    let spreadsheet_id = "1TargetsSheet_e2e-0001";
    fake.add_spreadsheet(spreadsheet_id, "Sales targets", vec![targets_tab()]);
    let keys = tempfile::tempdir().expect("tempdir");
    let key_file = fake.write_key_file(keys.path());
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "targets.json",
        &targets_pipeline("gsheet_targets", spreadsheet_id, schema),
    );
    let uri = key_file_uri(&fake, &key_file);
    let url = database_url();
    let env = [
        ("DATAFORGE_CONN_GOOGLE_SHEETS_DEFAULT", uri.as_str()),
        ("DATAFORGE_CONN_POSTGRES_DEFAULT", url.as_str()),
    ];
    let query = format!(
        "SELECT region, target::text, share, starts_on::text, active, owner, owner_2 \
         FROM {schema}.targets ORDER BY region"
    );
    for round in ["first", "second"] {
        fake.reset_stats();
        let report_file = format!("{round}.json");
        let out = dataforge(
            dir.path(),
            &["run", "targets.json", "--report", &report_file],
            &env,
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{round}:\n{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let report: Json = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(&report_file)).expect("report"),
        )
        .expect("json report");
        assert_eq!(report[0]["rows_loaded"], 4, "{round}: {report}");

        let rows: Vec<TargetRow> = rt
            .block_on(client.query(&query, &[]))
            .expect("the table's rows")
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    r.get(3),
                    r.get(4),
                    r.get(5),
                    r.get(6),
                )
            })
            .collect();
        let s = |v: &str| Some(v.to_owned());
        let expected: Vec<TargetRow> = vec![
            (
                "East".into(),
                s("2469"),
                Some(0.5),
                s("2024-12-01"),
                None,
                None,
                None,
            ),
            (
                "North".into(),
                s("1234.5"),
                Some(0.125),
                s("2024-01-31"),
                Some(true),
                s("alice"),
                s("bob"),
            ),
            (
                "South".into(),
                s("980"),
                None,
                s("2024-02-29"),
                Some(false),
                s("carol"),
                None,
            ),
            (
                "West".into(),
                s("-42.25"),
                Some(0.3),
                s("2025-03-15"),
                Some(true),
                None,
                s("erin"),
            ),
        ];
        assert_eq!(rows, expected, "{round} run");

        // Only the range's columns (no `col_8` for the cell in H), with the types cast gave.
        let columns: Vec<(String, String)> = rt
            .block_on(client.query(
                "SELECT column_name::text, data_type::text FROM information_schema.columns \
                 WHERE table_schema = $1 AND table_name = 'targets' ORDER BY ordinal_position",
                &[&schema],
            ))
            .expect("columns")
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "region",
                "target",
                "share",
                "starts_on",
                "active",
                "owner",
                "owner_2"
            ],
            "{columns:?}"
        );
        let type_of = |name: &str| {
            columns
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.as_str())
                .unwrap_or_default()
        };
        assert_eq!(type_of("target"), "numeric", "{columns:?}");
        assert_eq!(type_of("share"), "double precision", "{columns:?}");
        assert_eq!(type_of("starts_on"), "date", "{columns:?}");
        assert_eq!(type_of("active"), "boolean", "{columns:?}");

        // One token for the metadata, header and data calls of the run.
        let stats = fake.stats();
        assert_eq!(stats.token_requests, 1, "{round}: {stats:?}");
        assert_eq!(stats.tokens_issued, 1, "{round}: {stats:?}");
        assert_eq!(stats.spreadsheet_gets, 1, "{round}: {stats:?}");
        assert!(stats.values_gets >= 2, "{round}: {stats:?}");
        assert_eq!(
            stats.api_requests,
            stats.spreadsheet_gets + stats.values_gets,
            "{round}: no retries: {stats:?}"
        );
        assert_eq!(stats.status_401 + stats.status_403, 0, "{round}: {stats:?}");
    }

    rt.block_on(client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")))
        .expect("drop the test schema");
}

/// Reads a generated tab of `rows` × 6 into a JSON Lines file, 10,000 rows per request:
/// returns the run's peak RSS. Checks the output's line count and that no answer held more
/// than 10,000 rows.
fn peak_rss_of_sheet_run(rt: &tokio::runtime::Runtime, dir: &Path, rows: u64) -> u64 {
    let fake = start(rt, FakeSheetsConfig::default());
    let id = format!("big-{rows}");
    fake.add_spreadsheet(
        &id,
        "Big",
        vec![Sheet {
            title: "Data".into(),
            rows: Rows::Generated { rows, columns: 6 },
        }],
    );
    let out_file = format!("out_{rows}.jsonl");
    let pipeline_file = format!("p_{rows}.json");
    write(
        dir,
        &pipeline_file,
        &pipeline(
            &format!("gsheet_flat_{rows}"),
            json!({"type": "gsheet", "spreadsheet_id": id, "range": "Data", "chunk_rows": 10_000}),
            json!([]),
            json!({"type": "file", "path": out_file, "format": "jsonl"}),
        ),
    );
    let report = format!("report_{rows}.json");
    let uri = api_key_uri(&fake, "AIzaFAKE_KEY");
    let started = Instant::now();
    let out = dataforge(
        dir,
        &["run", &pipeline_file, "--report", &report],
        &[("DATAFORGE_CONN_GOOGLE_SHEETS_DEFAULT", uri.as_str())],
    );
    eprintln!("{rows} rows: run took {:?}", started.elapsed());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Json =
        serde_json::from_str(&std::fs::read_to_string(dir.join(report)).expect("report"))
            .expect("json");
    assert_eq!(report[0]["rows_loaded"], rows, "{report}");
    let mut lines = 0u64;
    let mut last = String::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(
        std::fs::File::open(dir.join(&out_file)).expect("output"),
    )) {
        last = line.expect("a line");
        lines += 1;
    }
    assert_eq!(lines, rows);
    // The last line is the last sheet row: col_a is the row's id.
    let last: Json = serde_json::from_str(&last).expect("a JSON line");
    assert_eq!(last["col_a"], rows, "{last}");
    assert_eq!(
        last["col_c"],
        format!("item-{rows}-2"),
        "{last}: the generated string of the last row"
    );
    let stats = fake.stats();
    assert!(
        stats.max_rows_in_one_response <= 10_000,
        "chunked by chunk_rows: {stats:?}"
    );
    assert_eq!(
        stats.rows_served,
        rows + 1,
        "each row once, the header included"
    );
    assert_eq!(stats.values_gets, 1 + rows.div_ceil(10_000), "{stats:?}");
    report[0]["peak_rss_bytes"].as_u64().expect("peak rss")
}

/// 200,000 rows × 6 columns in chunks of 10,000 into a JSON Lines file take about the memory
/// 20,000 rows take, and 400,000 rows what 200,000 take.
///
/// The 20k run holds only two chunks, so it never fills the pipeline's bounded buffers: from
/// 50k rows on the peak is a plateau (measured in debug builds: 57-59 MiB at 20k, 68-84 MiB at
/// 200k, 69-71 MiB at 400k and 800k). So 20k → 200k gets 1.5× + 8 MiB, and 200k → 400k (the
/// plateau) the margin of `file_to_file_peak_memory_is_flat_from_100k_to_1m_rows`, 1.3× + 8 MiB.
/// A source that held the sheet (200,000 records, ~18 MB of JSON answers) would exceed both.
#[test]
fn a_200k_row_sheet_reads_in_chunks_in_flat_memory() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let small = peak_rss_of_sheet_run(&rt, dir.path(), 20_000);
    let large = peak_rss_of_sheet_run(&rt, dir.path(), 200_000);
    let larger = peak_rss_of_sheet_run(&rt, dir.path(), 400_000);
    let mib = |b: u64| b as f64 / 1048576.0;
    eprintln!(
        "peak RSS: {:.1} MiB at 20k rows, {:.1} MiB at 200k rows, {:.1} MiB at 400k rows",
        mib(small),
        mib(large),
        mib(larger)
    );
    assert!(
        (large as f64) < (small as f64) * 1.5 + 8.0 * 1048576.0,
        "peak RSS grew with the row count: {:.1} MiB at 20k rows, {:.1} MiB at 200k rows",
        mib(small),
        mib(large)
    );
    assert!(
        (larger as f64) < (large as f64) * 1.3 + 8.0 * 1048576.0,
        "peak RSS grew with the row count: {:.1} MiB at 200k rows, {:.1} MiB at 400k rows",
        mib(large),
        mib(larger)
    );
    assert!(mib(larger) < 200.0, "{:.1} MiB", mib(larger));
}

/// A small tab for the error and retry cases.
fn small_tab() -> Sheet {
    Sheet {
        title: "Targets".into(),
        rows: Rows::Literal(vec![
            vec![json!("region"), json!("target")],
            vec![json!("North"), json!(10)],
            vec![json!("South"), json!(20)],
        ]),
    }
}

/// Runs a gsheet → JSON Lines pipeline reading `range` of `spreadsheet_id` in `dir` with the
/// connection `uri`, `extra` flags before `run`.
fn run_small(
    dir: &Path,
    dag_id: &str,
    spreadsheet_id: &str,
    range: &str,
    uri: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let file = format!("{dag_id}.json");
    write(
        dir,
        &file,
        &pipeline(
            dag_id,
            json!({"type": "gsheet", "spreadsheet_id": spreadsheet_id, "range": range}),
            json!([{"type": "cast", "columns": {"target": "float"}}]),
            json!({"type": "file", "path": "out.jsonl", "format": "jsonl"}),
        ),
    );
    let mut args = extra.to_vec();
    args.extend(["run", file.as_str(), "--report", "report.json"]);
    let mut all_env = vec![("DATAFORGE_CONN_GOOGLE_SHEETS_DEFAULT", uri)];
    all_env.extend_from_slice(env);
    dataforge(dir, &args, &all_env)
}

/// One refusal case: the fake's config, whether the run authenticates with the fake's key
/// file (else with `api_key`), the spreadsheet and range asked for, what stderr must say.
type Refusal = (
    &'static str,
    FakeSheetsConfig,
    bool,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

/// Each refusal fails the run (exit 1) after exactly one API request, no retry: the message
/// names the spreadsheet and what to check.
#[test]
fn the_apis_refusals_fail_the_run_once_with_what_to_check() {
    let rt = runtime();
    const ID: &str = "1TargetsSheet_errors";
    let cases: [Refusal; 4] = [
        (
            "not_shared",
            FakeSheetsConfig {
                shared_with_service_account: false,
                ..Default::default()
            },
            true,
            ID,
            "Targets!A1:B",
            "",
            &["HTTP 403", CLIENT_EMAIL, ID],
        ),
        (
            "unknown_spreadsheet",
            FakeSheetsConfig::default(),
            true,
            "1NoSuchSpreadsheet_xyz",
            "Targets!A1:B",
            "",
            &["HTTP 404", "1NoSuchSpreadsheet_xyz"],
        ),
        (
            "unknown_tab",
            FakeSheetsConfig::default(),
            true,
            ID,
            "Tagrets!A1:B",
            "",
            &["Tagrets", ID, "Targets"],
        ),
        (
            "invalid_api_key",
            FakeSheetsConfig::default(),
            false,
            ID,
            "Targets!A1:B",
            "WRONG",
            &["HTTP 400", "the API key is not valid", ID],
        ),
    ];
    for (name, config, service_account, asked, range, key, hints) in cases {
        let fake = start(&rt, config);
        fake.add_spreadsheet(ID, "Targets", vec![small_tab()]);
        let keys = tempfile::tempdir().expect("tempdir");
        let uri = if service_account {
            key_file_uri(&fake, &fake.write_key_file(keys.path()))
        } else {
            api_key_uri(&fake, key)
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let out = run_small(dir.path(), name, asked, range, &uri, &[], &[]);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        eprintln!("--- {name}: stdout:\n{stdout}--- {name}: stderr:\n{stderr}");
        assert_eq!(out.status.code(), Some(1), "{name}:\n{stdout}\n{stderr}");
        for hint in hints {
            assert!(
                stderr.contains(hint),
                "{name}: stderr says {hint}:\n{stderr}"
            );
        }
        assert!(
            stdout.contains(&format!("{name}: FAILED")),
            "{name}:\n{stdout}"
        );
        let stats = fake.stats();
        assert_eq!(
            stats.api_requests, 1,
            "{name}: one request, no retry: {stats:?}"
        );
        assert!(
            !dir.path().join("out.jsonl").exists(),
            "{name}: a failed run leaves no output"
        );
    }
}

/// Waits (up to 30 s) until the fake has injected `n` faults.
fn wait_for_faults(fake: &FakeSheets, n: u64) {
    let started = Instant::now();
    while fake.stats().faults_injected < n {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{n} fault(s) within 30 s: {:?}",
            fake.stats()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A 503 and then a connection dropped mid-body are retried (with backoff, at least 2 s
/// each) and the run succeeds with every row. The test switches the fake's faults while the
/// run backs off: every request fails until the first 503, the retry's connection is
/// dropped, the next attempt is answered.
#[test]
fn server_errors_and_dropped_connections_are_retried_and_the_run_succeeds() {
    let rt = runtime();
    let fake = start(
        &rt,
        FakeSheetsConfig {
            faults: Faults {
                rate: 1.0,
                kinds: vec![FaultKind::Status503],
            },
            ..Default::default()
        },
    );
    let id = "1TargetsSheet_faults";
    fake.add_spreadsheet(id, "Targets", vec![small_tab()]);
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "faults.json",
        &pipeline(
            "faults",
            json!({"type": "gsheet", "spreadsheet_id": id, "range": "Targets!A1:B"}),
            json!([{"type": "cast", "columns": {"target": "float"}}]),
            json!({"type": "file", "path": "out.jsonl", "format": "jsonl"}),
        ),
    );
    let uri = api_key_uri(&fake, "AIzaFAKE_KEY");
    let started = Instant::now();
    let child = spawn_dataforge(dir.path(), &["run", "faults.json"], &uri);
    wait_for_faults(&fake, 1);
    fake.set_faults(Faults {
        rate: 1.0,
        kinds: vec![FaultKind::Drop],
    });
    wait_for_faults(&fake, 2);
    fake.set_faults(Faults::default());
    let out = child.wait_with_output().expect("wait");
    let stats = fake.stats();
    eprintln!("faults: took {:?}, {stats:?}", started.elapsed());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(stats.faults_injected, 2, "{stats:?}");
    // The 503 never reached the handler; the dropped answer did (and was asked again).
    assert_eq!(stats.api_requests, 5, "{stats:?}");
    assert_eq!(stats.spreadsheet_gets, 2, "{stats:?}");
    assert_eq!(stats.values_gets, 2, "{stats:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "two backoffs of at least 2 s"
    );
    let lines: Vec<Json> = std::fs::read_to_string(dir.path().join("out.jsonl"))
        .expect("output")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(
        lines,
        [
            json!({"region": "North", "target": 10.0}),
            json!({"region": "South", "target": 20.0})
        ]
    );
}

/// Spawns `dataforge args…` in `dir` with the Google Sheets connection `uri`, output piped.
fn spawn_dataforge(dir: &Path, args: &[&str], uri: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_dataforge"))
        .args(args)
        .current_dir(dir)
        .env("DATAFORGE_HOME", dir.join(".dataforge"))
        .env_remove("DATAFORGE_LOG")
        .env_remove("DATAFORGE_STATE_URL")
        .env_remove("AIRFLOW_CONN_GOOGLE_SHEETS_DEFAULT")
        .env("DATAFORGE_CONN_GOOGLE_SHEETS_DEFAULT", uri)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

/// A quota of 2 requests a minute: the run's third request (the data) is answered 429 and
/// retried with backoff (at least 2 s); once the test has seen one or two 429s it lets the
/// fake's quota refill (`reset_quota`, rather than waiting for its rolling minute) and the run
/// succeeds with every row.
#[test]
fn quota_429_is_retried_with_backoff_and_the_run_succeeds() {
    let rt = runtime();
    let fake = start(
        &rt,
        FakeSheetsConfig {
            quota_per_minute: Some(2),
            ..Default::default()
        },
    );
    let id = "1TargetsSheet_quota";
    fake.add_spreadsheet(id, "Targets", vec![small_tab()]);
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "quota.json",
        &pipeline(
            "quota",
            json!({"type": "gsheet", "spreadsheet_id": id, "range": "Targets!A1:B"}),
            json!([{"type": "cast", "columns": {"target": "float"}}]),
            json!({"type": "file", "path": "out.jsonl", "format": "jsonl"}),
        ),
    );
    let uri = api_key_uri(&fake, "AIzaFAKE_KEY");
    let started = Instant::now();
    let child = spawn_dataforge(dir.path(), &["run", "quota.json"], &uri);
    // Wait for the first 429, then for its retry to be due (the hook waits at least 2 s).
    let mut first_429 = None;
    while first_429.is_none() && started.elapsed() < Duration::from_secs(30) {
        if fake.stats().status_429 >= 1 {
            first_429 = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let first_429 = first_429.expect("the run hit the quota within 30 s");
    std::thread::sleep(Duration::from_millis(1500));
    let during_backoff = fake.stats();
    assert_eq!(
        during_backoff.status_429, 1,
        "no retry within 1.5 s of a 429: {during_backoff:?}"
    );
    fake.reset_quota();
    let out = child.wait_with_output().expect("wait");
    let took = started.elapsed();
    let stats = fake.stats();
    eprintln!(
        "quota: took {took:?}, {:?} after the 429, {stats:?}",
        first_429.elapsed()
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        (1..=2).contains(&stats.status_429),
        "one or two 429s: {stats:?}"
    );
    assert_eq!(
        stats.api_requests,
        stats.spreadsheet_gets + stats.values_gets + stats.status_429,
        "each 429 retried: {stats:?}"
    );
    assert!(
        first_429.elapsed() >= Duration::from_secs(2),
        "backed off at least 2 s"
    );
    let out_text = std::fs::read_to_string(dir.path().join("out.jsonl")).expect("output");
    assert_eq!(out_text.lines().count(), 2, "{out_text}");
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The line of `text` holding `needle`, for a failure message.
fn line_with(text: &str, needle: &str) -> Option<String> {
    let at = text.find(needle)?;
    let from = text[..at].rfind('\n').map_or(0, |n| n + 1);
    let to = text[at..].find('\n').map_or(text.len(), |n| at + n);
    Some(text[from..to].to_owned())
}

/// Successful and refused runs, by API key and by service account, at trace level in text and
/// JSON: the API key, the access tokens (`ya29.…`) and the lines of the private key's PEM body
/// appear in neither stdout nor stderr, nor the run report, nor any file under the run's
/// directory (the key file itself lives in another directory).
#[test]
fn the_api_key_tokens_and_private_key_never_appear_in_output_reports_or_files() {
    let rt = runtime();
    let id = "1TargetsSheet_leaks";
    let with_key = start(
        &rt,
        FakeSheetsConfig {
            api_key: SECRET_KEY.into(),
            ..Default::default()
        },
    );
    let refusing_key = start(&rt, FakeSheetsConfig::default());
    let with_account = start(&rt, FakeSheetsConfig::default());
    let refusing_account = start(
        &rt,
        FakeSheetsConfig {
            shared_with_service_account: false,
            ..Default::default()
        },
    );
    for fake in [&with_key, &refusing_key, &with_account, &refusing_account] {
        fake.add_spreadsheet(id, "Targets", vec![small_tab()]);
    }
    let keys = tempfile::tempdir().expect("tempdir");
    let account_key = with_account.write_key_file(keys.path());
    let refused_keys = tempfile::tempdir().expect("tempdir");
    let refused_account_key = refusing_account.write_key_file(refused_keys.path());
    // The private key's base64 lines (64 characters each, the last shorter).
    let pem_lines: Vec<String> = with_account
        .private_key_pem()
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .map(str::to_owned)
        .collect();
    assert!(pem_lines.len() > 20, "a 2048-bit key's PEM body");
    let mut secrets: Vec<(&str, String)> = vec![("the API key", SECRET_KEY.to_owned())];
    secrets.push(("an access token", TOKEN_PREFIX.to_owned()));
    for l in &pem_lines {
        secrets.push(("the private key", l.clone()));
    }

    let cases = [
        ("key_ok", api_key_uri(&with_key, SECRET_KEY), 0),
        ("key_refused", api_key_uri(&refusing_key, SECRET_KEY), 1),
        ("account_ok", key_file_uri(&with_account, &account_key), 0),
        (
            "account_refused",
            key_file_uri(&refusing_account, &refused_account_key),
            1,
        ),
    ];
    for format in ["text", "json"] {
        for (case, uri, code) in &cases {
            let dir = tempfile::tempdir().expect("tempdir");
            let dag_id = format!("leak_{case}_{format}");
            let out = run_small(
                dir.path(),
                &dag_id,
                id,
                "Targets!A1:B",
                uri,
                &["--log-format", format],
                &[("DATAFORGE_LOG", "trace")],
            );
            let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
            let what = format!("{case}, --log-format {format}");
            assert_eq!(
                out.status.code(),
                Some(*code),
                "{what}:\n{stdout}\n{stderr:.3000}"
            );
            // The trace really is on, and reaches the HTTP layer: the check can fail.
            let traced = if format == "json" {
                stderr.contains("\"level\":\"TRACE\"")
            } else {
                stderr.contains("TRACE")
            };
            assert!(traced, "{what}: no trace output:\n{stderr:.3000}");
            assert!(
                stderr
                    .lines()
                    .any(|l| l.contains("TRACE") && l.contains("http.request")),
                "{what}: no trace of the HTTP requests:\n{stderr:.3000}"
            );
            let report = std::fs::read(dir.path().join("report.json")).expect("report");
            assert!(
                contains(&report, &dag_id),
                "{what}: the report is about the run"
            );
            for (secret_name, secret) in &secrets {
                if let Some(line) = line_with(&stdout, secret) {
                    panic!("{what}: {secret_name} is in stdout: {line}");
                }
                if let Some(line) = line_with(&stderr, secret) {
                    panic!("{what}: {secret_name} is in stderr: {line}");
                }
                for f in files_under(dir.path()) {
                    let bytes = std::fs::read(&f).expect("a file the run left");
                    assert!(
                        !contains(&bytes, secret),
                        "{what}: {secret_name} is in {}",
                        f.display()
                    );
                }
            }
            if *code == 0 {
                assert!(dir.path().join("out.jsonl").exists(), "{what}: output");
            }
        }
    }
    // The refused runs really sent the credentials (and were refused for them); the
    // service-account runs really got tokens.
    assert!(
        refusing_key.stats().status_400 >= 2,
        "{:?}",
        refusing_key.stats()
    );
    assert!(
        with_account.stats().tokens_issued >= 2,
        "{:?}",
        with_account.stats()
    );
    let refused = refusing_account.stats();
    assert!(
        refused.tokens_issued >= 2 && refused.status_403 >= 2,
        "{refused:?}"
    );
    assert!(with_key.stats().values_gets >= 4, "{:?}", with_key.stats());
}

/// region, month (as text), target (numeric as text), owner.
type ExampleRow = (String, Option<String>, Option<String>, Option<String>);

/// The shipped `examples/pipelines/gsheet_targets.json` runs as written (its spreadsheet id
/// and schema swapped for the test's) against the fake, through a service account.
#[test]
fn the_shipped_gsheet_example_runs_against_the_fake() {
    let rt = runtime();
    let schema = "dft_cli_gsheet_example";
    let Some(client) = test_db(&rt, schema) else {
        return;
    };
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/pipelines/gsheet_targets.json");
    let mut config: Json =
        serde_json::from_str(&std::fs::read_to_string(example).expect("the example"))
            .expect("json");
    assert_eq!(config["source"]["type"], "gsheet");
    assert_eq!(config["source"]["conn_id"], "google_sheets_default");
    assert_eq!(config["destination"]["conn_id"], "postgres_default");
    assert_eq!(config["destination"]["write_mode"], "replace");
    let range = config["source"]["range"]
        .as_str()
        .expect("one range")
        .to_owned();
    let tab = range.split('!').next().expect("a tab").to_owned();
    let fake = start(&rt, FakeSheetsConfig::default());
    let spreadsheet_id = config["source"]["spreadsheet_id"]
        .as_str()
        .expect("spreadsheet id")
        .to_owned();
    fake.add_spreadsheet(
        &spreadsheet_id,
        "Targets",
        vec![Sheet {
            title: tab,
            rows: Rows::Literal(vec![
                vec![
                    json!("region"),
                    json!("month"),
                    json!("target"),
                    json!("owner"),
                    json!("updated_at"),
                ],
                vec![
                    json!("North"),
                    cell::date("2025-01-01", "yyyy-mm-dd"),
                    cell::money(1500.0),
                    json!("alice"),
                    cell::date("2025-01-02T09:30:00", "yyyy-mm-dd hh:mm:ss"),
                ],
                vec![
                    json!("South"),
                    cell::date("2025-02-01", "yyyy-mm-dd"),
                    cell::money(980.25),
                    json!(""),
                    cell::date("2025-02-03T17:00:00", "yyyy-mm-dd hh:mm:ss"),
                ],
            ]),
        }],
    );
    config["destination"]["schema"] = schema.into();
    let keys = tempfile::tempdir().expect("tempdir");
    let uri = key_file_uri(&fake, &fake.write_key_file(keys.path()));
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "example.json", &config.to_string());
    let url = database_url();
    let out = dataforge(
        dir.path(),
        &["run", "example.json"],
        &[
            ("DATAFORGE_CONN_GOOGLE_SHEETS_DEFAULT", uri.as_str()),
            ("DATAFORGE_CONN_POSTGRES_DEFAULT", url.as_str()),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let table = config["destination"]["table"].as_str().expect("table");
    let rows: Vec<ExampleRow> = rt
        .block_on(client.query(
            &format!(
                "SELECT region, month::text, target::text, owner FROM {schema}.{table} \
                 ORDER BY region"
            ),
            &[],
        ))
        .expect("rows")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        rows,
        [
            (
                "North".to_owned(),
                Some("2025-01-01".to_owned()),
                Some("1500".to_owned()),
                Some("alice".to_owned())
            ),
            (
                "South".to_owned(),
                Some("2025-02-01".to_owned()),
                Some("980.25".to_owned()),
                None
            ),
        ]
    );
    rt.block_on(client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")))
        .expect("drop the test schema");
}
