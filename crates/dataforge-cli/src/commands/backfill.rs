//! `dataforge backfill`: a pipeline's intervals between two logical dates (both inclusive),
//! in order, skipping or rerunning those that already ran as `--reprocess` says.

use std::collections::HashMap;

use dataforge_core::chrono::{DateTime, Utc};
use dataforge_core::config::parse_date_in;
use dataforge_core::{RunQuery, RunState, RunTrigger, Timetable, error_chain};
use tokio_util::sync::CancellationToken;

use super::run_one::{Outcome, find, open_store, run_one};
use crate::cli::{BackfillArgs, LogFormat, Reprocess};
use crate::{EXIT_BAD_CONFIG, EXIT_OK, EXIT_RUN_FAILED, signals};

/// Runs the backfill.
pub async fn run(args: BackfillArgs, log_format: LogFormat) -> u8 {
    let (found, registry) = match super::discover(&args.paths) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let Some(lp) = find(&found, &args.pipeline) else {
        return EXIT_BAD_CONFIG;
    };
    let tz = lp.config.timezone;
    let (Some(from), Some(to)) = (parse_date_in(&args.from, tz), parse_date_in(&args.to, tz))
    else {
        eprintln!("--from/--to: expected YYYY-MM-DD or an RFC 3339 date-time");
        return EXIT_BAD_CONFIG;
    };
    let timetable = match Timetable::from_config(&lp.config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: {e}", lp.path.display());
            return EXIT_BAD_CONFIG;
        }
    };
    let intervals = timetable.intervals_between(from, to);
    if intervals.is_empty() {
        println!(
            "{}: no intervals between {} and {} (a manual-only schedule has none)",
            lp.config.dag_id,
            from.to_rfc3339(),
            to.to_rfc3339()
        );
        return EXIT_OK;
    }
    let Some(store) = open_store().await else {
        return EXIT_RUN_FAILED;
    };
    let latest = match latest_states(store.as_ref(), &lp.config.dag_id).await {
        Ok(l) => l,
        Err(code) => return code,
    };

    let cancel = CancellationToken::new();
    if !args.dry_run {
        signals::cancel_on_signals(cancel.clone());
    }
    let (mut ran, mut skipped, mut failed, mut bad_config) = (0, 0, 0, false);
    for iv in intervals {
        let previous = latest.get(&iv.start).copied();
        let decision = decide(args.reprocess, previous);
        if args.dry_run {
            println!("{iv} {}", decision.describe(previous));
            continue;
        }
        if decision == Decision::Skip {
            skipped += 1;
            tracing::info!(interval = %iv, previous = ?previous, "skipped: it already ran");
            continue;
        }
        if cancel.is_cancelled() {
            println!("{iv} not run: stopped by a signal");
            failed += 1;
            continue;
        }
        ran += 1;
        match run_one(
            lp,
            registry,
            &store,
            iv.start,
            RunTrigger::Backfill,
            &cancel,
            log_format,
        )
        .await
        {
            Outcome::Succeeded => {}
            Outcome::Failed => failed += 1,
            Outcome::BadConfig => bad_config = true,
        }
    }
    if !args.dry_run {
        println!(
            "{}: backfill: {ran} run, {skipped} skipped (already ran), {failed} failed",
            lp.config.dag_id
        );
    }
    if bad_config {
        EXIT_BAD_CONFIG
    } else if failed > 0 {
        EXIT_RUN_FAILED
    } else {
        EXIT_OK
    }
}

/// The state of the latest run (by start) of each logical date of `pipeline_id`.
async fn latest_states(
    store: &dyn dataforge_core::StateStore,
    pipeline_id: &str,
) -> Result<HashMap<DateTime<Utc>, RunState>, u8> {
    let runs = store
        .runs(&RunQuery::pipeline(pipeline_id))
        .await
        .map_err(|e| {
            eprintln!("cannot read the run history: {}", error_chain(&e));
            EXIT_RUN_FAILED
        })?;
    let mut out = HashMap::new();
    // Newest logical date first, then latest start: the first seen per date is the latest.
    for r in runs {
        out.entry(r.logical_date).or_insert(r.status);
    }
    Ok(out)
}

/// What the backfill does with one interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Run,
    Skip,
}

impl Decision {
    fn describe(self, previous: Option<RunState>) -> String {
        match (self, previous) {
            (Self::Run, None) => "would run".to_owned(),
            (Self::Run, Some(s)) => format!("would rerun (latest run: {s})"),
            (Self::Skip, Some(s)) => format!("would skip (latest run: {s})"),
            (Self::Skip, None) => "would skip".to_owned(),
        }
    }
}

/// Airflow's `reprocess_behavior`: `none` runs intervals without a run, `failed` also those
/// whose latest run failed or was cancelled, `all` every interval.
fn decide(reprocess: Reprocess, previous: Option<RunState>) -> Decision {
    let rerun = match previous {
        None => true,
        Some(state) => match reprocess {
            Reprocess::All => true,
            Reprocess::Failed => matches!(state, RunState::Failed | RunState::Cancelled),
            Reprocess::None => false,
        },
    };
    if rerun { Decision::Run } else { Decision::Skip }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reprocess_follows_airflow() {
        use Decision::{Run, Skip};
        let cases = [
            (Reprocess::None, None, Run),
            (Reprocess::None, Some(RunState::Success), Skip),
            (Reprocess::None, Some(RunState::Failed), Skip),
            (Reprocess::Failed, Some(RunState::Success), Skip),
            (Reprocess::Failed, Some(RunState::Failed), Run),
            (Reprocess::Failed, Some(RunState::Cancelled), Run),
            (Reprocess::All, Some(RunState::Success), Run),
        ];
        for (r, prev, want) in cases {
            assert_eq!(decide(r, prev), want, "{r:?} {prev:?}");
        }
    }
}
