//! The crate as a downstream service uses it, with dataforge-core only (no other component
//! crate, no test helpers): its generated `register`, an async connection provider that is
//! first unavailable, state kept between runs, `build_transform` with `on_error`, and the
//! `Value` conversions.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use dataforge_core::{
    ComponentKind, Connection, ConnectionError, ConnectionProvider, Decimal, MemoryStateStore,
    OnError, Pipeline, Record, Registry, RowContext, RunContext, RunOptions, RunStatus, Value,
    async_trait, error_chain, record, serde_json::json,
};

/// A secrets backend that is down for its first call.
#[derive(Default)]
struct Vault {
    calls: AtomicU32,
}

#[async_trait]
impl ConnectionProvider for Vault {
    async fn connection(&self, conn_id: &str) -> Result<Connection, ConnectionError> {
        tokio::task::yield_now().await;
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(ConnectionError::unavailable(conn_id, "the vault is sealed"));
        }
        Connection::parse(conn_id, "https://numbers.example/v1")
    }
}

fn registry() -> Registry {
    let mut registry = Registry::new();
    dataforge_example_custom_component::register(&mut registry).expect("registers");
    registry
}

fn pipeline(registry: &Registry, output: &std::path::Path) -> Pipeline {
    Pipeline::builder("numbers")
        .source(
            registry
                .build_source(&json!({"type": "sequence", "conn_id": "numbers", "rows": 3}))
                .expect("source"),
        )
        .built_transform(
            registry
                .build_transform(
                    &json!({"type": "uppercase", "columns": ["host"], "on_error": "skip"}),
                )
                .expect("transform"),
        )
        .destination(
            registry
                .build_destination(&json!({"type": "markdown_table", "path": output}))
                .expect("destination"),
        )
        .default_args(dataforge_core::config::DefaultArgs {
            retries: 1,
            retry_delay: std::time::Duration::ZERO,
            ..Default::default()
        })
        .build()
        .expect("pipeline")
}

#[test]
fn register_is_generated_from_the_crate_s_macros() {
    let r = registry();
    assert_eq!(r.names(ComponentKind::Source), ["sequence"]);
    assert_eq!(r.names(ComponentKind::Transform), ["uppercase"]);
    assert_eq!(r.names(ComponentKind::Destination), ["markdown_table"]);
    // Registering again, or over the link-time registry, is a no-op.
    let mut again = r.clone();
    dataforge_example_custom_component::register(&mut again).expect("no duplicate");
    let mut linked = Registry::global().expect("this crate is linked").clone();
    dataforge_example_custom_component::register(&mut linked).expect("no duplicate");
    // An unknown type says how to link a crate.
    let e = r
        .build_transform(&json!({"type": "uppercas"}))
        .expect_err("unknown")
        .to_string();
    assert!(e.contains("did you mean `uppercase`"), "{e}");
    assert!(e.contains("use my_components as _;"), "{e}");
}

#[tokio::test]
async fn the_run_retries_an_unavailable_connection_and_keeps_its_cursor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = dir.path().join("numbers.md");
    let registry = registry();
    let vault = Arc::new(Vault::default());
    let options = RunOptions {
        connections: vault.clone(),
        state_store: Arc::new(MemoryStateStore::default()),
        ..RunOptions::in_memory()
    };
    let p = pipeline(&registry, &output);
    let first = p.run(&options).await;
    let why = first
        .error
        .as_ref()
        .map(|e| error_chain(e))
        .unwrap_or_default();
    assert_eq!(first.status, RunStatus::Succeeded, "{why}");
    assert_eq!((first.attempts, first.rows_loaded), (2, 3), "one retry");
    let table = std::fs::read_to_string(&output).expect("written");
    assert!(table.starts_with("| id | price | at | host |\n"), "{table}");
    assert!(table.contains("| 1 | 2.50 |"), "{table}");
    assert!(table.contains("| NUMBERS.EXAMPLE |"), "{table}");

    // The cursor was saved with the commit: the next run goes on from 4.
    let second = p.run(&options).await;
    assert_eq!(second.status, RunStatus::Succeeded);
    let table = std::fs::read_to_string(&output).expect("written");
    assert!(table.contains("| 4 | 10.00 |"), "{table}");
    assert!(!table.contains("| 1 | 2.50 |"), "{table}");
}

#[tokio::test]
async fn a_missing_connection_fails_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = pipeline(&registry(), &dir.path().join("x.md"));
    // EnvConnections: DATAFORGE_CONN_NUMBERS is not set in tests.
    let report = p.run(&RunOptions::in_memory()).await;
    assert_eq!((report.status, report.attempts), (RunStatus::Failed, 1));
}

#[test]
fn values_convert_and_records_index_by_column() {
    let step = registry()
        .build_transform(
            &json!({"type": "uppercase", "columns": ["name"], "on_error": "dead_letter"}),
        )
        .expect("valid");
    assert_eq!(step.on_error, OnError::DeadLetter);
    let run = RunContext::builder("values").build();
    let mut rows = RowContext::new(&run);
    let out = step
        .component
        .transform(
            vec![
                record! {"name" => "ada", "visits" => 3u64, "balance" => Decimal::new(1050, 2)},
                record! {"name" => 7},
            ],
            &mut rows,
        )
        .expect("transforms");
    let row = &out[0];
    assert_eq!(<&str>::try_from(&row["name"]), Ok("ADA"));
    assert_eq!(u64::try_from(&row["visits"]), Ok(3));
    assert_eq!(
        Decimal::try_from(&row["balance"]),
        Ok(Decimal::new(1050, 2))
    );
    let e = i64::try_from(&row["name"]).expect_err("a string");
    assert_eq!(e.to_string(), "expected i64, found string");
    let json = dataforge_core::serde_json::Value::from(row.clone());
    assert_eq!(
        json,
        json!({"name": "ADA", "visits": 3, "balance": "10.50"})
    );
    let back = Record::try_from(json).expect("an object");
    assert_eq!(back["visits"], Value::from(3u64));
    assert_eq!(rows.take_rejected().len(), 1);
}
