//! Concurrent runs of one `Pipeline` each own their transforms' state: eight runs of one
//! `deduplicate` (or `validate` `unique`) pipeline at once each load their full result.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use dataforge_core::test_utils::GeneratedSource;
use dataforge_core::{
    BatchReceiver, ComponentError, Destination, LoadSummary, OnError, Pipeline, Record, Registry,
    RunContext, RunOptions, Value, async_trait, record,
};
use serde_json::json;

/// Rows per run.
const ROWS: u64 = 10_000;
/// Distinct keys among them: every key repeats.
const KEYS: u64 = 2_500;
/// Runs at once.
const RUNS: usize = 8;

/// Commits each run's rows apart, by run id, on a clean end only.
#[derive(Clone, Default)]
struct PerRunDestination {
    committed: Arc<Mutex<HashMap<String, Vec<Record>>>>,
}

impl PerRunDestination {
    fn runs(&self) -> HashMap<String, Vec<Record>> {
        self.committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl Destination for PerRunDestination {
    async fn load(
        &self,
        input: &mut BatchReceiver,
        ctx: &RunContext,
    ) -> Result<LoadSummary, ComponentError> {
        let mut rows = Vec::new();
        while let Some(batch) = input.recv().await? {
            rows.extend(batch);
            // Let the other runs' batches in between.
            tokio::task::yield_now().await;
        }
        let n = rows.len() as u64;
        self.committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(ctx.run_id().to_owned(), rows);
        Ok(LoadSummary::new("per run", n))
    }
}

fn pipeline(transform: serde_json::Value, on_error: OnError, dest: &PerRunDestination) -> Pipeline {
    let mut registry = Registry::new();
    dataforge_transforms::register(&mut registry).expect("registers");
    let (t, _) = registry
        .build_transform(&transform)
        .expect("valid config")
        .into_parts();
    Pipeline::builder("concurrent")
        .source(GeneratedSource::new(
            ROWS,
            |i| record! {"id" => (i % KEYS) as i64, "n" => i as i64},
        ))
        .batch_size(100)
        .transform_with(t, on_error)
        .destination(dest.clone())
        .build()
        .expect("pipeline")
}

/// Runs `p` [`RUNS`] times at once (one pipeline object, shared); every run must succeed.
async fn run_concurrently(p: Pipeline) {
    let p = Arc::new(p);
    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..RUNS {
        let p = p.clone();
        runs.spawn(async move { p.run(&RunOptions::in_memory()).await });
    }
    while let Some(report) = runs.join_next().await {
        let report = report.expect("the run's task ends");
        assert!(report.is_success(), "{:?}", report.error);
    }
}

fn ns(rows: &[Record]) -> Vec<i64> {
    rows.iter()
        .map(|r| r.get("n").and_then(Value::as_i64).unwrap_or(-1))
        .collect()
}

/// Runs one pipeline of `transform` [`RUNS`] times at once and checks that every run loaded
/// exactly the rows whose `n` are `expected`, in order.
async fn each_run_loads(transform: serde_json::Value, on_error: OnError, expected: &[i64]) {
    let dest = PerRunDestination::default();
    run_concurrently(pipeline(transform, on_error, &dest)).await;
    let runs = dest.runs();
    assert_eq!(runs.len(), RUNS);
    let counts: Vec<usize> = runs.values().map(Vec::len).collect();
    for rows in runs.values() {
        assert_eq!(ns(rows), expected, "rows per run: {counts:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_runs_of_deduplicate_keep_last_each_load_every_key() {
    // The last row of key k is the last i with i % KEYS == k, in first-seen order (k).
    let expected: Vec<i64> = (0..KEYS).map(|k| (ROWS - KEYS + k) as i64).collect();
    let transform = json!({"type": "deduplicate", "keys": ["id"], "keep": "last"});
    each_run_loads(transform, OnError::Fail, &expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_runs_of_deduplicate_keep_first_each_load_every_key() {
    let expected: Vec<i64> = (0..KEYS as i64).collect();
    let transform = json!({"type": "deduplicate", "keys": ["id"], "keep": "first"});
    each_run_loads(transform, OnError::Fail, &expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_runs_of_validate_unique_each_keep_the_first_of_every_key() {
    let expected: Vec<i64> = (0..KEYS as i64).collect();
    let transform = json!({"type": "validate", "rules": {"id": {"unique": true}}});
    each_run_loads(transform, OnError::Skip, &expected).await;
}
