//! The run report: rows per stage, time per stage, attempts and the error.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::component::LoadSummary;
use crate::error::{RunError, error_chain};

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunStatus {
    /// Loaded and committed.
    Succeeded,
    /// Failed after its last attempt.
    Failed,
    /// Cancelled; the destination rolled back.
    Cancelled,
}

/// What one run did.
#[derive(Debug, Serialize)]
#[must_use = "a run's failure is in its report: check `status` or `is_success()`"]
#[non_exhaustive]
pub struct RunReport {
    /// The pipeline's id.
    pub pipeline_id: String,
    /// The run's id.
    pub run_id: String,
    /// How it ended.
    pub status: RunStatus,
    /// Attempts made (1 when the first succeeded).
    pub attempts: u32,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// The logical date it ran for.
    pub logical_date: DateTime<Utc>,
    /// Rows the source produced (last attempt).
    pub rows_extracted: u64,
    /// Rows that left the transform chain (last attempt).
    pub rows_transformed: u64,
    /// Rows rejected by transforms, in total (last attempt).
    pub rows_rejected: u64,
    /// Rows rejected, by transform.
    pub rejected_by_transform: BTreeMap<String, u64>,
    /// Rows the destination wrote (0 unless committed).
    pub rows_loaded: u64,
    /// The destination's own summary (table, inserts, updates).
    pub load: Option<LoadSummary>,
    /// Rows written to the dead-letter destination.
    pub rows_dead_lettered: u64,
    /// Seconds per stage: `extract` (source wall time), `transform` (CPU time in transforms),
    /// `load` (destination wall time), `total`.
    pub seconds: BTreeMap<&'static str, f64>,
    /// The error of the last attempt, with its causes.
    #[serde(serialize_with = "ser_error")]
    pub error: Option<RunError>,
}

fn ser_error<S: serde::Serializer>(e: &Option<RunError>, s: S) -> Result<S::Ok, S::Error> {
    match e {
        Some(e) => s.serialize_str(&error_chain(e)),
        None => s.serialize_none(),
    }
}

impl RunReport {
    /// A report of a run that has counted nothing yet, started now (for code that builds or
    /// displays reports, such as a test of a report's rendering; the runner fills in the rest).
    pub fn new(
        pipeline_id: impl Into<String>,
        run_id: impl Into<String>,
        status: RunStatus,
    ) -> Self {
        let now = Utc::now();
        Self {
            pipeline_id: pipeline_id.into(),
            run_id: run_id.into(),
            status,
            attempts: 1,
            started_at: now,
            logical_date: now,
            rows_extracted: 0,
            rows_transformed: 0,
            rows_rejected: 0,
            rejected_by_transform: BTreeMap::new(),
            rows_loaded: 0,
            load: None,
            rows_dead_lettered: 0,
            seconds: BTreeMap::new(),
            error: None,
        }
    }

    /// True when the run committed.
    pub fn is_success(&self) -> bool {
        self.status == RunStatus::Succeeded
    }

    /// Converts to a `Result`.
    ///
    /// # Errors
    /// The run's error when it did not succeed.
    pub fn into_result(self) -> Result<Self, RunError> {
        match self.error {
            Some(e) if self.status != RunStatus::Succeeded => Err(e),
            _ => Ok(self),
        }
    }

    /// Total wall time.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.seconds.get("total").copied().unwrap_or(0.0))
    }
}

/// Live counters a caller can poll while a run goes on (the CLI's progress display).
#[derive(Debug, Default)]
pub struct Progress {
    extracted: AtomicU64,
    transformed: AtomicU64,
    rejected: AtomicU64,
}

impl Progress {
    /// A fresh set of counters.
    pub fn new() -> Self {
        Self::default()
    }
    /// Rows read by the source so far.
    pub fn extracted(&self) -> u64 {
        self.extracted.load(Ordering::Relaxed)
    }
    /// Rows handed to the destination so far.
    pub fn transformed(&self) -> u64 {
        self.transformed.load(Ordering::Relaxed)
    }
    /// Rows rejected so far.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
    pub(crate) fn add_extracted(&self, n: u64) {
        self.extracted.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn add_transformed(&self, n: u64) {
        self.transformed.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn add_rejected(&self, n: u64) {
        self.rejected.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn reset(&self) {
        self.extracted.store(0, Ordering::Relaxed);
        self.transformed.store(0, Ordering::Relaxed);
        self.rejected.store(0, Ordering::Relaxed);
    }
}
