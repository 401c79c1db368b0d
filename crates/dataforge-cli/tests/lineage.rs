//! OpenLineage events of `dataforge run`, received by a local HTTP server and validated against
//! the OpenLineage JSON Schemas (vendored under `tests/fixtures/openlineage`, spec 2-0-2) with
//! the `jsonschema` crate, facets included:
//!
//! - a successful run sends START then COMPLETE (same run id as the report's, the input file,
//!   the output table with its columns and row count), with the API key as a bearer token that
//!   appears nowhere in the output or the report;
//! - a failing run sends START then FAIL;
//! - a backend that is down, or that never answers, fails no run and delays it by at most the
//!   event timeout per event;
//! - the file transport appends valid events, one per line.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};

mod support;
use support::{dataforge, runtime, text, write};

const API_KEY: &str = "ol_KEY_MUST_NOT_LEAK_77";
/// The observer's per-event timeout (`EVENT_TIMEOUT`).
const EVENT_TIMEOUT: Duration = Duration::from_secs(2);

/// One received request: its `Authorization` header and its JSON body.
type Received = Arc<Mutex<Vec<(Option<String>, Value)>>>;

/// A lineage backend on `127.0.0.1:0` recording what it receives at `/api/v1/lineage`.
fn backend(rt: &tokio::runtime::Runtime) -> (SocketAddr, Received) {
    let received: Received = Arc::default();
    let app = Router::new()
        .route(
            "/api/v1/lineage",
            post(
                |State(r): State<Received>, headers: HeaderMap, body: String| async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let event = serde_json::from_str(&body).expect("the event is JSON");
                    r.lock().expect("lock").push((auth, event));
                    "ok"
                },
            ),
        )
        .with_state(received.clone());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    rt.spawn(async move { axum::serve(listener, app).await });
    (addr, received)
}

/// The vendored schemas, as one registry, and validators of the event and of the two facets.
struct Schemas {
    event: jsonschema::Validator,
    schema_facet: jsonschema::Validator,
    output_statistics: jsonschema::Validator,
}

impl Schemas {
    fn load() -> Schemas {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openlineage");
        let read = |name: &str| -> Value {
            serde_json::from_str(&std::fs::read_to_string(dir.join(name)).expect("fixture"))
                .expect("fixture JSON")
        };
        let (main, schema, stats) = (
            read("OpenLineage.json"),
            read("SchemaDatasetFacet.json"),
            read("OutputStatisticsOutputDatasetFacet.json"),
        );
        let id = |v: &Value| v["$id"].as_str().expect("$id").to_owned();
        let registry = jsonschema::Registry::new()
            .add(id(&main), main.clone())
            .and_then(|r| r.add(id(&schema), schema.clone()))
            .and_then(|r| r.add(id(&stats), stats.clone()))
            .and_then(|r| r.prepare())
            .expect("registry");
        let build = |root: &Value| {
            jsonschema::options()
                .with_registry(&registry)
                .should_validate_formats(true)
                .build(root)
                .expect("validator")
        };
        Schemas {
            event: build(&main),
            schema_facet: build(&schema),
            output_statistics: build(&stats),
        }
    }

    /// Panics with every error when `event` or one of its output facets is not valid.
    fn check(&self, event: &Value) {
        let mut errors: Vec<String> = self
            .event
            .iter_errors(event)
            .map(|e| format!("event: {e} at {}", e.instance_path()))
            .collect();
        for output in event["outputs"].as_array().into_iter().flatten() {
            if let Some(facets) = output.get("facets") {
                errors.extend(
                    self.schema_facet
                        .iter_errors(facets)
                        .map(|e| format!("schema facet: {e}")),
                );
            }
            if let Some(facets) = output.get("outputFacets") {
                errors.extend(
                    self.output_statistics
                        .iter_errors(facets)
                        .map(|e| format!("outputStatistics facet: {e}")),
                );
            }
        }
        assert!(errors.is_empty(), "{errors:#?}\nin {event:#}");
    }
}

/// A daily file → SQLite pipeline of `rows` rows (no retries).
fn pipeline(dir: &Path, dag_id: &str, rows: usize, input_exists: bool) -> std::path::PathBuf {
    let input = dir.join("in.jsonl");
    if input_exists {
        let lines: String = (0..rows)
            .map(|i| format!("{{\"id\": {i}, \"name\": \"n{i}\", \"price\": {i}.5}}\n"))
            .collect();
        std::fs::write(&input, lines).expect("write");
    }
    let config = json!({
        "dag_id": dag_id,
        "schedule_interval": "@daily",
        "start_date": "2025-01-01",
        "default_args": {"retries": 0},
        "source": {"type": "file", "path": input},
        "destination": {"type": "sqlite", "path": dir.join("out.db"), "table": "items",
                        "write_mode": "replace"},
    });
    write(dir, &format!("{dag_id}.json"), &config.to_string())
}

fn run(dir: &Path, pipeline: &Path, env: &[(&str, &str)]) -> Output {
    let report = dir.join("report.json");
    dataforge(
        dir,
        &[
            "run",
            pipeline.to_str().expect("utf-8"),
            "--report",
            report.to_str().expect("utf-8"),
        ],
        env,
    )
}

fn events(received: &Received) -> Vec<(Option<String>, Value)> {
    received.lock().expect("lock").clone()
}

#[test]
fn a_successful_run_sends_start_and_complete_with_schema_and_row_count() {
    let rt = runtime();
    let (addr, received) = backend(&rt);
    let schemas = Schemas::load();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let file = pipeline(d, "lineage_ok", 12, true);
    let url = format!("http://{addr}");
    let out = run(
        d,
        &file,
        &[
            ("OPENLINEAGE_URL", &url),
            ("OPENLINEAGE_API_KEY", API_KEY),
            ("OPENLINEAGE_NAMESPACE", "shops"),
        ],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let report_text = std::fs::read_to_string(d.join("report.json")).expect("report");
    for (what, text) in [
        ("stdout", &stdout),
        ("stderr", &stderr),
        ("report", &report_text),
    ] {
        assert!(!text.contains(API_KEY), "the API key is in {what}");
    }
    let report: Value = serde_json::from_str(&report_text).expect("report JSON");
    let run_id = report[0]["run_id"].as_str().expect("run_id").to_owned();

    let got = events(&received);
    assert_eq!(got.len(), 2, "{got:#?}");
    for (auth, event) in &got {
        assert_eq!(auth.as_deref(), Some(format!("Bearer {API_KEY}").as_str()));
        schemas.check(event);
        assert_eq!(event["run"]["runId"], json!(run_id));
        assert_eq!(
            event["job"],
            json!({"namespace": "shops", "name": "lineage_ok"})
        );
        let dir_ns = format!("file://{}", d.display());
        assert_eq!(
            event["inputs"],
            json!([{"namespace": dir_ns, "name": "in.jsonl"}])
        );
        let output = &event["outputs"][0];
        assert_eq!(
            output["namespace"],
            json!(format!("sqlite://{}", d.join("out.db").display()))
        );
        assert_eq!(output["name"], json!("items"));
    }
    assert_eq!(got[0].1["eventType"], json!("START"));
    assert!(got[0].1["outputs"][0].get("outputFacets").is_none());
    let complete = &got[1].1;
    assert_eq!(complete["eventType"], json!("COMPLETE"));
    let output = &complete["outputs"][0];
    assert_eq!(
        output["outputFacets"]["outputStatistics"]["rowCount"],
        json!(12)
    );
    let columns: Vec<(&str, &str)> = output["facets"]["schema"]["fields"]
        .as_array()
        .expect("schema fields")
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap_or(""),
                f["type"].as_str().unwrap_or(""),
            )
        })
        .collect();
    // The table's columns as SQLite declares them.
    let conn = rusqlite::Connection::open(d.join("out.db")).expect("sqlite");
    let declared: Vec<(String, String)> = conn
        .prepare("SELECT name, type FROM pragma_table_info('items')")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let declared: Vec<(&str, &str)> = declared
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    assert_eq!(columns, declared);
    assert_eq!(
        columns.iter().map(|c| c.0).collect::<Vec<_>>(),
        ["id", "name", "price"]
    );
}

#[test]
fn a_failing_run_sends_start_and_fail() {
    let rt = runtime();
    let (addr, received) = backend(&rt);
    let schemas = Schemas::load();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let file = pipeline(d, "lineage_fail", 0, false);
    let url = format!("http://{addr}");
    let out = run(d, &file, &[("OPENLINEAGE_URL", &url)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let got = events(&received);
    let types: Vec<&Value> = got.iter().map(|(_, e)| &e["eventType"]).collect();
    assert_eq!(types, [&json!("START"), &json!("FAIL")]);
    for (auth, event) in &got {
        assert_eq!(auth, &None, "no key, no header");
        schemas.check(event);
        assert!(event["outputs"][0].get("outputFacets").is_none());
    }
    assert_eq!(got[0].1["run"]["runId"], got[1].1["run"]["runId"]);
}

/// A backend that refuses connections, and one that accepts and never answers: the run
/// succeeds, and takes at most the event timeout per event (plus slack) longer than without
/// lineage; the failure is logged once.
#[test]
fn a_down_or_silent_backend_neither_fails_nor_holds_up_a_run() {
    let rt = runtime();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    }; // dropped: the port refuses connections
    let silent = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    rt.spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket); // accepted, never answered
        }
    });
    for (what, addr) in [("down", closed), ("silent", silent_addr)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let file = pipeline(d, "lineage_down", 5, true);
        let url = format!("http://{addr}");
        let started = Instant::now();
        let out = run(
            d,
            &file,
            &[("OPENLINEAGE_URL", &url), ("OPENLINEAGE_API_KEY", API_KEY)],
        );
        let took = started.elapsed();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{what}: {stderr}");
        assert!(
            took < 2 * EVENT_TIMEOUT + Duration::from_secs(5),
            "{what}: the run took {took:?}"
        );
        assert_eq!(
            stderr.matches("OpenLineage event not delivered").count(),
            1,
            "{what}: warned once\n{stderr}"
        );
        assert!(!stderr.contains(API_KEY), "{what}: the key is in stderr");
        assert!(!text(&out.stdout).contains(API_KEY));
    }
}

#[test]
fn the_file_transport_appends_one_valid_event_per_line() {
    let schemas = Schemas::load();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let file = pipeline(d, "lineage_file", 3, true);
    let events_file = d.join("lineage/events.jsonl");
    std::fs::create_dir_all(events_file.parent().expect("parent")).expect("mkdir");
    let path = events_file.to_str().expect("utf-8");
    for _ in 0..2 {
        let out = run(d, &file, &[("OPENLINEAGE_FILE", path)]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let lines: Vec<Value> = std::fs::read_to_string(&events_file)
        .expect("events")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON event per line"))
        .collect();
    let types: Vec<&str> = lines
        .iter()
        .map(|e| e["eventType"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(types, ["START", "COMPLETE", "START", "COMPLETE"]);
    for event in &lines {
        schemas.check(event);
    }
    assert_ne!(lines[0]["run"]["runId"], lines[2]["run"]["runId"]);
    assert_eq!(
        lines[3]["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"],
        json!(3)
    );
}

/// The checks can fail: an event with a run id that is not a UUID, one without `job`, and a
/// row count that is not an integer are all refused.
#[test]
fn the_vendored_schemas_refuse_malformed_events() {
    let schemas = Schemas::load();
    let good = json!({
        "eventType": "START", "eventTime": "2026-01-01T00:00:00Z",
        "producer": "https://example.com/p", "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": "0190a8e4-5b6c-7d8e-9f00-112233445566"},
        "job": {"namespace": "n", "name": "j"},
    });
    assert!(schemas.event.is_valid(&good));
    let mut bad_id = good.clone();
    bad_id["run"]["runId"] = json!("run-1");
    assert!(!schemas.event.is_valid(&bad_id));
    let mut no_job = good.clone();
    no_job.as_object_mut().expect("object").remove("job");
    assert!(!schemas.event.is_valid(&no_job));
    let bad_count = json!({"outputStatistics": {"_producer": "https://example.com/p",
        "_schemaURL": "https://example.com/s", "rowCount": "twelve"}});
    assert!(!schemas.output_statistics.is_valid(&bad_count));
}
