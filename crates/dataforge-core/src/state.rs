//! Per-pipeline state (cursors for incremental loads), saved only when a load commits, and
//! the history of runs ([`RunRecord`]).
//!
//! A source reads its cursor from [`StateHandle::get`] and stages the new one with
//! [`StateHandle::set`]; the runner saves staged values through the [`StateStore`] after the
//! destination committed, so a failed load never advances a cursor. A transactional
//! destination also commits them with its rows, and its copy wins on the next run (see
//! [`Destination::commits_state`](crate::Destination::commits_state)).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value as Json;

mod claim;
mod run;

pub use claim::{Claim, ClaimRequest};
pub use run::{
    RunQuery, RunRecord, RunState, RunTrigger, prev_data_interval_end_success, sort_newest_first,
};

/// The state of one pipeline: named JSON values.
pub type State = BTreeMap<String, Json>;

/// Why state could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// A file could not be read or written.
    #[error("state file {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A state file is not valid JSON.
    #[error("state file {path} is not valid JSON")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// Another store's failure.
    #[error("state store")]
    Other(#[source] crate::error::BoxError),
}

impl StateError {
    /// True when a later attempt may succeed: I/O and other stores' failures are; a corrupt
    /// state file is not (retrying reads the same file).
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::Corrupt { .. })
    }
}

/// Where pipeline state lives: cursors ([`load`](Self::load)/[`save`](Self::save)) and,
/// optionally, run history ([`record_run`](Self::record_run)/[`runs`](Self::runs)).
///
/// The library's default is [`FileStateStore`] (cursors only); the `dataforge-state` crate has
/// SQLite and PostgreSQL stores with history, and a service plugs in its own (a database
/// table, a key-value store) through `RunOptions`. The history methods have defaults that keep
/// nothing, so a store written for cursors alone still compiles and works.
///
/// Implementations use `#[async_trait]` (re-exported as [`crate::async_trait`]); forgetting
/// it gives `error[E0195]: lifetime parameters or bounds on method do not match the trait
/// declaration`. Errors: [`StateError::Other`] wraps the store's own (retryable), and `?`
/// turns a [`StateError`] into a [`ComponentError`](crate::ComponentError).
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use dataforge_core::{State, StateError, StateStore, async_trait};
///
/// /// State in a map (a real service would use its database).
/// #[derive(Default)]
/// struct MapStore(Mutex<HashMap<String, State>>);
///
/// #[async_trait]
/// impl StateStore for MapStore {
///     async fn load(&self, pipeline_id: &str) -> Result<State, StateError> {
///         let map = self.0.lock().map_err(|_| StateError::Other("poisoned".into()))?;
///         Ok(map.get(pipeline_id).cloned().unwrap_or_default())
///     }
///     async fn save(&self, pipeline_id: &str, state: &State) -> Result<(), StateError> {
///         let mut map = self.0.lock().map_err(|_| StateError::Other("poisoned".into()))?;
///         map.insert(pipeline_id.to_owned(), state.clone());
///         Ok(())
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MapStore::default();
/// let mut state = State::new();
/// state.insert("cursor".into(), 42.into());
/// store.save("orders", &state).await?;
/// assert_eq!(store.load("orders").await?["cursor"], 42);
/// # Ok::<(), StateError>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait StateStore: Send + Sync + 'static {
    /// The saved state of `pipeline_id` (empty when there is none).
    ///
    /// # Errors
    /// When the store cannot be read.
    async fn load(&self, pipeline_id: &str) -> Result<State, StateError>;

    /// Replaces the saved state of `pipeline_id`, atomically.
    ///
    /// # Errors
    /// When the store cannot be written.
    async fn save(&self, pipeline_id: &str, state: &State) -> Result<(), StateError>;

    /// True when the store keeps run history (the default methods below keep none).
    fn keeps_history(&self) -> bool {
        false
    }

    /// Records `run`, replacing the record with the same run id (a run is recorded when it
    /// starts and again when it ends). The default keeps nothing.
    ///
    /// # Errors
    /// When the store cannot be written.
    async fn record_run(&self, run: &RunRecord) -> Result<(), StateError> {
        tracing::trace!(run_id = %run.run_id, "this state store keeps no run history");
        Ok(())
    }

    /// The recorded runs `query` selects, newest logical date first (see
    /// [`sort_newest_first`]). The default has none.
    ///
    /// # Errors
    /// When the store cannot be read.
    async fn runs(&self, query: &RunQuery) -> Result<Vec<RunRecord>, StateError> {
        let _ = query;
        Ok(Vec::new())
    }

    /// The successful run of `pipeline_id` with the latest logical date.
    ///
    /// # Errors
    /// When the store cannot be read.
    async fn last_successful(&self, pipeline_id: &str) -> Result<Option<RunRecord>, StateError> {
        let query = RunQuery::pipeline(pipeline_id)
            .status(RunState::Success)
            .limit(1);
        Ok(self.runs(&query).await?.into_iter().next())
    }

    /// True when the store coordinates several schedulers sharing it: claims may be refused
    /// and leases lapse (see [`Claim`]). The default is one process, every claim granted.
    fn coordinates_runs(&self) -> bool {
        false
    }

    /// Claims the scheduled run `request` describes for its owner, with a lease: `None` when
    /// another owner holds it or it has finished. A run whose lease lapsed is taken over as
    /// its next attempt, keeping its run id. The default grants every claim.
    ///
    /// # Errors
    /// When the store cannot be read or written.
    async fn claim_run(&self, request: &ClaimRequest) -> Result<Option<Claim>, StateError> {
        Ok(Some(request.granted()))
    }

    /// Claims, for `owner`, one run of `pipeline_ids` whose lease lapsed (its process died or
    /// stalled) or that a stopping scheduler released, as its next attempt. The default has
    /// none.
    ///
    /// # Errors
    /// When the store cannot be read or written.
    async fn claim_orphan(
        &self,
        pipeline_ids: &[String],
        owner: &str,
        lease: Duration,
    ) -> Result<Option<Claim>, StateError> {
        let _ = (pipeline_ids, owner, lease);
        Ok(None)
    }

    /// Extends `claim`'s lease to `lease` from now: `false` when the claim is no longer held
    /// (another owner took the run over). The default always holds.
    ///
    /// # Errors
    /// When the store cannot be reached: the claim may or may not still be held.
    async fn renew_claim(&self, claim: &Claim, lease: Duration) -> Result<bool, StateError> {
        let _ = (claim, lease);
        Ok(true)
    }

    /// Ends `claim` with its run's final `record`, recorded as [`record_run`](Self::record_run)
    /// does and in the same transaction: `false`, and nothing recorded, when the claim is no
    /// longer held. A cancelled run's claim is released, for another scheduler to run. The
    /// default records the run.
    ///
    /// # Errors
    /// When the store cannot be written.
    async fn finish_claim(&self, claim: &Claim, record: &RunRecord) -> Result<bool, StateError> {
        let _ = claim;
        self.record_run(record).await?;
        Ok(true)
    }
}

/// State as one JSON file per pipeline under `<DATAFORGE_HOME>/state/`, replaced atomically.
#[derive(Debug, Clone)]
pub struct FileStateStore {
    dir: PathBuf,
}

impl FileStateStore {
    /// A store under `home/state`.
    pub fn new(home: impl Into<PathBuf>) -> Self {
        Self {
            dir: home.into().join("state"),
        }
    }

    /// A store under `$DATAFORGE_HOME` (default `.dataforge`).
    pub fn from_env() -> Self {
        Self::new(crate::dataforge_home())
    }

    /// The directory the files are in (`home/state`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds the state of `pipeline_id` (characters other than ASCII letters,
    /// digits, `-` and `_` become `_`).
    pub fn file(&self, pipeline_id: &str) -> PathBuf {
        let safe: String = pipeline_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join(format!("{safe}.json"))
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_owned(),
        source,
    }
}

#[async_trait]
impl StateStore for FileStateStore {
    async fn load(&self, pipeline_id: &str) -> Result<State, StateError> {
        let path = self.file(pipeline_id);
        match tokio::fs::read(&path).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| StateError::Corrupt {
                path: path.clone(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::new()),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    async fn save(&self, pipeline_id: &str, state: &State) -> Result<(), StateError> {
        let path = self.file(pipeline_id);
        let dir = self.dir.clone();
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| StateError::Other(e.into()))?;
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
            let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(io_err(&dir))?;
            std::io::Write::write_all(&mut tmp, &bytes).map_err(io_err(&path))?;
            tmp.as_file().sync_all().map_err(io_err(&path))?;
            tmp.persist(&path).map_err(|e| io_err(&path)(e.error))?;
            Ok(())
        })
        .await
        .map_err(|e| StateError::Other(e.into()))?
    }
}

/// A store that keeps state and run history in memory (tests, or runs that want none kept).
#[derive(Debug, Default)]
pub struct MemoryStateStore {
    states: Mutex<BTreeMap<String, State>>,
    runs: Mutex<BTreeMap<String, RunRecord>>,
}

#[async_trait]
impl StateStore for MemoryStateStore {
    async fn load(&self, pipeline_id: &str) -> Result<State, StateError> {
        Ok(lock(&self.states)
            .get(pipeline_id)
            .cloned()
            .unwrap_or_default())
    }
    async fn save(&self, pipeline_id: &str, state: &State) -> Result<(), StateError> {
        lock(&self.states).insert(pipeline_id.to_owned(), state.clone());
        Ok(())
    }
    fn keeps_history(&self) -> bool {
        true
    }
    async fn record_run(&self, run: &RunRecord) -> Result<(), StateError> {
        lock(&self.runs).insert(run.run_id.clone(), run.clone());
        Ok(())
    }
    async fn runs(&self, query: &RunQuery) -> Result<Vec<RunRecord>, StateError> {
        let mut out: Vec<RunRecord> = lock(&self.runs)
            .values()
            .filter(|r| query.matches(r))
            .cloned()
            .collect();
        sort_newest_first(&mut out);
        out.truncate(query.limit.unwrap_or(usize::MAX));
        Ok(out)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding this lock cannot leave the map half-updated (single insert/clone).
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// [`lock`], for the runner's tests.
#[cfg(test)]
pub(crate) fn lock_for_tests<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    lock(m)
}

/// Computes a staged value when the state is saved.
type Compute = Arc<dyn Fn() -> Json + Send + Sync>;

/// A value staged for saving: given, or computed at save time.
#[derive(Clone)]
enum Staged {
    Value(Json),
    Computed(Compute),
}

impl Staged {
    fn value(&self) -> Json {
        match self {
            Self::Value(v) => v.clone(),
            Self::Computed(f) => f(),
        }
    }
}

impl std::fmt::Debug for Staged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Value(v) => v.fmt(f),
            Self::Computed(_) => f.write_str("<computed when saved>"),
        }
    }
}

/// The state one run sees: the saved values, and the values it stages for saving.
#[derive(Debug, Default)]
pub struct StateHandle {
    saved: State,
    staged: Mutex<BTreeMap<String, Staged>>,
}

impl StateHandle {
    /// A handle over the state loaded at the start of a run.
    pub fn new(saved: State) -> Self {
        Self {
            saved,
            staged: Mutex::default(),
        }
    }

    /// The value saved by the last committed run.
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.saved.get(key)
    }

    /// Stages a value; it is saved only if this run's load commits.
    pub fn set(&self, key: impl Into<String>, value: Json) {
        lock(&self.staged).insert(key.into(), Staged::Value(value));
    }

    /// Stages a value that `compute` makes when the state is saved, after the load committed:
    /// for a source whose rows are decoded on the runner's workers (see
    /// [`DeferredBatch`](crate::DeferredBatch)), which still see rows after `extract` returned.
    pub fn set_with(
        &self,
        key: impl Into<String>,
        compute: impl Fn() -> Json + Send + Sync + 'static,
    ) {
        lock(&self.staged).insert(key.into(), Staged::Computed(Arc::new(compute)));
    }

    /// The state to save: the saved values updated with the staged ones; `None` when nothing
    /// was staged.
    pub fn to_save(&self) -> Option<State> {
        // Computed values run outside the lock: they may take locks of their own.
        let staged = lock(&self.staged).clone();
        if staged.is_empty() {
            return None;
        }
        let mut out = self.saved.clone();
        out.extend(staged.into_iter().map(|(k, v)| (k, v.value())));
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_store_round_trips_and_starts_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStateStore::new(dir.path());
        assert!(store.load("orders/daily").await.expect("load").is_empty());
        let mut s = State::new();
        s.insert("cursor".into(), serde_json::json!("2026-01-01T00:00:00Z"));
        store.save("orders/daily", &s).await.expect("save");
        assert_eq!(store.load("orders/daily").await.expect("load"), s);
    }

    #[test]
    fn staged_values_merge_over_saved() {
        let mut saved = State::new();
        saved.insert("a".into(), 1.into());
        saved.insert("b".into(), 2.into());
        let h = StateHandle::new(saved);
        assert!(h.to_save().is_none());
        h.set("b", 3.into());
        let out = h.to_save().expect("staged");
        assert_eq!(out["a"], 1);
        assert_eq!(out["b"], 3);
        assert_eq!(h.get("b"), Some(&Json::from(2)));
    }

    #[test]
    fn computed_values_are_made_when_saved() {
        let h = StateHandle::new(State::new());
        let seen = Arc::new(Mutex::new(1));
        let read = seen.clone();
        h.set_with("cursor", move || Json::from(*lock(&read)));
        *lock(&seen) = 7; // rows decoded after the value was staged
        assert_eq!(h.to_save().expect("staged")["cursor"], 7);
        h.set("cursor", 9.into());
        assert_eq!(h.to_save().expect("staged")["cursor"], 9);
    }
}
