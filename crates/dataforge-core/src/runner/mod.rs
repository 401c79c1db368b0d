//! The runner: source → transforms → destination as concurrent stages joined by bounded
//! channels, with retries, a timeout, cancellation and a [`RunReport`].

pub(crate) mod chain;
mod commit_guard;
mod observe;
mod options;
mod pool;
mod report;
pub(crate) mod test_hook;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

pub use commit_guard::CommitGuard;
pub use options::RunOptions;
pub use pool::WorkerPool;
pub use report::{Progress, RunReport, RunStatus};

use crate::component::LoadSummary;
use crate::connection::ConnectionProvider;
use crate::context::RunContext;
use crate::error::{ComponentError, RunError, Stage, error_chain};
use crate::pipeline::{Named, Pipeline};
use crate::state::{StateHandle, StateStore};
use crate::stream::channel;

/// A stage's failure, before the runner turns it into a [`RunError`].
#[derive(Debug)]
pub(crate) enum StageError {
    Component {
        stage: Stage,
        component: String,
        error: ComponentError,
    },
    Run(RunError),
}

impl StageError {
    fn is_secondary(&self) -> bool {
        matches!(self, StageError::Component { error, .. } if error.is_secondary())
    }

    pub(crate) fn into_run_error(self, pipeline: &str) -> RunError {
        match self {
            StageError::Component {
                stage,
                component,
                error,
            } => RunError::Component {
                pipeline: pipeline.to_owned(),
                stage,
                component,
                source: error,
            },
            StageError::Run(e) => e,
        }
    }
}

#[derive(Default)]
struct AttemptStats {
    rows_extracted: u64,
    rows_transformed: u64,
    rejected: BTreeMap<String, u64>,
    load: Option<LoadSummary>,
    dead_lettered: u64,
    seconds: BTreeMap<&'static str, f64>,
}

/// What an attempt needs of the run, owned: the attempt runs as a task of its own.
struct AttemptEnv {
    number: u32,
    run_id: String,
    logical_date: DateTime<Utc>,
    connections: Arc<dyn ConnectionProvider>,
    state_store: Arc<dyn StateStore>,
    progress: Arc<Progress>,
    workers: WorkerPool,
    /// The run's token (the attempt's is a child of it).
    cancel: CancellationToken,
    /// Asked right before the destination commits.
    commit_guard: Option<Arc<dyn CommitGuard>>,
}

impl Pipeline {
    /// Runs the pipeline once, with retries per `default_args`.
    ///
    /// The report says how it ended; it never panics on a component's failure.
    ///
    /// # Dropping the future cancels the run
    ///
    /// Dropping the returned future before it completes (a `tokio::time::timeout` that
    /// elapses, a `select!` branch that loses) cancels the run as
    /// [`RunOptions::cancel`] would: the destination rolls back and nothing is committed, no
    /// cursor is saved, and no retry starts. A `Drop` cannot wait, so the attempt then stops in
    /// the background, on the runtime, a moment later (each stage at its next batch; a
    /// transform at the end of its batch). What holds is the same as for a cancellation or a
    /// SIGTERM: if the destination had already begun to commit when the future was dropped,
    /// that commit may stand, and then the cursors the source staged are saved with it (the
    /// attempt still finishes its bookkeeping in the background), so a later run does not load
    /// the same rows again. The destination's `post_load` runs only in that case too. If the
    /// runtime itself shuts down, its tasks are dropped where they stand: a destination's
    /// transaction is then rolled back by its own `Drop` (or by the server when the
    /// connection closes), as when the process is killed.
    pub async fn run(&self, options: &RunOptions) -> RunReport {
        let started = Instant::now();
        let started_at = Utc::now();
        let logical_date = options.logical_date.unwrap_or(started_at);
        let run_id = options
            .run_id
            .clone()
            .unwrap_or_else(RunOptions::new_run_id);
        // The run's token: cancelled with the caller's, or when this future is dropped.
        let cancel = options.cancel.child_token();
        let cancel_on_drop = cancel.clone().drop_guard();
        let watch = observe::begin(self, options, &run_id, logical_date).await;
        let args = &self.settings.default_args;
        let mut attempt = 0;
        let (stats, error) = loop {
            attempt += 1;
            options.progress.reset();
            let env = AttemptEnv {
                number: attempt,
                run_id: run_id.clone(),
                logical_date,
                connections: options.connections.clone(),
                state_store: options.state_store.clone(),
                progress: options.progress.clone(),
                workers: options.workers.clone(),
                cancel: cancel.clone(),
                commit_guard: options.commit_guard.clone(),
            };
            let (stats, result) = self.attempt(env).await;
            match result {
                Ok(()) => break (stats, None),
                // A committed load is never loaded again: a retry could duplicate it.
                Err(e)
                    if attempt <= args.retries
                        && e.is_retryable()
                        && stats.load.is_none()
                        && !cancel.is_cancelled() =>
                {
                    let delay = args.delay_before_retry(attempt);
                    tracing::warn!(
                        pipeline = %self.id,
                        attempt,
                        retries = args.retries,
                        delay = %humantime::format_duration(delay),
                        error = %error_chain(&e),
                        "attempt failed; retrying"
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = cancel.cancelled() => {
                            break (stats, Some(RunError::Cancelled { pipeline: self.id.clone() }));
                        }
                    }
                }
                Err(e) => break (stats, Some(e)),
            }
        };
        // Every attempt has ended: nothing is left to cancel.
        cancel_on_drop.disarm();
        let status = match &error {
            None => RunStatus::Succeeded,
            Some(RunError::Cancelled { .. }) => RunStatus::Cancelled,
            Some(_) => RunStatus::Failed,
        };
        let mut seconds = stats.seconds;
        seconds.insert("total", started.elapsed().as_secs_f64());
        let report = RunReport {
            pipeline_id: self.id.clone(),
            run_id,
            status,
            attempts: attempt,
            started_at,
            logical_date,
            rows_extracted: stats.rows_extracted,
            rows_transformed: stats.rows_transformed,
            rows_rejected: stats.rejected.values().sum(),
            rejected_by_transform: stats.rejected,
            rows_loaded: if status == RunStatus::Succeeded {
                stats.load.as_ref().map_or(0, |l| l.rows_loaded)
            } else {
                0
            },
            load: stats.load,
            rows_dead_lettered: stats.dead_lettered,
            seconds,
            error,
        };
        match &report.error {
            None => tracing::info!(
                pipeline = %report.pipeline_id,
                rows_loaded = report.rows_loaded,
                rows_rejected = report.rows_rejected,
                seconds = report.duration().as_secs_f64(),
                "run succeeded"
            ),
            Some(e) => tracing::error!(
                pipeline = %report.pipeline_id,
                attempts = report.attempts,
                error = %error_chain(e),
                "run failed"
            ),
        }
        observe::end(watch, options, &report).await;
        report
    }

    /// Runs one attempt as a task of its own, so that it ends its bookkeeping (rolled back, or
    /// committed with its cursors saved) even when the run's future is dropped.
    async fn attempt(&self, env: AttemptEnv) -> (AttemptStats, Result<(), RunError>) {
        let task = tokio::spawn(self.clone().attempt_task(env));
        match task.await {
            Ok(outcome) => outcome,
            Err(e) => {
                let e = StageError::Component {
                    stage: Stage::Load,
                    component: "runner".into(),
                    error: ComponentError::fatal_msg(format!("the attempt panicked: {e}")),
                };
                (AttemptStats::default(), Err(e.into_run_error(&self.id)))
            }
        }
    }

    async fn attempt_task(self, env: AttemptEnv) -> (AttemptStats, Result<(), RunError>) {
        test_hook::pause_before_load().await;
        let cancel = env.cancel.child_token();
        let probe = RunContext::builder(self.id.clone())
            .run_id(env.run_id.clone())
            .logical_date(env.logical_date)
            .attempt(env.number)
            .params(self.params.clone())
            .connections(env.connections.clone())
            .cancellation(cancel.clone())
            .build();
        let saved = match self.starting_state(&*env.state_store, &probe).await {
            Ok(state) => state,
            Err(e) => return (AttemptStats::default(), Err(e)),
        };
        let ctx = RunContext::builder(self.id.clone())
            .run_id(env.run_id.clone())
            .logical_date(env.logical_date)
            .attempt(env.number)
            .batch_size(self.settings.batch_size)
            .params(self.params.clone())
            .connections(env.connections.clone())
            .state(StateHandle::new(saved))
            .cancellation(cancel.clone())
            .projection(self.source_projection())
            .commit_guard(env.commit_guard.clone())
            .build();
        // The timeout cancels the attempt rather than dropping it, so every stage still rolls
        // back and stops before the next attempt opens anything.
        let timed_out = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let timer = self.settings.default_args.execution_timeout.map(|limit| {
            let (cancel, flag) = (cancel.clone(), timed_out.clone());
            tokio::spawn(async move {
                tokio::time::sleep(limit).await;
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
                cancel.cancel();
            })
        });
        let (mut stats, result) = self
            .stages(ctx.clone(), env.progress.clone(), env.workers.clone())
            .await;
        if let Some(timer) = timer {
            timer.abort();
        }
        if stats.load.is_some() {
            test_hook::pause_after_commit().await;
        }
        // The main load committed (its `load` returned Ok): the cursors go with it, whatever
        // failed after (the dead letters, or a cancellation that came too late to stop it). A
        // destination that `commits_state` wrote them in its transaction already; this copy is
        // for inspection, and for the next run if the destination ever loses its own.
        if stats.load.is_some()
            && let Some(state) = ctx.state().to_save()
            && let Err(source) = env.state_store.save(&self.id, &state).await
        {
            let e = RunError::State {
                pipeline: self.id.clone(),
                source,
            };
            return (stats, Err(e));
        }
        if timed_out.load(std::sync::atomic::Ordering::SeqCst) && result.is_err() {
            let e = RunError::Timeout {
                pipeline: self.id.clone(),
                after: self
                    .settings
                    .default_args
                    .execution_timeout
                    .unwrap_or_default(),
            };
            return (stats, Err(e));
        }
        if result.is_ok() {
            let post = Instant::now();
            if let Err(error) = self.destination.component.post_load(&ctx).await {
                // The data is committed: running the load again could duplicate it.
                let e = StageError::Component {
                    stage: Stage::Load,
                    component: self.destination.name.clone(),
                    error: error.into_fatal(),
                };
                return (stats, Err(e.into_run_error(&self.id)));
            }
            *stats.seconds.entry("load").or_default() += post.elapsed().as_secs_f64();
        }
        if env.cancel.is_cancelled() && result.is_err() {
            return (
                stats,
                Err(RunError::Cancelled {
                    pipeline: self.id.clone(),
                }),
            );
        }
        (stats, result)
    }

    /// The state a run starts from: the one the destination committed with its last load when
    /// it keeps one ([`Destination::commits_state`](crate::Destination::commits_state)), which
    /// wins over the store's (saved only after the commit, so possibly older); else the
    /// store's. Read only: `plan` starts from it too. `ctx` gives the destination its
    /// connections and cancellation.
    pub(crate) async fn starting_state(
        &self,
        store: &dyn StateStore,
        ctx: &RunContext,
    ) -> Result<crate::state::State, RunError> {
        let stored = store
            .load(&self.id)
            .await
            .map_err(|source| RunError::State {
                pipeline: self.id.clone(),
                source,
            })?;
        let destination = &self.destination;
        if !destination.component.commits_state() {
            return Ok(stored);
        }
        let committed = destination
            .component
            .saved_state(&self.id, ctx)
            .await
            .map_err(|error| {
                StageError::Component {
                    stage: Stage::Load,
                    component: destination.name.clone(),
                    error,
                }
                .into_run_error(&self.id)
            })?;
        if committed.is_some() {
            tracing::debug!(pipeline = %self.id, destination = %destination.name,
                "using the state committed with the destination's last load");
        }
        Ok(committed.unwrap_or(stored))
    }

    async fn stages(
        &self,
        ctx: RunContext,
        progress: Arc<Progress>,
        workers: WorkerPool,
    ) -> (AttemptStats, Result<(), RunError>) {
        let cap = self.settings.channel_capacity;
        let cancel = ctx.cancellation().clone();
        let (src_tx, src_rx) = channel(cap, cancel.clone());
        let (dst_tx, dst_rx) = channel(cap, cancel.clone());
        let (dl_tx, dl_rx) = match &self.dead_letter {
            Some(_) => {
                let (t, r) = channel(cap, cancel.clone());
                (Some(t), Some(r))
            }
            None => (None, None),
        };

        let source = self.source.clone();
        let src_ctx = ctx.clone();
        let extract = tokio::spawn(async move {
            let start = Instant::now();
            let mut tx = src_tx;
            let result = source.component.extract(&src_ctx, &mut tx).await;
            let rows = tx.rows_sent();
            if result.is_ok() {
                tx.finish().await;
            }
            let result = result.map_err(|error| StageError::Component {
                stage: Stage::Extract,
                component: source.name.clone(),
                error,
            });
            (rows, start.elapsed(), result)
        });

        let preparer =
            self.destination
                .component
                .preparer()
                .map(|preparer| chain::DestinationPreparer {
                    name: self.destination.name.clone(),
                    preparer,
                });
        let mut steps = self.transforms.clone();
        steps.extend(self.destination_check.clone());
        let work = chain::Work {
            source: self.source.name.clone(),
            steps: Arc::new(steps),
            preparer,
            budget: self.settings.max_rejected,
        };
        let chain = tokio::spawn(chain::run_chain(
            work,
            ctx.clone(),
            src_rx,
            dst_tx,
            dl_tx,
            progress,
            workers,
        ));

        let load = tokio::spawn(load_stage(
            self.destination.clone(),
            Stage::Load,
            ctx.clone(),
            dst_rx,
        ));
        let dead_letter = self.dead_letter.clone().zip(dl_rx).map(|(d, rx)| {
            // Only the main load carries the cursor.
            let ctx = ctx.without_state_commit();
            tokio::spawn(load_stage(d, Stage::DeadLetter, ctx, rx))
        });

        let mut stats = AttemptStats::default();
        let mut errors: Vec<StageError> = Vec::new();
        let panicked =
            |stage: Stage, name: &str, e: tokio::task::JoinError| StageError::Component {
                stage,
                component: name.to_owned(),
                error: ComponentError::fatal_msg(format!("panicked: {e}")),
            };

        match extract.await {
            Ok((rows, took, result)) => {
                stats.rows_extracted = rows;
                stats.seconds.insert("extract", took.as_secs_f64());
                if let Err(e) = result {
                    errors.push(e);
                }
            }
            Err(e) => errors.push(panicked(Stage::Extract, &self.source.name, e)),
        }
        let mut dead_letter_tx = None;
        match chain.await {
            Ok(Ok((c, dl_tx))) => {
                dead_letter_tx = dl_tx;
                // The source's count leaves out its deferred batches, decoded here.
                stats.rows_extracted = c.rows_in;
                stats.rows_transformed = c.rows_out;
                stats.rejected = c.rejected;
                stats.seconds.insert("transform", c.cpu.as_secs_f64());
            }
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(panicked(Stage::Transform, "transform chain", e)),
        }
        match load.await {
            Ok((took, Ok(summary))) => {
                stats.seconds.insert("load", took.as_secs_f64());
                stats.load = Some(summary);
            }
            Ok((_, Err(e))) => errors.push(e),
            Err(e) => errors.push(panicked(Stage::Load, &self.destination.name, e)),
        }
        if let Some(dl) = dead_letter {
            // Rejected rows commit only after the main load did, so a failed attempt leaves no
            // dead letters that its retry would write again.
            let main_committed = errors.is_empty();
            match dead_letter_tx.take() {
                Some(tx) if main_committed => tx.finish().await,
                other => drop(other),
            }
            match dl.await {
                Ok((_, Ok(summary))) => stats.dead_lettered = summary.rows_loaded,
                // The main data is committed: a retry could duplicate it.
                Ok((
                    _,
                    Err(StageError::Component {
                        stage,
                        component,
                        error,
                    }),
                )) if main_committed => {
                    errors.push(StageError::Component {
                        stage,
                        component,
                        error: error.into_fatal(),
                    });
                }
                Ok((_, Err(e))) => errors.push(e),
                Err(e) => errors.push(panicked(Stage::DeadLetter, "dead_letter", e)),
            }
        }
        // The first stage's own failure is the cause; echoes of it in other stages are not.
        let primary = match errors.iter().position(|e| !e.is_secondary()) {
            Some(i) => Some(errors.swap_remove(i)),
            None => errors.into_iter().next(),
        };
        let result = match primary {
            None => Ok(()),
            Some(_) if cancel.is_cancelled() => Err(RunError::Cancelled {
                pipeline: self.id.clone(),
            }),
            Some(e) => Err(e.into_run_error(&self.id)),
        };
        (stats, result)
    }
}

async fn load_stage(
    destination: Named<dyn crate::component::Destination>,
    stage: Stage,
    ctx: RunContext,
    mut rx: crate::stream::BatchReceiver,
) -> (Duration, Result<LoadSummary, StageError>) {
    let start = Instant::now();
    let wrap = |error| StageError::Component {
        stage,
        component: destination.name.clone(),
        error,
    };
    let result = async {
        destination.component.pre_load(&ctx).await.map_err(wrap)?;
        destination
            .component
            .load(&mut rx, &ctx)
            .await
            .map_err(wrap)
    }
    .await;
    (start.elapsed(), result)
}

#[cfg(test)]
mod budget_tests;
#[cfg(test)]
mod deferred_tests;
#[cfg(test)]
mod prepare_tests;
#[cfg(test)]
mod state_commit_tests;
#[cfg(test)]
mod tests;
