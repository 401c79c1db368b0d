//! The runner's side of watching a run: the run metrics, and the observers told of its start
//! and end (see [`crate::observe`]).

use chrono::{DateTime, Utc};

use super::{RunOptions, RunReport};
use crate::context::RunContext;
use crate::observe::ObservedRun;
use crate::observe::run_metrics::{self, RunningGuard};
use crate::pipeline::Pipeline;

/// A run being watched: what its observers were told, and its place in the running gauge.
pub(super) struct Watch {
    run: Option<ObservedRun>,
    _running: RunningGuard,
}

/// Counts the run as running and tells the observers, with the datasets the source and the
/// destination describe (asked only when there are observers).
pub(super) async fn begin(
    pipeline: &Pipeline,
    options: &RunOptions,
    run_id: &str,
    logical_date: DateTime<Utc>,
) -> Watch {
    let running = RunningGuard::start(&pipeline.id);
    if options.observers.is_empty() {
        return Watch {
            run: None,
            _running: running,
        };
    }
    let ctx = RunContext::builder(pipeline.id.clone())
        .run_id(run_id)
        .logical_date(logical_date)
        .params(pipeline.params.clone())
        .connections(options.connections.clone())
        .build();
    let run = ObservedRun {
        pipeline_id: pipeline.id.clone(),
        run_id: run_id.to_owned(),
        logical_date,
        input: pipeline.source.component.lineage_dataset(&ctx).await,
        output: pipeline.destination.component.lineage_dataset(&ctx).await,
    };
    futures::future::join_all(options.observers.iter().map(|o| o.on_start(&run))).await;
    Watch {
        run: Some(run),
        _running: running,
    }
}

/// Records the run's metrics and tells the observers how it ended.
pub(super) async fn end(watch: Watch, options: &RunOptions, report: &RunReport) {
    run_metrics::record_end(report);
    if let Some(run) = &watch.run {
        futures::future::join_all(options.observers.iter().map(|o| o.on_end(run, report))).await;
    }
}
