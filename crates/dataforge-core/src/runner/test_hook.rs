//! Test-only: a pause between the destination's commit and the state store's save.
//!
//! `DATAFORGE_TEST_PAUSE_AFTER_COMMIT_MS=N` makes the runner sleep N milliseconds after the
//! main load committed and before it saves the state to the store, so a crash test can kill
//! the process in that window. Not for production use; unset, it costs one lookup per run.

use std::time::Duration;

/// The variable's name.
pub(crate) const PAUSE_AFTER_COMMIT: &str = "DATAFORGE_TEST_PAUSE_AFTER_COMMIT_MS";

/// Sleeps as long as [`PAUSE_AFTER_COMMIT`] says (nothing when it is unset or not a number).
pub(crate) async fn pause_after_commit() {
    let Some(ms) = std::env::var(PAUSE_AFTER_COMMIT)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
    else {
        return;
    };
    tracing::warn!(
        ms,
        "test hook: pausing between the load's commit and the state save"
    );
    tokio::time::sleep(Duration::from_millis(ms)).await;
}
