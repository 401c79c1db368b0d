//! `serve --metrics-addr`: Prometheus metrics (`GET /metrics`, text format 0.0.4), liveness
//! (`GET /healthz`) and readiness (`GET /readyz`) over HTTP.
//!
//! The `metrics` facade's global recorder is `metrics-exporter-prometheus`'s, installed without
//! its own listener: this module's axum server renders it. Process metrics (CPU, memory, open
//! files, start time) come from `metrics-process`, collected at each scrape and prefixed
//! `dataforge_` like every other metric.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use dataforge_core::{RunQuery, StateStore};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_process::Collector;
use tokio::net::TcpListener;

/// Histogram buckets of every `_seconds` metric: 5 ms to an hour.
const SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
    1800.0, 3600.0,
];
/// How long `/readyz` waits for the state store to answer.
const STORE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the recorder's histograms are compacted between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Why the endpoint did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsEndpointError {
    /// The Prometheus recorder could not be built or installed.
    #[error("cannot install the Prometheus recorder")]
    Recorder(#[source] BuildError),
    /// The address could not be bound.
    #[error("cannot listen on {addr} for metrics")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// What `/readyz` answers from: whether the scheduler runs, and the store it records in.
pub struct Readiness {
    scheduling: AtomicBool,
    store: Arc<dyn StateStore>,
}

impl Readiness {
    /// Marks the scheduler as started (`true`) or stopping (`false`).
    pub fn set_scheduling(&self, on: bool) {
        self.scheduling.store(on, Ordering::SeqCst);
    }

    /// Ready: the scheduler runs and the state store answers within a short time.
    async fn is_ready(&self) -> bool {
        if !self.scheduling.load(Ordering::SeqCst) {
            return false;
        }
        let query = RunQuery::all().limit(1);
        let probe = self.store.runs(&query);
        matches!(
            tokio::time::timeout(STORE_CHECK_TIMEOUT, probe).await,
            Ok(Ok(_))
        )
    }
}

/// What the handlers share.
struct Endpoint {
    prometheus: PrometheusHandle,
    process: Collector,
    readiness: Arc<Readiness>,
}

/// Installs the recorder, binds `addr` (port 0: any free port, logged) and serves until the
/// process ends; returns the readiness to update as the scheduler starts and stops.
///
/// # Errors
/// The recorder cannot be installed (one per process) or `addr` cannot be bound.
pub async fn start(
    addr: SocketAddr,
    store: Arc<dyn StateStore>,
) -> Result<Arc<Readiness>, MetricsEndpointError> {
    let prometheus = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
        .and_then(PrometheusBuilder::install_recorder)
        .map_err(MetricsEndpointError::Recorder)?;
    let process = Collector::new("dataforge_");
    process.describe();
    dataforge_core::observe::run_metrics::describe();
    dataforge_hooks::http::metrics::describe();
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| MetricsEndpointError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| MetricsEndpointError::Bind { addr, source })?;
    let readiness = Arc::new(Readiness {
        scheduling: AtomicBool::new(false),
        store,
    });
    let endpoint = Arc::new(Endpoint {
        prometheus: prometheus.clone(),
        process,
        readiness: readiness.clone(),
    });
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(endpoint);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the metrics endpoint stopped");
        }
    });
    tokio::spawn(async move {
        let mut every = tokio::time::interval(UPKEEP_EVERY);
        loop {
            every.tick().await;
            prometheus.run_upkeep();
        }
    });
    tracing::info!(addr = %bound, "metrics endpoint listening (/metrics, /healthz, /readyz)");
    Ok(readiness)
}

/// `GET /metrics`: every metric in Prometheus text format 0.0.4.
async fn metrics(State(endpoint): State<Arc<Endpoint>>) -> impl IntoResponse {
    endpoint.process.collect();
    let body = endpoint.prometheus.render();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

/// `GET /healthz`: the process answers.
async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: 200 while the scheduler runs and the state store answers, else 503.
async fn readyz(State(endpoint): State<Arc<Endpoint>>) -> impl IntoResponse {
    if endpoint.readiness.is_ready().await {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}
