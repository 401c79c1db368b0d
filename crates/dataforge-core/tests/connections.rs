//! An async connection provider that is first unavailable, then answers: `?` in the component
//! makes the failure retryable, and the run's retry succeeds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use dataforge_core::config::DefaultArgs;
use dataforge_core::test_utils::CollectingDestination;
use dataforge_core::{
    BatchSender, ComponentError, Connection, ConnectionError, ConnectionProvider, Pipeline,
    RunContext, RunOptions, RunStatus, Source, async_trait, record,
};

/// A secrets backend that is down for its first `down_for` calls.
struct FlakyVault {
    calls: AtomicU32,
    down_for: u32,
}

#[async_trait]
impl ConnectionProvider for FlakyVault {
    async fn connection(&self, conn_id: &str) -> Result<Connection, ConnectionError> {
        // A real backend awaits the network here.
        tokio::task::yield_now().await;
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.down_for {
            return Err(ConnectionError::unavailable(conn_id, "the vault is sealed"));
        }
        Connection::parse(conn_id, "https://api.example/v1")
    }
}

/// A source that needs its connection, and says where it points.
struct NeedsConnection(&'static str);

#[async_trait]
impl Source for NeedsConnection {
    async fn extract(&self, ctx: &RunContext, out: &mut BatchSender) -> Result<(), ComponentError> {
        let conn = ctx.connection(self.0).await?;
        let host = conn.host().unwrap_or_default().to_owned();
        out.send(vec![record! {"host" => host}]).await?;
        Ok(())
    }
}

fn pipeline(conn_id: &'static str, destination: CollectingDestination) -> Pipeline {
    Pipeline::builder("vault")
        .source(NeedsConnection(conn_id))
        .destination(destination)
        .default_args(DefaultArgs {
            retries: 2,
            retry_delay: Duration::ZERO,
            ..DefaultArgs::default()
        })
        .build()
        .expect("valid pipeline")
}

#[tokio::test]
async fn an_unavailable_connection_is_retried_until_the_provider_answers() {
    let vault = Arc::new(FlakyVault {
        calls: AtomicU32::new(0),
        down_for: 1,
    });
    let options = RunOptions {
        connections: vault.clone(),
        ..RunOptions::in_memory()
    };
    let destination = CollectingDestination::new();
    let report = pipeline("api", destination.clone()).run(&options).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(report.attempts, 2);
    assert_eq!(vault.calls.load(Ordering::SeqCst), 2);
    assert_eq!(destination.rows(), vec![record! {"host" => "api.example"}]);
}

#[tokio::test]
async fn a_missing_connection_is_fatal_and_not_retried() {
    let destination = CollectingDestination::new();
    let report = pipeline("nowhere", destination.clone())
        .run(&RunOptions::in_memory())
        .await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(report.attempts, 1, "retrying cannot define a connection");
    let error = report.error.expect("failed");
    assert!(!error.is_retryable());
    assert!(
        dataforge_core::error_chain(&error).contains("DATAFORGE_CONN_NOWHERE"),
        "{error}"
    );
}
