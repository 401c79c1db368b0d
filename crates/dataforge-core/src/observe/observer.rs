//! [`RunObserver`]: told when a run starts and when it ends, by the runner itself.

use chrono::{DateTime, Utc};

use super::LineageDataset;
use crate::runner::RunReport;

/// The run an observer is told about.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ObservedRun {
    /// The pipeline's id (`dag_id`).
    pub pipeline_id: String,
    /// The run's id (a UUIDv7 unless the caller chose another).
    pub run_id: String,
    /// The logical date the run is for.
    pub logical_date: DateTime<Utc>,
    /// What the source reads, when it says ([`Source::lineage_dataset`](crate::Source::lineage_dataset)).
    pub input: Option<LineageDataset>,
    /// What the destination writes, when it says; the columns it wrote are in the report's
    /// [`LoadSummary::columns`](crate::LoadSummary::columns) at the end.
    pub output: Option<LineageDataset>,
}

/// Told by the runner when each run starts and ends, whoever started it (`dataforge run`,
/// `serve`, `trigger`, `backfill`, a service embedding the [`Scheduler`](crate::Scheduler) or
/// calling [`Pipeline::run`](crate::Pipeline::run)); add one to
/// [`RunOptions::observers`](crate::RunOptions::observers).
///
/// The run waits for each call, so an observer must be quick and bound its own time (a
/// lineage backend that is down must not hold a run up), and it must not fail the run: it
/// logs its own failures.
///
/// ```
/// use dataforge_core::observe::{ObservedRun, RunObserver};
/// use dataforge_core::{RunReport, async_trait};
///
/// /// Logs each run's end.
/// struct Audit;
///
/// #[async_trait]
/// impl RunObserver for Audit {
///     async fn on_end(&self, run: &ObservedRun, report: &RunReport) {
///         tracing::info!(pipeline = %run.pipeline_id, rows = report.rows_loaded, "audited");
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait RunObserver: Send + Sync + 'static {
    /// The run starts (before its first attempt).
    async fn on_start(&self, _run: &ObservedRun) {}

    /// The run ended, however it ended (after its last attempt).
    async fn on_end(&self, _run: &ObservedRun, _report: &RunReport) {}
}
