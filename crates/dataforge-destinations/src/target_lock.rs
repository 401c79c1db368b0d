//! One load at a time into one target, across runs and processes.
//!
//! Two runs loading one table or file at once can double it (two `replace` runs into a table
//! without a key each delete, then each insert), or interleave and cut back each other's rows
//! (`append` to a file). Every load therefore first takes a lock on its target: PostgreSQL a
//! transaction-scoped advisory lock keyed on the table (`postgres/lock.rs`), SQLite and files
//! an exclusive `flock` on a lock file beside the target (`.NAME.dataforge-lock`, which names
//! the holding run). A second run waits, at most `lock_timeout` (default 30 minutes), then
//! fails with a message naming the run that holds the target. The operating system (or
//! PostgreSQL) releases the lock when its process dies, so a killed run never leaves the
//! target locked. A load removes its lock file as it lets go (a killed one leaves it behind,
//! harmless: nobody holds it); a waiting run that finds its file removed opens the new one.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dataforge_core::config::DurationSpec;
use dataforge_core::schemars::{self, JsonSchema};
use dataforge_core::{ComponentError, RunContext};

/// How long a load waits for another run's load into the same target by default.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// How often a waiting load tries the lock again.
const POLL: Duration = Duration::from_millis(100);

/// Why a target could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another run held the target for the whole wait.
    #[error(
        "{kind} destination: {target} is being loaded by another run ({holder}); waited {waited:.1?} \
         (lock_timeout) without getting it; nothing was written"
    )]
    Busy {
        /// `postgres`, `sqlite` or `file`.
        kind: &'static str,
        /// The table or file.
        target: String,
        /// Who holds it, as far as can be told.
        holder: String,
        /// How long this run waited.
        waited: Duration,
    },
    /// The lock file could not be opened or locked.
    #[error("{kind} destination: cannot lock {}: {source}", path.display())]
    Io {
        /// `sqlite` or `file`.
        kind: &'static str,
        /// The lock file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl From<LockError> for ComponentError {
    fn from(e: LockError) -> Self {
        match e {
            // The other run will finish: a later attempt may get the target.
            LockError::Busy { .. } => ComponentError::retryable(e),
            LockError::Io { .. } => ComponentError::fatal(e),
        }
    }
}

/// `lock_timeout` in a destination's config: seconds or a duration (`"10m"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, JsonSchema)]
#[serde(from = "DurationSpec")]
#[schemars(with = "DurationText")]
pub struct LockTimeout(pub Duration);

impl Default for LockTimeout {
    fn default() -> Self {
        Self(DEFAULT_LOCK_TIMEOUT)
    }
}

impl From<DurationSpec> for LockTimeout {
    fn from(d: DurationSpec) -> Self {
        Self(d.0)
    }
}

/// The JSON Schema of a duration: a number of seconds or a text such as `"10m"`.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // only its schema is used
enum DurationText {
    /// Seconds.
    Seconds(f64),
    /// A duration such as `"10m"` or `"1h 30m"`.
    Text(String),
}

/// How this run is named to a run that waits for it.
pub(crate) fn holder_name(ctx: &RunContext) -> String {
    format!(
        "run {} of pipeline `{}`, pid {}",
        ctx.run_id(),
        ctx.pipeline_id(),
        std::process::id()
    )
}

/// The wait of a load for its target: announced once, bounded by the timeout, cut short by
/// the run's cancellation. Use: try the lock; if taken, ask [`Waiter::wants_holder`], find the
/// holder if so, and [`Waiter::pause`].
pub(crate) struct Waiter<'a> {
    kind: &'static str,
    target: &'a str,
    ctx: &'a RunContext,
    timeout: Duration,
    started: Instant,
    announced: bool,
}

impl<'a> Waiter<'a> {
    /// A wait starting now.
    pub(crate) fn new(
        kind: &'static str,
        target: &'a str,
        ctx: &'a RunContext,
        timeout: Duration,
    ) -> Self {
        Self {
            kind,
            target,
            ctx,
            timeout,
            started: Instant::now(),
            announced: false,
        }
    }

    /// Whether the next [`Waiter::pause`] names the holder (to announce the wait, or to fail).
    pub(crate) fn wants_holder(&self) -> bool {
        !self.announced || self.started.elapsed() >= self.timeout
    }

    /// Waits before the next try.
    ///
    /// # Errors
    /// [`LockError::Busy`] naming `holder` once the timeout has passed; a fatal error when the
    /// run is cancelled.
    pub(crate) async fn pause(&mut self, holder: Option<String>) -> Result<(), ComponentError> {
        let (kind, target) = (self.kind, self.target);
        let waited = self.started.elapsed();
        if waited >= self.timeout {
            return Err(LockError::Busy {
                kind,
                target: target.to_owned(),
                holder: holder.unwrap_or_else(|| "it has not said who it is".into()),
                waited,
            }
            .into());
        }
        if !self.announced {
            let holder = holder.unwrap_or_else(|| "unknown".into());
            tracing::info!(target = %target, holder = %holder, timeout = ?self.timeout,
                "waiting for another run's load into {target} to end");
            self.announced = true;
        }
        tokio::select! {
            () = self.ctx.cancellation().cancelled() => Err(ComponentError::fatal_msg(format!(
                "{kind} destination: cancelled while waiting for {target}"
            ))),
            () = tokio::time::sleep(POLL.min(self.timeout - waited)) => Ok(()),
        }
    }

    /// Notes that the lock was taken.
    pub(crate) fn done(&self) {
        if self.announced {
            tracing::info!(target = %self.target, waited = ?self.started.elapsed(), "got the target");
        }
    }
}

/// An exclusive lock on a target file (a SQLite database or an output file), held until drop.
#[derive(Debug)]
pub struct FileLock {
    /// Held open: the `flock` lives as long as this descriptor.
    file: File,
    /// The lock file, removed when the lock is let go.
    path: PathBuf,
}

impl FileLock {
    /// The lock file of `target`: `.NAME.dataforge-lock` in the same directory.
    pub fn path_for(target: &Path) -> PathBuf {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let lock = format!(".{name}.dataforge-lock");
        match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join(lock),
            _ => PathBuf::from(lock),
        }
    }

    /// Locks `target` for this run, waiting at most `timeout` for another run's load.
    ///
    /// # Errors
    /// [`LockError::Busy`] naming the other run after `timeout`; [`LockError::Io`] when the lock
    /// file cannot be made; a cancellation error when the run is cancelled while waiting.
    pub async fn acquire(
        kind: &'static str,
        target: &Path,
        ctx: &RunContext,
        timeout: Duration,
    ) -> Result<Self, ComponentError> {
        let path = Self::path_for(target);
        let io = |source| LockError::Io {
            kind,
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let shown = target.display().to_string();
        let mut wait = Waiter::new(kind, &shown, ctx, timeout);
        let mut file = loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io)?;
            match file.try_lock() {
                // The holder before us removes the file as it lets go: a lock on a file no
                // longer at `path` guards nothing, so open the one there now.
                Ok(()) if is_at(&file, &path) => break file,
                Ok(()) => continue,
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => return Err(io(e).into()),
            }
            drop(file);
            let holder = if wait.wants_holder() {
                read_holder(&path)
            } else {
                None
            };
            wait.pause(holder).await?;
        };
        wait.done();
        // Say who holds it, for a run that waits (best effort: the lock is what matters).
        let name = holder_name(ctx);
        if let Err(e) = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(name.as_bytes()))
        {
            tracing::debug!(path = %path.display(), error = %e, "could not name the lock's holder");
        }
        Ok(Self { file, path })
    }
}

impl Drop for FileLock {
    /// Removes the lock file while still holding it (a run that opened it meanwhile sees that
    /// it is gone once it gets the lock, and opens a new one), then lets go.
    fn drop(&mut self) {
        #[cfg(unix)]
        if is_at(&self.file, &self.path)
            && let Err(e) = std::fs::remove_file(&self.path)
        {
            tracing::debug!(path = %self.path.display(), error = %e, "could not remove the lock file");
        }
    }
}

/// Whether `file` is the file at `path` now (not one removed or replaced since it was opened).
#[cfg(unix)]
fn is_at(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(open), Ok(now)) => open.dev() == now.dev() && open.ino() == now.ino(),
        _ => false,
    }
}

/// Whether `file` is the file at `path` now (elsewhere: assumed; the file is never removed).
#[cfg(not(unix))]
fn is_at(_file: &File, _path: &Path) -> bool {
    true
}

/// The holder a lock file names (at most 300 bytes of it).
fn read_holder(path: &Path) -> Option<String> {
    let mut text = String::new();
    File::open(path)
        .ok()?
        .take(300)
        .read_to_string(&mut text)
        .ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}
