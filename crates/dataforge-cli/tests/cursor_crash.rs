//! Cursors committed with the data, through the `dataforge` binary: a run killed with SIGKILL
//! between the load's commit and the end of the run (and at random other points) never makes
//! a rerun duplicate or lose a row, under `write_mode: append` with an incremental source.
//!
//! The source is `shopify` (incremental) against the fake shop, served from a tokio runtime
//! inside this test process; the destination is PostgreSQL (`DATAFORGE_TEST_DATABASE_URL`,
//! default `postgres://postgres@127.0.0.1:5432/test`; skipped with a loud message when it is
//! unreachable, except under `CI=true` where it fails). `DATAFORGE_TEST_PAUSE_AFTER_COMMIT_MS`
//! (a test-only hook of the runner) holds the run between the commit and the state store's
//! save, so the kill lands in that window.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use dataforge_fake_shopify::{FakeShopify, FakeShopifyConfig};
use serde_json::json;

mod support;
use support::{database_url, test_db};

const SCHEMA: &str = "dft_cli_cursor_crash";
const TRIALS: u64 = 12;
/// The runner's pause between the commit and the state save, in milliseconds.
const PAUSE_MS: u64 = 1500;

/// `(rows, distinct ids)` of the loaded orders (0 before the table exists).
fn counts(rt: &tokio::runtime::Runtime, client: &tokio_postgres::Client) -> (i64, i64) {
    let row = rt
        .block_on(client.query_one(
            &format!("SELECT to_regclass('{SCHEMA}.orders') IS NOT NULL"),
            &[],
        ))
        .expect("regclass");
    if !row.get::<_, bool>(0) {
        return (0, 0);
    }
    let row = rt
        .block_on(client.query_one(
            &format!("SELECT count(*), count(DISTINCT id) FROM {SCHEMA}.orders"),
            &[],
        ))
        .expect("counts");
    (row.get(0), row.get(1))
}

/// A small xorshift generator: the seed is printed so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// `dataforge run pipeline.json` in `dir`, its state under `dir/.dataforge`.
fn spawn_run(dir: &Path, env: &[(&str, String)], pause: bool) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dataforge"));
    cmd.args(["run", "pipeline.json"])
        .current_dir(dir)
        .env("DATAFORGE_HOME", dir.join(".dataforge"))
        .env_remove("DATAFORGE_LOG")
        .env_remove("DATAFORGE_STATE_URL")
        .env_remove("DATAFORGE_TEST_PAUSE_AFTER_COMMIT_MS")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if pause {
        cmd.env("DATAFORGE_TEST_PAUSE_AFTER_COMMIT_MS", PAUSE_MS.to_string());
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn dataforge")
}

#[test]
fn sigkill_after_the_commit_never_duplicates_or_loses_a_row() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let Some(client) = test_db(&rt, SCHEMA) else {
        return;
    };
    let fake: FakeShopify = rt.block_on(FakeShopify::start(FakeShopifyConfig {
        orders: 40,
        ..Default::default()
    }));
    let dir = tempfile::tempdir().expect("tempdir");
    let pipeline = json!({
        "dag_id": "shopify_orders_append",
        "schedule_interval": "@daily",
        "start_date": "2025-01-01",
        "source": {"type": "shopify", "resource": "orders", "params": {"status": "any"},
                   "page_size": 250, "incremental": {"lookback": "5m"}},
        "destination": {"type": "postgres", "conn_id": "postgres_default", "schema": SCHEMA,
                        "table": "orders", "write_mode": "append"},
    });
    std::fs::write(
        dir.path().join("pipeline.json"),
        serde_json::to_string_pretty(&pipeline).expect("json"),
    )
    .expect("write the pipeline");
    let env = [
        ("DATAFORGE_CONN_SHOPIFY_DEFAULT", fake.connection_uri()),
        ("DATAFORGE_CONN_POSTGRES_DEFAULT", database_url()),
    ];
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
        | 1;
    eprintln!("cursor crash test seed: {seed}");
    let mut rng = Rng(seed);
    let base = Utc::now() - TimeDelta::days(1);
    let (mut in_window, mut elsewhere) = (0, 0);
    for trial in 0..TRIALS {
        // New orders since the last run, so every run has a window to load.
        let at = base + TimeDelta::minutes(trial as i64 + 1);
        fake.add_orders(5 + rng.below(10) as usize, at);
        let expected = fake.orders().len() as i64;
        let mut child = spawn_run(dir.path(), &env, true);
        if trial % 2 == 0 {
            // Wait for the commit (every order in the table), then kill during the pause.
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if let Some(status) = child.try_wait().expect("try_wait") {
                    panic!("trial {trial}: the run ended ({status}) before its commit was seen");
                }
                if counts(&rt, &client).0 >= expected {
                    break;
                }
                assert!(Instant::now() < deadline, "trial {trial}: no commit seen");
                std::thread::sleep(Duration::from_millis(10));
            }
            std::thread::sleep(Duration::from_millis(rng.below(PAUSE_MS - 300)));
            assert!(
                child.try_wait().expect("try_wait").is_none(),
                "trial {trial}: the run ended during the pause"
            );
            in_window += 1;
        } else {
            // Anywhere: before the load, during it, in the pause, or after the run ended.
            std::thread::sleep(Duration::from_millis(rng.below(PAUSE_MS + 1500)));
            if child.try_wait().expect("try_wait").is_none() {
                elsewhere += 1;
            }
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        // The rerun completes and loads exactly what is missing.
        let out = spawn_run(dir.path(), &env, false)
            .wait_with_output()
            .expect("rerun");
        assert!(
            out.status.success(),
            "trial {trial}: rerun failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (rows, distinct) = counts(&rt, &client);
        assert_eq!(
            (rows, distinct),
            (expected, expected),
            "trial {trial} (seed {seed}): every order exactly once"
        );
    }
    eprintln!("killed {in_window} runs between commit and state save, {elsewhere} elsewhere");
    assert_eq!(in_window, TRIALS / 2);
    rt.block_on(client.batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")))
        .expect("drop the test schema");
}
