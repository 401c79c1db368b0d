//! The `gsheet` source against the local fake Google Sheets (`dataforge-fake-gsheets`):
//! records keyed by the header (ragged rows, header edge cases), values by render option and
//! serial dates, several tabs with `_sheet`, chunked reads, one token for many calls and its
//! refresh, and the errors that say what to check.
#![cfg(feature = "gsheet")]
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use dataforge_core::test_utils::CollectingDestination;
use dataforge_core::{
    Pipeline, Record, RunOptions, RunReport, StaticConnections, Value, error_chain,
};
use dataforge_fake_gsheets::{FakeSheets, FakeSheetsConfig, FaultKind, Faults, Rows, Sheet, cell};
use dataforge_sources::gsheet::{GsheetSource, GsheetSourceConfig};
use serde_json::{Value as Json, json};

struct Run {
    report: RunReport,
    rows: Vec<Record>,
}

/// Runs `source` (a `gsheet` source config) with the connection `uri`.
async fn run(uri: &str, source: Json) -> Run {
    let config: GsheetSourceConfig = serde_json::from_value(source).unwrap();
    let destination = CollectingDestination::new();
    let pipeline = Pipeline::builder("gsheet_test")
        .source(GsheetSource::from_config(config).unwrap())
        .destination(destination.clone())
        .build()
        .unwrap();
    let options = RunOptions {
        connections: Arc::new(
            StaticConnections::new()
                .with("google_sheets_default", uri)
                .unwrap(),
        ),
        ..RunOptions::in_memory()
    };
    let report = pipeline.run(&options).await;
    Run {
        report,
        rows: destination.rows(),
    }
}

/// A connection through the fake's service account, its key file in `dir`.
fn service_account(fake: &FakeSheets, dir: &std::path::Path) -> String {
    let key = fake.write_key_file(dir);
    format!(
        "google-sheets://?key_file={}&endpoint={}&max_retries=3",
        key.display(),
        fake.endpoint()
    )
}

/// A connection with the fake's API key.
fn api_key(fake: &FakeSheets) -> String {
    format!(
        "google-sheets://?key=AIzaFAKE_KEY&endpoint={}&max_retries=3",
        fake.endpoint()
    )
}

fn targets() -> Sheet {
    Sheet {
        title: "Targets".into(),
        rows: Rows::Literal(vec![
            vec![
                json!("region"),
                json!("target"),
                json!("name"),
                json!(""),
                json!("name"),
                json!("active"),
            ],
            vec![
                json!("north"),
                json!(120),
                json!("Ann"),
                json!("x"),
                json!("A."),
                json!(true),
            ],
            // Ragged: the API stops at the last non-empty cell.
            vec![json!("south"), json!(80.5)],
            vec![],
            // An empty cell in the middle, and a row longer than the header.
            vec![
                json!("east"),
                json!(""),
                json!("Bo"),
                json!(""),
                json!(""),
                json!(false),
                json!("extra"),
            ],
        ]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_keyed_by_the_header_with_ragged_rows_and_header_edge_cases() {
    let fake = FakeSheets::start(FakeSheetsConfig::default()).await;
    fake.add_spreadsheet("sheet1", "Plan", vec![targets()]);
    let out = run(
        &api_key(&fake),
        json!({"spreadsheet_id": "https://docs.google.com/spreadsheets/d/sheet1/edit#gid=0", "range": "Targets"}),
    )
    .await;
    assert!(out.report.is_success(), "{:?}", out.report.error);
    assert_eq!(out.rows.len(), 3, "the empty row is skipped");
    let names: Vec<&str> = out.rows[0].keys().map(|k| k.as_str()).collect();
    // An empty header cell gets its position's name, a duplicate a suffix.
    assert_eq!(
        names,
        ["region", "target", "name", "col_4", "name_2", "active"]
    );
    assert_eq!(out.rows[0]["target"], Value::Int(120));
    assert_eq!(out.rows[0]["active"], Value::Bool(true));
    assert_eq!(out.rows[1]["target"], Value::Float(80.5));
    // Cells the API left out are null.
    assert_eq!(out.rows[1]["name"], Value::Null);
    assert_eq!(out.rows[1]["active"], Value::Null);
    // An empty cell in the middle is null; a cell past the header gets its column's name.
    assert_eq!(out.rows[2]["target"], Value::Null);
    assert_eq!(out.rows[2]["active"], Value::Bool(false));
    assert_eq!(out.rows[2]["col_7"], Value::from("extra"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entirely_empty_header_is_an_error_naming_the_range() {
    let fake = FakeSheets::start(FakeSheetsConfig::default()).await;
    fake.add_spreadsheet(
        "s",
        "Plan",
        vec![Sheet {
            title: "Data".into(),
            rows: Rows::Literal(vec![vec![], vec![json!(1), json!(2)]]),
        }],
    );
    let out = run(
        &api_key(&fake),
        json!({"spreadsheet_id": "s", "range": "Data!A1:B"}),
    )
    .await;
    let error = error_chain(out.report.error.as_ref().unwrap());
    assert!(
        error.contains("header row 'Data'!A1:B1 is empty"),
        "{error}"
    );
}

fn dated() -> Sheet {
    Sheet {
        title: "Prices".into(),
        rows: Rows::Literal(vec![
            vec![
                json!("sku"),
                json!("price"),
                json!("since"),
                json!("updated"),
                json!("qty"),
            ],
            vec![
                json!("A-1"),
                cell::money(1234.5),
                cell::date("2024-01-31", "m/d/yyyy"),
                cell::date("2024-02-01T12:30:00", "yyyy-mm-dd hh:mm:ss"),
                json!(3),
            ],
            vec![
                json!("B-2"),
                cell::money(0.99),
                cell::date("2023-12-25", "m/d/yyyy"),
                cell::date("2024-03-01T08:00:00", "yyyy-mm-dd hh:mm:ss"),
                json!(7),
            ],
        ]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_follow_the_render_options_and_serial_dates_become_dates() {
    let fake = FakeSheets::start(FakeSheetsConfig::default()).await;
    fake.add_spreadsheet("p", "Prices", vec![dated()]);
    let uri = api_key(&fake);

    // UNFORMATTED_VALUE + SERIAL_NUMBER: numbers stay numbers, date columns become dates and
    // timestamps (not floats).
    let serial = run(
        &uri,
        json!({"spreadsheet_id": "p", "range": "Prices", "date_time_render_option": "SERIAL_NUMBER"}),
    )
    .await;
    assert!(serial.report.is_success(), "{:?}", serial.report.error);
    let row = &serial.rows[0];
    assert_eq!(row["price"], Value::Float(1234.5));
    assert_eq!(row["qty"], Value::Int(3));
    assert_eq!(
        row["since"],
        Value::Date(chrono::NaiveDate::from_ymd_opt(2024, 1, 31).unwrap())
    );
    match &row["updated"] {
        Value::Timestamp(t) => assert_eq!(t.to_rfc3339(), "2024-02-01T12:30:00+00:00"),
        other => panic!("updated: {other:?}"),
    }

    // The default FORMATTED_STRING: dates as the sheet shows them.
    let strings = run(&uri, json!({"spreadsheet_id": "p", "range": "Prices"})).await;
    assert_eq!(strings.rows[0]["since"], Value::from("1/31/2024"));
    assert_eq!(strings.rows[0]["price"], Value::Float(1234.5));

    // FORMATTED_VALUE: everything as displayed.
    let shown = run(
        &uri,
        json!({"spreadsheet_id": "p", "range": "Prices", "value_render_option": "FORMATTED_VALUE"}),
    )
    .await;
    assert_eq!(shown.rows[0]["price"], Value::from("$1,234.50"));
    assert_eq!(shown.rows[0]["qty"], Value::from("3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_tabs_make_one_stream_with_a_sheet_column() {
    let fake = FakeSheets::start(FakeSheetsConfig::default()).await;
    fake.add_spreadsheet("m", "Many", vec![targets(), dated()]);
    let out = run(
        &api_key(&fake),
        json!({"spreadsheet_id": "m", "range": ["Targets!A1:B", "'Prices'!A:B"]}),
    )
    .await;
    assert!(out.report.is_success(), "{:?}", out.report.error);
    let sheets: Vec<&str> = out
        .rows
        .iter()
        .map(|r| r["_sheet"].as_str().unwrap())
        .collect();
    assert_eq!(
        sheets,
        ["Targets", "Targets", "Targets", "Prices", "Prices"]
    );
    assert_eq!(out.rows[3]["sku"], Value::from("A-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_sheet_is_read_in_chunks_with_one_token() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeSheets::start(FakeSheetsConfig::default()).await;
    fake.add_spreadsheet(
        "big",
        "Big",
        vec![Sheet {
            title: "Rows".into(),
            rows: Rows::Generated {
                rows: 25_000,
                columns: 4,
            },
        }],
    );
    let out = run(
        &service_account(&fake, dir.path()),
        json!({"spreadsheet_id": "big", "range": "Rows", "chunk_rows": 5000}),
    )
    .await;
    assert!(out.report.is_success(), "{:?}", out.report.error);
    assert_eq!(out.rows.len(), 25_000);
    assert_eq!(out.rows[0]["col_a"], Value::Int(1));
    assert_eq!(out.rows[24_999]["col_a"], Value::Int(25_000));
    let stats = fake.stats();
    assert!(stats.max_rows_in_one_response <= 5_000, "{stats:?}");
    // The grid, the header, five chunks: no read past the last row.
    assert_eq!(stats.values_gets, 6, "{:?}", stats.ranges_served);
    assert_eq!(stats.token_requests, 1, "one token for every call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_mid_read_is_refreshed_once_and_the_read_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    // Every API answer takes 40 ms, so the read is still going when the token is revoked.
    let fake = Arc::new(
        FakeSheets::start(FakeSheetsConfig {
            faults: Faults {
                rate: 1.0,
                kinds: vec![FaultKind::Slow(std::time::Duration::from_millis(40))],
            },
            ..FakeSheetsConfig::default()
        })
        .await,
    );
    fake.add_spreadsheet(
        "big",
        "Big",
        vec![Sheet {
            title: "Rows".into(),
            rows: Rows::Generated {
                rows: 20_000,
                columns: 3,
            },
        }],
    );
    let watcher = {
        let fake = fake.clone();
        tokio::spawn(async move {
            while fake.stats().values_gets < 3 {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            fake.expire_tokens();
        })
    };
    let out = run(
        &service_account(&fake, dir.path()),
        json!({"spreadsheet_id": "big", "range": "Rows", "chunk_rows": 2000}),
    )
    .await;
    watcher.await.unwrap();
    assert!(out.report.is_success(), "{:?}", out.report.error);
    assert_eq!(out.rows.len(), 20_000);
    let stats = fake.stats();
    assert_eq!(stats.status_401, 1, "one refused call: {stats:?}");
    assert_eq!(stats.token_requests, 2, "the first token, then one refresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_say_what_to_check_and_are_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    // Not shared with the service account.
    let fake = FakeSheets::start(FakeSheetsConfig {
        shared_with_service_account: false,
        ..FakeSheetsConfig::default()
    })
    .await;
    fake.add_spreadsheet("t", "T", vec![targets()]);
    let out = run(
        &service_account(&fake, dir.path()),
        json!({"spreadsheet_id": "t", "range": "Targets"}),
    )
    .await;
    let error = error_chain(out.report.error.as_ref().unwrap());
    assert!(
        error.contains("loader@fake-project.iam.gserviceaccount.com"),
        "{error}"
    );
    assert_eq!(fake.stats().api_requests, 1, "{error}");

    let fake = FakeSheets::start(FakeSheetsConfig::default()).await;
    fake.add_spreadsheet("t", "T", vec![targets()]);
    for (source, uri, expect) in [
        (
            json!({"spreadsheet_id": "nope", "range": "Targets"}),
            api_key(&fake),
            "nope",
        ),
        (
            json!({"spreadsheet_id": "t", "range": "Targets"}),
            format!("google-sheets://?key=WRONG&endpoint={}", fake.endpoint()),
            "API key is not valid",
        ),
    ] {
        fake.reset_stats();
        let out = run(&uri, source).await;
        let error = error_chain(out.report.error.as_ref().unwrap());
        assert!(error.contains(expect), "{error}");
        assert_eq!(fake.stats().api_requests, 1, "{error}");
    }
    // A tab the spreadsheet does not have: named, with the tabs it has.
    let out = run(
        &api_key(&fake),
        json!({"spreadsheet_id": "t", "range": "Nope!A1:C"}),
    )
    .await;
    let error = error_chain(out.report.error.as_ref().unwrap());
    assert!(
        error.contains("Nope") && error.contains("Targets"),
        "{error}"
    );
}
