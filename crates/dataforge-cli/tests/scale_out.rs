//! Several `dataforge serve` processes sharing one PostgreSQL state store: each due run
//! executes exactly once and work spreads over the processes; a process killed with SIGKILL
//! mid-run has its run taken over (as attempt 2) after its lease lapses; a process stopped with
//! SIGSTOP past its lease and then resumed does not commit a second copy.
//!
//! The state (`DATAFORGE_STATE_URL` + `DATAFORGE_STATE_SCHEMA`) and the destination tables
//! live in schemas of their own per test, in the database of `DATAFORGE_TEST_DATABASE_URL`
//! (default `postgres://postgres@127.0.0.1:5432/test`; under `CI=true` an unreachable one
//! fails). The runner's test-only pauses (`DATAFORGE_TEST_PAUSE_*_MS`) hold a run where the
//! test kills or stops its process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

mod support;
use support::{database_url, test_db, write};

/// The lease the processes hold runs under: short, so a takeover comes quickly.
const LEASE: &str = "2s";

/// A `dataforge serve` process and the file its log goes to.
struct Serve {
    child: Child,
    log: PathBuf,
}

impl Serve {
    /// Starts `dataforge serve pipelines` in `dir` as process `k`, its state in `state_schema`.
    fn start(dir: &Path, k: usize, state_schema: &str, env: &[(&str, &str)]) -> Self {
        let log = dir.join(format!("serve-{k}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dataforge"));
        cmd.args(["serve", "pipelines", "--lease", LEASE, "--grace", "10s"])
            .current_dir(dir)
            .env("DATAFORGE_HOME", dir.join(format!(".dataforge-{k}")))
            .env("DATAFORGE_STATE_URL", database_url())
            .env("DATAFORGE_STATE_SCHEMA", state_schema)
            .env("DATAFORGE_CONN_POSTGRES_DEFAULT", database_url())
            .env_remove("DATAFORGE_LOG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"));
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("DATAFORGE_TEST_PAUSE_") {
                cmd.env_remove(name.as_ref());
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        Self {
            child: cmd.spawn().expect("serve starts"),
            log,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `signal` (`TERM`, `STOP`, `CONT`) with `kill`.
    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal}");
    }

    /// SIGTERM, then waits for a clean exit.
    fn stop(mut self) {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert_eq!(
                    status.code(),
                    Some(0),
                    "serve exits cleanly:\n{}",
                    self.log()
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "serve did not stop:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Waits up to `secs` seconds for `done`, polling every 100 ms.
fn wait_for(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A daily pipeline `id` with catchup over `[2025-01-01, end]`, loading `in.jsonl` (two rows)
/// with the run's `ds` into `schema.id` (append), retried once.
fn pipeline(id: &str, end: &str, schema: &str) -> String {
    serde_json::to_string_pretty(&json!({
        "dag_id": id,
        "schedule_interval": "@daily",
        "start_date": "2025-01-01",
        "end_date": end,
        "catchup": true,
        "max_active_runs": 2,
        "default_args": {"retries": 1, "retry_delay": 1},
        "source": {"type": "file", "path": "in.jsonl"},
        "transforms": [{"type": "add_column", "name": "ds", "value": "{{ ds }}"}],
        "destination": {"type": "postgres", "schema": schema, "table": id,
                        "write_mode": "append"},
    }))
    .expect("json")
}

/// A test's database: the destination schema, the state schema, a client and its runtime.
struct Db {
    rt: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
    schema: String,
    state: String,
}

impl Db {
    /// Fresh schemas for `test`, or `None` (outside CI) when the database is unreachable.
    fn open(test: &str) -> Option<Self> {
        let rt = support::runtime();
        let schema = format!("dft_scale_{test}");
        let state = format!("dft_scale_{test}_state");
        let client = test_db(&rt, &schema)?;
        rt.block_on(client.batch_execute(&format!("DROP SCHEMA IF EXISTS {state} CASCADE")))
            .expect("drop the state schema");
        Some(Self {
            rt,
            client,
            schema,
            state,
        })
    }

    fn query(&self, sql: &str) -> Vec<tokio_postgres::Row> {
        self.rt
            .block_on(self.client.query(sql, &[]))
            .unwrap_or_default()
    }

    fn count(&self, sql: &str) -> i64 {
        self.query(sql).first().map_or(0, |r| r.get(0))
    }

    /// `(pipeline, status, attempts)` of every recorded run.
    fn runs(&self) -> Vec<(String, String, i64)> {
        self.query(&format!(
            "SELECT pipeline_id, status, attempts FROM {}.runs ORDER BY pipeline_id, logical_date",
            self.state
        ))
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
    }

    /// The pid in the owner id (`host:pid:suffix`) of the claim of `pipeline` in `status`.
    fn owner_pid(&self, pipeline: &str, status: &str) -> Option<u32> {
        self.query(&format!(
            "SELECT owner FROM {}.run_claims WHERE pipeline_id = '{pipeline}' AND status = '{status}'",
            self.state
        ))
        .first()
        .and_then(|r| r.get::<_, Option<String>>(0))
        .and_then(|owner| owner.split(':').nth(1).and_then(|p| p.parse().ok()))
    }

    /// `(rows, distinct ds)` in the destination table `table` (0 before it exists).
    fn loaded(&self, table: &str) -> (i64, i64) {
        let exists = self.count(&format!(
            "SELECT count(*) FROM pg_tables WHERE schemaname = '{}' AND tablename = '{table}'",
            self.schema
        ));
        if exists == 0 {
            return (0, 0);
        }
        self.query(&format!(
            "SELECT count(*), count(DISTINCT ds) FROM {}.{table}",
            self.schema
        ))
        .first()
        .map_or((0, 0), |r| (r.get(0), r.get(1)))
    }

    fn drop(self) {
        self.rt
            .block_on(self.client.batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {} CASCADE; DROP SCHEMA IF EXISTS {} CASCADE",
                self.schema, self.state
            )))
            .expect("drop the test schemas");
    }
}

/// A directory with `in.jsonl` (two rows) and `pipelines/`.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "in.jsonl", "{\"id\": 1}\n{\"id\": 2}\n");
    std::fs::create_dir(dir.path().join("pipelines")).expect("mkdir");
    dir
}

#[test]
fn three_processes_run_sixty_due_runs_each_exactly_once() {
    const PIPELINES: usize = 4;
    const DAYS: i64 = 15;
    let Some(db) = Db::open("sixty") else {
        return;
    };
    let dir = workdir();
    let d = dir.path();
    for p in 0..PIPELINES {
        let id = format!("p{p}");
        write(
            &d.join("pipelines"),
            &format!("{id}.json"),
            &pipeline(&id, "2025-01-15", &db.schema),
        );
    }
    let total = PIPELINES as i64 * DAYS;
    let serves: Vec<Serve> = (0..3).map(|k| Serve::start(d, k, &db.state, &[])).collect();
    wait_for("60 successful runs", 45, || {
        db.runs().iter().filter(|r| r.1 == "success").count() as i64 >= total
    });
    for s in serves {
        s.stop();
    }

    let runs = db.runs();
    assert_eq!(
        runs.len() as i64,
        total,
        "one record per interval: {runs:?}"
    );
    assert!(
        runs.iter().all(|r| r.1 == "success" && r.2 == 1),
        "{runs:?}"
    );
    let intervals = db.count(&format!(
        "SELECT count(DISTINCT (pipeline_id, logical_date)) FROM {}.runs",
        db.state
    ));
    assert_eq!(intervals, total);
    for p in 0..PIPELINES {
        assert_eq!(
            db.loaded(&format!("p{p}")),
            (2 * DAYS, DAYS),
            "p{p}: each interval's two rows, once"
        );
    }
    let owners = db.count(&format!(
        "SELECT count(DISTINCT owner) FROM {}.run_claims WHERE status = 'success'",
        db.state
    ));
    assert!(
        owners > 1,
        "work spread over the processes ({owners} did it all)"
    );
    db.drop();
}

#[test]
fn a_run_whose_process_is_killed_completes_on_another_after_the_lease() {
    let Some(db) = Db::open("sigkill") else {
        return;
    };
    let dir = workdir();
    let d = dir.path();
    write(
        &d.join("pipelines"),
        "slow.json",
        &pipeline("slow", "2025-01-01", &db.schema),
    );
    let pause = [("DATAFORGE_TEST_PAUSE_BEFORE_COMMIT_MS", "3000")];
    let mut serves: Vec<Serve> = (0..2)
        .map(|k| Serve::start(d, k, &db.state, &pause))
        .collect();
    let mut owner = None;
    wait_for("a process to claim the run", 20, || {
        owner = db.owner_pid("slow", "running");
        owner.is_some()
    });
    let i = serves
        .iter()
        .position(|s| Some(s.pid()) == owner)
        .expect("the owner is one of the processes");
    let mut victim = serves.remove(i);
    // Inside the load's open transaction, right before its commit.
    wait_for("the run to reach its commit", 20, || {
        victim.log().contains("right before the load's commit")
    });
    victim.child.kill().expect("SIGKILL");
    victim.child.wait().expect("reaped");

    let survivor = serves.pop().expect("the other process");
    wait_for("the run to succeed on the other process", 30, || {
        db.runs().iter().any(|r| r.1 == "success")
    });
    assert_eq!(db.owner_pid("slow", "success"), Some(survivor.pid()));
    assert!(
        survivor
            .log()
            .contains("taking over a run whose lease lapsed"),
        "{}",
        survivor.log()
    );
    survivor.stop();
    assert_eq!(db.runs(), [("slow".to_owned(), "success".to_owned(), 2)]);
    assert_eq!(db.loaded("slow"), (2, 1), "the interval's rows, once");
    db.drop();
}

#[test]
fn a_process_stopped_past_its_lease_does_not_commit_a_second_copy() {
    let Some(db) = Db::open("sigstop") else {
        return;
    };
    let dir = workdir();
    let d = dir.path();
    write(
        &d.join("pipelines"),
        "slow.json",
        &pipeline("slow", "2025-01-01", &db.schema),
    );
    // Before the attempt opens anything, so the stopped process holds no lock the other needs.
    let pause = [("DATAFORGE_TEST_PAUSE_BEFORE_LOAD_MS", "2500")];
    let mut serves: Vec<Serve> = (0..2)
        .map(|k| Serve::start(d, k, &db.state, &pause))
        .collect();
    let mut owner = None;
    wait_for("a process to claim the run", 20, || {
        owner = db.owner_pid("slow", "running");
        owner.is_some()
    });
    let i = serves
        .iter()
        .position(|s| Some(s.pid()) == owner)
        .expect("the owner is one of the processes");
    let stopped = serves.remove(i);
    wait_for("the run to start its attempt", 20, || {
        stopped.log().contains("before the attempt opens anything")
    });
    stopped.signal("STOP");

    let other = serves.pop().expect("the other process");
    wait_for("the run to succeed on the other process", 30, || {
        db.runs().iter().any(|r| r.1 == "success")
    });
    assert_eq!(db.owner_pid("slow", "success"), Some(other.pid()));
    assert_eq!(db.loaded("slow"), (2, 1));

    stopped.signal("CONT");
    wait_for("the resumed process to end its attempt", 20, || {
        stopped.log().contains("its outcome is not recorded")
    });
    let log = stopped.log();
    assert!(log.contains("lease lost"), "{log}");
    stopped.stop();
    other.stop();
    assert_eq!(db.loaded("slow"), (2, 1), "no second copy");
    assert_eq!(db.runs(), [("slow".to_owned(), "success".to_owned(), 2)]);
    db.drop();
}
