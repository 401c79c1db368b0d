//! The state-store test suite, run against every store (`tests/sqlite.rs`,
//! `tests/postgres.rs`, `tests/memory.rs`) through [`state_store_suite!`], and the helpers the
//! backends' own tests share.
#![allow(dead_code)]

use std::sync::Arc;

use dataforge_core::chrono::{DateTime, Duration, TimeZone, Utc};
use dataforge_core::{RunQuery, RunRecord, RunState, RunTrigger, State, StateStore};
use serde_json::json;

/// A store under test, with what keeps it alive and what cleans it up.
pub struct Fixture {
    /// The store.
    pub store: Arc<dyn StateStore>,
    /// Kept until the test ends (a temp dir).
    pub keep: Option<tempfile::TempDir>,
    /// `(url, schema)` to drop at the end (PostgreSQL).
    pub schema: Option<(String, String)>,
}

/// Generates the suite's tests for a backend: `$open` is an `async fn(&str) -> Option<Fixture>`
/// given the test's name (`None`: the backend is unavailable and the test is skipped).
#[macro_export]
macro_rules! state_store_suite {
    ($open:path) => {
        $crate::state_store_suite!(@test $open, cursors_round_trip);
        $crate::state_store_suite!(@test $open, cursor_save_replaces_atomically);
        $crate::state_store_suite!(@test $open, runs_insert_update_order_and_limit);
        $crate::state_store_suite!(@test $open, last_successful_is_the_latest_logical_date);
    };
    (@test $open:path, $name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            if let Some(fixture) = $open(stringify!($name)).await {
                support::$name(fixture.store.clone()).await;
                support::finish(fixture).await;
            }
        }
    };
}

/// Cleans up after a fixture.
pub async fn finish(fixture: Fixture) {
    drop(fixture.store);
    #[cfg(feature = "postgres")]
    if let Some((url, schema)) = fixture.schema
        && let Some(client) = pg_connect(&url).await
    {
        drop_schema(&client, &schema).await;
    }
}

fn state(pairs: &[(&str, serde_json::Value)]) -> State {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// A timestamp both databases keep exactly (microseconds).
pub fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, day, hour, 0, 0)
        .single()
        .expect("a valid date")
        + Duration::microseconds(123_456)
}

/// Cursors: empty at first, saved values read back (nested JSON, odd pipeline ids), one
/// pipeline's cursor independent of another's.
pub async fn cursors_round_trip(store: Arc<dyn StateStore>) {
    assert!(store.load("orders").await.expect("load").is_empty());
    let s = state(&[
        ("cursor", json!("2026-01-01T00:00:00Z")),
        (
            "page",
            json!({"since_id": 42, "tags": ["a", "b"], "ratio": 0.5}),
        ),
        ("done", json!(null)),
    ]);
    store.save("orders", &s).await.expect("save");
    store
        .save("orders/daily é", &state(&[("n", json!(1))]))
        .await
        .expect("save");
    assert_eq!(store.load("orders").await.expect("load"), s);
    assert_eq!(store.load("orders/daily é").await.expect("load")["n"], 1);
    assert!(store.load("orders_daily__").await.expect("load").is_empty());
}

/// A save replaces the whole state (no merge), and concurrent saves leave exactly one of the
/// states written, never a mix.
pub async fn cursor_save_replaces_atomically(store: Arc<dyn StateStore>) {
    store
        .save("p", &state(&[("a", json!(1)), ("b", json!(2))]))
        .await
        .expect("save");
    store
        .save("p", &state(&[("c", json!(3))]))
        .await
        .expect("save");
    assert_eq!(
        store.load("p").await.expect("load"),
        state(&[("c", json!(3))])
    );

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.spawn(async move {
            let s = state(&[
                ("x", json!(i)),
                ("y", json!(i)),
                ("z", json!(format!("v{i}"))),
            ]);
            store.save("p", &s).await.expect("concurrent save");
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task");
    }
    let last = store.load("p").await.expect("load");
    let i = last["x"].as_i64().expect("x is a number");
    assert_eq!(
        last,
        state(&[
            ("x", json!(i)),
            ("y", json!(i)),
            ("z", json!(format!("v{i}")))
        ])
    );
}

fn run(pipeline: &str, id: &str, day: u32, trigger: RunTrigger) -> RunRecord {
    RunRecord::new(pipeline, id, at(day, 0), trigger).with_data_interval(at(day, 0), at(day + 1, 0))
}

/// Runs: a record is inserted, updated in place by run id (every field), read back exactly,
/// newest logical date first (ties: latest start, then run id), filtered and limited.
pub async fn runs_insert_update_order_and_limit(store: Arc<dyn StateStore>) {
    assert!(store.keeps_history());
    let mut r1 = run("orders", "r1", 3, RunTrigger::Scheduled);
    store.record_run(&r1).await.expect("record queued");
    assert_eq!(
        store.runs(&RunQuery::all()).await.expect("runs"),
        vec![r1.clone()]
    );

    r1.start(at(4, 0));
    r1.attempts = 1;
    store.record_run(&r1).await.expect("record running");
    r1.status = RunState::Failed;
    r1.attempts = 3;
    r1.rows_extracted = 10_000_000_000;
    r1.rows_rejected = 7;
    r1.rows_loaded = 0;
    r1.ended_at = Some(at(4, 1));
    r1.duration_seconds = Some(3600.25);
    r1.error = Some("load into db.orders: connection refused".into());
    store.record_run(&r1).await.expect("record failed");
    let all = store.runs(&RunQuery::all()).await.expect("runs");
    assert_eq!(all, vec![r1.clone()], "updated in place, every field kept");

    let r2 = run("orders", "r2", 1, RunTrigger::Backfill);
    let mut r3 = run("orders", "r3", 5, RunTrigger::Manual);
    r3.start(at(5, 2));
    let mut r4 = run("orders", "r4", 5, RunTrigger::Trigger); // same day, started later
    r4.start(at(5, 3));
    let r5 = run("orders", "r0", 5, RunTrigger::Manual); // same day, never started
    let other = run("customers", "c1", 9, RunTrigger::Scheduled);
    for r in [&r2, &r3, &r4, &r5, &other] {
        store.record_run(r).await.expect("record");
    }
    let ids = |runs: Vec<RunRecord>| runs.into_iter().map(|r| r.run_id).collect::<Vec<_>>();
    assert_eq!(
        ids(store
            .runs(&RunQuery::pipeline("orders"))
            .await
            .expect("runs")),
        ["r4", "r3", "r0", "r1", "r2"]
    );
    assert_eq!(
        ids(store
            .runs(&RunQuery::pipeline("orders").limit(2))
            .await
            .expect("runs")),
        ["r4", "r3"]
    );
    assert_eq!(
        ids(store.runs(&RunQuery::all().limit(1)).await.expect("runs")),
        ["c1"]
    );
    assert_eq!(
        ids(store
            .runs(&RunQuery::pipeline("orders").status(RunState::Failed))
            .await
            .expect("runs")),
        ["r1"]
    );
    assert!(
        store
            .runs(&RunQuery::pipeline("nobody"))
            .await
            .expect("runs")
            .is_empty()
    );
    assert!(
        store
            .runs(&RunQuery::all().limit(0))
            .await
            .expect("runs")
            .is_empty()
    );
}

/// `last_successful`: the successful run with the latest logical date (not the latest
/// recorded), of that pipeline only; `None` when there is none.
pub async fn last_successful_is_the_latest_logical_date(store: Arc<dyn StateStore>) {
    assert_eq!(store.last_successful("orders").await.expect("last"), None);
    let mut ok_late = run("orders", "a", 10, RunTrigger::Scheduled);
    ok_late.status = RunState::Success;
    let mut ok_early = run("orders", "b", 2, RunTrigger::Backfill); // recorded after
    ok_early.status = RunState::Success;
    let mut failed_later = run("orders", "c", 11, RunTrigger::Scheduled);
    failed_later.status = RunState::Failed;
    let mut other = run("customers", "d", 20, RunTrigger::Scheduled);
    other.status = RunState::Success;
    for r in [&ok_late, &ok_early, &failed_later, &other] {
        store.record_run(r).await.expect("record");
    }
    assert_eq!(
        store.last_successful("orders").await.expect("last"),
        Some(ok_late)
    );
    assert_eq!(
        store
            .last_successful("customers")
            .await
            .expect("last")
            .map(|r| r.run_id),
        Some("d".into())
    );
}

/// Starts this test binary again, running only `test`, with `env` set: the child side of a
/// test with several processes (the test checks `env` to know which side it is).
pub fn spawn_test_child(test: &str, env: &[(&str, &str)]) -> std::process::Child {
    let exe = std::env::current_exe().expect("test binary");
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn child")
}

/// Waits for a child and fails with its output when it failed.
pub fn expect_success(child: std::process::Child) {
    let out = child.wait_with_output().expect("child runs");
    assert!(
        out.status.success(),
        "child failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The test database URL (`DATAFORGE_TEST_DATABASE_URL`, default the local server).
pub fn database_url() -> String {
    std::env::var("DATAFORGE_TEST_DATABASE_URL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Connects to the test database, or returns `None` (with a loud message) when it is not
/// reachable outside CI. Under `CI=true` an unreachable database panics.
#[cfg(feature = "postgres")]
pub async fn pg_connect(url: &str) -> Option<tokio_postgres::Client> {
    let conn = dataforge_core::Connection::parse("test", url)
        .expect("DATAFORGE_TEST_DATABASE_URL must be a URI");
    match dataforge_hooks::postgres::connect(&conn).await {
        Ok(c) => Some(c),
        Err(e) => {
            let msg = format!(
                "PostgreSQL test database not reachable at {}: {}. Run `scripts/test.sh`, which \
                 starts a throwaway server, or set DATAFORGE_TEST_DATABASE_URL.",
                conn.redacted(),
                dataforge_core::error_chain(&e)
            );
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!("{msg}");
            }
            eprintln!("\n\n!!! SKIPPING: {msg}\n");
            None
        }
    }
}

/// Drops a test schema.
#[cfg(feature = "postgres")]
pub async fn drop_schema(client: &tokio_postgres::Client, schema: &str) {
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            postgres_protocol::escape::escape_identifier(schema)
        ))
        .await
        .expect("drop the test schema");
}
