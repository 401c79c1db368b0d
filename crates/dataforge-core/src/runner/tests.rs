use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::*;
use crate::component::{Destination, RowContext, Source, Transform};
use crate::config::{DefaultArgs, OnError};
use crate::error::error_chain;
use crate::projection::Projection;
use crate::record;
use crate::state::{MemoryStateStore, StateStore};
use crate::stream::{Batch, BatchReceiver, BatchSender};
use crate::test_utils::{CollectingDestination, GeneratedSource, MemorySource};
use crate::value::{Record, Value};

pub(super) fn rows(n: i64) -> Vec<Record> {
    (0..n).map(|i| record! {"id" => i}).collect()
}

pub(super) fn options() -> RunOptions {
    RunOptions::in_memory()
}

pub(super) fn ids(rows: &[Record]) -> Vec<i64> {
    rows.iter()
        .map(|r| r.get("id").and_then(Value::as_i64).unwrap_or(-1))
        .collect()
}

/// Doubles ids; rejects ids divisible by `reject_every` (when not 0).
pub(super) struct Double {
    pub(super) reject_every: i64,
}

impl Transform for Double {
    fn transform(&self, batch: Batch, rows: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        let mut out = Vec::with_capacity(batch.len());
        for mut r in batch {
            let id = r.get("id").and_then(Value::as_i64).unwrap_or(0);
            if self.reject_every != 0 && id % self.reject_every == 0 {
                rows.reject(r, format!("id {id} is divisible by {}", self.reject_every));
                continue;
            }
            r.insert("double", id * 2);
            out.push(r);
        }
        Ok(out)
    }
}

#[tokio::test]
async fn streams_every_row_in_order_through_parallel_transforms() {
    let dest = CollectingDestination::new();
    let p = Pipeline::builder("p")
        .source(MemorySource::new(rows(10_500)))
        .transform(Double { reject_every: 0 })
        .transform(Double { reject_every: 0 })
        .destination(dest.clone())
        .batch_size(100)
        .build()
        .expect("valid");
    let report = p.run(&options()).await;
    assert!(report.is_success(), "{:?}", report.error);
    assert_eq!(report.rows_extracted, 10_500);
    assert_eq!(report.rows_transformed, 10_500);
    assert_eq!(report.rows_loaded, 10_500);
    assert_eq!(report.attempts, 1);
    assert_eq!(ids(&dest.rows()), (0..10_500).collect::<Vec<_>>());
    assert_eq!(
        report.load.as_ref().map(|l| l.target.as_str()),
        Some("memory")
    );
    for stage in ["extract", "transform", "load", "total"] {
        assert!(report.seconds.contains_key(stage), "{stage}");
    }
}

/// `rows(n)` through `transform` alone, in batches of 100, into the returned destination.
fn one_transform(
    n: i64,
    transform: impl crate::pipeline::IntoComponent<dyn Transform>,
) -> (Pipeline, CollectingDestination) {
    let dest = CollectingDestination::new();
    let p = Pipeline::builder("p")
        .source(MemorySource::new(rows(n)))
        .transform(transform)
        .destination(dest.clone())
        .batch_size(100)
        .build()
        .expect("valid");
    (p, dest)
}

/// Records the threads batches run on, slowly enough that batches overlap.
#[derive(Clone, Default)]
struct WhereItRuns {
    threads: Arc<std::sync::Mutex<std::collections::HashSet<std::thread::ThreadId>>>,
}

impl Transform for WhereItRuns {
    fn transform(&self, batch: Batch, _: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        self.threads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(std::thread::current().id());
        std::thread::sleep(Duration::from_millis(2));
        Ok(batch)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_runs_on_the_pools_long_lived_threads_one_per_core_by_default() {
    let seen = WhereItRuns::default();
    let (p, _) = one_transform(20_000, seen.clone());
    let report = p.run(&options()).await;
    assert!(report.is_success(), "{:?}", report.error);
    let threads = seen
        .threads
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .len();
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    // 200 batches, several queued at once: a thread started or woken per batch would show
    // more threads than cores.
    assert!(
        threads <= cores,
        "{threads} threads ran the chain on {cores} cores"
    );
    assert!(
        threads >= cores.min(2),
        "batches ran on {threads} thread(s)"
    );
    // A pool of another size, given in the options.
    let seen = WhereItRuns::default();
    let (p, _) = one_transform(20_000, seen.clone());
    let opts = RunOptions {
        workers: WorkerPool::new(3),
        ..options()
    };
    let report = p.run(&opts).await;
    assert!(report.is_success(), "{:?}", report.error);
    let threads = seen
        .threads
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .len();
    assert!(
        (2..=3).contains(&threads),
        "{threads} threads on a pool of 3"
    );
}

/// Sleeps per batch: CPU work that takes a while.
struct Sleepy(Duration);

impl Transform for Sleepy {
    fn transform(&self, batch: Batch, _: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        std::thread::sleep(self.0);
        Ok(batch)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_sharing_a_pool_take_turns_a_backlog_does_not_starve_a_small_run() {
    let pool = WorkerPool::new(1);
    let opts = || RunOptions {
        workers: pool.clone(),
        ..options()
    };
    // 400 batches of 2 ms on the pool's one thread: 800 ms at least.
    let (long, long_dest) = one_transform(40_000, Sleepy(Duration::from_millis(2)));
    let long_opts = opts();
    let long_run = tokio::spawn(async move { long.run(&long_opts).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (short, short_dest) = one_transform(500, Sleepy(Duration::from_millis(2)));
    let started = Instant::now();
    let report = short.run(&opts()).await;
    let took = started.elapsed();
    assert!(report.is_success(), "{:?}", report.error);
    assert_eq!(short_dest.rows().len(), 500);
    assert!(
        !long_run.is_finished() && long_dest.rows().is_empty(),
        "the small run waited for the long run's backlog ({took:?})"
    );
    assert!(
        took < Duration::from_millis(400),
        "the small run took {took:?}"
    );
    let report = long_run.await.expect("the long run ends");
    assert!(report.is_success(), "{:?}", report.error);
    assert_eq!(long_dest.rows().len(), 40_000);
}

/// Fails unless it runs inside the tokio runtime's context.
struct NeedsRuntime;

impl Transform for NeedsRuntime {
    fn transform(&self, batch: Batch, _: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        tokio::runtime::Handle::try_current()
            .map(|_| batch)
            .map_err(|e| ComponentError::fatal_msg(format!("no runtime: {e}")))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transforms_run_inside_the_runtimes_context() {
    let (p, _) = one_transform(1_000, NeedsRuntime);
    let report = p.run(&options()).await;
    assert!(report.is_success(), "{:?}", report.error);
}

/// Panics on the row with id 250.
struct Panics;

impl Transform for Panics {
    fn transform(&self, batch: Batch, _: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        assert!(!ids(&batch).contains(&250), "boom at row 250");
        Ok(batch)
    }
}

#[tokio::test]
async fn a_panicking_transform_fails_the_run_with_the_panics_message() {
    let (p, dest) = one_transform(1_000, Panics);
    let report = tokio::time::timeout(Duration::from_secs(60), p.run(&options()))
        .await
        .expect("the run ends");
    let text = error_chain(report.error.as_ref().expect("error"));
    assert!(
        text.contains("a transform panicked") && text.contains("boom at row 250"),
        "{text}"
    );
    assert!(dest.rows().is_empty(), "nothing is committed");
}

#[tokio::test(start_paused = true)]
async fn retries_with_exponential_backoff_then_succeeds() {
    let source = MemorySource::new(rows(10)).fail_first_attempts(2);
    let dest = CollectingDestination::new();
    let p = Pipeline::builder("retry")
        .source(source.clone())
        .destination(dest.clone())
        .default_args(DefaultArgs {
            retries: 3,
            retry_delay: Duration::from_secs(10),
            retry_exponential_backoff: true,
            ..DefaultArgs::default()
        })
        .build()
        .expect("valid");
    let start = tokio::time::Instant::now();
    let report = p.run(&options()).await;
    let waited = start.elapsed();
    assert!(report.is_success(), "{:?}", report.error);
    assert_eq!(report.attempts, 3);
    assert_eq!(source.attempts(), 3);
    assert_eq!(dest.rows().len(), 10, "only the successful attempt commits");
    // 10 s before retry 1, 20 s before retry 2.
    assert!(
        waited >= Duration::from_secs(30) && waited < Duration::from_secs(31),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_the_last_retry_and_never_retries_fatal_errors() {
    let source = MemorySource::new(rows(10)).fail_first_attempts(5);
    let p = Pipeline::builder("retry")
        .source(source.clone())
        .destination(CollectingDestination::new())
        .default_args(DefaultArgs {
            retries: 2,
            retry_delay: Duration::from_secs(1),
            ..DefaultArgs::default()
        })
        .build()
        .expect("valid");
    let report = p.run(&options()).await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(report.attempts, 3);
    let text = error_chain(report.error.as_ref().expect("error"));
    assert_eq!(
        text,
        "pipeline retry: source `MemorySource` failed: planned failure on attempt 3"
    );

    let fatal = MemorySource::new(rows(10)).fail_first_attempts(5).fatal();
    let p = Pipeline::builder("fatal")
        .source(fatal.clone())
        .destination(CollectingDestination::new())
        .default_args(DefaultArgs {
            retries: 2,
            ..DefaultArgs::default()
        })
        .build()
        .expect("valid");
    let report = p.run(&options()).await;
    assert_eq!(report.attempts, 1);
    assert_eq!(fatal.attempts(), 1);
}

#[tokio::test]
async fn a_source_failing_mid_stream_rolls_the_destination_back() {
    let dest = CollectingDestination::new();
    let p = Pipeline::builder("mid")
        .source(MemorySource::new(rows(1000)).fail_after_batches(3).fatal())
        .transform(Double { reject_every: 0 })
        .destination(dest.clone())
        .batch_size(100)
        .build()
        .expect("valid");
    let report = p.run(&options()).await;
    assert_eq!(report.status, RunStatus::Failed);
    assert!(dest.rows().is_empty());
    assert_eq!(dest.rollbacks(), 1);
    assert_eq!(report.rows_loaded, 0);
    let text = error_chain(report.error.as_ref().expect("error"));
    assert!(
        text.contains("source `MemorySource` failed: planned failure after 3 batches"),
        "{text}"
    );
}

#[tokio::test]
async fn cancellation_stops_cleanly_and_rolls_back() {
    let dest = CollectingDestination::new().with_delay_per_batch(Duration::from_millis(20));
    let p = Pipeline::builder("cancel")
        .source(GeneratedSource::new(
            1_000_000,
            |i| record! {"id" => i as i64},
        ))
        .destination(dest.clone())
        .batch_size(100)
        .default_args(DefaultArgs {
            retries: 3,
            ..DefaultArgs::default()
        })
        .build()
        .expect("valid");
    let opts = options();
    let cancel = opts.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        cancel.cancel();
    });
    let report = tokio::time::timeout(Duration::from_secs(10), p.run(&opts))
        .await
        .expect("cancellation must stop the run promptly");
    assert_eq!(report.status, RunStatus::Cancelled);
    assert_eq!(report.attempts, 1, "a cancelled run is not retried");
    assert!(dest.rows().is_empty());
    assert_eq!(dest.rollbacks(), 1);
}

#[tokio::test]
async fn execution_timeout_fails_the_attempt_and_rolls_back() {
    let dest = CollectingDestination::new().with_delay_per_batch(Duration::from_millis(20));
    let p = Pipeline::builder("slow")
        .source(GeneratedSource::new(
            100_000,
            |i| record! {"id" => i as i64},
        ))
        .destination(dest.clone())
        .batch_size(10)
        .default_args(DefaultArgs {
            execution_timeout: Some(Duration::from_millis(100)),
            ..DefaultArgs::default()
        })
        .build()
        .expect("valid");
    let report = p.run(&options()).await;
    assert_eq!(report.status, RunStatus::Failed);
    assert!(
        matches!(report.error, Some(RunError::Timeout { .. })),
        "{:?}",
        report.error
    );
    assert_eq!(dest.rollbacks(), 1);
}

#[tokio::test]
async fn on_error_fail_names_the_transform_rows_and_reason() {
    let dest = CollectingDestination::new();
    let p = Pipeline::builder("policy")
        .source(MemorySource::new(rows(250)))
        .transform(Double { reject_every: 0 })
        .transform(Double { reject_every: 7 })
        .destination(dest.clone())
        .batch_size(100)
        .build()
        .expect("valid");
    let report = p.run(&options()).await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(
        report.error.map(|e| e.to_string()),
        Some(
            "pipeline policy: transform `transforms[1] Double` rejected a row (in source rows \
             1-100): id 0 is divisible by 7; row: {\"id\":0,\"double\":0}"
                .to_owned()
        )
    );
    assert!(dest.rows().is_empty());
}

#[tokio::test]
async fn on_error_skip_drops_and_counts() {
    let dest = CollectingDestination::new();
    let p = Pipeline::builder("policy")
        .source(MemorySource::new(rows(250)))
        .transform_with(Double { reject_every: 5 }, OnError::Skip)
        .destination(dest.clone())
        .batch_size(100)
        .build()
        .expect("valid");
    let report = p.run(&options()).await;
    assert!(report.is_success(), "{:?}", report.error);
    assert_eq!(report.rows_rejected, 50);
    assert_eq!(
        report.rejected_by_transform.get("transforms[0] Double"),
        Some(&50)
    );
    assert_eq!(report.rows_loaded, 200);
    assert!(ids(&dest.rows()).iter().all(|id| id % 5 != 0));
}

#[tokio::test]
async fn on_error_dead_letter_sends_row_transform_and_reason() {
    let dest = CollectingDestination::new();
    let dead = CollectingDestination::new();
    let p = Pipeline::builder("policy")
        .source(MemorySource::new(rows(20)))
        .transform_with(Double { reject_every: 10 }, OnError::DeadLetter)
        .destination(dest.clone())
        .dead_letter(dead.clone())
        .build()
        .expect("valid");
    let report = p.run(&options()).await;
    assert!(report.is_success(), "{:?}", report.error);
    assert_eq!(report.rows_dead_lettered, 2);
    assert_eq!(dest.rows().len(), 18);
    let dl = dead.rows();
    assert_eq!(dl.len(), 2);
    assert_eq!(
        dl[1].get("transform"),
        Some(&Value::from("transforms[0] Double"))
    );
    assert_eq!(
        dl[1].get("reason"),
        Some(&Value::from("id 10 is divisible by 10"))
    );
    assert_eq!(
        dl[1].get("record"),
        Some(&Value::Object(record! {"id" => 10}))
    );
    assert_eq!(dl[1].get("pipeline"), Some(&Value::from("policy")));
}

/// Counts rows made and checks, at every batch it receives, how far the source is ahead.
struct Lag {
    consumed: AtomicU64,
    max_lag: AtomicU64,
    produced: Arc<AtomicU64>,
}

#[async_trait]
impl Destination for Lag {
    async fn load(
        &self,
        input: &mut BatchReceiver,
        _: &RunContext,
    ) -> Result<crate::LoadSummary, ComponentError> {
        while let Some(batch) = input.recv().await? {
            tokio::time::sleep(Duration::from_micros(200)).await;
            let consumed = self
                .consumed
                .fetch_add(batch.len() as u64, Ordering::SeqCst);
            let lag = self.produced.load(Ordering::SeqCst) - consumed;
            self.max_lag.fetch_max(lag, Ordering::SeqCst);
        }
        Ok(crate::LoadSummary {
            rows_loaded: self.consumed.load(Ordering::SeqCst),
            ..Default::default()
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_channels_keep_rows_in_flight_flat_whatever_the_row_count() {
    let batch = 100u64;
    let mut lags = Vec::new();
    for n in [20_000u64, 200_000] {
        let produced = Arc::new(AtomicU64::new(0));
        let made = produced.clone();
        let dest = Arc::new(Lag {
            consumed: AtomicU64::new(0),
            max_lag: AtomicU64::new(0),
            produced: produced.clone(),
        });
        let p = Pipeline::builder("flat")
            .source(GeneratedSource::new(n, move |i| {
                made.fetch_add(1, Ordering::SeqCst);
                record! {"id" => i as i64}
            }))
            .transform(Double { reject_every: 0 })
            .destination(dest.clone() as Arc<dyn Destination>)
            .batch_size(batch as usize)
            .build()
            .expect("valid");
        let report = p.run(&options()).await;
        assert!(report.is_success(), "{:?}", report.error);
        assert_eq!(report.rows_loaded, n);
        lags.push(dest.max_lag.load(Ordering::SeqCst));
    }
    // Two channels of 2 batches, the transform workers' batches, the batch being built and the
    // one being written: a few batches, whatever the total.
    let bound = 12 * batch;
    assert!(
        lags.iter().all(|l| *l <= bound),
        "rows in flight {lags:?} > {bound}"
    );
}

/// A source that stages a cursor, then fails or not.
struct Cursor {
    fail: bool,
}

#[async_trait]
impl Source for Cursor {
    async fn extract(&self, ctx: &RunContext, out: &mut BatchSender) -> Result<(), ComponentError> {
        let last = ctx
            .state()
            .get("cursor")
            .and_then(|v| v.as_i64())
            .unwrap_or(0);
        out.send(vec![record! {"id" => last + 1}]).await?;
        ctx.state().set("cursor", serde_json::json!(last + 1));
        if self.fail {
            return Err(ComponentError::fatal_msg("boom"));
        }
        Ok(())
    }
}

#[tokio::test]
async fn state_is_saved_only_when_the_load_commits() {
    let store = Arc::new(MemoryStateStore::default());
    let opts = RunOptions {
        state_store: store.clone(),
        ..RunOptions::default()
    };
    let run = |fail| {
        Pipeline::builder("inc")
            .source(Cursor { fail })
            .destination(CollectingDestination::new())
            .build()
            .expect("valid")
    };
    assert!(run(false).run(&opts).await.is_success());
    assert_eq!(store.load("inc").await.expect("load")["cursor"], 1);
    assert!(!run(true).run(&opts).await.is_success());
    assert_eq!(
        store.load("inc").await.expect("load")["cursor"],
        1,
        "failed run kept the cursor"
    );
    assert!(run(false).run(&opts).await.is_success());
    assert_eq!(store.load("inc").await.expect("load")["cursor"], 2);
}

#[tokio::test]
async fn a_destination_failure_is_the_reported_cause_not_the_sources_echo() {
    struct Broken;
    #[async_trait]
    impl Destination for Broken {
        async fn load(
            &self,
            input: &mut BatchReceiver,
            _: &RunContext,
        ) -> Result<crate::LoadSummary, ComponentError> {
            let _ = input.recv().await?;
            Err(ComponentError::fatal_msg("disk full"))
        }
    }
    let p = Pipeline::builder("echo")
        .source(GeneratedSource::new(
            100_000,
            |i| record! {"id" => i as i64},
        ))
        .destination(Broken)
        .batch_size(10)
        .build()
        .expect("valid");
    let report = p.run(&options()).await;
    let text = error_chain(report.error.as_ref().expect("error"));
    assert_eq!(
        text,
        "pipeline echo: destination `Broken` failed: disk full"
    );
}

/// Holds every row back until the end, then releases them reversed; rejects id 3 at the end.
struct HoldBack {
    held: std::sync::Mutex<Vec<Record>>,
}

impl Transform for HoldBack {
    fn transform(&self, batch: Batch, _: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        self.held.lock().expect("lock").extend(batch);
        Ok(Vec::new())
    }
    fn finish(&self, rows: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        let mut held = std::mem::take(&mut *self.held.lock().expect("lock"));
        held.reverse();
        let (bad, good): (Vec<_>, Vec<_>) = held
            .into_iter()
            .partition(|r| r.get("id") == Some(&Value::Int(3)));
        for r in bad {
            rows.reject(r, "three");
        }
        Ok(good)
    }
    fn is_ordered(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn finish_releases_held_rows_through_the_rest_of_the_chain() {
    let dest = CollectingDestination::new();
    let p = Pipeline::builder("finish")
        .source(MemorySource::new(rows(6)))
        .transform_with(
            HoldBack {
                held: Default::default(),
            },
            OnError::Skip,
        )
        .transform(Double { reject_every: 0 })
        .destination(dest.clone())
        .batch_size(2)
        .build()
        .expect("valid");
    let report = p.run(&options()).await;
    assert!(report.is_success(), "{:?}", report.error);
    assert_eq!(ids(&dest.rows()), [5, 4, 2, 1, 0]);
    assert!(
        dest.rows().iter().all(|r| r.contains_key("double")),
        "released rows went through Double"
    );
    assert_eq!(report.rows_rejected, 1);
    assert_eq!(report.rows_loaded, 5);
}

#[tokio::test]
async fn a_post_load_failure_is_not_retried_because_the_data_is_committed() {
    struct FailsAfterCommit(CollectingDestination);
    #[async_trait]
    impl Destination for FailsAfterCommit {
        async fn load(
            &self,
            input: &mut BatchReceiver,
            ctx: &RunContext,
        ) -> Result<crate::LoadSummary, ComponentError> {
            self.0.load(input, ctx).await
        }
        async fn post_load(&self, _: &RunContext) -> Result<(), ComponentError> {
            Err(ComponentError::retryable_msg("refresh failed"))
        }
    }
    let dest = CollectingDestination::new();
    let p = Pipeline::builder("post")
        .source(MemorySource::new(rows(5)))
        .destination(FailsAfterCommit(dest.clone()))
        .default_args(DefaultArgs {
            retries: 3,
            retry_delay: Duration::ZERO,
            ..DefaultArgs::default()
        })
        .build()
        .expect("valid");
    let report = p.run(&options()).await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(report.attempts, 1);
    assert_eq!(dest.rows().len(), 5, "loaded once, not once per retry");
}

/// Fails its first `failures` loads (after reading everything), then collects.
struct FlakyDestination {
    failures: u32,
    calls: std::sync::atomic::AtomicU32,
    inner: CollectingDestination,
}

#[async_trait]
impl Destination for FlakyDestination {
    async fn load(
        &self,
        input: &mut BatchReceiver,
        ctx: &RunContext,
    ) -> Result<crate::LoadSummary, ComponentError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.failures {
            while input.recv().await?.is_some() {}
            return Err(ComponentError::retryable_msg("warehouse unavailable"));
        }
        self.inner.load(input, ctx).await
    }
}

#[tokio::test(start_paused = true)]
async fn dead_letters_commit_only_with_the_main_load_so_retries_do_not_duplicate_them() {
    let dest = CollectingDestination::new();
    let dead = CollectingDestination::new();
    let p = Pipeline::builder("dl_retry")
        .source(MemorySource::new(rows(20)))
        .transform_with(Double { reject_every: 10 }, OnError::DeadLetter)
        .destination(FlakyDestination {
            failures: 1,
            calls: Default::default(),
            inner: dest.clone(),
        })
        .dead_letter(dead.clone())
        .default_args(DefaultArgs {
            retries: 1,
            retry_delay: Duration::from_secs(1),
            ..DefaultArgs::default()
        })
        .build()
        .expect("valid");
    let report = p.run(&options()).await;
    assert!(report.is_success(), "{:?}", report.error);
    assert_eq!(report.attempts, 2);
    assert_eq!(
        dead.rollbacks(),
        1,
        "the first attempt's dead letters rolled back"
    );
    assert_eq!(dead.rows().len(), 2, "rows 0 and 10, once");
    assert_eq!(dest.rows().len(), 18);
}

/// An incremental source: rows with ids 1..=`total`, after the cursor in state, sent slowly in
/// batches of the run's batch size; it stages the last id sent as the new cursor.
struct SlowIncremental {
    total: i64,
    per_batch: Duration,
}

#[async_trait]
impl Source for SlowIncremental {
    async fn extract(&self, ctx: &RunContext, out: &mut BatchSender) -> Result<(), ComponentError> {
        let after = ctx
            .state()
            .get("last_id")
            .and_then(|v| v.as_i64())
            .unwrap_or(0);
        let ids: Vec<i64> = (after + 1..=self.total).collect();
        for chunk in ids.chunks(ctx.batch_size()) {
            tokio::time::sleep(self.per_batch).await;
            out.send(chunk.iter().map(|id| record! {"id" => *id}).collect())
                .await?;
            ctx.state()
                .set("last_id", serde_json::json!(chunk[chunk.len() - 1]));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_run_commits_nothing_and_a_rerun_loads_each_row_once() {
    let store = Arc::new(MemoryStateStore::default());
    let opts = RunOptions {
        state_store: store.clone(),
        ..RunOptions::in_memory()
    };
    let dest = CollectingDestination::new();
    let p = Pipeline::builder("dropped")
        .source(SlowIncremental {
            total: 40,
            per_batch: Duration::from_millis(20),
        })
        .transform(Double { reject_every: 0 })
        .destination(dest.clone())
        .batch_size(4)
        .build()
        .expect("valid");
    // The run takes about 200 ms: the timeout drops its future half-way.
    let dropped = tokio::time::timeout(Duration::from_millis(50), p.run(&opts)).await;
    assert!(dropped.is_err(), "the run ended before the timeout");
    // Long enough for a run left going in the background to finish and commit.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        ids(&dest.rows()),
        Vec::<i64>::new(),
        "a dropped run committed"
    );
    assert_eq!(dest.rollbacks(), 1, "the dropped run's load rolled back");
    assert!(store.load("dropped").await.expect("load").is_empty());

    let report = p.run(&opts).await;
    assert!(report.is_success(), "{:?}", report.error);
    assert_eq!(report.rows_loaded, 40);
    let again = p.run(&opts).await;
    assert!(again.is_success(), "{:?}", again.error);
    assert_eq!(again.rows_loaded, 0, "the cursor was saved with the load");
    assert_eq!(
        ids(&dest.rows()),
        (1..=40).collect::<Vec<_>>(),
        "each row once"
    );
    assert_eq!(store.load("dropped").await.expect("load")["last_id"], 40);
}

/// Commits slowly: after the clean end, it takes `commit` to commit.
#[derive(Clone, Default)]
struct SlowCommit {
    inner: CollectingDestination,
    commit: Duration,
}

#[async_trait]
impl Destination for SlowCommit {
    async fn load(
        &self,
        input: &mut BatchReceiver,
        ctx: &RunContext,
    ) -> Result<LoadSummary, ComponentError> {
        let mut rows = Vec::new();
        while let Some(batch) = input.recv().await? {
            rows.extend(batch);
        }
        // The commit has begun: cancelling now does not stop it (a COMMIT sent to a server).
        tokio::time::sleep(self.commit).await;
        let (tx, mut rx) = crate::stream::channel(2, CancellationToken::new());
        tx.send(rows).await?;
        tx.finish().await;
        self.inner.load(&mut rx, ctx).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_dropped_while_its_load_commits_saves_the_cursor_with_the_commit() {
    let store = Arc::new(MemoryStateStore::default());
    let opts = RunOptions {
        state_store: store.clone(),
        ..RunOptions::in_memory()
    };
    let dest = SlowCommit {
        commit: Duration::from_millis(300),
        ..SlowCommit::default()
    };
    let p = Pipeline::builder("late_drop")
        .source(SlowIncremental {
            total: 8,
            per_batch: Duration::ZERO,
        })
        .destination(dest.clone())
        .batch_size(4)
        .build()
        .expect("valid");
    // Dropped while the destination commits.
    let dropped = tokio::time::timeout(Duration::from_millis(100), p.run(&opts)).await;
    assert!(dropped.is_err(), "the run ended before the timeout");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(ids(&dest.inner.rows()), (1..=8).collect::<Vec<_>>());
    assert_eq!(
        store.load("late_drop").await.expect("load")["last_id"],
        8,
        "the commit stood: its cursor was saved with it"
    );
    let again = p.run(&opts).await;
    assert!(again.is_success(), "{:?}", again.error);
    assert_eq!(again.rows_loaded, 0);
    assert_eq!(
        ids(&dest.inner.rows()),
        (1..=8).collect::<Vec<_>>(),
        "each row once"
    );
}

/// Reads `id` only; records the projection its source was given.
struct ReadsId;

impl Transform for ReadsId {
    fn transform(&self, batch: Batch, _rows: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        Ok(batch)
    }
    fn input_projection(&self, _output: &Projection) -> Projection {
        Projection::only(["id"])
    }
}

/// Sends one row and records the projection the run gave it.
struct SeesProjection(Arc<std::sync::Mutex<Option<Projection>>>);

#[async_trait]
impl Source for SeesProjection {
    async fn extract(&self, ctx: &RunContext, out: &mut BatchSender) -> Result<(), ComponentError> {
        if let Ok(mut seen) = self.0.lock() {
            *seen = Some(ctx.projection().clone());
        }
        out.send(vec![record! {"id" => 1, "other" => 2}]).await?;
        Ok(())
    }
}

#[tokio::test]
async fn the_source_is_told_what_the_chain_reads_unless_a_step_dead_letters() {
    for (on_error, expected) in [
        (OnError::Fail, Projection::only(["id"])),
        (OnError::Skip, Projection::only(["id"])),
        (OnError::DeadLetter, Projection::All),
    ] {
        let seen = Arc::new(std::sync::Mutex::new(None));
        let p = Pipeline::builder("projection")
            .source(SeesProjection(seen.clone()))
            .transform_with(Double { reject_every: 0 }, on_error)
            .transform(ReadsId)
            .destination(CollectingDestination::new())
            .dead_letter(CollectingDestination::new())
            .build()
            .expect("valid");
        // `Double` does not say what it reads: every field, whatever follows it.
        assert_eq!(p.source_projection(), Projection::All);
        let report = p.run(&options()).await;
        assert!(report.is_success(), "{:?}", report.error);
        assert_eq!(
            seen.lock().ok().and_then(|s| s.clone()),
            Some(Projection::All)
        );

        let seen = Arc::new(std::sync::Mutex::new(None));
        let p = Pipeline::builder("projection")
            .source(SeesProjection(seen.clone()))
            .transform_with(ReadsId, on_error)
            .destination(CollectingDestination::new())
            .dead_letter(CollectingDestination::new())
            .build()
            .expect("valid");
        let report = p.run(&options()).await;
        assert!(report.is_success(), "{:?}", report.error);
        assert_eq!(
            seen.lock().ok().and_then(|s| s.clone()),
            Some(expected),
            "{on_error:?}"
        );
    }
}
