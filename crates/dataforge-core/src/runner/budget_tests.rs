//! `max_rejected`: a run over its bad-row budget fails and commits nothing, whatever the
//! rejecting steps' `on_error`; a run within it commits and counts its rejected rows.

use std::time::Duration;

use super::tests::{Double, ids, options, rows};
use super::*;
use crate::config::{DefaultArgs, OnError, RejectBudget};
use crate::error::error_chain;
use crate::test_utils::{CollectingDestination, MemorySource};

/// 250 rows in batches of 25 through `Double { reject_every: 5 }` (50 rejected, 20%) under
/// `on_error`, with `budget` and a dead-letter destination.
async fn run_with(
    budget: RejectBudget,
    on_error: OnError,
) -> (RunReport, CollectingDestination, CollectingDestination) {
    let dest = CollectingDestination::new();
    let dead = CollectingDestination::new();
    let p = Pipeline::builder("budget")
        .source(MemorySource::new(rows(250)))
        .transform_with(Double { reject_every: 5 }, on_error)
        .destination(dest.clone())
        .dead_letter(dead.clone())
        .batch_size(25)
        .max_rejected(budget)
        .default_args(DefaultArgs {
            retries: 2,
            retry_delay: Duration::ZERO,
            ..DefaultArgs::default()
        })
        .build()
        .expect("valid");
    (p.run(&options()).await, dest, dead)
}

#[tokio::test]
async fn within_the_budget_the_run_commits_and_reports_the_rejected_rows() {
    for budget in [
        RejectBudget::Rows(50),
        RejectBudget::percent(20.0).expect("in range"),
    ] {
        for on_error in [OnError::Skip, OnError::DeadLetter] {
            let (report, dest, dead) = run_with(budget, on_error).await;
            assert!(
                report.is_success(),
                "{budget} {on_error:?}: {:?}",
                report.error
            );
            assert_eq!(report.rows_rejected, 50);
            assert_eq!(report.rows_loaded, 200);
            assert_eq!(dest.rows().len(), 200);
            assert!(ids(&dest.rows()).iter().all(|id| id % 5 != 0));
            let dead_rows = if on_error == OnError::DeadLetter {
                50
            } else {
                0
            };
            assert_eq!(dead.rows().len(), dead_rows, "{budget} {on_error:?}");
        }
    }
}

#[tokio::test]
async fn a_count_over_the_budget_stops_the_run_early_and_commits_nothing() {
    for on_error in [OnError::Skip, OnError::DeadLetter] {
        let (report, dest, dead) = run_with(RejectBudget::Rows(9), on_error).await;
        assert_eq!(report.status, RunStatus::Failed, "{on_error:?}");
        let error = report.error.as_ref().expect("an error");
        assert!(
            matches!(
                error,
                RunError::TooManyRejected {
                    rejected: 10,
                    complete: false,
                    ..
                }
            ),
            "{error:?}"
        );
        let text = error_chain(error);
        assert!(
            text.contains("10 rows rejected by source row")
                && text.contains("over its budget of 9 rows (max_rejected)")
                && text.contains("rolled back"),
            "{text}"
        );
        // The 10th rejected row is id 45: the run stopped well before the last of 250 rows.
        let RunError::TooManyRejected { read, .. } = error else {
            unreachable!("matched above")
        };
        assert!(*read < 250, "read {read}");
        // Nothing committed, no retry (the same rows would be rejected again), no dead letters.
        assert!(dest.rows().is_empty());
        assert!(dest.rollbacks() >= 1);
        assert!(dead.rows().is_empty());
        assert_eq!(report.attempts, 1);
    }
}

#[tokio::test]
async fn a_share_over_the_budget_fails_once_every_row_is_read() {
    let budget = RejectBudget::percent(19.99).expect("in range");
    let (report, dest, dead) = run_with(budget, OnError::Skip).await;
    assert_eq!(report.status, RunStatus::Failed);
    let text = error_chain(report.error.as_ref().expect("an error"));
    assert!(
        text.contains(
            "50 rows rejected out of 250 read, over its budget of 19.99% of the rows read"
        ),
        "{text}"
    );
    assert!(dest.rows().is_empty());
    assert!(dead.rows().is_empty());
    assert_eq!(report.attempts, 1);
}

#[tokio::test]
async fn no_budget_and_a_zero_budget() {
    let dest = CollectingDestination::new();
    let p = Pipeline::builder("budget")
        .source(MemorySource::new(rows(10)))
        .transform_with(Double { reject_every: 0 }, OnError::Skip)
        .destination(dest.clone())
        .max_rejected(RejectBudget::Rows(0))
        .build()
        .expect("valid");
    let report = p.run(&options()).await;
    assert!(report.is_success(), "no row rejected: {:?}", report.error);
    assert_eq!(dest.rows().len(), 10);
    let (report, dest, _) = run_with(RejectBudget::Rows(0), OnError::Skip).await;
    assert_eq!(report.status, RunStatus::Failed);
    assert!(dest.rows().is_empty());
}
