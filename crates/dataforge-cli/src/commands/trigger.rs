//! `dataforge trigger`: one run of one pipeline now, recorded as triggered, with `--conf`
//! merged into its `params`.

use dataforge_core::config::{LoadedPipeline, parse_date_in};
use dataforge_core::{RunTrigger, Timetable};
use tokio_util::sync::CancellationToken;

use super::run_one::{Outcome, find, open_store, run_one};
use crate::cli::{LogFormat, TriggerArgs};
use crate::{EXIT_BAD_CONFIG, EXIT_OK, EXIT_RUN_FAILED, signals};

/// Runs the pipeline once.
pub async fn run(args: TriggerArgs, log_format: LogFormat) -> u8 {
    let (found, registry) = match super::discover(&args.paths) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let Some(lp) = find(&found, &args.pipeline) else {
        return EXIT_BAD_CONFIG;
    };
    let logical_date = match args.logical_date.as_deref() {
        Some(text) => match parse_date_in(text, lp.config.timezone) {
            Some(d) => d,
            None => {
                eprintln!("--logical-date: expected YYYY-MM-DD or an RFC 3339 date-time");
                return EXIT_BAD_CONFIG;
            }
        },
        // Airflow's manual run: the last complete interval of the schedule, or now.
        None => {
            let now = super::run::now_to_the_second();
            Timetable::from_config(&lp.config)
                .map(|t| t.infer_manual_interval(now).logical_date())
                .unwrap_or(now)
        }
    };
    let mut config = lp.config.clone();
    if let Some(conf) = &args.conf {
        match serde_json::from_str::<serde_json::Value>(conf) {
            Ok(serde_json::Value::Object(map)) => config.params.extend(map),
            _ => {
                eprintln!("--conf: expected a JSON object");
                return EXIT_BAD_CONFIG;
            }
        }
    }
    let lp = LoadedPipeline {
        path: lp.path.clone(),
        config,
        pipeline: lp.pipeline.clone(),
    };
    let Some(store) = open_store().await else {
        return EXIT_RUN_FAILED;
    };
    let cancel = CancellationToken::new();
    signals::cancel_on_signals(cancel.clone());
    match run_one(
        &lp,
        registry,
        &store,
        logical_date,
        RunTrigger::Trigger,
        &cancel,
        log_format,
    )
    .await
    {
        Outcome::Succeeded => EXIT_OK,
        Outcome::Failed => EXIT_RUN_FAILED,
        Outcome::BadConfig => EXIT_BAD_CONFIG,
    }
}
