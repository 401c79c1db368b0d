//! One scheduled run: claim, render, record, run under its lease, record, tell the
//! subscribers.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::RunEvent;
use super::lease::Lease;
use crate::config::LoadedPipeline;
use crate::error::error_chain;
use crate::registry::Registry;
use crate::runner::RunOptions;
use crate::schedule::{Clock, DataInterval};
use crate::state::{Claim, ClaimRequest, RunRecord, RunState, RunTrigger, StateStore};

/// What every run a scheduler starts shares: its registry, store, clock, options, stop token,
/// event channel, and who it claims runs as for how long.
#[derive(Clone)]
pub(super) struct RunEnv {
    pub registry: Arc<Registry>,
    pub store: Arc<dyn StateStore>,
    pub clock: Arc<dyn Clock>,
    pub options: RunOptions,
    /// The run's token (give each run a child of the scheduler's).
    pub cancel: CancellationToken,
    pub events: broadcast::Sender<RunEvent>,
    /// Who this scheduler claims runs as.
    pub owner: Arc<str>,
    /// How long a claim holds without a heartbeat.
    pub lease: Duration,
}

/// What a scheduled run needs.
pub(super) struct RunTask {
    pub loaded: Arc<LoadedPipeline>,
    pub interval: DataInterval,
    pub env: RunEnv,
    /// A claim already granted (a lapsed run taken over); `None`: claim the interval first.
    pub claim: Option<Claim>,
}

impl RunTask {
    /// Claims the interval (another process may run it instead), runs it and records its
    /// outcome.
    pub async fn run(mut self) {
        let Some(claim) = self.claim().await else {
            return;
        };
        let id = self.loaded.config.dag_id.clone();
        let run_id = claim.run_id.clone();
        let iv = self.interval;
        let mut record = RunRecord::new(&id, &run_id, iv.start, RunTrigger::Scheduled)
            .with_data_interval(iv.start, iv.end);
        let max_attempts = self.loaded.config.default_args.retries.saturating_add(1);
        if claim.attempt > max_attempts {
            // Its earlier attempts' processes stopped heartbeating: no attempt is left.
            record.attempts = claim.attempt - 1;
            let error = format!(
                "the process running attempt {} stopped renewing its lease, and the pipeline \
                 allows {max_attempts} attempt(s)",
                claim.attempt - 1
            );
            return self.fail(&claim, record, error).await;
        }
        record.start(self.env.clock.now());
        record.attempts = claim.attempt;
        crate::observe::run_metrics::record_scheduler_lag(&id, self.env.clock.now() - iv.due());
        record_run(self.env.store.as_ref(), &record).await;
        let _ = self.env.events.send(RunEvent::Started {
            pipeline_id: id.clone(),
            run_id: run_id.clone(),
            interval: iv,
        });
        tracing::info!(pipeline = %id, %run_id, interval = %iv, attempt = claim.attempt, "scheduled run started");

        let prev =
            crate::state::prev_data_interval_end_success(self.env.store.as_ref(), &id, iv.start)
                .await;
        let ctx = self
            .loaded
            .config
            .template_context(run_id.clone(), iv.start)
            .with_prev_data_interval_end_success(prev);
        let pipeline = match self.loaded.pipeline_for(&ctx, &self.env.registry) {
            Ok(p) => p,
            Err(errors) => {
                let error = errors.to_string();
                tracing::error!(pipeline = %id, %run_id, %error, "the config does not render for this run");
                return self.fail(&claim, record, error).await;
            }
        };
        let cancel = std::mem::take(&mut self.env.cancel);
        let lease = self.env.store.coordinates_runs().then(|| {
            Lease::hold(
                self.env.store.clone(),
                claim.clone(),
                self.env.lease,
                cancel.clone(),
            )
        });
        let mut options = self.env.options.clone();
        options.state_store = self.env.store.clone();
        options.cancel = cancel;
        options.logical_date = Some(iv.start);
        options.run_id = Some(run_id.clone());
        options.commit_guard = lease.as_ref().map(Lease::guard);
        let report = pipeline.run(&options).await;
        record.finish(&report);
        record.attempts = claim.attempt - 1 + report.attempts;
        // The heartbeat goes on until the claim is finished: the lease must not lapse while
        // the outcome is recorded.
        let held = finish(self.env.store.as_ref(), &claim, &record, lease.as_ref()).await;
        drop(lease);
        let event = if !held {
            tracing::warn!(pipeline = %id, %run_id, attempt = claim.attempt, status = %record.status,
                "this attempt lost its lease and another process ran the interval: its outcome is not recorded");
            RunEvent::Failed {
                pipeline_id: id,
                run_id,
                interval: iv,
                state: RunState::Cancelled,
                error: Some("the run's lease was lost: another process ran it".to_owned()),
            }
        } else if record.status == RunState::Success {
            tracing::info!(pipeline = %id, %run_id, rows = report.rows_loaded, "scheduled run succeeded");
            RunEvent::Succeeded {
                pipeline_id: id,
                run_id,
                interval: iv,
            }
        } else {
            tracing::warn!(pipeline = %id, %run_id, status = %record.status, error = ?record.error, "scheduled run did not succeed");
            RunEvent::Failed {
                pipeline_id: id,
                run_id,
                interval: iv,
                state: record.status,
                error: record.error.clone(),
            }
        };
        let _ = self.env.events.send(event);
    }

    /// The claim to run under: the one given, or a new claim of the interval (`None` when
    /// another process holds it or has run it, or the store cannot say: logged).
    async fn claim(&mut self) -> Option<Claim> {
        if let Some(claim) = self.claim.take() {
            return Some(claim);
        }
        let id = &self.loaded.config.dag_id;
        let request = ClaimRequest::new(
            id,
            self.interval.start,
            self.interval.end,
            self.env.owner.as_ref(),
            RunOptions::new_run_id(),
            self.env.lease,
        );
        match self.env.store.claim_run(&request).await {
            Ok(Some(claim)) => Some(claim),
            Ok(None) => {
                tracing::debug!(pipeline = %id, interval = %self.interval, "another process has this run");
                None
            }
            Err(e) => {
                tracing::error!(pipeline = %id, interval = %self.interval, error = %error_chain(&e),
                    "cannot claim the run in the state store: not running it");
                None
            }
        }
    }

    /// Ends the run as failed with `error` before it ran.
    async fn fail(self, claim: &Claim, mut record: RunRecord, error: String) {
        record.status = RunState::Failed;
        record.ended_at = Some(self.env.clock.now());
        record.error = Some(error.clone());
        finish(self.env.store.as_ref(), claim, &record, None).await;
        let _ = self.env.events.send(RunEvent::Failed {
            pipeline_id: record.pipeline_id,
            run_id: record.run_id,
            interval: self.interval,
            state: RunState::Failed,
            error: Some(error),
        });
    }
}

/// Finishes `claim` with `record`: false when the claim was no longer held. A store that
/// cannot be written is tried again while the lease holds (its heartbeat goes on), so the
/// lease never lapses on a run whose load committed.
async fn finish(
    store: &dyn StateStore,
    claim: &Claim,
    record: &RunRecord,
    lease: Option<&Lease>,
) -> bool {
    let mut delay = Duration::from_millis(200);
    loop {
        match store.finish_claim(claim, record).await {
            Ok(held) => return held,
            Err(e) => {
                tracing::error!(
                    pipeline = %record.pipeline_id,
                    run_id = %record.run_id,
                    error = %error_chain(&e),
                    "cannot record the run's outcome in the state store"
                );
                match lease {
                    Some(lease) if !lease.is_lost() => {
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                    // The run's data stands either way.
                    _ => return true,
                }
            }
        }
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

/// The interval a claim covers.
pub(super) fn claimed_interval(claim: &Claim) -> DataInterval {
    DataInterval::new(claim.logical_date, claim.data_interval_end)
}
