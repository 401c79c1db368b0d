//! [`RunOptions`]: what a run needs from its environment.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::commit_guard::CommitGuard;
use super::pool::WorkerPool;
use super::report::Progress;
use crate::connection::{ConnectionProvider, EnvConnections};
use crate::observe::RunObserver;
use crate::state::{FileStateStore, MemoryStateStore, StateStore};

/// What a run needs from its environment.
///
/// A clone is for another run: it shares the connections, the state store and the worker pool,
/// but gets a **new** cancellation token, **new** progress counters, no `run_id` and no commit guard, so cancelling or polling
/// one run never reaches another by accident. To cancel several runs with one token, give each
/// a child of it (`options.cancel = parent.child_token()`). Runs given the *same* `RunOptions`
/// (by reference) do share its token and counters.
pub struct RunOptions {
    /// Resolves `conn_id`s (default: `DATAFORGE_CONN_*` variables).
    pub connections: Arc<dyn ConnectionProvider>,
    /// Keeps cursors (default: files under `DATAFORGE_HOME`).
    pub state_store: Arc<dyn StateStore>,
    /// Cancels the run: the destination rolls back.
    pub cancel: CancellationToken,
    /// The logical date (default: now).
    pub logical_date: Option<DateTime<Utc>>,
    /// The run's id (default: a new UUIDv7): the id its templates rendered `{{ run_id }}`
    /// with, or that a caller recorded the run under before it starts. Not copied by `clone`:
    /// two runs never share an id.
    pub run_id: Option<String>,
    /// Live counters to poll.
    pub progress: Arc<Progress>,
    /// The threads the transforms run on (default: [`WorkerPool::global`], one per core,
    /// shared by the process's runs).
    pub workers: WorkerPool,
    /// Asked right before the destination commits; a refusal rolls the load back (default:
    /// none). Not copied by `clone`: it guards one run.
    pub commit_guard: Option<Arc<dyn CommitGuard>>,
    /// Told when each run starts and ends (lineage); shared by clones.
    pub observers: Vec<Arc<dyn RunObserver>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            connections: Arc::new(EnvConnections),
            state_store: Arc::new(FileStateStore::from_env()),
            cancel: CancellationToken::new(),
            logical_date: None,
            run_id: None,
            progress: Arc::new(Progress::new()),
            workers: WorkerPool::global(),
            commit_guard: None,
            observers: Vec::new(),
        }
    }
}

impl Clone for RunOptions {
    /// The same environment for another run, with its own cancellation token, progress
    /// counters and run id (see [`RunOptions`]).
    fn clone(&self) -> Self {
        Self {
            connections: self.connections.clone(),
            state_store: self.state_store.clone(),
            cancel: CancellationToken::new(),
            logical_date: self.logical_date,
            run_id: None,
            progress: Arc::new(Progress::new()),
            workers: self.workers.clone(),
            commit_guard: None,
            observers: self.observers.clone(),
        }
    }
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("cancelled", &self.cancel.is_cancelled())
            .field("logical_date", &self.logical_date)
            .field("run_id", &self.run_id)
            .field("progress", &self.progress)
            .field("workers", &self.workers)
            .field("observers", &self.observers.len())
            .finish_non_exhaustive()
    }
}

impl RunOptions {
    /// A new run id (a UUIDv7), as a run gets when `run_id` is not set.
    pub fn new_run_id() -> String {
        uuid::Uuid::now_v7().to_string()
    }

    /// Defaults, but with state kept in memory only (nothing written under `DATAFORGE_HOME`):
    /// for tests and one-off runs.
    pub fn in_memory() -> Self {
        Self {
            state_store: Arc::new(MemoryStateStore::default()),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clone_has_its_own_cancellation_and_progress() {
        let first = RunOptions::in_memory();
        first.progress.add_extracted(5);
        let first = RunOptions {
            run_id: Some("run-1".into()),
            ..first
        };
        let second = first.clone();
        first.cancel.cancel();
        assert!(!second.cancel.is_cancelled());
        assert_eq!(second.progress.extracted(), 0);
        assert_eq!(second.run_id, None);
        assert!(Arc::ptr_eq(&first.state_store, &second.state_store));
    }
}
