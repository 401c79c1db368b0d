//! `OrphanScan`: takes over the runs of the scheduled pipelines whose lease lapsed (their
//! process died or stalled) or that a stopping scheduler released, one after another, each as
//! its next attempt.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use super::run_task::{RunEnv, RunTask, claimed_interval};
use crate::config::LoadedPipeline;
use crate::error::error_chain;

/// One scan: what a taken-over run needs.
pub(super) struct OrphanScan {
    pub pipelines: HashMap<String, Arc<LoadedPipeline>>,
    /// The scan's surroundings; each taken-over run gets a child of its token.
    pub env: RunEnv,
}

impl OrphanScan {
    /// Claims and runs lapsed runs until there are none.
    pub async fn run(self) {
        let ids: Vec<String> = self.pipelines.keys().cloned().collect();
        while !self.env.cancel.is_cancelled() {
            let claim = match self
                .env
                .store
                .claim_orphan(&ids, &self.env.owner, self.env.lease)
                .await
            {
                Ok(Some(claim)) => claim,
                Ok(None) => return,
                Err(e) => {
                    tracing::error!(error = %error_chain(&e), "cannot look for runs whose lease lapsed");
                    return;
                }
            };
            // `claim_orphan` only returns runs of `ids`, the keys of `pipelines`.
            let Some(loaded) = self.pipelines.get(&claim.pipeline_id) else {
                return;
            };
            tracing::warn!(pipeline = %claim.pipeline_id, run_id = %claim.run_id,
                logical_date = %claim.logical_date.to_rfc3339(), attempt = claim.attempt,
                "taking over a run whose lease lapsed");
            RunTask {
                loaded: loaded.clone(),
                interval: claimed_interval(&claim),
                env: RunEnv {
                    cancel: self.env.cancel.child_token(),
                    ..self.env.clone()
                },
                claim: Some(claim),
            }
            .run()
            .await;
        }
    }
}

/// When to scan next: one lease from now, plus up to half a lease at random, so processes
/// started together do not scan in step.
pub(super) fn next_scan(lease: Duration) -> tokio::time::Instant {
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let jitter = lease.mul_f64((random % 1000) as f64 / 2000.0);
    tokio::time::Instant::now() + lease + jitter
}
