//! The runner: source → transforms → destination as concurrent stages joined by bounded
//! channels, with retries, a timeout, cancellation and a [`RunReport`].

mod chain;
mod options;
mod pool;
mod report;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

pub use options::RunOptions;
pub use pool::WorkerPool;
pub use report::{Progress, RunReport, RunStatus};

use crate::component::LoadSummary;
use crate::context::RunContext;
use crate::error::{ComponentError, RunError, Stage, error_chain};
use crate::pipeline::{Named, Pipeline};
use crate::state::StateHandle;
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

    fn into_run_error(self, pipeline: &str) -> RunError {
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

impl Pipeline {
    /// Runs the pipeline once, with retries per `default_args`.
    ///
    /// The report says how it ended; it never panics on a component's failure.
    pub async fn run(&self, options: &RunOptions) -> RunReport {
        let started = Instant::now();
        let started_at = Utc::now();
        let logical_date = options.logical_date.unwrap_or(started_at);
        let run_id = uuid::Uuid::now_v7().to_string();
        let args = &self.settings.default_args;
        let mut attempt = 0;
        let (stats, error) = loop {
            attempt += 1;
            options.progress.reset();
            let (stats, result) = self.attempt(attempt, &run_id, logical_date, options).await;
            match result {
                Ok(()) => break (stats, None),
                Err(e)
                    if attempt <= args.retries
                        && e.is_retryable()
                        && !options.cancel.is_cancelled() =>
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
                        _ = options.cancel.cancelled() => {
                            break (stats, Some(RunError::Cancelled { pipeline: self.id.clone() }));
                        }
                    }
                }
                Err(e) => break (stats, Some(e)),
            }
        };
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
        report
    }

    async fn attempt(
        &self,
        attempt: u32,
        run_id: &str,
        logical_date: DateTime<Utc>,
        options: &RunOptions,
    ) -> (AttemptStats, Result<(), RunError>) {
        let saved = match options.state_store.load(&self.id).await {
            Ok(s) => s,
            Err(source) => {
                let e = RunError::State {
                    pipeline: self.id.clone(),
                    source,
                };
                return (AttemptStats::default(), Err(e));
            }
        };
        let cancel = options.cancel.child_token();
        let ctx = RunContext::builder(self.id.clone())
            .run_id(run_id)
            .logical_date(logical_date)
            .attempt(attempt)
            .batch_size(self.settings.batch_size)
            .params(self.params.clone())
            .connections(options.connections.clone())
            .state(StateHandle::new(saved))
            .cancellation(cancel.clone())
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
        let outcome = self
            .stages(
                ctx.clone(),
                options.progress.clone(),
                options.workers.clone(),
            )
            .await;
        if let Some(timer) = timer {
            timer.abort();
        }
        if timed_out.load(std::sync::atomic::Ordering::SeqCst) && outcome.1.is_err() {
            let e = RunError::Timeout {
                pipeline: self.id.clone(),
                after: self
                    .settings
                    .default_args
                    .execution_timeout
                    .unwrap_or_default(),
            };
            return (outcome.0, Err(e));
        }
        let (mut stats, result) = outcome;
        if result.is_ok() {
            if let Some(state) = ctx.state().to_save()
                && let Err(source) = options.state_store.save(&self.id, &state).await
            {
                let e = RunError::State {
                    pipeline: self.id.clone(),
                    source,
                };
                return (stats, Err(e));
            }
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
        if options.cancel.is_cancelled() && result.is_err() {
            return (
                stats,
                Err(RunError::Cancelled {
                    pipeline: self.id.clone(),
                }),
            );
        }
        (stats, result)
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
        let dead_letter = self
            .dead_letter
            .clone()
            .zip(dl_rx)
            .map(|(d, rx)| tokio::spawn(load_stage(d, Stage::DeadLetter, ctx.clone(), rx)));

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
mod deferred_tests;
#[cfg(test)]
mod prepare_tests;
#[cfg(test)]
mod tests;
