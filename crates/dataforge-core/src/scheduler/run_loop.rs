//! The scheduler's loop: start the due runs, sleep until the next due time, a finished run,
//! a reload or a stop.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::{Id, JoinSet};
use tokio_util::sync::CancellationToken;

use super::builder::Scheduler;
use super::entry::{Entry, recover_last};
use super::orphans::{OrphanScan, next_scan};
use super::run_task::{RunEnv, RunTask};
use super::{RunEvent, SchedulerError};
use crate::config::LoadedPipeline;
use crate::registry::Registry;
use crate::runner::RunOptions;
use crate::schedule::{Clock, DataInterval, Timetable};
use crate::state::StateStore;

/// What a [`SchedulerHandle`](super::SchedulerHandle) asks of the loop.
#[derive(Debug)]
pub(super) enum Command {
    /// Schedule these pipelines instead.
    Replace(Vec<LoadedPipeline>),
    /// Stop: drain within `grace`, cancel the rest, then answer on `done`.
    Stop {
        /// How long running loads may take to finish.
        grace: Duration,
        /// Answered once every run has ended.
        done: oneshot::Sender<()>,
    },
}

/// The loop's state.
pub(super) struct RunLoop {
    entries: Vec<Entry>,
    active: HashMap<String, u32>,
    /// The running runs, and the orphan scans (which are not in `run_ids`).
    runs: JoinSet<()>,
    run_ids: HashMap<Id, String>,
    registry: Arc<Registry>,
    store: Arc<dyn StateStore>,
    clock: Arc<dyn Clock>,
    concurrency: usize,
    options: RunOptions,
    root: CancellationToken,
    events: broadcast::Sender<RunEvent>,
    commands: mpsc::UnboundedReceiver<Command>,
    owner: Arc<str>,
    lease: Duration,
    /// When to look for runs whose lease lapsed; `None` when the store does not coordinate.
    next_scan: Option<tokio::time::Instant>,
}

impl RunLoop {
    /// The loop over `s`'s pipelines, their last intervals recovered from the history.
    pub async fn new(
        s: Scheduler,
        events: broadcast::Sender<RunEvent>,
        commands: mpsc::UnboundedReceiver<Command>,
    ) -> Result<Self, SchedulerError> {
        let next_scan = s.store.coordinates_runs().then(tokio::time::Instant::now);
        let mut this = Self {
            entries: Vec::new(),
            active: HashMap::new(),
            runs: JoinSet::new(),
            run_ids: HashMap::new(),
            registry: s.registry,
            store: s.store,
            clock: s.clock,
            concurrency: s.concurrency,
            options: s.options,
            root: CancellationToken::new(),
            events,
            commands,
            next_scan,
            owner: s.owner.into(),
            lease: s.lease,
        };
        for lp in s.pipelines {
            let Some(timetable) = timetable(&lp) else {
                continue;
            };
            let last = recover_last(this.store.as_ref(), &lp.config.dag_id).await?;
            this.add(lp, timetable, last);
        }
        Ok(this)
    }

    fn add(&mut self, lp: LoadedPipeline, timetable: Timetable, last: Option<DataInterval>) {
        tracing::info!(pipeline = %lp.config.dag_id, file = %lp.path.display(), last = ?last, "scheduling");
        self.entries.push(Entry {
            loaded: Arc::new(lp),
            timetable,
            last,
            cached: None,
        });
    }

    /// Runs until stopped.
    pub async fn run(mut self) {
        loop {
            let wake = self.start_due_runs();
            let clock = self.clock.clone();
            let scan = self.next_scan;
            let scan_due = async move {
                match scan {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            let sleep = async move {
                match wake {
                    Some(t) => clock.sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = sleep => {}
                () = scan_due => self.scan_orphans(),
                Some(ended) = self.runs.join_next_with_id(), if !self.runs.is_empty() => {
                    self.ended(ended);
                }
                command = self.commands.recv() => match command {
                    Some(Command::Replace(pipelines)) => self.replace(pipelines).await,
                    Some(Command::Stop { grace, done }) => {
                        self.drain(grace).await;
                        let _ = done.send(());
                        return;
                    }
                    None => {
                        tracing::warn!("the scheduler's handle was dropped: cancelling the running loads");
                        self.drain(Duration::ZERO).await;
                        return;
                    }
                },
            }
        }
    }

    /// Starts every due run the limits allow, oldest due first; returns the next future due
    /// time (runs held by a limit wait for a run to end instead).
    fn start_due_runs(&mut self) -> Option<DateTime<Utc>> {
        let now = self.clock.now();
        loop {
            let mut wake: Option<DateTime<Utc>> = None;
            let mut due: Vec<(DateTime<Utc>, usize)> = Vec::new();
            for (i, e) in self.entries.iter_mut().enumerate() {
                match e.next_due(now) {
                    Some(t) if t <= now => due.push((t, i)),
                    Some(t) => wake = Some(wake.map_or(t, |w| w.min(t))),
                    None => {}
                }
            }
            due.sort();
            let mut started = false;
            for (_, i) in due {
                if self.runs.len() >= self.concurrency {
                    return wake;
                }
                let e = &self.entries[i];
                let active = self.active.get(e.id()).copied().unwrap_or(0);
                if active >= e.loaded.config.max_active_runs.max(1) {
                    continue;
                }
                // Computed afresh: with `catchup: false` a late run skips to the latest interval.
                if let Some(iv) = e.next(now).filter(|iv| iv.due() <= now) {
                    self.start(i, iv);
                    started = true;
                }
            }
            // A pipeline that started one may have another due (catchup): look again.
            if !started {
                return wake;
            }
        }
    }

    /// Starts a scan for runs whose lease lapsed, when a run may start, and plans the next.
    fn scan_orphans(&mut self) {
        self.next_scan = Some(next_scan(self.lease));
        if self.runs.len() >= self.concurrency {
            return;
        }
        let scan = OrphanScan {
            pipelines: self
                .entries
                .iter()
                .map(|e| (e.id().to_owned(), e.loaded.clone()))
                .collect(),
            env: self.run_env(),
        };
        self.runs.spawn(scan.run());
    }

    /// What a run or scan started now shares, with a child of the loop's stop token.
    fn run_env(&self) -> RunEnv {
        RunEnv {
            registry: self.registry.clone(),
            store: self.store.clone(),
            clock: self.clock.clone(),
            options: self.options.clone(),
            cancel: self.root.child_token(),
            events: self.events.clone(),
            owner: self.owner.clone(),
            lease: self.lease,
        }
    }

    fn start(&mut self, i: usize, interval: DataInterval) {
        let entry = &mut self.entries[i];
        entry.scheduled(interval);
        let id = entry.id().to_owned();
        let task = RunTask {
            loaded: entry.loaded.clone(),
            interval,
            env: self.run_env(),
            claim: None,
        };
        *self.active.entry(id.clone()).or_default() += 1;
        let handle = self.runs.spawn(task.run());
        self.run_ids.insert(handle.id(), id);
    }

    fn ended(&mut self, ended: Result<(Id, ()), tokio::task::JoinError>) {
        let task = match ended {
            Ok((task, ())) => task,
            Err(e) => {
                tracing::error!(error = %e, "a scheduled run's task panicked");
                e.id()
            }
        };
        if let Some(id) = self.run_ids.remove(&task)
            && let Some(n) = self.active.get_mut(&id)
        {
            *n = n.saturating_sub(1);
        }
    }

    async fn replace(&mut self, pipelines: Vec<LoadedPipeline>) {
        let mut old: HashMap<String, Option<DataInterval>> = self
            .entries
            .drain(..)
            .map(|e| (e.id().to_owned(), e.last))
            .collect();
        for lp in pipelines {
            let Some(timetable) = timetable(&lp) else {
                continue;
            };
            let last = match old.remove(&lp.config.dag_id) {
                Some(last) => last,
                None => match recover_last(self.store.as_ref(), &lp.config.dag_id).await {
                    Ok(last) => last,
                    Err(e) => {
                        tracing::error!(pipeline = %lp.config.dag_id, error = %crate::error::error_chain(&e), "not scheduled: cannot read its run history");
                        continue;
                    }
                },
            };
            self.add(lp, timetable, last);
        }
        for id in old.keys() {
            tracing::info!(pipeline = %id, "no longer scheduled");
        }
    }

    /// Waits up to `grace` for the running runs, then cancels the rest and waits for them.
    async fn drain(&mut self, grace: Duration) {
        tracing::info!(running = self.runs.len(), ?grace, "scheduler stopping");
        let deadline = tokio::time::sleep(grace);
        tokio::pin!(deadline);
        while !self.runs.is_empty() {
            tokio::select! {
                Some(ended) = self.runs.join_next_with_id() => self.ended(ended),
                () = &mut deadline => break,
            }
        }
        if !self.runs.is_empty() {
            tracing::warn!(
                running = self.runs.len(),
                "grace period over: cancelling the running loads"
            );
            self.root.cancel();
        }
        while let Some(ended) = self.runs.join_next_with_id().await {
            self.ended(ended);
        }
        tracing::info!("scheduler stopped");
    }
}

/// The pipeline's timetable; `None` (logged) when its schedule does not build.
fn timetable(lp: &LoadedPipeline) -> Option<Timetable> {
    match Timetable::from_config(&lp.config) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::error!(pipeline = %lp.config.dag_id, error = %e, "not scheduled");
            None
        }
    }
}
