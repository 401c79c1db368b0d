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
