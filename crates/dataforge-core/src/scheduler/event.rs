//! `RunEvent`: what the scheduler tells its subscribers about each run.

use crate::schedule::DataInterval;
use crate::state::RunState;

/// A run started or ended; subscribe with [`SchedulerHandle::subscribe`](super::SchedulerHandle::subscribe).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RunEvent {
    /// A run started.
    Started {
        /// The pipeline's `dag_id`.
        pipeline_id: String,
        /// The run's id.
        run_id: String,
        /// The data interval it covers.
        interval: DataInterval,
    },
    /// A run committed its load.
    Succeeded {
        /// The pipeline's `dag_id`.
        pipeline_id: String,
        /// The run's id.
        run_id: String,
        /// The data interval it covers.
        interval: DataInterval,
    },
    /// A run failed, was cancelled, or its config did not render.
    Failed {
        /// The pipeline's `dag_id`.
        pipeline_id: String,
        /// The run's id.
        run_id: String,
        /// The data interval it covers.
        interval: DataInterval,
        /// `failed` or `cancelled`.
        state: RunState,
        /// The error with its causes, when there is one.
        error: Option<String>,
    },
}

impl RunEvent {
    /// The pipeline the event is about.
    pub fn pipeline_id(&self) -> &str {
        match self {
            Self::Started { pipeline_id, .. }
            | Self::Succeeded { pipeline_id, .. }
            | Self::Failed { pipeline_id, .. } => pipeline_id,
        }
    }

    /// The interval of the run the event is about.
    pub fn interval(&self) -> DataInterval {
        match self {
            Self::Started { interval, .. }
            | Self::Succeeded { interval, .. }
            | Self::Failed { interval, .. } => *interval,
        }
    }
}
