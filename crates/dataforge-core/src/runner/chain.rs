//! The transform stage: runs the chain on the run's [`WorkerPool`] (shared by the runs in the
//! process), several batches at once, output in input order, and applies each
//! transform's `on_error` policy to the rows it rejects. A worker first decodes a batch the
//! source deferred ([`DeferredBatch`](crate::DeferredBatch)); when the destination has a
//! [`Preparer`], it also prepares the batch for it, right after the chain: a batch's rows are
//! made, transformed and encoded on one thread.

use std::collections::{BTreeMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use tokio::sync::oneshot;

use super::StageError;
use super::pool::{Job, WorkerPool};
use super::report::Progress;
use crate::component::{Preparer, Rejected, RowContext};
use crate::config::{OnError, RejectBudget};
use crate::context::RunContext;
use crate::error::{ComponentError, RunError, Stage};
use crate::pipeline::TransformStep;
use crate::stream::{Batch, BatchReceiver, BatchSender, Incoming, Prepared};
use crate::value::{Record, Value};

/// Distinct reasons warned about per transform before the rest are only counted.
const MAX_WARNED_REASONS: usize = 20;

/// What the transform stage did.
#[derive(Debug, Default)]
pub(crate) struct ChainStats {
    pub rows_out: u64,
    pub rejected: BTreeMap<String, u64>,
    pub cpu: Duration,
    /// Rows that came in, deferred batches' included (decoded here).
    pub rows_in: u64,
}

/// What the workers run on each batch: the source's decoding of a deferred batch, the chain,
/// and the destination's preparation.
#[derive(Clone)]
pub(crate) struct Work {
    /// The source's name, for its decoding errors.
    pub source: String,
    pub steps: Arc<Vec<TransformStep>>,
    pub preparer: Option<DestinationPreparer>,
    /// The bad-row budget (`max_rejected`).
    pub budget: Option<RejectBudget>,
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
    rejected: RejectedBySteps,
    cpu: Duration,
    rows_in: u64,
}

/// Decodes `input` when it is deferred, then runs the chain and the preparation on it.
fn apply(work: &Work, ctx: &RunContext, input: Incoming) -> Result<BatchDone, StageError> {
    let batch = match input {
        Incoming::Rows(batch) => batch,
        Incoming::Deferred(deferred) => {
            // A panic here is the source's, not the chain's.
            let decoded = std::panic::catch_unwind(AssertUnwindSafe(|| deferred.decode()))
                .unwrap_or_else(|payload| {
                    let message = panic_message(&*payload);
                    Err(ComponentError::fatal_msg(format!(
                        "decoding a batch panicked: {message}"
                    )))
                });
            decoded.map_err(|error| StageError::Component {
                stage: Stage::Extract,
                component: work.source.clone(),
                error,
            })?
        }
    };
    // The transforms' time: the source's decoding and the destination's preparation are theirs.
    let start = Instant::now();
    let rows_in = batch.len() as u64;
    let (batch, rejected) = transform_batch(&work.steps, ctx, batch)?;
    let cpu = start.elapsed();
    let output = Output::of(batch, work.preparer.as_ref())?;
    Ok(BatchDone {
        output,
        rejected,
        cpu,
        rows_in,
    })
}

/// Rows a chain rejected: the step's index in the chain, and its rejected rows.
pub(crate) type RejectedBySteps = Vec<(usize, Vec<Rejected>)>;

/// Runs `steps` on `batch`, in order: the rows that come out and those each step rejected.
pub(crate) fn transform_batch(
    steps: &[TransformStep],
    ctx: &RunContext,
    mut batch: Batch,
) -> Result<(Batch, RejectedBySteps), StageError> {
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
    Ok((batch, rejected))
}

/// Calls every step's `finish` in order (the input is over); rows a step releases go through
/// the steps after it.
pub(crate) fn finish_steps(
    steps: &[TransformStep],
    ctx: &RunContext,
) -> Result<(Batch, RejectedBySteps), StageError> {
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
    Ok((carried, rejected))
}

/// Calls every step's `finish` in order, then prepares what they released.
fn finish_chain(
    steps: &[TransformStep],
    ctx: &RunContext,
    rows_seen: u64,
    preparer: Option<&DestinationPreparer>,
) -> Result<BatchDone, StageError> {
    let start = Instant::now();
    let (carried, rejected) = finish_steps(steps, ctx)?;
    let cpu = start.elapsed();
    Ok(BatchDone {
        output: Output::of(carried, preparer)?,
        rejected,
        cpu,
        rows_in: rows_seen,
    })
}

/// The stage's loop. On a clean end it finishes `output` and hands the dead-letter sender back
/// unfinished: the runner ends that stream only once the main load has committed.
pub(crate) async fn run_chain(
    work: Work,
    ctx: RunContext,
    mut input: BatchReceiver,
    output: BatchSender,
    dead_letter: Option<BatchSender>,
    progress: Arc<Progress>,
    pool: WorkerPool,
) -> Result<(ChainStats, Option<BatchSender>), StageError> {
    let steps = work.steps.clone();
    let ordered = steps.iter().any(|s| s.transform.is_ordered());
    // Nothing to do on a batch of rows: it passes straight on. Deferred batches still go to
    // the workers, to be decoded.
    let direct = steps.is_empty() && work.preparer.is_none();
    // Two batches per worker thread in flight: a worker finds the next batch queued when it
    // finishes one. One at a time when a transform's result depends on the order.
    let in_flight = if ordered { 1 } else { 2 * pool.threads() };
    let jobs = RunJobs::new(pool, work.clone(), ctx.clone());
    let mut stats = ChainStats::default();
    let mut policy = Policy {
        pipeline: ctx.pipeline_id().to_owned(),
        run_id: ctx.run_id().to_owned(),
        steps: steps.clone(),
        warned: HashSet::new(),
        dead_letter: dead_letter.as_ref(),
        budget: work.budget,
        rejected: 0,
    };
    let mut inflight = FuturesOrdered::new();
    let mut rows_seen: u64 = 0;
    let mut input_done = false;
    loop {
        tokio::select! {
            biased;
            Some(joined) = inflight.next(), if !inflight.is_empty() => {
                let done: BatchDone = joined?;
                let rows = rows_seen + 1..rows_seen + 1 + done.rows_in;
                rows_seen += done.rows_in;
                progress.add_extracted(done.rows_in);
                deliver(done, rows, &mut policy, &mut stats, &progress, &output).await?;
                policy.within_budget(rows_seen, false)?;
            }
            msg = input.recv_incoming(), if !input_done && inflight.len() < in_flight => {
                let incoming = msg.map_err(|error| StageError::Component {
                    stage: Stage::Transform,
                    component: "transform chain".into(),
                    error,
                })?;
                match incoming {
                    Some(Incoming::Rows(batch)) if direct => inflight.push_back(
                        std::future::ready(Ok(BatchDone {
                            rows_in: batch.len() as u64,
                            output: Output::Rows(batch),
                            rejected: Vec::new(),
                            cpu: Duration::ZERO,
                        }))
                        .boxed(),
                    ),
                    Some(incoming) => inflight.push_back(jobs.run(incoming).boxed()),
                    None => input_done = true,
                }
            }
            else => break,
        }
    }
    stats.rows_in = rows_seen;
    if !steps.is_empty() {
        // On a worker too: the transforms' stack, and the pool's bound on threads.
        let done = jobs
            .call(move |work, ctx| {
                finish_chain(&work.steps, ctx, rows_seen, work.preparer.as_ref())
            })
            .await?;
        // Held-back rows may come from anywhere in the run.
        let rows = 1..1 + done.rows_in;
        deliver(done, rows, &mut policy, &mut stats, &progress, &output).await?;
    }
    // Before the load may commit: over the budget, the output stream is never finished, so
    // the destination rolls back.
    policy.within_budget(rows_seen, true)?;
    output.finish().await;
    Ok((stats, dead_letter))
}

/// What a run's jobs need: the work and the run, and the runtime to run them in the context of.
struct RunWork {
    work: Work,
    ctx: RunContext,
    /// The workers run inside the run's runtime's context, as its blocking threads do, so that a
    /// transform may still reach the runtime (`Handle::current`).
    runtime: Option<tokio::runtime::Handle>,
}

/// A run's jobs on the shared pool. A job whose run stopped waiting for it (an error, a
/// cancellation, a dropped run) is skipped when a worker takes it.
struct RunJobs {
    pool: WorkerPool,
    run: Arc<RunWork>,
}

impl RunJobs {
    fn new(pool: WorkerPool, work: Work, ctx: RunContext) -> Self {
        let runtime = tokio::runtime::Handle::try_current().ok();
        Self {
            pool,
            run: Arc::new(RunWork { work, ctx, runtime }),
        }
    }

    /// Queues `input` (decoded, transformed and prepared on a worker); the result comes back
    /// in the returned future.
    fn run(
        &self,
        input: Incoming,
    ) -> impl std::future::Future<Output = Result<BatchDone, StageError>> + use<> {
        self.call(move |work, ctx| apply(work, ctx, input))
    }

    /// Runs `f` on a worker, its panic caught and reported as the chain's.
    fn call<F>(
        &self,
        f: F,
    ) -> impl std::future::Future<Output = Result<BatchDone, StageError>> + use<F>
    where
        F: FnOnce(&Work, &RunContext) -> Result<BatchDone, StageError> + Send + 'static,
    {
        let (reply, result) = oneshot::channel::<Result<BatchDone, StageError>>();
        let run = self.run.clone();
        let job: Job = Box::new(move || {
            if reply.is_closed() {
                // The stage stopped: nobody waits for this batch.
                return;
            }
            let context = run.runtime.as_ref().map(tokio::runtime::Handle::enter);
            let done = std::panic::catch_unwind(AssertUnwindSafe(|| f(&run.work, &run.ctx)))
                .unwrap_or_else(|payload| Err(panicked(&*payload)));
            drop(context);
            // The run's context (and its transforms' state) is not held past the reply.
            drop(run);
            // The stage may have stopped on an earlier batch's error: nobody waits.
            let _ = reply.send(done);
        });
        let queued = self.pool.submit(job);
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
    let message = panic_message(payload);
    StageError::Component {
        stage: Stage::Transform,
        component: "transform chain".into(),
        error: ComponentError::fatal_msg(format!("a transform panicked: {message}")),
    }
}

/// A panic's message, when it has one.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

/// Applies the row policies to a transformed batch and sends it downstream.
async fn deliver(
    done: BatchDone,
    rows: std::ops::Range<u64>,
    policy: &mut Policy<'_>,
    stats: &mut ChainStats,
    progress: &Progress,
    output: &BatchSender,
) -> Result<(), StageError> {
    let BatchDone {
        output: out,
        rejected,
        cpu,
        rows_in: _,
    } = done;
    stats.cpu += cpu;
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
    budget: Option<RejectBudget>,
    /// Rows rejected so far, by every step.
    rejected: u64,
}

impl Policy<'_> {
    /// Fails when the rows rejected so far exceed the budget: a count as soon as it is
    /// passed, a share of the rows read only once they all are (`complete`).
    fn within_budget(&self, read: u64, complete: bool) -> Result<(), StageError> {
        let Some(budget) = self.budget else {
            return Ok(());
        };
        let over = if complete {
            budget.exceeded(self.rejected, read)
        } else {
            budget.exceeded_already(self.rejected)
        };
        if !over {
            return Ok(());
        }
        Err(StageError::Run(RunError::TooManyRejected {
            pipeline: self.pipeline.clone(),
            rejected: self.rejected,
            read,
            complete,
            budget,
        }))
    }

    async fn handle(
        &mut self,
        rejections: &RejectedBySteps,
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
            self.rejected += n;
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
