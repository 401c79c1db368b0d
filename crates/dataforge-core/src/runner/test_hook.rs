//! Test-only: pauses at chosen points of a run, so a crash test can kill or stop the process
//! there.
//!
//! - `DATAFORGE_TEST_PAUSE_AFTER_COMMIT_MS=N`: after the main load committed, before the state
//!   store's save.
//! - `DATAFORGE_TEST_PAUSE_BEFORE_COMMIT_MS=N`: in the destination's open transaction, right
//!   before the commit guard and the commit ([`RunContext::before_commit`](crate::RunContext::before_commit)).
//! - `DATAFORGE_TEST_PAUSE_BEFORE_LOAD_MS=N`: at the start of each attempt, before the source
//!   and the destination open anything.
//!
//! Not for production use; unset, each costs one lookup per run.

use std::time::Duration;

/// The pause between the commit and the state save.
pub(crate) const PAUSE_AFTER_COMMIT: &str = "DATAFORGE_TEST_PAUSE_AFTER_COMMIT_MS";
/// The pause right before the commit.
pub(crate) const PAUSE_BEFORE_COMMIT: &str = "DATAFORGE_TEST_PAUSE_BEFORE_COMMIT_MS";
/// The pause before an attempt opens anything.
pub(crate) const PAUSE_BEFORE_LOAD: &str = "DATAFORGE_TEST_PAUSE_BEFORE_LOAD_MS";

/// Sleeps as long as [`PAUSE_AFTER_COMMIT`] says (nothing when it is unset or not a number).
pub(crate) async fn pause_after_commit() {
    pause(
        PAUSE_AFTER_COMMIT,
        "between the load's commit and the state save",
    )
    .await;
}

/// Sleeps as long as [`PAUSE_BEFORE_COMMIT`] says.
pub(crate) async fn pause_before_commit() {
    pause(PAUSE_BEFORE_COMMIT, "right before the load's commit").await;
}

/// Sleeps as long as [`PAUSE_BEFORE_LOAD`] says.
pub(crate) async fn pause_before_load() {
    pause(PAUSE_BEFORE_LOAD, "before the attempt opens anything").await;
}

/// Sleeps as long as the variable `var` says, in milliseconds (nothing when it is unset, zero
/// or not a number).
async fn pause(var: &str, place: &str) {
    let Some(ms) = std::env::var(var)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
    else {
        return;
    };
    tracing::warn!(ms, "test hook: pausing {place}");
    tokio::time::sleep(Duration::from_millis(ms)).await;
}
