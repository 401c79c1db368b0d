//! Progress while a pipeline runs: a live line on a terminal, periodic log lines otherwise.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataforge_core::Progress;
use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;

/// A running progress display; [`ProgressDisplay::finish`] stops it.
pub struct ProgressDisplay {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// How often log lines are written when stderr is not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Starts showing `progress` for `pipeline`.
pub fn start(pipeline: &str, progress: Arc<Progress>, allow_bar: bool) -> ProgressDisplay {
    let stop = CancellationToken::new();
    let tty = allow_bar && std::io::stderr().is_terminal();
    let pipeline = pipeline.to_owned();
    let token = stop.clone();
    let task = tokio::spawn(async move {
        let started = Instant::now();
        let bar = tty.then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix:.bold} {msg} [{elapsed}]")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(pipeline.clone());
            bar
        });
        let tick = if tty {
            Duration::from_millis(200)
        } else {
            LOG_EVERY
        };
        let mut interval = tokio::time::interval(tick);
        interval.tick().await;
        loop {
            tokio::select! {
                _ = token.cancelled() => break,
                _ = interval.tick() => {}
            }
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            let (read, written, rejected) = (
                progress.extracted(),
                progress.transformed(),
                progress.rejected(),
            );
            let rate = written as f64 / secs;
            match &bar {
                Some(bar) => {
                    bar.set_message(format!(
                        "{read} rows read, {written} to load ({rate:.0} rows/s), {rejected} rejected"
                    ));
                    bar.tick();
                }
                None => tracing::info!(
                    pipeline = %pipeline,
                    rows_read = read,
                    rows_to_load = written,
                    rows_rejected = rejected,
                    rows_per_sec = rate.round(),
                    "progress"
                ),
            }
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
    });
    ProgressDisplay { stop, task }
}

impl ProgressDisplay {
    /// Stops the display and clears its line.
    pub async fn finish(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}
