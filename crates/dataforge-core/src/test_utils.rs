//! Helpers for testing components and pipelines (feature `test-utils`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::component::{Destination, LoadSummary, Source};
use crate::context::RunContext;
use crate::error::ComponentError;
use crate::stream::{BatchReceiver, BatchSender};
use crate::value::Record;

/// A source that sends rows from memory, and can fail on purpose.
#[derive(Clone, Default)]
pub struct MemorySource {
    rows: Arc<Vec<Record>>,
    fail_after_batches: Option<usize>,
    failing_attempts: u32,
    fatal: bool,
    attempts: Arc<AtomicU32>,
}

impl MemorySource {
    /// Sends `rows` in batches of the run's batch size.
    pub fn new(rows: Vec<Record>) -> Self {
        Self {
            rows: Arc::new(rows),
            ..Self::default()
        }
    }

    /// Fails (retryably) after sending `n` batches.
    pub fn fail_after_batches(mut self, n: usize) -> Self {
        self.fail_after_batches = Some(n);
        self
    }

    /// Fails (retryably) on the first `n` calls to `extract`, before sending anything.
    pub fn fail_first_attempts(mut self, n: u32) -> Self {
        self.failing_attempts = n;
        self
    }

    /// Makes the planned failures fatal (not retryable).
    pub fn fatal(mut self) -> Self {
        self.fatal = true;
        self
    }

    /// How many times `extract` was called.
    pub fn attempts(&self) -> u32 {
        self.attempts.load(Ordering::SeqCst)
    }

    fn failure(&self, message: &str) -> ComponentError {
        if self.fatal {
            ComponentError::fatal_msg(message)
        } else {
            ComponentError::retryable_msg(message)
        }
    }
}

#[async_trait]
impl Source for MemorySource {
    async fn extract(&self, ctx: &RunContext, out: &mut BatchSender) -> Result<(), ComponentError> {
        let call = self.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        if call <= self.failing_attempts {
            return Err(self.failure(&format!("planned failure on attempt {call}")));
        }
        for (i, chunk) in self.rows.chunks(ctx.batch_size()).enumerate() {
            if self.fail_after_batches == Some(i) {
                return Err(self.failure(&format!("planned failure after {i} batches")));
            }
            out.send(chunk.to_vec()).await?;
        }
        Ok(())
    }
}

/// A source that makes `n` rows on the fly with `make(i)`: memory stays flat however large `n`.
pub struct GeneratedSource<F> {
    n: u64,
    make: F,
}

impl<F: Fn(u64) -> Record + Send + Sync + 'static> GeneratedSource<F> {
    /// `n` rows, row `i` being `make(i)`.
    pub fn new(n: u64, make: F) -> Self {
        Self { n, make }
    }
}

#[async_trait]
impl<F: Fn(u64) -> Record + Send + Sync + 'static> Source for GeneratedSource<F> {
    async fn extract(&self, ctx: &RunContext, out: &mut BatchSender) -> Result<(), ComponentError> {
        let size = ctx.batch_size() as u64;
        let mut i = 0;
        while i < self.n {
            let end = (i + size).min(self.n);
            out.send((i..end).map(&self.make).collect()).await?;
            i = end;
        }
        Ok(())
    }
}

/// A destination that keeps rows in memory and "commits" them only on a clean end.
#[derive(Clone, Default)]
pub struct CollectingDestination {
    committed: Arc<Mutex<Vec<Record>>>,
    delay_per_batch: Option<Duration>,
    loads: Arc<AtomicU32>,
    rolled_back: Arc<AtomicU32>,
}

impl CollectingDestination {
    /// An empty destination.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sleeps this long per batch (a slow destination, for backpressure tests).
    pub fn with_delay_per_batch(mut self, d: Duration) -> Self {
        self.delay_per_batch = Some(d);
        self
    }

    /// The committed rows.
    pub fn rows(&self) -> Vec<Record> {
        self.committed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// How many loads started.
    pub fn loads(&self) -> u32 {
        self.loads.load(Ordering::SeqCst)
    }

    /// How many loads rolled back.
    pub fn rollbacks(&self) -> u32 {
        self.rolled_back.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Destination for CollectingDestination {
    async fn load(
        &self,
        input: &mut BatchReceiver,
        _ctx: &RunContext,
    ) -> Result<LoadSummary, ComponentError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        let mut pending = Vec::new();
        loop {
            match input.recv().await {
                Ok(Some(batch)) => {
                    if let Some(d) = self.delay_per_batch {
                        tokio::time::sleep(d).await;
                    }
                    pending.extend(batch);
                }
                Ok(None) => break,
                Err(e) => {
                    self.rolled_back.fetch_add(1, Ordering::SeqCst);
                    return Err(e);
                }
            }
        }
        let n = pending.len() as u64;
        self.committed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(pending);
        Ok(LoadSummary {
            rows_loaded: n,
            target: "memory".into(),
            ..LoadSummary::default()
        })
    }
}
