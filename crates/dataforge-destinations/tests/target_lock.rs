//! One load at a time into one target: concurrent runs into one PostgreSQL table, SQLite
//! database or file end with exactly one run's rows (`replace`) or every run's rows
//! (`append`), and a run that waits longer than `lock_timeout` fails naming the other run.

mod support;

use std::path::Path;
use std::time::Duration;

use dataforge_core::{
    BatchSender, ComponentError, Record, RunContext, RunOptions, RunReport, Source, Value,
    async_trait, record,
};
use serde_json::json;
use support::SlowSource;

/// Rows per run.
const ROWS: u64 = 600;
/// Concurrent runs.
const RUNS: i64 = 4;

/// A source of `ROWS` rows tagged with `run`, slow enough for the runs to overlap.
fn tagged(run: i64) -> SlowSource<impl Fn(u64) -> Record + Send + Sync + 'static> {
    SlowSource {
        batches: 3,
        rows: ROWS / 3,
        delay: Duration::from_millis(40),
        make: move |i| record! {"id" => i as i64, "run" => run, "note" => Value::from("x")},
    }
}

/// A source that holds its destination's load open for about `hold`: 10,001 rows at once (more
/// than the destinations look at before they start loading), then a pause, then one more.
struct Holding(Duration);

#[async_trait]
impl Source for Holding {
    async fn extract(
        &self,
        _ctx: &RunContext,
        out: &mut BatchSender,
    ) -> Result<(), ComponentError> {
        out.send((0..10_001).map(|i| record! {"id" => i}).collect())
            .await?;
        tokio::time::sleep(self.0).await;
        out.send(vec![record! {"id" => 10_001}]).await
    }
}

fn holding(hold: Duration) -> Holding {
    Holding(hold)
}

/// Runs `RUNS` pipelines at once, run `k` loading rows tagged `k` into `config`.
async fn concurrently(config: serde_json::Value, opts: &RunOptions) -> Vec<RunReport> {
    let runs = (0..RUNS).map(|k| support::run_config(config.clone(), tagged(k), 100, opts));
    futures::future::join_all(runs).await
}

/// A run into `holder` that keeps its target for 1.5 s, and a run into `waiter` (the same target,
/// a short `lock_timeout`) started while it does; the holder must succeed.
async fn hold_and_wait(
    holder: serde_json::Value,
    waiter: serde_json::Value,
    opts: &RunOptions,
) -> (RunReport, RunReport) {
    let held = support::run_config(holder, holding(Duration::from_millis(1500)), 1, opts);
    let waited = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        support::run_config(waiter, holding(Duration::ZERO), 1, opts).await
    };
    let (held, waited) = tokio::join!(held, waited);
    assert!(held.is_success(), "{:?}", held.error);
    (held, waited)
}

fn all_succeeded(reports: &[RunReport]) {
    for r in reports {
        assert!(
            r.is_success(),
            "{:?}",
            r.error.as_ref().map(|e| e.to_string())
        );
    }
}

fn pg_opts(db: &support::TestDb) -> RunOptions {
    RunOptions {
        connections: std::sync::Arc::new(
            dataforge_core::StaticConnections::new()
                .with("postgres_default", &db.url)
                .expect("connection"),
        ),
        ..RunOptions::in_memory()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_replace_runs_leave_one_runs_rows_in_postgres() {
    let Some(db) = support::TestDb::new("lock_replace").await else {
        return;
    };
    let opts = pg_opts(&db);
    for (table, extra) in [
        ("no_key", json!({"write_mode": "replace"})),
        (
            "with_key",
            json!({"write_mode": "replace", "primary_key": "id"}),
        ),
    ] {
        for trial in 0..3 {
            all_succeeded(&concurrently(db.config(table, extra.clone()), &opts).await);
            let (rows, runs) = (
                db.rows(table).await,
                db.count(&format!(
                    "SELECT count(DISTINCT run) FROM {}",
                    db.qualified(table)
                ))
                .await,
            );
            assert_eq!(
                (rows, runs),
                (ROWS as i64, 1),
                "{table}, trial {trial}: one run's rows"
            );
        }
    }
    let appended = concurrently(db.config("log", json!({"write_mode": "append"})), &opts).await;
    all_succeeded(&appended);
    assert_eq!(db.rows("log").await, ROWS as i64 * RUNS);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_load_that_waits_too_long_names_the_run_holding_the_table() {
    let Some(db) = support::TestDb::new("lock_timeout").await else {
        return;
    };
    let (held, waited) = hold_and_wait(
        db.config("t", json!({"write_mode": "replace"})),
        db.config("t", json!({"write_mode": "replace", "lock_timeout": 0.3})),
        &pg_opts(&db),
    )
    .await;
    let msg = support::failure(&waited);
    assert!(
        msg.contains("is being loaded by another run")
            && msg.contains(&format!("run {}", held.run_id))
            && msg.contains("dataforge destination_")
            && msg.contains("lock_timeout"),
        "{msg}"
    );
    assert_eq!(db.rows("t").await, 10_002, "the holder's rows only");
    db.drop().await;
}

fn sqlite_rows(path: &Path) -> (i64, i64) {
    rusqlite::Connection::open(path)
        .expect("open")
        .query_row("SELECT count(*), count(DISTINCT run) FROM t", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_runs_into_one_sqlite_database_take_turns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("target.db");
    let opts = RunOptions::in_memory();
    for trial in 0..3 {
        let config = json!({"type": "sqlite", "path": db, "table": "t", "write_mode": "replace"});
        all_succeeded(&concurrently(config, &opts).await);
        assert_eq!(sqlite_rows(&db), (ROWS as i64, 1), "trial {trial}");
    }
    let (held, waited) = hold_and_wait(
        json!({"type": "sqlite", "path": db, "table": "u"}),
        json!({"type": "sqlite", "path": db, "table": "u", "lock_timeout": "300ms"}),
        &opts,
    )
    .await;
    let msg = support::failure(&waited);
    assert!(
        msg.contains("is being loaded by another run")
            && msg.contains(&format!(
                "run {} of pipeline `destination_test`",
                held.run_id
            )),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_runs_into_one_file_never_lose_or_mix_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = RunOptions::in_memory();
    let out = dir.path().join("out.jsonl");
    let lines = |path: &Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .expect("read")
            .lines()
            .map(|l| serde_json::from_str(l).expect("a whole JSON line"))
            .collect()
    };
    for trial in 0..3 {
        let config = json!({"type": "file", "path": out, "write_mode": "replace"});
        all_succeeded(&concurrently(config, &opts).await);
        let rows = lines(&out);
        let runs: std::collections::BTreeSet<i64> =
            rows.iter().filter_map(|r| r["run"].as_i64()).collect();
        assert_eq!((rows.len() as u64, runs.len()), (ROWS, 1), "trial {trial}");
    }
    let log = dir.path().join("log.jsonl");
    let config = json!({"type": "file", "path": log, "write_mode": "append"});
    all_succeeded(&concurrently(config, &opts).await);
    assert_eq!(lines(&log).len() as u64, ROWS * RUNS as u64);
    for target in [&out, &log] {
        let lock = dataforge_destinations::target_lock::FileLock::path_for(target);
        assert!(
            !lock.exists(),
            "{} is removed as the lock is let go",
            lock.display()
        );
    }
}

#[tokio::test]
async fn a_file_load_sweeps_the_temporary_files_of_a_killed_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.jsonl");
    // What a `replace` killed with SIGKILL leaves: `.NAME.XXXXXX.tmp` beside the target.
    let stale = dir.path().join(".out.jsonl.a1B2c3.tmp");
    std::fs::write(&stale, vec![b'x'; 4096]).expect("stale temp file");
    let unrelated = dir.path().join(".other.jsonl.a1B2c3.tmp");
    std::fs::write(&unrelated, b"keep").expect("unrelated file");
    let report = support::run_config(
        json!({"type": "file", "path": out, "write_mode": "append"}),
        holding(Duration::ZERO),
        1,
        &RunOptions::in_memory(),
    )
    .await;
    assert!(report.is_success(), "{:?}", report.error);
    assert!(!stale.exists(), "the leftover of the killed load is gone");
    assert!(unrelated.exists(), "another target's files are not touched");
}
