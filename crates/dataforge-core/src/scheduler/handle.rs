//! `SchedulerHandle`: reload, subscribe to and stop a running scheduler.

use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::run_loop::Command;
use super::{RunEvent, SchedulerError};
use crate::config::LoadedPipeline;

/// Controls a started [`Scheduler`](super::Scheduler).
#[derive(Debug)]
pub struct SchedulerHandle {
    commands: mpsc::UnboundedSender<Command>,
    events: broadcast::Sender<RunEvent>,
    task: JoinHandle<()>,
}

impl SchedulerHandle {
    pub(super) fn new(
        commands: mpsc::UnboundedSender<Command>,
        events: broadcast::Sender<RunEvent>,
        task: JoinHandle<()>,
    ) -> Self {
        Self {
            commands,
            events,
            task,
        }
    }

    /// The run events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<RunEvent> {
        self.events.subscribe()
    }

    /// Schedules `pipelines` instead of the current ones: a `dag_id` already scheduled keeps
    /// its last scheduled interval, a new one recovers it from the history, a missing one is
    /// no longer scheduled (its running runs finish).
    ///
    /// # Errors
    /// The scheduler has stopped.
    pub fn replace_pipelines(&self, pipelines: Vec<LoadedPipeline>) -> Result<(), SchedulerError> {
        self.commands
            .send(Command::Replace(pipelines))
            .map_err(|_| SchedulerError::Stopped)
    }

    /// Stops scheduling, lets the running loads finish within `grace`, then cancels the rest
    /// (they roll back); returns once every run's outcome is recorded.
    pub async fn stop(self, grace: Duration) {
        let (done, wait) = oneshot::channel();
        if self.commands.send(Command::Stop { grace, done }).is_ok() {
            let _ = wait.await;
        }
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the scheduler's task panicked");
        }
    }
}
