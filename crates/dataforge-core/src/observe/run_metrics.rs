//! The run metrics the runner and the scheduler record, and their names.
//!
//! Labels stay few and bounded: the pipeline's id, the status, the stage. Never a run id, a
//! URL or a secret.

use std::time::Duration;

use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};

use crate::runner::{RunReport, RunStatus};

/// Runs ended, by `pipeline` and `status` (`succeeded`, `failed`, `cancelled`).
pub const RUNS: &str = "dataforge_runs_total";
/// Runs going on now, by `pipeline`.
pub const RUNS_RUNNING: &str = "dataforge_runs_running";
/// Rows the source produced, by `pipeline` (each run's last attempt).
pub const ROWS_EXTRACTED: &str = "dataforge_rows_extracted_total";
/// Rows the transforms rejected, by `pipeline`.
pub const ROWS_REJECTED: &str = "dataforge_rows_rejected_total";
/// Rows the destination committed, by `pipeline`.
pub const ROWS_LOADED: &str = "dataforge_rows_loaded_total";
/// Seconds per stage (`extract`, `transform`, `load`) of each run, by `pipeline` and `stage`.
pub const STAGE_DURATION: &str = "dataforge_stage_duration_seconds";
/// Seconds each run took in all, by `pipeline` and `status`.
pub const RUN_DURATION: &str = "dataforge_run_duration_seconds";
/// Attempts after a run's first (retries by `default_args.retries`), by `pipeline`.
pub const RUN_RETRIES: &str = "dataforge_run_retries_total";
/// How late a scheduled run started: its start minus the end of its data interval, by `pipeline`.
pub const SCHEDULER_LAG: &str = "dataforge_scheduler_lag_seconds";

/// Describes the metrics above to the installed recorder (units and help text).
pub fn describe() {
    describe_counter!(RUNS, "Runs ended, by pipeline and status.");
    describe_gauge!(RUNS_RUNNING, "Runs going on now, by pipeline.");
    describe_counter!(ROWS_EXTRACTED, "Rows the source produced, by pipeline.");
    describe_counter!(ROWS_REJECTED, "Rows the transforms rejected, by pipeline.");
    describe_counter!(ROWS_LOADED, "Rows the destination committed, by pipeline.");
    describe_histogram!(
        STAGE_DURATION,
        Unit::Seconds,
        "Seconds per stage of each run (extract: source wall time, transform: CPU time, load: destination wall time)."
    );
    describe_histogram!(RUN_DURATION, Unit::Seconds, "Seconds each run took in all.");
    describe_counter!(RUN_RETRIES, "Attempts after a run's first, by pipeline.");
    describe_histogram!(
        SCHEDULER_LAG,
        Unit::Seconds,
        "How late scheduled runs started after their data interval ended."
    );
}

/// Counts a run as going on until the guard is dropped (the run ended, or its future was).
#[derive(Debug)]
pub(crate) struct RunningGuard {
    pipeline: String,
}

impl RunningGuard {
    pub(crate) fn start(pipeline: &str) -> Self {
        gauge!(RUNS_RUNNING, "pipeline" => pipeline.to_owned()).increment(1.0);
        Self {
            pipeline: pipeline.to_owned(),
        }
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        gauge!(RUNS_RUNNING, "pipeline" => self.pipeline.clone()).decrement(1.0);
    }
}

/// Records how a run ended.
pub(crate) fn record_end(report: &RunReport) {
    let pipeline = report.pipeline_id.clone();
    let status = status_label(report.status);
    counter!(RUNS, "pipeline" => pipeline.clone(), "status" => status).increment(1);
    counter!(ROWS_EXTRACTED, "pipeline" => pipeline.clone()).increment(report.rows_extracted);
    counter!(ROWS_REJECTED, "pipeline" => pipeline.clone()).increment(report.rows_rejected);
    counter!(ROWS_LOADED, "pipeline" => pipeline.clone()).increment(report.rows_loaded);
    counter!(RUN_RETRIES, "pipeline" => pipeline.clone())
        .increment(u64::from(report.attempts.saturating_sub(1)));
    for (stage, seconds) in &report.seconds {
        if *stage == "total" {
            histogram!(RUN_DURATION, "pipeline" => pipeline.clone(), "status" => status)
                .record(*seconds);
        } else {
            histogram!(STAGE_DURATION, "pipeline" => pipeline.clone(), "stage" => *stage)
                .record(*seconds);
        }
    }
}

/// Records how late a scheduled run of `pipeline` started (`late` is negative when early).
pub(crate) fn record_scheduler_lag(pipeline: &str, late: chrono::TimeDelta) {
    let seconds = late.to_std().unwrap_or(Duration::ZERO).as_secs_f64();
    histogram!(SCHEDULER_LAG, "pipeline" => pipeline.to_owned()).record(seconds);
}

/// The `status` label of a run's status.
fn status_label(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Succeeded => "succeeded",
        RunStatus::Failed => "failed",
        RunStatus::Cancelled => "cancelled",
    }
}
