//! Batches a source defers ([`DeferredBatch`]): decoded by the runner on the worker that then
//! transforms them, in order, counted, and a decoding error charged to the source.

use async_trait::async_trait;

use super::*;
use crate::component::{RowContext, Source, Transform};
use crate::error::error_chain;
use crate::record;
use crate::stream::{Batch, BatchSender, DeferredBatch};
use crate::test_utils::CollectingDestination;
use crate::value::Value;

/// Sends `n` rows `{"id", "decoded_on": thread id, "decoded_by": thread name}` as deferred batches of the run's batch size; decoding
/// the batch that holds `bad` fails.
struct DeferringSource {
    n: i64,
    bad: Option<i64>,
    /// Decoding the batch that holds `bad` panics instead of failing.
    panics: bool,
}

impl DeferringSource {
    /// `n` rows that all decode.
    fn good(n: i64) -> Self {
        Self {
            n,
            bad: None,
            panics: false,
        }
    }
}

#[async_trait]
impl Source for DeferringSource {
    async fn extract(&self, ctx: &RunContext, out: &mut BatchSender) -> Result<(), ComponentError> {
        let size = ctx.batch_size() as i64;
        let (bad, panics) = (self.bad, self.panics);
        for start in (0..self.n).step_by(ctx.batch_size()) {
            let ids = start..(start + size).min(self.n);
            out.send_deferred(DeferredBatch::new(move || {
                if let Some(bad) = bad.filter(|b| ids.contains(b)) {
                    assert!(!panics, "row {bad} broke the decoder");
                    return Err(ComponentError::fatal_msg(format!("row {bad} is not JSON")));
                }
                let here = std::thread::current();
                let on = format!("{:?}", here.id());
                let by = here.name().unwrap_or("unnamed");
                Ok(ids
                    .map(|i| record! {"id" => i, "decoded_on" => on.as_str(), "decoded_by" => by})
                    .collect())
            }))
            .await?;
        }
        Ok(())
    }
}

/// Rejects every row not decoded on the thread that transforms it.
struct SameThread;

impl Transform for SameThread {
    fn transform(&self, batch: Batch, rows: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        let here = format!("{:?}", std::thread::current().id());
        let mut out = Vec::with_capacity(batch.len());
        for r in batch {
            match r.get("decoded_on").and_then(Value::as_str) {
                Some(on) if on == here => out.push(r),
                other => {
                    let reason = format!("decoded on {other:?}, transformed on {here}");
                    rows.reject(r, reason);
                }
            }
        }
        Ok(out)
    }
}

fn pipeline(source: DeferringSource, with_transform: bool) -> (Pipeline, CollectingDestination) {
    let dest = CollectingDestination::new();
    let mut b = Pipeline::builder("deferred").source(source).batch_size(100);
    if with_transform {
        b = b.transform(SameThread);
    }
    let p = b.destination(dest.clone()).build().expect("valid");
    (p, dest)
}

fn ids(dest: &CollectingDestination) -> Vec<i64> {
    dest.rows()
        .iter()
        .map(|r| r.get("id").and_then(Value::as_i64).unwrap_or(-1))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_batches_are_decoded_on_the_worker_that_transforms_them_in_order() {
    let (p, dest) = pipeline(DeferringSource::good(5_050), true);
    let report = p.run(&RunOptions::in_memory()).await;
    // `SameThread` fails the run (on_error fail) on a row decoded on another thread.
    assert!(report.is_success(), "{:?}", report.error);
    assert_eq!(ids(&dest), (0..5_050).collect::<Vec<_>>());
    assert_eq!(report.rows_extracted, 5_050);
    assert_eq!(report.rows_loaded, 5_050);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_batches_are_decoded_with_no_transforms_too() {
    let (p, dest) = pipeline(DeferringSource::good(1_234), false);
    let report = p.run(&RunOptions::in_memory()).await;
    assert!(report.is_success(), "{:?}", report.error);
    assert_eq!(ids(&dest), (0..1_234).collect::<Vec<_>>());
    assert_eq!(report.rows_extracted, 1_234);
    // On the transform workers, not on the runtime's threads.
    for r in dest.rows() {
        let by = r.get("decoded_by").and_then(Value::as_str).unwrap_or("");
        assert!(by.starts_with("dataforge-transform-"), "decoded by {by}");
    }
}

#[tokio::test]
async fn a_decoding_error_or_panic_fails_the_run_as_the_sources_and_loads_nothing() {
    for (with_transform, panics) in [(true, false), (false, false), (true, true)] {
        let source = DeferringSource {
            n: 1_000,
            bad: Some(567),
            panics,
        };
        let (p, dest) = pipeline(source, with_transform);
        let report = p.run(&RunOptions::in_memory()).await;
        assert_eq!(report.status, RunStatus::Failed);
        let text = error_chain(report.error.as_ref().expect("error"));
        let cause = if panics {
            "decoding a batch panicked: row 567 broke the decoder"
        } else {
            "row 567 is not JSON"
        };
        assert!(
            text.contains(&format!("source `DeferringSource` failed: {cause}")),
            "{text}"
        );
        assert!(dest.rows().is_empty());
        assert_eq!(dest.rollbacks(), 1);
    }
}
