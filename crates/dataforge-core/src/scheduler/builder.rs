//! `Scheduler`: what to schedule and with what, before it starts.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};

use super::handle::SchedulerHandle;
use super::run_loop::{Command, RunLoop};
use super::{RunEvent, SchedulerError};
use crate::config::LoadedPipeline;
use crate::registry::Registry;
use crate::runner::RunOptions;
use crate::schedule::{Clock, SystemClock};
use crate::state::StateStore;

/// The default global limit on runs at once.
const DEFAULT_CONCURRENCY: usize = 16;
/// How long a claimed run's lease holds without a heartbeat, by default.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// The shortest lease accepted.
const MIN_LEASE: Duration = Duration::from_secs(1);
/// How many events a slow subscriber may lag behind before it misses some.
const EVENT_BUFFER: usize = 1024;

/// Runs loaded pipelines when their data intervals end (see the [module](super) docs).
///
/// ```no_run
/// # async fn f(pipelines: Vec<dataforge_core::config::LoadedPipeline>) -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use dataforge_core::{MemoryStateStore, Registry, Scheduler};
///
/// let registry = Arc::new(Registry::from_inventory()?);
/// let handle = Scheduler::new(pipelines, registry, Arc::new(MemoryStateStore::default()))
///     .concurrency(4)
///     .start()
///     .await?;
/// let mut events = handle.subscribe();
/// # let _ = &mut events;
/// handle.stop(std::time::Duration::from_secs(60)).await;
/// # Ok(()) }
/// ```
pub struct Scheduler {
    pub(super) pipelines: Vec<LoadedPipeline>,
    pub(super) registry: Arc<Registry>,
    pub(super) store: Arc<dyn StateStore>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) concurrency: usize,
    pub(super) options: RunOptions,
    pub(super) lease: Duration,
    pub(super) owner: String,
}

impl Scheduler {
    /// A scheduler of `pipelines`, building templated ones with `registry` and recording runs
    /// in `state_store`, on the system clock, with at most 16 runs at once.
    pub fn new(
        pipelines: Vec<LoadedPipeline>,
        registry: Arc<Registry>,
        state_store: Arc<dyn StateStore>,
    ) -> Self {
        Self {
            pipelines,
            registry,
            store: state_store,
            clock: Arc::new(SystemClock),
            concurrency: DEFAULT_CONCURRENCY,
            options: RunOptions::default(),
            lease: DEFAULT_LEASE,
            owner: super::owner::new_owner_id(),
        }
    }

    /// Reads the time from and waits on `clock` (a `ManualClock` in tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// At most `n` runs at once over all pipelines (at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// How long a claimed run stays this scheduler's without a heartbeat (default 30 s, at
    /// least 1 s). It matters when schedulers share a state store that coordinates them
    /// (PostgreSQL): each due run is claimed by one of them, its lease renewed every third of
    /// this; a run whose lease lapses (its process died or stalled) is taken over by another
    /// scheduler as its next attempt, and the stalled one rolls back rather than commit.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(MIN_LEASE);
        self
    }

    /// The id this scheduler claims runs under (`hostname:pid:random`), unique per scheduler.
    pub fn owner_id(&self) -> &str {
        &self.owner
    }

    /// The environment of every run (connections, workers); its state store, token, run id
    /// and logical date are replaced per run.
    pub fn run_options(mut self, options: RunOptions) -> Self {
        self.options = options;
        self
    }

    /// Recovers each pipeline's last scheduled interval from the run history and starts the
    /// loop on the current tokio runtime.
    ///
    /// # Errors
    /// The run history cannot be read.
    pub async fn start(self) -> Result<SchedulerHandle, SchedulerError> {
        let (events, _) = broadcast::channel::<RunEvent>(EVENT_BUFFER);
        let (commands, rx) = mpsc::unbounded_channel::<Command>();
        let run_loop = RunLoop::new(self, events.clone(), rx).await?;
        let task = tokio::spawn(run_loop.run());
        Ok(SchedulerHandle::new(commands, events, task))
    }
}
