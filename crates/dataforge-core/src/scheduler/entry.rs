//! `Entry`: one scheduled pipeline, its timetable and the last interval it scheduled.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::SchedulerError;
use crate::config::LoadedPipeline;
use crate::schedule::{DataInterval, Timetable};
use crate::state::{RunQuery, RunTrigger, StateStore};

/// How many recent runs recovery reads to find the latest scheduled one.
const RECOVERY_WINDOW: usize = 100;

/// A pipeline the scheduler runs.
pub(super) struct Entry {
    /// The loaded pipeline (shared with its running runs).
    pub loaded: Arc<LoadedPipeline>,
    /// When its runs are due.
    pub timetable: Timetable,
    /// The last interval scheduled (started), `None` before the first.
    pub last: Option<DataInterval>,
    /// The next interval as computed when `last` last changed (`None` inside: nothing more);
    /// only its due time is read from it, the run's interval is computed when it starts.
    pub cached: Option<Option<DataInterval>>,
}

impl Entry {
    /// The pipeline's `dag_id`.
    pub fn id(&self) -> &str {
        &self.loaded.config.dag_id
    }

    /// The next interval to run and when it is due (`None`: nothing more to schedule).
    pub fn next(&self, now: DateTime<Utc>) -> Option<DataInterval> {
        self.timetable.next_run(self.last, now)
    }

    /// When the next run is due, computed once per `last` (a cron search is the loop's cost).
    pub fn next_due(&mut self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.cached.is_none() {
            self.cached = Some(self.next(now));
        }
        self.cached.flatten().map(|iv| iv.due())
    }

    /// Marks `interval` as scheduled.
    pub fn scheduled(&mut self, interval: DataInterval) {
        self.last = Some(interval);
        self.cached = None;
    }
}

/// The interval of the latest scheduled run in the history: a restart resumes after it.
pub(super) async fn recover_last(
    store: &dyn StateStore,
    pipeline_id: &str,
) -> Result<Option<DataInterval>, SchedulerError> {
    let runs = store
        .runs(&RunQuery::pipeline(pipeline_id).limit(RECOVERY_WINDOW))
        .await
        .map_err(|source| SchedulerError::Recovery {
            pipeline_id: pipeline_id.to_owned(),
            source,
        })?;
    Ok(runs
        .iter()
        .filter(|r| r.trigger == RunTrigger::Scheduled)
        .map(|r| DataInterval::new(r.data_interval_start, r.data_interval_end))
        .max())
}
