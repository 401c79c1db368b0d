//! A destination's [`Preparer`] run by the runner: on the worker that transformed the batch,
//! results in order, errors charged to the destination, dead letters prepared on receipt.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::ThreadId;
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::component::{Destination, Preparer, RowContext, Transform};
use crate::config::OnError;
use crate::error::error_chain;
use crate::record;
use crate::stream::{Batch, BatchReceiver, Prepared};
use crate::test_utils::MemorySource;
use crate::value::{Record, Value};

fn rows(n: i64) -> Vec<Record> {
    (0..n).map(|i| record! {"id" => i}).collect()
}

fn thread_name(id: ThreadId) -> String {
    format!("{id:?}")
}

/// Writes the id of the thread that transformed each row into `thread`; rejects ids divisible
/// by `reject_every` (when not 0).
struct TagThread {
    reject_every: i64,
}

impl Transform for TagThread {
    fn transform(&self, batch: Batch, rows: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        let here = thread_name(std::thread::current().id());
        let mut out = Vec::with_capacity(batch.len());
        for mut r in batch {
            let id = r.get("id").and_then(Value::as_i64).unwrap_or(0);
            if self.reject_every != 0 && id % self.reject_every == 0 {
                rows.reject(r, "rejected");
                continue;
            }
            r.insert("thread", here.as_str());
            out.push(r);
        }
        Ok(out)
    }
}

/// What [`IdsPreparer`] makes of a batch.
struct Ids {
    ids: Vec<i64>,
    /// Every row with a `thread` was transformed on the thread preparing it.
    same_thread: bool,
    prepared_on: ThreadId,
}

/// Collects the ids of a batch; fails on `fail_at`; takes `pause` per batch and counts how
/// many batches it prepared at once.
#[derive(Default)]
struct IdsPreparer {
    fail_at: Option<i64>,
    pause: Duration,
    active: AtomicUsize,
    most_at_once: AtomicUsize,
}

impl Preparer for IdsPreparer {
    fn prepare(&self, batch: Batch) -> Result<Prepared, ComponentError> {
        let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_at_once.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(self.pause);
        self.active.fetch_sub(1, Ordering::SeqCst);
        let here = thread_name(std::thread::current().id());
        let mut ids = Vec::with_capacity(batch.len());
        let mut same_thread = true;
        for r in &batch {
            let id = r.get("id").and_then(Value::as_i64).unwrap_or(-1);
            if Some(id) == self.fail_at {
                return Err(ComponentError::fatal_msg(format!("cannot encode row {id}")));
            }
            if let Some(t) = r.get("thread").and_then(Value::as_str) {
                same_thread &= t == here;
            }
            ids.push(id);
        }
        let payload = Ids {
            ids,
            same_thread,
            prepared_on: std::thread::current().id(),
        };
        Ok(Prepared::new(payload))
    }
}

/// What [`PreparingDestination`] saw.
#[derive(Default)]
struct Seen {
    ids: Vec<i64>,
    batches: usize,
    /// Batches whose rows were transformed on another thread than the one preparing them.
    moved: usize,
    /// Batches prepared on the thread running `load` (by `recv_prepared` itself).
    prepared_in_load: usize,
}

#[derive(Clone)]
struct PreparingDestination {
    preparer: Arc<IdsPreparer>,
    seen: Arc<Mutex<Seen>>,
}

impl PreparingDestination {
    fn new(fail_at: Option<i64>) -> Self {
        Self::with(IdsPreparer {
            fail_at,
            ..IdsPreparer::default()
        })
    }

    fn with(preparer: IdsPreparer) -> Self {
        Self {
            preparer: Arc::new(preparer),
            seen: Arc::default(),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Destination for PreparingDestination {
    async fn load(
        &self,
        input: &mut BatchReceiver,
        _ctx: &RunContext,
    ) -> Result<crate::LoadSummary, ComponentError> {
        let mut rows = 0;
        while let Some(prepared) = input.recv_prepared(&*self.preparer).await? {
            rows += prepared.rows();
            let p: Ids = prepared.into_payload()?;
            let mut seen = self.seen();
            seen.ids.extend(p.ids);
            seen.batches += 1;
            seen.moved += usize::from(!p.same_thread);
            seen.prepared_in_load += usize::from(p.prepared_on == std::thread::current().id());
        }
        Ok(crate::LoadSummary {
            rows_loaded: rows,
            target: "prepared".into(),
            ..Default::default()
        })
    }

    fn preparer(&self) -> Option<Arc<dyn Preparer>> {
        Some(self.preparer.clone())
    }
}

/// Runs `n` rows in batches of 100 through `TagThread` (unless `transform` is false) into
/// `dest`.
async fn run(dest: &PreparingDestination, n: i64, transform: bool) -> RunReport {
    let mut p = Pipeline::builder("prep").source(MemorySource::new(rows(n)));
    if transform {
        p = p.transform(TagThread { reject_every: 0 });
    }
    let p = p
        .destination(dest.clone())
        .batch_size(100)
        .build()
        .expect("valid");
    p.run(&RunOptions::in_memory()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_prepared_on_the_worker_that_transformed_them_and_load_gets_them_in_order() {
    let dest = PreparingDestination::new(None);
    let report = run(&dest, 10_500, true).await;
    assert!(report.is_success(), "{:?}", report.error);
    assert_eq!(report.rows_transformed, 10_500);
    assert_eq!(report.rows_loaded, 10_500);
    let seen = dest.seen();
    assert_eq!(seen.ids, (0..10_500).collect::<Vec<_>>());
    assert_eq!(seen.batches, 105);
    assert_eq!(seen.moved, 0, "prepared on another thread than the chain");
    assert_eq!(
        seen.prepared_in_load, 0,
        "prepared by load, not by the workers"
    );
}

#[tokio::test]
async fn without_transforms_the_workers_still_prepare_batches_several_at_once() {
    let dest = PreparingDestination::with(IdsPreparer {
        pause: Duration::from_millis(20),
        ..IdsPreparer::default()
    });
    let report = run(&dest, 1_050, false).await;
    assert!(report.is_success(), "{:?}", report.error);
    assert_eq!(report.rows_loaded, 1_050);
    let seen = dest.seen();
    assert_eq!(seen.ids, (0..1_050).collect::<Vec<_>>());
    assert_eq!(seen.batches, 11);
    assert_eq!(seen.prepared_in_load, 0);
    let most = dest.preparer.most_at_once.load(Ordering::SeqCst);
    assert!(most >= 2, "batches were prepared one at a time");
}

#[tokio::test]
async fn a_preparer_error_fails_the_load_and_names_the_destination() {
    let dest = PreparingDestination::new(Some(250));
    let report = run(&dest, 1_000, true).await;
    let error = report.error.as_ref().expect("the load fails");
    let text = error_chain(error);
    assert!(text.contains("cannot encode row 250"), "{text}");
    assert!(text.contains("destination"), "{text}");
    assert!(!text.contains("transform chain"), "{text}");
    assert!(
        dest.seen().ids.len() <= 200,
        "rows after the failed batch were loaded"
    );
}

#[tokio::test]
async fn dead_letters_are_prepared_when_their_destination_receives_them() {
    let dest = PreparingDestination::new(None);
    let dead = PreparingDestination::new(None);
    let p = Pipeline::builder("prep")
        .source(MemorySource::new(rows(100)))
        .transform_with(TagThread { reject_every: 10 }, OnError::DeadLetter)
        .destination(dest.clone())
        .dead_letter(dead.clone())
        .batch_size(30)
        .build()
        .expect("valid");
    let report = p.run(&RunOptions::in_memory()).await;
    assert!(report.is_success(), "{:?}", report.error);
    assert_eq!(report.rows_loaded, 90);
    assert_eq!(report.rows_dead_lettered, 10);
    // Dead-letter rows are `{pipeline, run_id, transform, reason, record}`: no `id` column.
    let seen = dead.seen();
    assert_eq!(seen.ids, vec![-1; 10]);
    assert_eq!(seen.prepared_in_load, seen.batches);
    assert_eq!(dest.seen().ids.len(), 90);
}
