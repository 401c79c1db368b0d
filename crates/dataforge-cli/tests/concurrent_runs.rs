//! Simultaneous `dataforge run` processes loading one target take turns: four `replace` runs
//! into one PostgreSQL table (with and without a primary key) or one SQLite table leave exactly
//! one run's rows, every time.

use std::path::Path;
use std::process::{Command, Output};

use dataforge_core::Connection;

/// Rows each run loads.
const ROWS: usize = 3000;
/// Runs started at once.
const RUNS: usize = 4;
/// Rounds of simultaneous runs per target.
const TRIALS: usize = 10;

fn database_url() -> String {
    std::env::var("DATAFORGE_TEST_DATABASE_URL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Writes `RUNS` pipelines `p{k}.json`, each loading its own rows (tagged `run = k`) into
/// `destination`, and their data files.
fn write_pipelines(dir: &Path, destination: &serde_json::Value) {
    for k in 0..RUNS {
        let data: String = (0..ROWS)
            .map(|i| format!("{{\"id\":{i},\"run\":{k},\"note\":\"row {i} of run {k}\"}}\n"))
            .collect();
        std::fs::write(dir.join(format!("rows{k}.jsonl")), data).expect("data");
        let pipeline = serde_json::json!({
            "dag_id": format!("concurrent_{k}"),
            "source": {"type": "file", "path": format!("rows{k}.jsonl")},
            "destination": destination,
        });
        std::fs::write(dir.join(format!("p{k}.json")), pipeline.to_string()).expect("pipeline");
    }
}

/// Starts every pipeline at once and waits for them all.
fn run_all(dir: &Path, url: &str) -> Vec<Output> {
    let children: Vec<_> = (0..RUNS)
        .map(|k| {
            Command::new(env!("CARGO_BIN_EXE_dataforge"))
                .args(["run", &format!("p{k}.json")])
                .current_dir(dir)
                .env("DATAFORGE_HOME", dir.join(".dataforge"))
                .env("DATAFORGE_CONN_POSTGRES_DEFAULT", url)
                .env_remove("DATAFORGE_LOG")
                .env_remove("DATAFORGE_STATE_URL")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn dataforge")
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait"))
        .collect()
}

fn all_succeeded(outputs: &[Output]) {
    for o in outputs {
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn simultaneous_replace_runs_into_one_postgres_table_leave_one_runs_rows() {
    let url = database_url();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let conn = Connection::parse("test", &url).expect("DATAFORGE_TEST_DATABASE_URL is a URI");
    let client = match runtime.block_on(dataforge_hooks::postgres::connect(&conn)) {
        Ok(c) => c,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("PostgreSQL test database not reachable: {e}")
        }
        Err(e) => {
            eprintln!("\n!!! SKIPPING: PostgreSQL test database not reachable: {e}\n");
            return;
        }
    };
    let schema = "dft_cli_concurrent";
    runtime
        .block_on(client.batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        )))
        .expect("schema");
    for (table, key) in [("no_key", None), ("with_key", Some("id"))] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut destination = serde_json::json!({
            "type": "postgres", "schema": schema, "table": table, "write_mode": "replace"
        });
        if let Some(key) = key {
            destination["primary_key"] = key.into();
        }
        write_pipelines(dir.path(), &destination);
        for trial in 0..TRIALS {
            all_succeeded(&run_all(dir.path(), &url));
            let row = runtime
                .block_on(client.query_one(
                    &format!("SELECT count(*), count(DISTINCT run) FROM {schema}.{table}"),
                    &[],
                ))
                .expect("count");
            let (rows, runs): (i64, i64) = (row.get(0), row.get(1));
            assert_eq!(
                (rows, runs),
                (ROWS as i64, 1),
                "{table}, trial {trial}: the table holds exactly one run's rows"
            );
        }
    }
    runtime
        .block_on(client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")))
        .expect("drop schema");
}

#[test]
fn simultaneous_replace_runs_into_one_sqlite_table_leave_one_runs_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let destination = serde_json::json!({
        "type": "sqlite", "path": "target.db", "table": "orders", "write_mode": "replace"
    });
    write_pipelines(dir.path(), &destination);
    for trial in 0..TRIALS {
        all_succeeded(&run_all(dir.path(), "postgres://unused"));
        let (rows, runs): (i64, i64) = rusqlite::Connection::open(dir.path().join("target.db"))
            .expect("open")
            .query_row(
                "SELECT count(*), count(DISTINCT run) FROM orders",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("count");
        assert_eq!(
            (rows, runs),
            (ROWS as i64, 1),
            "trial {trial}: the table holds exactly one run's rows"
        );
    }
}
