//! `Lease`: a claimed run's hold on its interval while it runs. A heartbeat renews it every
//! third of the lease; when a renewal finds it lost (another process took the run over), or
//! the store stays unreachable for a whole lease, the run is cancelled and rolls back. As the
//! run's [`CommitGuard`], it renews the lease once more right before the destination commits
//! and refuses when that fails, so a process that stalled past its lease never commits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::{BoxError, error_chain};
use crate::runner::CommitGuard;
use crate::state::{Claim, StateStore};

/// A held claim; dropping it stops the heartbeat.
pub(super) struct Lease {
    held: Arc<Held>,
    heartbeat: JoinHandle<()>,
}

/// What the heartbeat and the guard share.
struct Held {
    store: Arc<dyn StateStore>,
    claim: Claim,
    lease: Duration,
    lost: AtomicBool,
    /// The run's token: cancelled when the lease is lost.
    cancel: CancellationToken,
}

impl Lease {
    /// Holds `claim` for `lease` at a time, renewing it until dropped; losing it cancels
    /// `cancel`.
    pub fn hold(
        store: Arc<dyn StateStore>,
        claim: Claim,
        lease: Duration,
        cancel: CancellationToken,
    ) -> Self {
        let held = Arc::new(Held {
            store,
            claim,
            lease,
            lost: AtomicBool::new(false),
            cancel,
        });
        let heartbeat = tokio::spawn(heartbeat(held.clone()));
        Self { held, heartbeat }
    }

    /// The run's commit guard.
    pub fn guard(&self) -> Arc<dyn CommitGuard> {
        Arc::new(Guard(self.held.clone()))
    }

    /// True once the lease was lost.
    pub fn is_lost(&self) -> bool {
        self.held.lost.load(Ordering::SeqCst)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

impl Held {
    /// Renews the lease, waiting at most a third of it for the store.
    async fn renew(&self) -> Result<bool, BoxError> {
        match tokio::time::timeout(
            self.lease / 3,
            self.store.renew_claim(&self.claim, self.lease),
        )
        .await
        {
            Ok(Ok(held)) => Ok(held),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err("the state store did not answer in time".into()),
        }
    }

    /// Marks the lease lost and cancels the run.
    fn lose(&self, why: &str) {
        if !self.lost.swap(true, Ordering::SeqCst) {
            tracing::error!(
                pipeline = %self.claim.pipeline_id,
                run_id = %self.claim.run_id,
                attempt = self.claim.attempt,
                "lease lost: {why}; cancelling this attempt (it rolls back)"
            );
        }
        self.cancel.cancel();
    }
}

/// Renews every third of the lease until the lease is lost.
async fn heartbeat(held: Arc<Held>) {
    let every = held.lease / 3;
    let mut last_renewed = Instant::now();
    loop {
        tokio::time::sleep(every).await;
        match held.renew().await {
            Ok(true) => last_renewed = Instant::now(),
            Ok(false) => {
                held.lose("another process took the run over after the lease lapsed");
                return;
            }
            Err(e) => {
                tracing::warn!(
                    pipeline = %held.claim.pipeline_id,
                    run_id = %held.claim.run_id,
                    error = %error_chain(e.as_ref()),
                    "cannot renew the run's lease"
                );
                if last_renewed.elapsed() >= held.lease {
                    held.lose("the state store was unreachable for longer than the lease");
                    return;
                }
            }
        }
    }
}

/// The commit guard: renews the lease, or refuses.
struct Guard(Arc<Held>);

#[async_trait::async_trait]
impl CommitGuard for Guard {
    async fn check(&self) -> Result<(), BoxError> {
        let held = &self.0;
        if held.lost.load(Ordering::SeqCst) {
            return Err("this process lost the run's lease: another process runs it".into());
        }
        match held.renew().await {
            Ok(true) => Ok(()),
            Ok(false) => {
                held.lose("another process took the run over after the lease lapsed");
                Err("this process lost the run's lease: another process runs it".into())
            }
            Err(e) => Err(format!(
                "cannot confirm the run's lease: {}",
                error_chain(e.as_ref())
            )
            .into()),
        }
    }
}
