//! Helpers shared by the CLI tests that run the `dataforge` binary against local fakes and
//! the test database.
#![allow(dead_code, clippy::unwrap_used)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dataforge_core::Connection;

/// Runs `dataforge args…` in `dir`, state under `dir/.dataforge`, with `env` set and the
/// caller's `DATAFORGE_*`/`AIRFLOW_CONN_*` connections and log and state settings removed.
pub fn dataforge(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dataforge"));
    cmd.args(args)
        .current_dir(dir)
        .env("DATAFORGE_HOME", dir.join(".dataforge"))
        .env_remove("DATAFORGE_LOG")
        .env_remove("DATAFORGE_STATE_URL");
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("DATAFORGE_CONN_") || name.starts_with("AIRFLOW_CONN_") {
            cmd.env_remove(name.as_ref());
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

/// A multi-threaded runtime: the fake's listeners run on its workers while the test thread
/// waits for the `dataforge` process.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write");
    path
}

/// The test database URL.
pub fn database_url() -> String {
    std::env::var("DATAFORGE_TEST_DATABASE_URL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A client of the test database and a fresh schema, or `None` (with a loud message) when the
/// database is unreachable outside CI; under `CI=true` an unreachable database fails the test.
pub fn test_db(rt: &tokio::runtime::Runtime, schema: &str) -> Option<tokio_postgres::Client> {
    let url = database_url();
    let conn = Connection::parse("test", &url).expect("DATAFORGE_TEST_DATABASE_URL is a URI");
    let client = match rt.block_on(dataforge_hooks::postgres::connect(&conn)) {
        Ok(c) => c,
        Err(e) => {
            let msg = format!(
                "PostgreSQL test database not reachable at {}: {e}. Run `scripts/test.sh`, \
                 which starts a throwaway server, or set DATAFORGE_TEST_DATABASE_URL.",
                conn.redacted()
            );
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!("{msg}");
            }
            eprintln!("\n\n!!! SKIPPING: {msg}\n");
            return None;
        }
    };
    rt.block_on(client.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    )))
    .expect("create the test schema");
    Some(client)
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// A pipeline file in the original's shape (`dag_id`, daily, retries, `tags` = [`tag`, test])
/// around `source`, `transforms` and `destination`.
pub fn pipeline_file(
    dag_id: &str,
    tag: &str,
    description: &str,
    source: serde_json::Value,
    transforms: serde_json::Value,
    destination: serde_json::Value,
) -> String {
    serde_json::to_string_pretty(&serde_json::json!({
        "dag_id": dag_id,
        "description": description,
        "schedule_interval": "@daily",
        "start_date": "2025-01-01",
        "catchup": false,
        "tags": [tag, "test"],
        "default_args": {"owner": "data", "retries": 2, "retry_delay": 1,
                         "retry_exponential_backoff": true},
        "source": source,
        "transforms": transforms,
        "destination": destination,
    }))
    .expect("json")
}
