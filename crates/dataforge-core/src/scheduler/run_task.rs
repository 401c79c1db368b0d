//! One scheduled run: render, record, run, record, tell the subscribers.

use std::sync::Arc;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::RunEvent;
use crate::config::LoadedPipeline;
use crate::error::error_chain;
use crate::registry::Registry;
use crate::runner::RunOptions;
use crate::schedule::{Clock, DataInterval};
use crate::state::{RunRecord, RunState, RunTrigger, StateStore};

/// What a scheduled run needs.
pub(super) struct RunTask {
    pub loaded: Arc<LoadedPipeline>,
    pub interval: DataInterval,
    pub registry: Arc<Registry>,
    pub store: Arc<dyn StateStore>,
    pub clock: Arc<dyn Clock>,
    pub options: RunOptions,
    pub cancel: CancellationToken,
    pub events: broadcast::Sender<RunEvent>,
}

impl RunTask {
    /// Runs the interval and records its outcome; returns the pipeline's `dag_id`.
    pub async fn run(self) -> String {
        let id = self.loaded.config.dag_id.clone();
        let run_id = RunOptions::new_run_id();
        let iv = self.interval;
        let mut record = RunRecord::new(&id, &run_id, iv.start, RunTrigger::Scheduled)
            .with_data_interval(iv.start, iv.end);
        record.start(self.clock.now());
        crate::observe::run_metrics::record_scheduler_lag(&id, self.clock.now() - iv.due());
        record_run(self.store.as_ref(), &record).await;
        let _ = self.events.send(RunEvent::Started {
            pipeline_id: id.clone(),
            run_id: run_id.clone(),
            interval: iv,
        });
        tracing::info!(pipeline = %id, %run_id, interval = %iv, "scheduled run started");

        let prev =
            crate::state::prev_data_interval_end_success(self.store.as_ref(), &id, iv.start).await;
        let ctx = self
            .loaded
            .config
            .template_context(run_id.clone(), iv.start)
            .with_prev_data_interval_end_success(prev);
        let pipeline = match self.loaded.pipeline_for(&ctx, &self.registry) {
            Ok(p) => p,
            Err(errors) => {
                let error = errors.to_string();
                tracing::error!(pipeline = %id, %run_id, %error, "the config does not render for this run");
                record.status = RunState::Failed;
                record.ended_at = Some(self.clock.now());
                record.error = Some(error.clone());
                record_run(self.store.as_ref(), &record).await;
                let _ = self.events.send(RunEvent::Failed {
                    pipeline_id: id.clone(),
                    run_id,
                    interval: iv,
                    state: RunState::Failed,
                    error: Some(error),
                });
                return id;
            }
        };
        let mut options = self.options.clone();
        options.state_store = self.store.clone();
        options.cancel = self.cancel;
        options.logical_date = Some(iv.start);
        options.run_id = Some(run_id.clone());
        let report = pipeline.run(&options).await;
        record.finish(&report);
        record_run(self.store.as_ref(), &record).await;
        let event = if record.status == RunState::Success {
            tracing::info!(pipeline = %id, %run_id, rows = report.rows_loaded, "scheduled run succeeded");
            RunEvent::Succeeded {
                pipeline_id: id.clone(),
                run_id,
                interval: iv,
            }
        } else {
            tracing::warn!(pipeline = %id, %run_id, status = %record.status, error = ?record.error, "scheduled run did not succeed");
            RunEvent::Failed {
                pipeline_id: id.clone(),
                run_id,
                interval: iv,
                state: record.status,
                error: record.error.clone(),
            }
        };
        let _ = self.events.send(event);
        id
    }
}

/// Records a run; a failure is logged, not fatal (the run's data stands either way).
async fn record_run(store: &dyn StateStore, record: &RunRecord) {
    if let Err(e) = store.record_run(record).await {
        tracing::error!(
            pipeline = %record.pipeline_id,
            run_id = %record.run_id,
            error = %error_chain(&e),
            "cannot record the run in the state store's history"
        );
    }
}
