//! Embedding DataForge: a pipeline built in code, with a registered source and destination
//! and a transform written inline, run on the application's own tokio runtime.
//!
//! Run from the repository root: `cargo run -p dataforge-example-embedding`.
#![allow(clippy::print_stdout)] // An example program: it reports to its user on stdout.

// Link the component crates so their registrations are found (see the registry docs).
use dataforge_destinations as _;
use dataforge_sources as _;

use dataforge_core::{
    Batch, ComponentError, Pipeline, Registry, RowContext, RunOptions, Transform, Value,
};
use serde_json::json;

/// Keeps paid orders; rejects rows without a status (counted in the report).
struct PaidOnly;

impl Transform for PaidOnly {
    fn transform(&self, batch: Batch, rows: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        let mut out = Vec::with_capacity(batch.len());
        for record in batch {
            match record.get("financial_status").and_then(Value::as_str) {
                Some("paid") => out.push(record),
                Some(_) => {}
                None => rows.reject(record, "no financial_status"),
            }
        }
        Ok(out)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let registry = Registry::global()?;
    let pipeline = Pipeline::builder("embedded_paid_orders")
        .source(registry.build_source(&json!({
            "type": "file", "path": "examples/quickstart/data/orders.jsonl"
        }))?)
        .transform_with(PaidOnly, dataforge_core::OnError::Skip)
        .destination(registry.build_destination(&json!({
            "type": "file", "path": "target/embedding/paid_orders.jsonl"
        }))?)
        .batch_size(500)
        .build()?;

    let report = pipeline.run(&RunOptions::default()).await.into_result()?;
    println!(
        "{} rows read, {} paid orders written to {}",
        report.rows_extracted,
        report.rows_loaded,
        report.load.map(|l| l.target).unwrap_or_default()
    );
    Ok(())
}
