//! The scheduler: runs loaded pipelines when their data intervals end, with catchup,
//! `max_active_runs`, a global concurrency limit, reload and a graceful stop.
//!
//! A service builds a [`Scheduler`], starts it on its tokio runtime and keeps the
//! [`SchedulerHandle`]; `dataforge serve` is this plus a file watcher and signals.

mod builder;
mod entry;
mod error;
mod event;
mod handle;
mod run_loop;
mod run_task;

pub use builder::Scheduler;
pub use error::SchedulerError;
pub use event::RunEvent;
pub use handle::SchedulerHandle;

#[cfg(test)]
mod tests;
