//! Errors of the scheduler.

use crate::state::StateError;

/// Why the scheduler could not start or take a command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchedulerError {
    /// The run history could not be read to recover the last scheduled intervals.
    #[error("cannot read the run history of pipeline \"{pipeline_id}\"")]
    Recovery {
        /// The pipeline.
        pipeline_id: String,
        /// The store's error.
        #[source]
        source: StateError,
    },
    /// The scheduler has stopped.
    #[error("the scheduler has stopped")]
    Stopped,
}
