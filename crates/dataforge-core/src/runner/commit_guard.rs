//! [`CommitGuard`]: the last word before a destination commits a load.
//!
//! A scheduler that shares its runs with other processes holds each run under a lease; a
//! process that stalled past its lease (a network pause, SIGSTOP) may find on waking that
//! another process has run the interval. The guard, called right before the commit, renews
//! the lease or refuses, and a refused load rolls back instead of committing a second copy.

use crate::error::BoxError;

/// Decides, right before a destination commits, whether the load may commit: a process that
/// lost its run's lease refuses, and the load rolls back instead of committing a second copy.
/// Set it in [`RunOptions::commit_guard`](super::RunOptions::commit_guard);
/// destinations reach it through [`RunContext::before_commit`](crate::RunContext::before_commit).
///
/// ```
/// use dataforge_core::{BoxError, async_trait, runner::CommitGuard};
///
/// /// Refuses every commit (a dry run).
/// struct DryRun;
///
/// #[async_trait]
/// impl CommitGuard for DryRun {
///     async fn check(&self) -> Result<(), BoxError> {
///         Err("a dry run commits nothing".into())
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait CommitGuard: Send + Sync + 'static {
    /// `Ok` when the load may commit now; the error says why not (the load rolls back).
    ///
    /// # Errors
    /// The commit is refused.
    async fn check(&self) -> Result<(), BoxError>;
}
