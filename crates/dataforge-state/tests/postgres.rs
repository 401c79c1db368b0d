//! The state-store suite against PostgreSQL (a fresh schema per test), plus PostgreSQL's own
//! tests: migrations by two stores and by two processes at once, and the CI rule.
//!
//! The database comes from `DATAFORGE_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); under `CI=true` an unreachable one fails.

mod support;

use std::sync::Arc;

use dataforge_core::{State, StateStore};
use dataforge_state::{PostgresStateStore, SCHEMA_VERSION};
use support::Fixture;

/// A fresh schema for `test`: dropped first (leftovers of a failed run); the store creates it.
async fn fresh_schema(test: &str) -> Option<(String, String, tokio_postgres::Client)> {
    let url = support::database_url();
    let client = support::pg_connect(&url).await?;
    let schema = format!("dfs_{test}");
    support::drop_schema(&client, &schema).await;
    Some((url, schema, client))
}

async fn open(test: &str) -> Option<Fixture> {
    let (url, schema, _client) = fresh_schema(test).await?;
    let store = PostgresStateStore::connect_in_schema(&url, &schema)
        .await
        .expect("connect");
    assert_eq!(store.schema(), schema);
    Some(Fixture {
        store: Arc::new(store),
        keep: None,
        schema: Some((url, schema)),
    })
}

state_store_suite!(open);

/// The versions in `schema_migrations`, in order.
async fn versions(client: &tokio_postgres::Client, schema: &str) -> Vec<i64> {
    client
        .query(
            &format!(
                "SELECT version FROM {}.schema_migrations ORDER BY version",
                postgres_protocol::escape::escape_identifier(schema)
            ),
            &[],
        )
        .await
        .expect("schema_migrations")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn all_versions() -> Vec<i64> {
    (1..=SCHEMA_VERSION).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_connecting_to_a_fresh_schema_at_once_migrate_it_once() {
    for i in 0..5 {
        let Some((url, schema, client)) = fresh_schema(&format!("two_stores_{i}")).await else {
            return;
        };
        let (a, b) = tokio::join!(
            PostgresStateStore::connect_in_schema(&url, &schema),
            PostgresStateStore::connect_in_schema(&url, &schema)
        );
        let (a, b) = (a.expect("first"), b.expect("second"));
        assert_eq!(versions(&client, &schema).await, all_versions());
        let mut s = State::new();
        s.insert("k".into(), 1.into());
        a.save("p", &s).await.expect("save");
        assert_eq!(b.load("p").await.expect("load"), s);
        drop(
            PostgresStateStore::connect_in_schema(&url, &schema)
                .await
                .expect("again"),
        );
        assert_eq!(versions(&client, &schema).await, all_versions());
        support::drop_schema(&client, &schema).await;
    }
}

const CHILD_SCHEMA: &str = "DATAFORGE_STATE_TEST_CHILD_SCHEMA";

/// The child side of `two_processes_connecting_to_a_fresh_schema_at_once_migrate_it_once`:
/// connects to the schema named by the variable, records a run (a no-op when run on its own).
#[tokio::test]
async fn child_connects_to_the_schema() {
    let Ok(schema) = std::env::var(CHILD_SCHEMA) else {
        return;
    };
    let store = PostgresStateStore::connect_in_schema(&support::database_url(), &schema)
        .await
        .expect("child connect");
    let run = dataforge_core::RunRecord::new(
        "p",
        format!("run-{}", std::process::id()),
        support::at(1, 0),
        dataforge_core::RunTrigger::Manual,
    );
    store.record_run(&run).await.expect("child record");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_connecting_to_a_fresh_schema_at_once_migrate_it_once() {
    for i in 0..3 {
        let Some((_url, schema, client)) = fresh_schema(&format!("two_processes_{i}")).await else {
            return;
        };
        let children: Vec<_> = (0..2)
            .map(|_| {
                support::spawn_test_child(
                    "child_connects_to_the_schema",
                    &[(CHILD_SCHEMA, schema.as_str())],
                )
            })
            .collect();
        tokio::task::spawn_blocking(move || {
            for child in children {
                support::expect_success(child);
            }
        })
        .await
        .expect("children");
        assert_eq!(versions(&client, &schema).await, all_versions());
        let runs: i64 = client
            .query_one(
                &format!(
                    "SELECT count(*) FROM {}.runs",
                    postgres_protocol::escape::escape_identifier(&schema)
                ),
                &[],
            )
            .await
            .expect("count")
            .get(0);
        assert_eq!(runs, 2, "each process recorded its run");
        support::drop_schema(&client, &schema).await;
    }
}

#[tokio::test]
async fn the_default_schema_is_dataforge() {
    assert_eq!(PostgresStateStore::DEFAULT_SCHEMA, "dataforge");
}

#[tokio::test]
async fn an_unreachable_server_is_a_retryable_error_without_the_password() {
    let e = PostgresStateStore::connect("postgres://u:secret-pw@127.0.0.1:1/db?sslmode=disable")
        .await
        .expect_err("nothing listens on port 1");
    assert!(e.is_retryable(), "{e}");
    let chain = dataforge_core::error_chain(&e);
    assert!(!chain.contains("secret-pw"), "{chain}");
    let Err(e) =
        dataforge_state::open_state_store(Some("not a uri"), std::path::Path::new(".")).await
    else {
        panic!("a bad URI must be refused");
    };
    assert!(e.to_string().contains("DATAFORGE_STATE_URL"), "{e}");
}

#[test]
fn a_missing_database_fails_under_ci_and_is_skipped_outside() {
    if std::env::var_os("DATAFORGE_STATE_TEST_CHILD_CI").is_some() {
        return;
    }
    let bad = [
        (
            "DATAFORGE_TEST_DATABASE_URL",
            "postgres://postgres@127.0.0.1:1/test?sslmode=disable",
        ),
        ("DATAFORGE_STATE_TEST_CHILD_CI", "1"),
    ];
    let under_ci =
        support::spawn_test_child("cursors_round_trip", &[bad[0], bad[1], ("CI", "true")])
            .wait_with_output()
            .expect("child");
    assert!(
        !under_ci.status.success(),
        "CI=true must fail without a database"
    );
    let outside =
        support::spawn_test_child("cursors_round_trip", &[bad[0], bad[1], ("CI", "false")])
            .wait_with_output()
            .expect("child");
    assert!(outside.status.success(), "skipped outside CI");
    assert!(String::from_utf8_lossy(&outside.stderr).contains("SKIPPING"));
}
