//! [`OpenLineageObserver`]: a [`RunObserver`] that sends each run's OpenLineage events.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dataforge_core::observe::{ObservedRun, RunObserver};
use dataforge_core::{RunReport, SecretString};

use super::event::run_event;
use super::transport::{LineageError, Transport};

/// The longest one event may take to deliver; a run waits at most this long per event.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(2);

/// Sends a START event when a run starts and a COMPLETE, FAIL or ABORT event when it ends.
///
/// Delivery is bounded by [`EVENT_TIMEOUT`] per event and never fails the run: the first
/// failure is logged at `warn`, later ones at `debug`.
#[derive(Debug)]
pub struct OpenLineageObserver {
    transport: Transport,
    namespace: String,
    warned: AtomicBool,
}

impl OpenLineageObserver {
    /// An observer sending to `transport`, naming jobs in `namespace`.
    pub fn new(transport: Transport, namespace: impl Into<String>) -> Self {
        Self {
            transport,
            namespace: namespace.into(),
            warned: AtomicBool::new(false),
        }
    }

    /// The observer the environment asks for (see the [module](super) docs), or `None` when
    /// neither `OPENLINEAGE_URL` nor `OPENLINEAGE_FILE` is set, or `OPENLINEAGE_DISABLED` is true.
    ///
    /// # Errors
    /// `OPENLINEAGE_URL` is not a usable URL.
    pub fn from_env() -> Result<Option<Self>, LineageError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if var("OPENLINEAGE_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1") {
            return Ok(None);
        }
        let transport = if let Some(url) = var("OPENLINEAGE_URL") {
            let endpoint = var("OPENLINEAGE_ENDPOINT");
            let key = var("OPENLINEAGE_API_KEY").map(SecretString::new);
            Transport::http(&url, endpoint.as_deref(), key, EVENT_TIMEOUT)?
        } else if let Some(path) = var("OPENLINEAGE_FILE") {
            Transport::file(path)
        } else {
            return Ok(None);
        };
        let namespace = var("OPENLINEAGE_NAMESPACE").unwrap_or_else(|| "dataforge".into());
        Ok(Some(Self::new(transport, namespace)))
    }

    async fn emit(&self, run: &ObservedRun, report: Option<&RunReport>) {
        let event = run_event(&self.namespace, run, report);
        let outcome = match tokio::time::timeout(EVENT_TIMEOUT, self.transport.send(&event)).await {
            Ok(result) => result,
            Err(_) => Err(LineageError::TimedOut(EVENT_TIMEOUT)),
        };
        if let Err(error) = outcome {
            let error = dataforge_core::error_chain(&error);
            if self.warned.swap(true, Ordering::Relaxed) {
                tracing::debug!(pipeline = %run.pipeline_id, %error, "OpenLineage event not delivered");
            } else {
                tracing::warn!(pipeline = %run.pipeline_id, %error,
                    "OpenLineage event not delivered (later failures are logged at debug)");
            }
        }
    }
}

#[async_trait::async_trait]
impl RunObserver for OpenLineageObserver {
    async fn on_start(&self, run: &ObservedRun) {
        self.emit(run, None).await;
    }

    async fn on_end(&self, run: &ObservedRun, report: &RunReport) {
        self.emit(run, Some(report)).await;
    }
}
