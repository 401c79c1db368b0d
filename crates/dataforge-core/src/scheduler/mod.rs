//! The scheduler: runs loaded pipelines when their data intervals end, with catchup,
//! `max_active_runs`, a global concurrency limit, reload and a graceful stop.
//!
//! A service builds a [`Scheduler`], starts it on its tokio runtime and keeps the
//! [`SchedulerHandle`]; `dataforge serve` is this plus a file watcher and signals.
//!
//! Several schedulers (processes, machines, or replicas of a service) may share one state
//! store that coordinates them (PostgreSQL): each claims a due run before starting it, so each
//! run executes once, and holds it under a lease (see [`Scheduler::lease`] and
//! [`Claim`](crate::state::Claim)). No scheduler leads: each starts what it can claim, within
//! its own concurrency limit.

mod builder;
mod entry;
mod error;
mod event;
mod handle;
mod lease;
mod orphans;
mod owner;
mod run_loop;
mod run_task;

pub use builder::{DEFAULT_LEASE, Scheduler};
pub use error::SchedulerError;
pub use event::RunEvent;
pub use handle::SchedulerHandle;

#[cfg(test)]
mod tests;
