//! The transform stage: runs the chain on a pool of worker threads (one per core, for the
//! stage's life), several batches at once, output in input order, and applies each
//! transform's `on_error` policy to the rows it rejects. When the
//! destination has a [`Preparer`], each worker also prepares its batch for it, right after the
//! chain and on the same thread.

use std::collections::{BTreeMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use tokio::sync::oneshot;

use super::StageError;
use super::report::Progress;
use crate::component::{Preparer, Rejected, RowContext};
use crate::config::OnError;
use crate::context::RunContext;
use crate::error::{ComponentError, RunError, Stage};
use crate::pipeline::TransformStep;
use crate::stream::{Batch, BatchReceiver, BatchSender, Prepared};
use crate::value::{Record, Value};

/// Distinct reasons warned about per transform before the rest are only counted.
const MAX_WARNED_REASONS: usize = 20;

/// What the transform stage did.
#[derive(Debug, Default)]
pub(crate) struct ChainStats {
    pub rows_out: u64,
    pub rejected: BTreeMap<String, u64>,
    pub cpu: Duration,
}

/// The destination's preparer, and the destination's name for its errors.
#[derive(Clone)]
pub(crate) struct DestinationPreparer {
    pub name: String,
    pub preparer: Arc<dyn Preparer>,
}

impl DestinationPreparer {
    fn prepare(&self, batch: Batch) -> Result<Prepared, StageError> {
        Prepared::of(&*self.preparer, batch).map_err(|error| StageError::Component {
            stage: Stage::Load,
            component: self.name.clone(),
            error,
        })
    }
}

/// What a worker hands on: the rows, or what the destination's preparer made of them.
enum Output {
    Rows(Batch),
    Prepared(Prepared),
}

impl Output {
    /// Prepares `batch` when there is a preparer and the batch has rows (an empty batch is not
    /// sent at all).
    fn of(batch: Batch, preparer: Option<&DestinationPreparer>) -> Result<Self, StageError> {
        match preparer {
            Some(p) if !batch.is_empty() => p.prepare(batch).map(Output::Prepared),
            _ => Ok(Output::Rows(batch)),
        }
    }

    fn rows(&self) -> u64 {
        match self {
            Output::Rows(b) => b.len() as u64,
            Output::Prepared(p) => p.rows(),
        }
    }
}

struct BatchDone {
    output: Output,
    rejected: Vec<(usize, Vec<Rejected>)>,
    cpu: Duration,
    first_row: u64,
    rows_in: u64,
}

fn apply(
    steps: &[TransformStep],
    ctx: &RunContext,
    mut batch: Batch,
    first_row: u64,
    preparer: Option<&DestinationPreparer>,
) -> Result<BatchDone, StageError> {
    let start = Instant::now();
    let rows_in = batch.len() as u64;
    let mut rejected = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let mut rows = RowContext::new(ctx);
        batch = step
            .transform
            .transform(batch, &mut rows)
            .map_err(|error| StageError::Component {
                stage: Stage::Transform,
                component: step.name.clone(),
                error,
            })?;
        let r = rows.take_rejected();
        if !r.is_empty() {
            rejected.push((i, r));
        }
    }
    // The transforms' time: the destination's preparation is its own.
    let cpu = start.elapsed();
    let output = Output::of(batch, preparer)?;
    Ok(BatchDone {
        output,
        rejected,
        cpu,
        first_row,
        rows_in,
    })
}

/// Calls every step's `finish` in order; rows a step releases go through the steps after it.
fn finish_chain(
    steps: &[TransformStep],
    ctx: &RunContext,
    rows_seen: u64,
    preparer: Option<&DestinationPreparer>,
) -> Result<BatchDone, StageError> {
    let start = Instant::now();
    let mut carried: Batch = Vec::new();
    let mut rejected = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let fail = |error| StageError::Component {
            stage: Stage::Transform,
            component: step.name.clone(),
            error,
        };
        let mut rows = RowContext::new(ctx);
        if !carried.is_empty() {
            carried = step.transform.transform(carried, &mut rows).map_err(fail)?;
        }
        carried.extend(step.transform.finish(&mut rows).map_err(fail)?);
        let r = rows.take_rejected();
        if !r.is_empty() {
            rejected.push((i, r));
        }
    }
    let cpu = start.elapsed();
    Ok(BatchDone {
        output: Output::of(carried, preparer)?,
        rejected,
        cpu,
        // Held-back rows may come from anywhere in the run.
        first_row: 1,
        rows_in: rows_seen,
    })
}

/// The stage's loop. On a clean end it finishes `output` and hands the dead-letter sender back
/// unfinished: the runner ends that stream only once the main load has committed.
pub(crate) async fn run_chain(
    steps: Arc<Vec<TransformStep>>,
    ctx: RunContext,
    mut input: BatchReceiver,
    output: BatchSender,
    dead_letter: Option<BatchSender>,
    preparer: Option<DestinationPreparer>,
    progress: Arc<Progress>,
) -> Result<(ChainStats, Option<BatchSender>), StageError> {
    let ordered = steps.iter().any(|s| s.transform.is_ordered());
    let direct = steps.is_empty() && preparer.is_none();
    // A worker thread per core, and two batches per core in flight: a worker finds the next
    // batch queued when it finishes one. With no transforms, batches still go to the workers
    // when the destination prepares them.
    let (threads, in_flight) = if ordered || direct {
        (1, 1)
    } else {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        (cores, 2 * cores)
    };
    let pool = (!direct).then(|| Pool::start(threads, &steps, &ctx, preparer.as_ref()));
    let mut stats = ChainStats::default();
    let mut policy = Policy {
        pipeline: ctx.pipeline_id().to_owned(),
        run_id: ctx.run_id().to_owned(),
        steps: steps.clone(),
        warned: HashSet::new(),
        dead_letter: dead_letter.as_ref(),
    };
    let mut inflight = FuturesOrdered::new();
    let mut rows_seen: u64 = 0;
    let mut input_done = false;
    loop {
        tokio::select! {
            biased;
            Some(joined) = inflight.next(), if !inflight.is_empty() => {
                let done: BatchDone = joined?;
                progress.add_extracted(done.rows_in);
                deliver(done, &mut policy, &mut stats, &progress, &output).await?;
            }
            msg = input.recv(), if !input_done && inflight.len() < in_flight => {
                let batch = msg.map_err(|error| StageError::Component {
                    stage: Stage::Transform,
                    component: "transform chain".into(),
                    error,
                })?;
                match batch {
                    Some(batch) => {
                        let first_row = rows_seen + 1;
                        rows_seen += batch.len() as u64;
                        match &pool {
                            Some(pool) => inflight.push_back(pool.run(batch, first_row).boxed()),
                            None => inflight.push_back(
                                std::future::ready(Ok(BatchDone {
                                    rows_in: batch.len() as u64,
                                    output: Output::Rows(batch),
                                    rejected: Vec::new(),
                                    cpu: Duration::ZERO,
                                    first_row,
                                }))
                                .boxed(),
                            ),
                        }
                    }
                    None => input_done = true,
                }
            }
            else => break,
        }
    }
    if !steps.is_empty() {
        let (steps, ctx, preparer) = (steps.clone(), ctx.clone(), preparer.clone());
        let joined = tokio::task::spawn_blocking(move || {
            finish_chain(&steps, &ctx, rows_seen, preparer.as_ref())
        })
        .await;
        let done = joined.map_err(|e| StageError::Component {
            stage: Stage::Transform,
            component: "transform chain".into(),
            error: ComponentError::fatal_msg(format!("a transform panicked: {e}")),
        })??;
        deliver(done, &mut policy, &mut stats, &progress, &output).await?;
    }
    output.finish().await;
    Ok((stats, dead_letter))
}

/// A batch for a worker, and where its result goes.
struct Job {
    batch: Batch,
    first_row: u64,
    reply: oneshot::Sender<Result<BatchDone, StageError>>,
}

/// The transform workers: a thread per core for the stage's life, taking batches from one
/// queue in turn. Long-lived threads keep their caches and their allocator's pages from batch
/// to batch, and a worker that finishes a batch finds the next one queued instead of waiting
/// for a thread to be woken for it. Dropping the pool closes the queue; each thread ends after
/// its current batch, skipping the queued ones nobody waits for any more.
struct Pool {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl Pool {
    fn start(
        threads: usize,
        steps: &Arc<Vec<TransformStep>>,
        ctx: &RunContext,
        preparer: Option<&DestinationPreparer>,
    ) -> Self {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        // The workers run inside the runtime's context, as its blocking threads do, so that a
        // transform may still reach the runtime (`Handle::current`).
        let runtime = tokio::runtime::Handle::try_current().ok();
        for i in 0..threads {
            let (queue, steps, ctx, preparer, runtime) = (
                queue.clone(),
                steps.clone(),
                ctx.clone(),
                preparer.cloned(),
                runtime.clone(),
            );
            let worker = move || {
                let _context = runtime.as_ref().map(tokio::runtime::Handle::enter);
                loop {
                    // Taking the next job is the only thing done under the lock.
                    let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                    let Ok(Job {
                        batch,
                        first_row,
                        reply,
                    }) = job
                    else {
                        break;
                    };
                    if reply.is_closed() {
                        // The stage stopped (an error, a cancellation): nobody waits for its
                        // queued batches, which are skipped.
                        continue;
                    }
                    let done = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        apply(&steps, &ctx, batch, first_row, preparer.as_ref())
                    }))
                    .unwrap_or_else(|payload| Err(panicked(&*payload)));
                    // The stage may have stopped on an earlier batch's error: nobody waits.
                    let _ = reply.send(done);
                }
            };
            let spawned = std::thread::Builder::new()
                .name(format!("dataforge-transform-{i}"))
                .spawn(worker);
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "could not start a transform worker thread");
            }
        }
        Self { jobs }
    }

    /// Queues `batch`; the result comes back in the returned future.
    fn run(
        &self,
        batch: Batch,
        first_row: u64,
    ) -> impl std::future::Future<Output = Result<BatchDone, StageError>> + use<> {
        let (reply, result) = oneshot::channel();
        let queued = self.jobs.send(Job {
            batch,
            first_row,
            reply,
        });
        async move {
            if queued.is_err() {
                return Err(worker_stopped());
            }
            result.await.unwrap_or_else(|_| Err(worker_stopped()))
        }
    }
}

/// The error for a batch that no worker could take: every worker thread failed to start.
fn worker_stopped() -> StageError {
    StageError::Component {
        stage: Stage::Transform,
        component: "transform chain".into(),
        error: ComponentError::fatal_msg("no transform worker thread is running"),
    }
}

/// The error for a batch whose chain panicked, with the panic's message.
fn panicked(payload: &(dyn std::any::Any + Send)) -> StageError {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into());
    StageError::Component {
        stage: Stage::Transform,
        component: "transform chain".into(),
        error: ComponentError::fatal_msg(format!("a transform panicked: {message}")),
    }
}

/// Applies the row policies to a transformed batch and sends it downstream.
async fn deliver(
    done: BatchDone,
    policy: &mut Policy<'_>,
    stats: &mut ChainStats,
    progress: &Progress,
    output: &BatchSender,
) -> Result<(), StageError> {
    let BatchDone {
        output: out,
        rejected,
        cpu,
        first_row,
        rows_in,
    } = done;
    stats.cpu += cpu;
    let rows = first_row..first_row + rows_in;
    policy.handle(&rejected, rows, stats, progress).await?;
    let n = out.rows();
    let sent = match out {
        Output::Prepared(p) => output.send_prepared(p).await,
        Output::Rows(batch) => output.send(batch).await,
    };
    sent.map_err(|error| StageError::Component {
        stage: Stage::Transform,
        component: "transform chain".into(),
        error,
    })?;
    stats.rows_out += n;
    progress.add_transformed(n);
    Ok(())
}

struct Policy<'a> {
    pipeline: String,
    run_id: String,
    steps: Arc<Vec<TransformStep>>,
    warned: HashSet<(usize, String)>,
    dead_letter: Option<&'a BatchSender>,
}

impl Policy<'_> {
    async fn handle(
        &mut self,
        rejections: &[(usize, Vec<Rejected>)],
        rows: std::ops::Range<u64>,
        stats: &mut ChainStats,
        progress: &Progress,
    ) -> Result<(), StageError> {
        for (i, rejected) in rejections {
            let step = &self.steps[*i];
            let n = rejected.len() as u64;
            match step.on_error {
                OnError::Fail => {
                    let first = &rejected[0];
                    return Err(StageError::Run(RunError::RowRejected {
                        pipeline: self.pipeline.clone(),
                        transform: step.name.clone(),
                        first_row: rows.start,
                        last_row: rows.end.saturating_sub(1).max(rows.start),
                        reason: first.reason.clone(),
                        row: preview(&first.record),
                    }));
                }
                OnError::Skip => {
                    for r in rejected {
                        let per_step = self.warned.iter().filter(|(s, _)| s == i).count();
                        if per_step < MAX_WARNED_REASONS
                            && self.warned.insert((*i, r.reason.clone()))
                        {
                            tracing::warn!(
                                pipeline = %self.pipeline,
                                transform = %step.name,
                                reason = %r.reason,
                                "skipping rejected row (warned once per reason; the report counts them all)"
                            );
                        }
                    }
                }
                OnError::DeadLetter => {
                    let Some(dl) = self.dead_letter else {
                        // Config validation refuses dead_letter without a destination.
                        return Err(StageError::Component {
                            stage: Stage::Transform,
                            component: step.name.clone(),
                            error: ComponentError::fatal_msg("no dead-letter destination"),
                        });
                    };
                    let batch = rejected
                        .iter()
                        .map(|r| dead_letter_record(&self.pipeline, &self.run_id, &step.name, r))
                        .collect();
                    dl.send(batch)
                        .await
                        .map_err(|error| StageError::Component {
                            stage: Stage::DeadLetter,
                            component: step.name.clone(),
                            error,
                        })?;
                }
            }
            *stats.rejected.entry(step.name.clone()).or_default() += n;
            progress.add_rejected(n);
        }
        Ok(())
    }
}

/// The shape of a dead-letter row: where and why, and the row itself.
fn dead_letter_record(pipeline: &str, run_id: &str, transform: &str, r: &Rejected) -> Record {
    let mut out = Record::with_capacity(5);
    out.push_unchecked("pipeline", pipeline);
    out.push_unchecked("run_id", run_id);
    out.push_unchecked("transform", transform);
    out.push_unchecked("reason", r.reason.as_str());
    out.push_unchecked("record", Value::Object(r.record.clone()));
    out
}

fn preview(record: &Record) -> String {
    let text = serde_json::to_string(record).unwrap_or_default();
    if text.chars().count() <= 300 {
        return text;
    }
    let cut: String = text.chars().take(300).collect();
    format!("{cut}…")
}
