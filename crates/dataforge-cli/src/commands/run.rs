//! `dataforge run`: run pipelines once, with progress, a summary and an optional JSON report,
//! each run recorded in the state store's history.

use dataforge_core::chrono;
use dataforge_core::{RunRecord, RunReport, RunStatus, RunTrigger, StateStore, error_chain};
use tokio_util::sync::CancellationToken;

use super::run_one::execute;
use crate::cli::{LogFormat, RunArgs};
use crate::{EXIT_BAD_CONFIG, EXIT_OK, EXIT_RUN_FAILED, memory, signals};

/// Runs the selected pipelines one after the other.
pub async fn run(args: RunArgs, log_format: LogFormat) -> u8 {
    let (found, registry) = match super::discover(&args.paths) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let selected: Vec<_> = if args.pipelines.is_empty() {
        if !found.errors.is_empty() {
            eprintln!("not running: fix the errors above, or pick valid pipelines with --pipeline");
            return EXIT_BAD_CONFIG;
        }
        found.pipelines.iter().collect()
    } else {
        let mut out = Vec::new();
        for id in &args.pipelines {
            match found.pipelines.iter().find(|p| &p.config.dag_id == id) {
                Some(p) => out.push(p),
                None => {
                    eprintln!("no valid pipeline with dag_id \"{id}\" in the given paths");
                    return EXIT_BAD_CONFIG;
                }
            }
        }
        out
    };
    if selected.is_empty() {
        eprintln!("no pipelines found");
        return EXIT_BAD_CONFIG;
    }
    let logical_date = match args
        .logical_date
        .as_deref()
        .map(dataforge_core::config::parse_date)
    {
        None => None,
        Some(Some(d)) => Some(d),
        Some(None) => {
            eprintln!("--logical-date: expected YYYY-MM-DD or an RFC 3339 date-time");
            return EXIT_BAD_CONFIG;
        }
    };

    // Without --logical-date, every run's logical date is the moment the command started
    // (to the second), and its interval is the one that starts there.
    let logical_date = logical_date.unwrap_or_else(now_to_the_second);
    let home = dataforge_core::dataforge_home();
    let store = match dataforge_state::state_store_from_env(&home).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("cannot open the state store: {}", error_chain(&e));
            return EXIT_RUN_FAILED;
        }
    };

    let cancel = CancellationToken::new();
    signals::cancel_on_signals(cancel.clone());
    let mut reports = Vec::new();
    let mut failed = false;
    let mut bad_config = false;
    for lp in selected {
        if cancel.is_cancelled() {
            println!("{}: not run: stopped by a signal", lp.config.dag_id);
            failed = true;
            continue;
        }
        let Some(report) = execute(
            lp,
            registry,
            &store,
            logical_date,
            RunTrigger::Manual,
            &cancel,
            log_format,
        )
        .await
        else {
            bad_config = true;
            continue;
        };
        println!("{}", summary(&report, cancel.is_cancelled()));
        failed |= !report.is_success();
        reports.push(report);
    }
    if let Some(path) = &args.report
        && let Err(e) = write_report(path, &reports)
    {
        eprintln!("cannot write the report {}: {e}", path.display());
        return EXIT_RUN_FAILED;
    }
    if bad_config {
        EXIT_BAD_CONFIG
    } else if failed {
        EXIT_RUN_FAILED
    } else {
        EXIT_OK
    }
}

/// Now, without the fraction of a second (`ts` reads `2025-03-01T10:15:00+00:00`).
pub(crate) fn now_to_the_second() -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    chrono::DurationRound::duration_trunc(now, chrono::TimeDelta::seconds(1)).unwrap_or(now)
}

/// Records a run in the history. A failure is logged, not fatal: the run's own outcome (its
/// data, its cursor) stands either way, and the exit code says how the run went.
pub(crate) async fn record_run(store: &dyn StateStore, record: &RunRecord) {
    if let Err(e) = store.record_run(record).await {
        tracing::error!(
            pipeline = %record.pipeline_id,
            run_id = %record.run_id,
            status = %record.status,
            error = %error_chain(&e),
            "cannot record the run in the state store's history"
        );
    }
}

/// One line per run: status, rows, time, target, and the error's chain. `stopped`: a signal
/// asked the run to stop (a run that succeeded anyway had committed before it could).
pub(crate) fn summary(r: &RunReport, stopped: bool) -> String {
    let secs = r.duration().as_secs_f64();
    let rate = if secs > 0.0 {
        r.rows_loaded as f64 / secs
    } else {
        0.0
    };
    let target = r.load.as_ref().map(|l| l.target.as_str()).unwrap_or("-");
    let mut line = match r.status {
        RunStatus::Succeeded => format!(
            "{}: succeeded in {secs:.2}s: {} rows read, {} rejected, {} loaded into {target} ({rate:.0} rows/s)",
            r.pipeline_id, r.rows_extracted, r.rows_rejected, r.rows_loaded
        ),
        RunStatus::Failed => format!(
            "{}: FAILED after {} attempt(s) in {secs:.2}s",
            r.pipeline_id, r.attempts
        ),
        RunStatus::Cancelled => format!(
            "{}: cancelled after {secs:.2}s; nothing was committed",
            r.pipeline_id
        ),
        other => format!("{}: {other:?} after {secs:.2}s", r.pipeline_id),
    };
    if stopped && r.status == RunStatus::Succeeded {
        line.push_str(
            "; the stop came as its load was committing: the load stands, nothing was rolled back",
        );
    }
    if let Some(note) = r.load.as_ref().and_then(|l| l.note.as_deref()) {
        line.push_str(&format!("; {note}"));
    }
    if r.rows_dead_lettered > 0 {
        line.push_str(&format!(", {} rows dead-lettered", r.rows_dead_lettered));
    }
    if let Some(e) = &r.error {
        line.push_str(&format!("\n  error: {}", error_chain(e)));
    }
    line
}

fn write_report(path: &std::path::Path, reports: &[RunReport]) -> std::io::Result<()> {
    let peak = memory::peak_rss_bytes();
    let items: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            if let Some(obj) = v.as_object_mut() {
                obj.insert("peak_rss_bytes".into(), peak.into());
            }
            v
        })
        .collect();
    let text = serde_json::to_string_pretty(&items).map_err(std::io::Error::other)?;
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataforge_core::LoadSummary;

    fn report(status: RunStatus, note: Option<&str>) -> RunReport {
        let mut report = RunReport::new("orders", "run-1", status);
        let load = LoadSummary::new("shop.orders", 0);
        report.load = Some(match note {
            Some(note) => load.with_note(note),
            None => load,
        });
        report
    }

    #[test]
    fn a_run_that_committed_as_the_stop_came_says_its_load_stands() {
        let line = summary(&report(RunStatus::Succeeded, None), true);
        assert!(line.contains("succeeded"), "{line}");
        assert!(
            line.contains("the load stands, nothing was rolled back"),
            "{line}"
        );
        let line = summary(&report(RunStatus::Succeeded, None), false);
        assert!(!line.contains("stop"), "{line}");
        let line = summary(&report(RunStatus::Cancelled, None), true);
        assert!(
            line.contains("nothing was committed") && !line.contains("stands"),
            "{line}"
        );
    }

    #[test]
    fn a_kept_target_is_said_in_the_summary() {
        let line = summary(
            &report(RunStatus::Succeeded, Some("the source gave no rows")),
            false,
        );
        assert!(line.ends_with("; the source gave no rows"), "{line}");
    }
}
