//! `dataforge replay`: the rows a pipeline's dead-letter file holds, run again through
//! today's chain into its destination. Rows that load leave the file; rows that still fail
//! stay in it, once, with today's transform and reason.
//!
//! The replay is an ordinary recorded run of the pipeline whose source is the dead-lettered
//! rows and whose dead letters go to a scratch file (steps that `skip` rows dead-letter them
//! for the replay, so no replayed row is dropped). Only when its load committed is the
//! dead-letter file rewritten (under the file's target lock, held from the read: a run that
//! appends dead letters meanwhile waits): the replayed lines out, the new dead letters in.

mod store;

use std::path::{Path, PathBuf};

use dataforge_core::chrono::Utc;
use dataforge_core::config::LoadedPipeline;
use dataforge_core::{OnError, Pipeline, Registry, RunContext, RunTrigger};
use dataforge_destinations::target_lock::FileLock;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::run::summary;
use super::run_one::{execute, find, open_store};
use crate::cli::{LogFormat, ReplayArgs};
use crate::{EXIT_BAD_CONFIG, EXIT_OK, EXIT_RUN_FAILED, signals};

/// How long the replay waits for a run that holds the dead-letter file.
const LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// Exits 0 when the replay committed (rows that still fail are not an error), 1 when its
/// run failed (the dead-letter file is then unchanged), 2 for bad config or usage.
pub async fn run(args: ReplayArgs, log_format: LogFormat) -> u8 {
    let (found, registry) = match super::discover(&args.paths) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let Some(lp) = find(&found, &args.pipeline) else {
        return EXIT_BAD_CONFIG;
    };
    let file = match args.from.clone().map_or_else(|| dead_letter_file(lp), Ok) {
        Ok(f) => f,
        Err(why) => {
            eprintln!("{}: {why}", lp.path.display());
            return EXIT_BAD_CONFIG;
        }
    };
    let cancel = CancellationToken::new();
    let ctx = RunContext::builder(lp.config.dag_id.clone())
        .cancellation(cancel.clone())
        .build();
    let lock = match FileLock::acquire("dead-letter file", &file, &ctx, LOCK_TIMEOUT).await {
        Ok(lock) => lock,
        Err(e) => {
            eprintln!(
                "cannot lock {}: {}",
                file.display(),
                dataforge_core::error_chain(&e)
            );
            return EXIT_RUN_FAILED;
        }
    };
    let code = replay(lp, registry, &file, cancel, log_format).await;
    drop(lock);
    code
}

async fn replay(
    lp: &LoadedPipeline,
    registry: &Registry,
    file: &Path,
    cancel: CancellationToken,
    log_format: LogFormat,
) -> u8 {
    let found = match store::read(file, &lp.config.dag_id) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_RUN_FAILED;
        }
    };
    if found.unreadable > 0 {
        eprintln!(
            "{}: {} dead letter(s) of {} have no `record` object: left as they are",
            file.display(),
            found.unreadable,
            lp.config.dag_id
        );
    }
    if found.picked.is_empty() {
        println!(
            "{}: no dead letters to replay in {}",
            lp.config.dag_id,
            file.display()
        );
        return EXIT_OK;
    }
    let scratch = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("cannot make a scratch directory: {e}");
            return EXIT_RUN_FAILED;
        }
    };
    let rows = scratch.path().join("rows.jsonl");
    let rejected = scratch.path().join("still_rejected.jsonl");
    let text: String = found
        .picked
        .iter()
        .map(|p| serde_json::Value::Object(p.record.clone()).to_string() + "\n")
        .collect();
    if let Err(e) = std::fs::write(&rows, text) {
        eprintln!("cannot write {}: {e}", rows.display());
        return EXIT_RUN_FAILED;
    }
    let replaying = match replay_pipeline(lp, registry, &rows, &rejected) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let Some(store) = open_store().await else {
        return EXIT_RUN_FAILED;
    };
    tokio::spawn({
        let cancel = cancel.clone();
        async move {
            signals::wait_for_signal().await;
            cancel.cancel();
        }
    });
    let Some(report) = execute(
        &replaying,
        registry,
        &store,
        Utc::now(),
        RunTrigger::Manual,
        &cancel,
        log_format,
    )
    .await
    else {
        return EXIT_BAD_CONFIG;
    };
    println!("{}", summary(&report, cancel.is_cancelled()));
    if !report.is_success() {
        eprintln!("the replay did not commit: {} is unchanged", file.display());
        return EXIT_RUN_FAILED;
    }
    let still = match store::new_lines(&rejected) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("the replayed rows are loaded, but {e}");
            return EXIT_RUN_FAILED;
        }
    };
    let replayed: Vec<String> = found.picked.into_iter().map(|p| p.line).collect();
    if let Err(e) = store::rewrite(file, &replayed, &still) {
        eprintln!(
            "the replayed rows are loaded, but the dead-letter file could not be rewritten \
             (its rows would load again on the next replay): {e}"
        );
        return EXIT_RUN_FAILED;
    }
    println!(
        "replayed {} dead letter(s) of {}: {} loaded, {} still rejected (left in {})",
        replayed.len(),
        lp.config.dag_id,
        report.rows_loaded,
        still.len(),
        file.display()
    );
    EXIT_OK
}

/// The pipeline's dead-letter file: its `dead_letter` destination's `path`, when that is a
/// `file` destination writing JSON Lines with no template in the path.
fn dead_letter_file(lp: &LoadedPipeline) -> Result<PathBuf, String> {
    let Some(dl) = &lp.config.dead_letter else {
        return Err(format!(
            "pipeline {} has no `dead_letter` destination: name the file with --from",
            lp.config.dag_id
        ));
    };
    let kind = dataforge_core::config::component_type(dl);
    if kind != "file" {
        return Err(format!(
            "dead_letter is a `{kind}` destination; replay reads JSON Lines files: export the \
             dead letters as JSON Lines and name the file with --from"
        ));
    }
    if dl
        .get("format")
        .and_then(|f| f.as_str())
        .is_some_and(|f| f != "jsonl")
    {
        return Err("dead_letter.format is not jsonl: replay reads JSON Lines".into());
    }
    match dl.get("path").and_then(|p| p.as_str()) {
        Some(p) if !dataforge_core::template::is_template(p) => Ok(PathBuf::from(p)),
        Some(_) => Err("dead_letter.path is templated: name the file with --from".into()),
        None => Err("dead_letter has no path".into()),
    }
}

/// The pipeline with the dead-lettered rows as its source and a scratch dead-letter file.
/// A step that would `skip` a row dead-letters it instead: a replayed row leaves the file only
/// by loading, or by failing into the scratch file that goes back into it.
fn replay_pipeline(
    lp: &LoadedPipeline,
    registry: &Registry,
    rows: &Path,
    rejected: &Path,
) -> Result<LoadedPipeline, u8> {
    let mut config = lp.config.clone();
    config.source = json!({"type": "file", "path": rows, "format": "jsonl"});
    for step in &mut config.transforms {
        if step.on_error == OnError::Skip {
            step.on_error = OnError::DeadLetter;
        }
    }
    if config.destination_on_error == OnError::Skip {
        config.destination_on_error = OnError::DeadLetter;
    }
    config.dead_letter = Some(json!({
        "type": "file", "path": rejected, "format": "jsonl", "write_mode": "replace"
    }));
    let sample = config.sample_template_context();
    match Pipeline::from_config_for_run(&config, &sample, registry) {
        Ok(pipeline) => Ok(LoadedPipeline {
            path: lp.path.clone(),
            config,
            pipeline,
        }),
        Err(errors) => {
            for e in errors.in_file(&lp.path).issues() {
                eprintln!("{e}");
            }
            Err(EXIT_BAD_CONFIG)
        }
    }
}
