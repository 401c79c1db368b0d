//! Shared helpers for the destinations' integration tests (PostgreSQL and SQLite).
//!
//! The database comes from `DATAFORGE_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`; `scripts/test.sh` starts a throwaway server when
//! nothing answers there). Each test works in its own schema, dropped at the start (leftovers of
//! a failed run) and at the end. Under `CI=true` an unreachable database fails the test.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use dataforge_core::{
    BatchSender, ComponentError, Pipeline, Record, Registry, RunContext, RunOptions, RunReport,
    Source, StaticConnections, async_trait,
};
#[cfg(feature = "postgres")]
use postgres_protocol::escape::escape_identifier;
#[cfg(feature = "postgres")]
use tokio_postgres::Client;

/// The test database URL.
pub fn database_url() -> String {
    std::env::var("DATAFORGE_TEST_DATABASE_URL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A client and a fresh schema for one test.
#[cfg(feature = "postgres")]
pub struct TestDb {
    /// The database URL.
    pub url: String,
    /// This test's schema.
    pub schema: String,
    /// A client for checks.
    pub client: Client,
}

/// Connects to the test database, or returns `None` (with a loud message) when it is not
/// reachable outside CI. Under `CI=true` an unreachable database panics.
#[cfg(feature = "postgres")]
pub async fn connect(url: &str) -> Option<Client> {
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

#[cfg(feature = "postgres")]
impl TestDb {
    /// A fresh schema named after the test.
    pub async fn new(test: &str) -> Option<TestDb> {
        let url = database_url();
        let client = connect(&url).await?;
        let schema = format!("dft_{test}");
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}",
                escape_identifier(&schema)
            ))
            .await
            .expect("create the test schema");
        Some(TestDb {
            url,
            schema,
            client,
        })
    }

    /// `"schema"."table"`.
    pub fn qualified(&self, table: &str) -> String {
        format!(
            "{}.{}",
            escape_identifier(&self.schema),
            escape_identifier(table)
        )
    }

    /// One `bigint` from a query.
    pub async fn count(&self, sql: &str) -> i64 {
        self.client
            .query_one(sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .get(0)
    }

    /// Rows in a table.
    pub async fn rows(&self, table: &str) -> i64 {
        self.count(&format!("SELECT count(*) FROM {}", self.qualified(table)))
            .await
    }

    /// `(column, format_type)` of a table, in order.
    pub async fn columns(&self, table: &str) -> Vec<(String, String)> {
        self.client
            .query(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) \
                 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped \
                 ORDER BY a.attnum",
                &[&self.schema, &table],
            )
            .await
            .expect("columns")
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }

    /// The names of every relation in the schema, sorted.
    pub async fn relations(&self) -> Vec<String> {
        self.client
            .query(
                "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 ORDER BY 1",
                &[&self.schema],
            )
            .await
            .expect("relations")
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    /// A destination config for this schema (`extra` keys merged in).
    pub fn config(&self, table: &str, extra: serde_json::Value) -> serde_json::Value {
        let mut v = serde_json::json!({"type": "postgres", "schema": self.schema, "table": table});
        if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
            o.extend(e);
        }
        v
    }

    /// Runs `source` into the destination described by `config`.
    pub async fn run(
        &self,
        config: serde_json::Value,
        source: impl Source,
        batch_size: usize,
    ) -> RunReport {
        run_with_url(&self.url, config, source, batch_size).await
    }

    /// Drops the schema.
    pub async fn drop(self) {
        self.client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {} CASCADE",
                escape_identifier(&self.schema)
            ))
            .await
            .expect("drop the test schema");
    }
}

/// Runs `source` into a destination built through the registry, against `url`.
pub async fn run_with_url(
    url: &str,
    config: serde_json::Value,
    source: impl Source,
    batch_size: usize,
) -> RunReport {
    let connections = StaticConnections::new()
        .with("postgres_default", url)
        .expect("connection");
    let opts = RunOptions {
        connections: Arc::new(connections),
        ..RunOptions::in_memory()
    };
    run_config(config, source, batch_size, &opts).await
}

/// Runs `source` into a destination built from `config` through the registry.
pub async fn run_config(
    config: serde_json::Value,
    source: impl Source,
    batch_size: usize,
    opts: &RunOptions,
) -> RunReport {
    let mut registry = Registry::new();
    dataforge_destinations::register(&mut registry).expect("register");
    let destination = registry
        .build_destination(&config)
        .unwrap_or_else(|e| panic!("destination config: {e}"));
    let pipeline = Pipeline::builder("destination_test")
        .source(source)
        .destination(destination)
        .batch_size(batch_size)
        .build()
        .expect("pipeline");
    pipeline.run(opts).await
}

/// Starts this test binary again, running only `test`, with `env` set: the child side of a
/// test that kills a load mid-way (the test checks `env` to know which side it is).
pub fn spawn_test_child(test: &str, env: &[(&str, &std::ffi::OsStr)]) -> std::process::Child {
    let exe = std::env::current_exe().expect("test binary");
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .stdout(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn child")
}

/// The error of a failed run, with its causes, or a panic when it succeeded.
pub fn failure(report: &RunReport) -> String {
    dataforge_core::error_chain(report.error.as_ref().expect("the run should have failed"))
}

/// A source that sends `batches` batches of `rows` rows, sleeping `delay` before each.
pub struct SlowSource<F> {
    /// Batches to send.
    pub batches: u64,
    /// Rows per batch.
    pub rows: u64,
    /// Pause before each batch.
    pub delay: Duration,
    /// Row `i` (from 0).
    pub make: F,
}

#[async_trait]
impl<F: Fn(u64) -> Record + Send + Sync + 'static> Source for SlowSource<F> {
    async fn extract(
        &self,
        _ctx: &RunContext,
        out: &mut BatchSender,
    ) -> Result<(), ComponentError> {
        for b in 0..self.batches {
            tokio::time::sleep(self.delay).await;
            let start = b * self.rows;
            out.send((start..start + self.rows).map(&self.make).collect())
                .await?;
        }
        Ok(())
    }
}
