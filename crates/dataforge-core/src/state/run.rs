//! Run history: one [`RunRecord`] per run, kept by a [`StateStore`](super::StateStore).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::runner::{RunReport, RunStatus};

/// What started a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunTrigger {
    /// `dataforge run`, or a service calling `Pipeline::run` itself.
    Manual,
    /// The scheduler, when the run's data interval ended.
    Scheduled,
    /// `dataforge backfill`.
    Backfill,
    /// `dataforge trigger`.
    Trigger,
}

/// Where a run is in its life (Airflow's `DagRunState`, plus `cancelled`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunState {
    /// Created, not started.
    Queued,
    /// Started, not ended.
    Running,
    /// Loaded and committed.
    Success,
    /// Failed after its last attempt.
    Failed,
    /// Cancelled; the destination rolled back.
    Cancelled,
}

macro_rules! names {
    ($ty:ty { $($variant:ident = $name:literal),* $(,)? }) => {
        impl $ty {
            /// The name stored and shown (`snake_case`, as serde writes it).
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),* }
            }
            /// The value named `name` (as [`Self::as_str`] writes it).
            pub fn parse(name: &str) -> Option<Self> {
                match name { $($name => Some(Self::$variant),)* _ => None }
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

names!(RunTrigger {
    Manual = "manual",
    Scheduled = "scheduled",
    Backfill = "backfill",
    Trigger = "trigger",
});

names!(RunState {
    Queued = "queued",
    Running = "running",
    Success = "success",
    Failed = "failed",
    Cancelled = "cancelled",
});

impl RunState {
    /// True once the run has ended (success, failed or cancelled).
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Success | Self::Failed | Self::Cancelled)
    }
}

impl From<RunStatus> for RunState {
    fn from(status: RunStatus) -> Self {
        match status {
            RunStatus::Succeeded => Self::Success,
            RunStatus::Cancelled => Self::Cancelled,
            // `RunStatus` is non-exhaustive: a new ending is not a success.
            _ => Self::Failed,
        }
    }
}

/// One run in the history: what it covered, what started it, how it went.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use dataforge_core::{RunRecord, RunState, RunTrigger};
///
/// let day = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let mut run = RunRecord::new("orders", "run-1", day, RunTrigger::Scheduled)
///     .with_data_interval(day, day + chrono::Duration::days(1));
/// run.start(Utc::now());
/// assert_eq!(run.status, RunState::Running);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunRecord {
    /// The pipeline's id (`dag_id`).
    pub pipeline_id: String,
    /// The run's id (unique across pipelines).
    pub run_id: String,
    /// The logical date: the start of the data interval.
    pub logical_date: DateTime<Utc>,
    /// The data interval's start (inclusive).
    pub data_interval_start: DateTime<Utc>,
    /// The data interval's end (exclusive).
    pub data_interval_end: DateTime<Utc>,
    /// What started it.
    pub trigger: RunTrigger,
    /// Where it is.
    pub status: RunState,
    /// Attempts made so far.
    pub attempts: u32,
    /// Rows the source produced (last attempt).
    pub rows_extracted: u64,
    /// Rows the transforms rejected (last attempt).
    pub rows_rejected: u64,
    /// Rows the destination committed.
    pub rows_loaded: u64,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// Its wall time, in seconds.
    pub duration_seconds: Option<f64>,
    /// The error of its last attempt, with its causes.
    pub error: Option<String>,
}

impl RunRecord {
    /// A queued run whose data interval is the instant `logical_date` (set it with
    /// [`Self::with_data_interval`]).
    pub fn new(
        pipeline_id: impl Into<String>,
        run_id: impl Into<String>,
        logical_date: DateTime<Utc>,
        trigger: RunTrigger,
    ) -> Self {
        Self {
            pipeline_id: pipeline_id.into(),
            run_id: run_id.into(),
            logical_date,
            data_interval_start: logical_date,
            data_interval_end: logical_date,
            trigger,
            status: RunState::Queued,
            attempts: 0,
            rows_extracted: 0,
            rows_rejected: 0,
            rows_loaded: 0,
            started_at: None,
            ended_at: None,
            duration_seconds: None,
            error: None,
        }
    }

    /// The same run covering `[start, end)`.
    pub fn with_data_interval(mut self, start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        self.data_interval_start = start;
        self.data_interval_end = end;
        self
    }

    /// Marks the run as running since `at`, in its first attempt (at least).
    pub fn start(&mut self, at: DateTime<Utc>) {
        self.status = RunState::Running;
        self.attempts = self.attempts.max(1);
        self.started_at = Some(at);
    }

    /// Fills in how the run ended from its report: status, attempts, rows, times and error.
    pub fn finish(&mut self, report: &RunReport) {
        self.status = report.status.into();
        self.attempts = report.attempts;
        self.rows_extracted = report.rows_extracted;
        self.rows_rejected = report.rows_rejected;
        self.rows_loaded = report.rows_loaded;
        self.started_at = Some(report.started_at);
        let duration = report.duration();
        self.duration_seconds = Some(duration.as_secs_f64());
        self.ended_at =
            Some(report.started_at + chrono::Duration::from_std(duration).unwrap_or_default());
        self.error = report.error.as_ref().map(|e| crate::error::error_chain(e));
    }

    /// Its wall time, when it has ended.
    pub fn duration(&self) -> Option<Duration> {
        self.duration_seconds
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64)
    }
}

/// Which runs [`StateStore::runs`](super::StateStore::runs) returns: newest logical date first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunQuery {
    /// Only this pipeline's runs (all pipelines when `None`).
    pub pipeline_id: Option<String>,
    /// Only runs in this state.
    pub status: Option<RunState>,
    /// At most this many (all when `None`).
    pub limit: Option<usize>,
}

impl RunQuery {
    /// Every run of every pipeline.
    pub fn all() -> Self {
        Self::default()
    }

    /// The runs of `pipeline_id`.
    pub fn pipeline(pipeline_id: impl Into<String>) -> Self {
        Self {
            pipeline_id: Some(pipeline_id.into()),
            ..Self::default()
        }
    }

    /// Only runs in `status`.
    pub fn status(mut self, status: RunState) -> Self {
        self.status = Some(status);
        self
    }

    /// At most `limit` runs.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// True when `run` passes the filters (not the limit).
    pub fn matches(&self, run: &RunRecord) -> bool {
        self.pipeline_id
            .as_ref()
            .is_none_or(|p| *p == run.pipeline_id)
            && self.status.is_none_or(|s| s == run.status)
    }
}

/// Sorts runs as [`StateStore::runs`](super::StateStore::runs) returns them: newest logical
/// date first, then latest start, then run id (descending), so ties are stable.
pub fn sort_newest_first(runs: &mut [RunRecord]) {
    runs.sort_by(|a, b| {
        b.logical_date
            .cmp(&a.logical_date)
            .then_with(|| b.started_at.cmp(&a.started_at))
            .then_with(|| b.run_id.cmp(&a.run_id))
    });
}

/// The end of the data interval of the latest successful run of `pipeline_id` whose logical
/// date is before `before` (Airflow's `prev_data_interval_end_success`), from `store`'s
/// history; `None` without one, or when the history cannot be read (logged).
pub async fn prev_data_interval_end_success(
    store: &dyn super::StateStore,
    pipeline_id: &str,
    before: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    // Newest first: the first one before `before` is the one.
    let query = RunQuery::pipeline(pipeline_id)
        .status(RunState::Success)
        .limit(1_000);
    match store.runs(&query).await {
        Ok(runs) => runs
            .into_iter()
            .find(|r| r.logical_date < before)
            .map(|r| r.data_interval_end),
        Err(e) => {
            tracing::warn!(
                pipeline = pipeline_id,
                error = %crate::error_chain(&e),
                "cannot read the run history: prev_data_interval_end_success is left empty"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn prev_success_is_the_latest_successful_run_before_the_logical_date() {
        use chrono::TimeZone as _;
        let store = crate::state::MemoryStateStore::default();
        let day = |d: u32| {
            Utc.with_ymd_and_hms(2025, 3, d, 0, 0, 0)
                .single()
                .unwrap_or_default()
        };
        for (d, state) in [
            (1, RunState::Success),
            (2, RunState::Success),
            (3, RunState::Failed),
            (5, RunState::Success),
        ] {
            let mut run = RunRecord::new("p", format!("run-{d}"), day(d), RunTrigger::Scheduled)
                .with_data_interval(day(d), day(d + 1));
            run.status = state;
            crate::state::StateStore::record_run(&store, &run)
                .await
                .unwrap_or_default();
        }
        // Before the 4th: the 2nd (the failed 3rd does not count, the later 5th neither).
        assert_eq!(
            prev_data_interval_end_success(&store, "p", day(4)).await,
            Some(day(3))
        );
        assert_eq!(
            prev_data_interval_end_success(&store, "p", day(1)).await,
            None
        );
        assert_eq!(
            prev_data_interval_end_success(&store, "other", day(9)).await,
            None
        );
    }

    #[test]
    fn names_round_trip_and_match_serde() {
        for s in [
            RunState::Queued,
            RunState::Running,
            RunState::Success,
            RunState::Failed,
            RunState::Cancelled,
        ] {
            assert_eq!(RunState::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_value(s).expect("serialise"),
                serde_json::json!(s.as_str())
            );
        }
        for t in [
            RunTrigger::Manual,
            RunTrigger::Scheduled,
            RunTrigger::Backfill,
            RunTrigger::Trigger,
        ] {
            assert_eq!(RunTrigger::parse(t.as_str()), Some(t));
            assert_eq!(
                serde_json::to_value(t).expect("serialise"),
                serde_json::json!(t.as_str())
            );
        }
        assert_eq!(RunState::parse("done"), None);
    }

    #[test]
    fn finish_copies_the_report() {
        let mut report = RunReport::new("orders", "run-1", RunStatus::Succeeded);
        report.rows_extracted = 10;
        report.rows_rejected = 2;
        report.rows_loaded = 8;
        report.attempts = 2;
        report.seconds.insert("total", 1.5);
        let mut run = RunRecord::new("orders", "run-1", report.logical_date, RunTrigger::Manual);
        run.start(report.started_at);
        run.finish(&report);
        assert_eq!(run.status, RunState::Success);
        assert_eq!(
            (run.rows_extracted, run.rows_rejected, run.rows_loaded),
            (10, 2, 8)
        );
        assert_eq!(run.attempts, 2);
        assert_eq!(run.duration(), Some(Duration::from_millis(1500)));
        assert_eq!(
            run.ended_at,
            Some(report.started_at + chrono::Duration::milliseconds(1500))
        );
        assert!(run.error.is_none());
    }
}
