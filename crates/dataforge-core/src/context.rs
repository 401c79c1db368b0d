//! [`RunContext`]: what every component sees of the run it is part of.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::connection::{Connection, ConnectionError, ConnectionProvider, EnvConnections};
use crate::projection::Projection;
use crate::run_local::RunLocals;
use crate::runner::CommitGuard;
use crate::state::StateHandle;

/// The run a component works for: ids, dates, connections, state and cancellation.
#[derive(Clone)]
pub struct RunContext {
    inner: Arc<Inner>,
    /// False for the dead-letter destination's context: only the main load commits the state.
    commits_state: bool,
}

struct Inner {
    pipeline_id: String,
    run_id: String,
    logical_date: DateTime<Utc>,
    attempt: u32,
    batch_size: usize,
    params: serde_json::Map<String, serde_json::Value>,
    connections: Arc<dyn ConnectionProvider>,
    state: StateHandle,
    cancel: CancellationToken,
    projection: Projection,
    commit_guard: Option<Arc<dyn CommitGuard>>,
    /// The values of the run's [`RunLocal`](crate::RunLocal)s: owned by the run, dropped
    /// with its last context.
    locals: RunLocals,
}

impl std::fmt::Debug for RunContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunContext")
            .field("pipeline_id", &self.inner.pipeline_id)
            .field("run_id", &self.inner.run_id)
            .field("logical_date", &self.inner.logical_date)
            .field("attempt", &self.inner.attempt)
            .finish_non_exhaustive()
    }
}

/// Builds a [`RunContext`]; the runner makes one per attempt, tests may make their own. Each
/// context built is a run of its own: its [`RunLocal`](crate::RunLocal) values start afresh.
pub struct RunContextBuilder {
    pipeline_id: String,
    run_id: Option<String>,
    logical_date: DateTime<Utc>,
    attempt: u32,
    batch_size: usize,
    params: serde_json::Map<String, serde_json::Value>,
    connections: Arc<dyn ConnectionProvider>,
    state: StateHandle,
    cancel: CancellationToken,
    projection: Projection,
    commit_guard: Option<Arc<dyn CommitGuard>>,
}

impl RunContextBuilder {
    /// Sets the run id (default: a new UUIDv7).
    pub fn run_id(mut self, id: impl Into<String>) -> Self {
        self.run_id = Some(id.into());
        self
    }
    /// Sets the logical date (default: now).
    pub fn logical_date(mut self, date: DateTime<Utc>) -> Self {
        self.logical_date = date;
        self
    }
    /// Sets the attempt number (from 1).
    pub fn attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }
    /// Sets the rows per batch.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }
    /// Sets the template parameters.
    pub fn params(mut self, params: serde_json::Map<String, serde_json::Value>) -> Self {
        self.params = params;
        self
    }
    /// Sets the connection provider (default: environment variables).
    pub fn connections(mut self, c: Arc<dyn ConnectionProvider>) -> Self {
        self.connections = c;
        self
    }
    /// Sets the state handle.
    pub fn state(mut self, state: StateHandle) -> Self {
        self.state = state;
        self
    }
    /// Sets the cancellation token.
    pub fn cancellation(mut self, token: CancellationToken) -> Self {
        self.cancel = token;
        self
    }
    /// Sets what the pipeline reads of the source's rows (default: every field).
    pub fn projection(mut self, projection: Projection) -> Self {
        self.projection = projection;
        self
    }
    /// Sets what is asked right before the destination commits (default: nothing).
    pub fn commit_guard(mut self, guard: Option<Arc<dyn CommitGuard>>) -> Self {
        self.commit_guard = guard;
        self
    }
    /// Builds the context.
    pub fn build(self) -> RunContext {
        RunContext {
            inner: Arc::new(Inner {
                pipeline_id: self.pipeline_id,
                run_id: self
                    .run_id
                    .unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
                logical_date: self.logical_date,
                attempt: self.attempt,
                batch_size: self.batch_size,
                params: self.params,
                connections: self.connections,
                state: self.state,
                cancel: self.cancel,
                projection: self.projection,
                commit_guard: self.commit_guard,
                locals: RunLocals::default(),
            }),
            commits_state: true,
        }
    }
}

impl RunContext {
    /// Starts a context for `pipeline_id` with defaults (env connections, empty state).
    pub fn builder(pipeline_id: impl Into<String>) -> RunContextBuilder {
        RunContextBuilder {
            pipeline_id: pipeline_id.into(),
            run_id: None,
            logical_date: Utc::now(),
            attempt: 1,
            batch_size: crate::DEFAULT_BATCH_SIZE,
            params: serde_json::Map::new(),
            connections: Arc::new(EnvConnections),
            state: StateHandle::default(),
            cancel: CancellationToken::new(),
            projection: Projection::All,
            commit_guard: None,
        }
    }

    /// The pipeline's id (`dag_id`).
    pub fn pipeline_id(&self) -> &str {
        &self.inner.pipeline_id
    }
    /// This run's id.
    pub fn run_id(&self) -> &str {
        &self.inner.run_id
    }
    /// The logical date (Airflow's `ds`): the period the run is for.
    pub fn logical_date(&self) -> DateTime<Utc> {
        self.inner.logical_date
    }
    /// The attempt number, from 1.
    pub fn attempt(&self) -> u32 {
        self.inner.attempt
    }
    /// Rows per batch that sources should aim for.
    pub fn batch_size(&self) -> usize {
        self.inner.batch_size
    }
    /// The pipeline's `params`.
    pub fn params(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.inner.params
    }
    /// Resolves a connection by id, through the run's [`ConnectionProvider`]. `?` in a
    /// component turns its error into a [`ComponentError`](crate::ComponentError), retryable
    /// when the provider says the connection is temporarily unavailable.
    ///
    /// # Errors
    /// When it is not defined, its URI is invalid, or the provider cannot answer now.
    pub async fn connection(&self, conn_id: &str) -> Result<Connection, ConnectionError> {
        self.inner.connections.connection(conn_id).await
    }
    /// The pipeline's state for this run.
    pub fn state(&self) -> &StateHandle {
        &self.inner.state
    }
    /// The state a transactional destination writes in its load's transaction, just before
    /// `COMMIT` (see [`Destination::commits_state`](crate::Destination::commits_state)): the
    /// staged state ([`StateHandle::to_save`]), or `None` when nothing was staged or this is
    /// the dead-letter destination's context (only the main load carries the cursor).
    pub fn state_to_commit(&self) -> Option<crate::state::State> {
        if self.commits_state {
            self.inner.state.to_save()
        } else {
            None
        }
    }
    /// The same run, for a destination that must not commit the state (the dead letters).
    pub(crate) fn without_state_commit(&self) -> RunContext {
        RunContext {
            inner: self.inner.clone(),
            commits_state: false,
        }
    }
    /// Called by a destination right before it commits its load: `Err` (not retryable) when
    /// the run's [`CommitGuard`] refuses, and the destination must then roll back. A
    /// scheduler sharing its runs with other processes refuses when this process lost the
    /// run's lease, so a stalled process never commits a second copy of a run another
    /// process completed.
    ///
    /// # Errors
    /// The commit guard refused.
    pub async fn before_commit(&self) -> Result<(), crate::ComponentError> {
        crate::runner::test_hook::pause_before_commit().await;
        let Some(guard) = &self.inner.commit_guard else {
            return Ok(());
        };
        guard.check().await.map_err(|reason| {
            crate::ComponentError::fatal_msg(format!(
                "the load was not committed: {}",
                crate::error_chain(reason.as_ref())
            ))
        })
    }
    /// What the pipeline reads of the source's rows: a source may skip the other fields
    /// (see [`Projection`]); it may as well ignore this and give whole rows.
    pub fn projection(&self) -> &Projection {
        &self.inner.projection
    }

    /// The run's cancellation token.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.inner.cancel
    }
    /// True once the run is cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }
    /// The values of the run's [`RunLocal`](crate::RunLocal)s.
    pub(crate) fn locals(&self) -> &RunLocals {
        &self.inner.locals
    }
}
