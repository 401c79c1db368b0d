//! Concurrent runs in one process share the transform worker pool: 50 runs at once start no
//! more worker threads than the pool has (one per core), not a pool per run. A test binary of its
//! own, so that no other test's threads are counted.
#![cfg(target_os = "linux")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dataforge_core::test_utils::{CollectingDestination, GeneratedSource};
use dataforge_core::{
    Batch, ComponentError, Pipeline, RowContext, RunOptions, Transform, WorkerPool, record,
};

/// The threads of this process whose name is a transform worker's (`dataforge-transform-N`,
/// cut to 15 bytes by the kernel).
fn worker_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|name| name.starts_with("dataforge-trans"))
        })
        .count()
}

/// Passes batches on, slowly enough that the runs overlap, noting the most worker threads seen.
struct Sample {
    peak: Arc<AtomicUsize>,
}

impl Transform for Sample {
    fn transform(&self, batch: Batch, _: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        std::thread::sleep(Duration::from_millis(1));
        self.peak.fetch_max(worker_threads(), Ordering::SeqCst);
        Ok(batch)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_runs_start_no_more_worker_threads_than_the_pool_has() {
    let peak = Arc::new(AtomicUsize::new(0));
    let dest = CollectingDestination::new();
    let p = Arc::new(
        Pipeline::builder("many")
            .source(GeneratedSource::new(2_000, |i| record! {"id" => i as i64}))
            .transform(Sample { peak: peak.clone() })
            .destination(dest.clone())
            .batch_size(100)
            .build()
            .expect("valid"),
    );
    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let p = p.clone();
        runs.spawn(async move { p.run(&RunOptions::in_memory()).await });
    }
    while let Some(report) = runs.join_next().await {
        let report = report.expect("the run's task ends");
        assert!(report.is_success(), "{:?}", report.error);
    }
    assert_eq!(dest.rows().len(), 50 * 2_000);
    let pool = WorkerPool::global().threads();
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    assert_eq!(pool, cores, "the default pool has a thread per core");
    let peak = peak.load(Ordering::SeqCst);
    assert!(
        (1..=pool).contains(&peak),
        "{peak} worker threads for 50 runs on a pool of {pool}"
    );
    assert!(worker_threads() <= pool);
}
