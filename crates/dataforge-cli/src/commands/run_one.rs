//! One recorded run of one pipeline at one logical date: what `trigger` and `backfill` share.

use std::sync::Arc;

use dataforge_core::chrono::{DateTime, Utc};
use dataforge_core::config::LoadedPipeline;
use dataforge_core::template::TemplateContext;
use dataforge_core::{
    Progress, Registry, RunOptions, RunRecord, RunReport, RunTrigger, StateStore,
};
use tokio_util::sync::CancellationToken;

use super::run::{record_run, summary};
use crate::cli::LogFormat;
use crate::progress;

/// How a run went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Loaded and committed.
    Succeeded,
    /// Failed or cancelled.
    Failed,
    /// Its config does not render for this run.
    BadConfig,
}

/// Renders, records, runs and reports (one summary line on stdout) the run of `lp` at
/// `logical_date`, recorded with `trigger`.
pub async fn run_one(
    lp: &LoadedPipeline,
    registry: &Registry,
    store: &Arc<dyn StateStore>,
    logical_date: DateTime<Utc>,
    trigger: RunTrigger,
    cancel: &CancellationToken,
    log_format: LogFormat,
) -> Outcome {
    let Some(report) = execute(
        lp,
        registry,
        store,
        logical_date,
        trigger,
        cancel,
        log_format,
    )
    .await
    else {
        return Outcome::BadConfig;
    };
    println!(
        "{} {}",
        logical_date.to_rfc3339(),
        summary(&report, cancel.is_cancelled())
    );
    if report.is_success() {
        Outcome::Succeeded
    } else {
        Outcome::Failed
    }
}

/// The templates' context for the run `run_id` of `lp` at `logical_date`: its data interval,
/// and the end of the last successful one (from the run history).
pub(crate) async fn run_templates(
    lp: &LoadedPipeline,
    store: &Arc<dyn StateStore>,
    run_id: &str,
    logical_date: DateTime<Utc>,
) -> TemplateContext {
    let prev = dataforge_core::state::prev_data_interval_end_success(
        store.as_ref(),
        &lp.config.dag_id,
        logical_date,
    )
    .await;
    lp.config
        .template_context(run_id, logical_date)
        .with_prev_data_interval_end_success(prev)
}

/// Renders the pipeline for this run (`None`, with the reasons on stderr and a line on stdout,
/// when its config does not render), records the run as started, runs it with progress shown,
/// and records how it ended: what `run`, `trigger` and `backfill` share.
pub(crate) async fn execute(
    lp: &LoadedPipeline,
    registry: &Registry,
    store: &Arc<dyn StateStore>,
    logical_date: DateTime<Utc>,
    trigger: RunTrigger,
    cancel: &CancellationToken,
    log_format: LogFormat,
) -> Option<RunReport> {
    let run_id = RunOptions::new_run_id();
    let templates = run_templates(lp, store, &run_id, logical_date).await;
    let pipeline = match lp.pipeline_for(&templates, registry) {
        Ok(p) => p,
        Err(errors) => {
            for e in errors.issues() {
                eprintln!("{e}");
            }
            println!(
                "{}: not run: its config does not render for this run",
                lp.config.dag_id
            );
            return None;
        }
    };
    let live = Arc::new(Progress::new());
    let mut record = RunRecord::new(&lp.config.dag_id, &run_id, logical_date, trigger)
        .with_data_interval(
            templates.data_interval_start(),
            templates.data_interval_end(),
        );
    record.start(Utc::now());
    record_run(store.as_ref(), &record).await;
    let options = RunOptions {
        state_store: store.clone(),
        cancel: cancel.child_token(),
        logical_date: Some(logical_date),
        run_id: Some(run_id),
        progress: live.clone(),
        observers: crate::observers::from_env(),
        ..RunOptions::default()
    };
    tracing::info!(pipeline = %lp.config.dag_id, file = %lp.path.display(),
        logical_date = %logical_date.to_rfc3339(), %trigger, "run started");
    let display = progress::start(&lp.config.dag_id, live, log_format == LogFormat::Text);
    let report = pipeline.run(&options).await;
    display.finish().await;
    record.finish(&report);
    record_run(store.as_ref(), &record).await;
    Some(report)
}

/// Opens the state store of `DATAFORGE_HOME` / `DATAFORGE_STATE_URL`; prints why not.
pub async fn open_store() -> Option<Arc<dyn StateStore>> {
    let home = dataforge_core::dataforge_home();
    match dataforge_state::state_store_from_env(&home).await {
        Ok(store) => Some(store),
        Err(e) => {
            eprintln!(
                "cannot open the state store: {}",
                dataforge_core::error_chain(&e)
            );
            None
        }
    }
}

/// The valid pipeline `id` among `found`; prints why not.
pub fn find<'a>(
    found: &'a dataforge_core::config::Discovery,
    id: &str,
) -> Option<&'a LoadedPipeline> {
    let lp = found.pipelines.iter().find(|p| p.config.dag_id == id);
    if lp.is_none() {
        eprintln!("no valid pipeline with dag_id \"{id}\" in the given paths");
    }
    lp
}
