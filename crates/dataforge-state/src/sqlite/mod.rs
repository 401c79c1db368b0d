//! [`SqliteStateStore`]: cursors and run history in one SQLite file (WAL, busy timeout), the
//! embedded default at `$DATAFORGE_HOME/state.db`.

mod migrations;
mod rows;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use dataforge_core::{
    FileStateStore, RunQuery, RunRecord, State, StateError, StateStore, async_trait,
};
use rusqlite::{Connection, OptionalExtension};

use crate::StoreError;

/// How long a call waits for another connection's write lock (another process's run).
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Cursors and run history in a SQLite file.
///
/// Every call runs on tokio's blocking threads. The file is in WAL mode with a busy timeout,
/// so several processes (two `dataforge run`s, a `serve`) can share it: readers never wait,
/// writers wait their turn. Migrations run under `BEGIN IMMEDIATE` when the store opens.
///
/// ```no_run
/// use dataforge_state::SqliteStateStore;
///
/// # async fn demo() -> Result<(), dataforge_state::StoreError> {
/// let store = SqliteStateStore::open_in_home(".dataforge").await?; // .dataforge/state.db
/// # Ok(()) }
/// ```
pub struct SqliteStateStore {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
    json_files: Option<FileStateStore>,
}

impl std::fmt::Debug for SqliteStateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStateStore")
            .field("path", &self.path)
            .field("json_files", &self.json_files)
            .finish_non_exhaustive()
    }
}

impl SqliteStateStore {
    /// The file name under `DATAFORGE_HOME`.
    pub const FILE_NAME: &'static str = "state.db";

    /// Opens (creating it and its directory if need be) the database at `path`, and migrates
    /// it to [`SCHEMA_VERSION`](crate::SCHEMA_VERSION).
    ///
    /// # Errors
    /// [`StoreError`]: the directory or file cannot be created or opened, or a migration
    /// fails (a database locked for longer than the busy timeout, 30 s, is one).
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let path = path.into();
        let p = path.clone();
        let conn = tokio::task::spawn_blocking(move || open_blocking(&p))
            .await
            .map_err(|source| StoreError::Thread {
                path: path.clone(),
                source,
            })??;
        Ok(Self {
            path,
            conn: Arc::new(Mutex::new(conn)),
            json_files: None,
        })
    }

    /// Opens `home/state.db` (see [`Self::open`]) and imports the JSON cursor files of
    /// `home/state/` on first use (see [`Self::importing_json_files`]).
    ///
    /// # Errors
    /// As [`Self::open`].
    pub async fn open_in_home(home: impl AsRef<Path>) -> Result<Self, StoreError> {
        let home = home.as_ref();
        Ok(Self::open(home.join(Self::FILE_NAME))
            .await?
            .importing_json_files(FileStateStore::new(home)))
    }

    /// The same store, which on loading a pipeline it has no cursor for imports that
    /// pipeline's file from `files` (the store DataForge used before), if there is one. The
    /// file is left in place and no longer read.
    pub fn importing_json_files(mut self, files: FileStateStore) -> Self {
        self.json_files = Some(files);
        self
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the connection, on a blocking thread.
    async fn call<T: Send + 'static>(
        &self,
        action: &'static str,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            // A panic in `f` cannot leave the connection half-changed: an open transaction
            // is rolled back when its guard drops.
            let mut conn = conn
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut conn)
        })
        .await
        .map_err(|source| StoreError::Thread {
            path: path.clone(),
            source,
        })?
        .map_err(|source| StoreError::Sqlite {
            path,
            action,
            source,
        })
    }

    async fn cursor(&self, pipeline_id: &str) -> Result<Option<State>, StateError> {
        let id = pipeline_id.to_owned();
        let text: Option<String> = self
            .call("read a cursor", move |c| {
                c.query_row(
                    "SELECT state FROM cursors WHERE pipeline_id = ?1",
                    [&id],
                    |r| r.get(0),
                )
                .optional()
            })
            .await?;
        text.map(|t| {
            serde_json::from_str(&t).map_err(|source| StateError::Corrupt {
                path: self.path.clone(),
                source,
            })
        })
        .transpose()
    }

    /// Imports the JSON file of `pipeline_id`, if any, unless a cursor appeared meanwhile.
    async fn import(&self, pipeline_id: &str) -> Result<State, StateError> {
        let Some(files) = &self.json_files else {
            return Ok(State::new());
        };
        let file = files.file(pipeline_id);
        if !tokio::fs::try_exists(&file).await.unwrap_or(false) {
            return Ok(State::new());
        }
        let state = files.load(pipeline_id).await?;
        let text = serde_json::to_string(&state).map_err(|e| StateError::Other(e.into()))?;
        let id = pipeline_id.to_owned();
        let now = rows::ts(&Utc::now());
        let inserted = self
            .call("import a cursor", move |c| {
                c.execute(
                    "INSERT INTO cursors (pipeline_id, state, updated_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (pipeline_id) DO NOTHING",
                    rusqlite::params![id, text, now],
                )
            })
            .await?;
        if inserted == 1 {
            tracing::info!(
                pipeline = pipeline_id,
                file = %file.display(),
                database = %self.path.display(),
                "imported the JSON state file into the state database; the file is left in place and no longer read"
            );
            return Ok(state);
        }
        // Another process saved or imported first: its cursor stands.
        Ok(self.cursor(pipeline_id).await?.unwrap_or_default())
    }
}

fn open_blocking(path: &Path) -> Result<Connection, StoreError> {
    let sql = |action| {
        move |source| StoreError::Sqlite {
            path: path.to_owned(),
            action,
            source,
        }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
            path: dir.to_owned(),
            source,
        })?;
    }
    let mut conn = Connection::open(path).map_err(sql("open the file"))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(sql("set the busy timeout"))?;
    let mode = wal(&conn).map_err(sql("switch to WAL mode"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), mode, "the state database is not in WAL mode");
    }
    // In WAL mode, NORMAL loses no committed transaction on a process crash (only, maybe,
    // the last ones on a power cut) and spares an fsync per commit.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(sql("set synchronous"))?;
    let applied = migrations::migrate(&mut conn, &rows::ts(&Utc::now()))
        .map_err(sql("migrate the schema"))?;
    if !applied.is_empty() {
        tracing::info!(path = %path.display(), versions = ?applied, "state database migrated");
    }
    Ok(conn)
}

/// Puts the database in WAL mode (a no-op when it is). Changing the journal mode can answer
/// "database is locked" at once, without waiting on the busy timeout, when another process
/// opens the file at the same moment (seen in the two-process test): retried until the busy
/// timeout.
fn wal(conn: &Connection) -> rusqlite::Result<String> {
    let start = std::time::Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        if mode.eq_ignore_ascii_case("wal") {
            return Ok(mode);
        }
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && start.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

#[async_trait]
impl StateStore for SqliteStateStore {
    async fn load(&self, pipeline_id: &str) -> Result<State, StateError> {
        match self.cursor(pipeline_id).await? {
            Some(state) => Ok(state),
            None => self.import(pipeline_id).await,
        }
    }

    async fn save(&self, pipeline_id: &str, state: &State) -> Result<(), StateError> {
        let text = serde_json::to_string(state).map_err(|e| StateError::Other(e.into()))?;
        let id = pipeline_id.to_owned();
        let now = rows::ts(&Utc::now());
        self.call("save a cursor", move |c| {
            c.execute(
                "INSERT INTO cursors (pipeline_id, state, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (pipeline_id) DO UPDATE
                 SET state = excluded.state, updated_at = excluded.updated_at",
                rusqlite::params![id, text, now],
            )
        })
        .await?;
        Ok(())
    }

    fn keeps_history(&self) -> bool {
        true
    }

    async fn record_run(&self, run: &RunRecord) -> Result<(), StateError> {
        let run = run.clone();
        let now = rows::ts(&Utc::now());
        self.call("record a run", move |c| rows::upsert(c, &run, &now))
            .await?;
        Ok(())
    }

    async fn runs(&self, query: &RunQuery) -> Result<Vec<RunRecord>, StateError> {
        let mut sql = format!("SELECT {} FROM runs WHERE 1 = 1", rows::COLUMNS);
        let mut params: Vec<String> = Vec::new();
        if let Some(p) = &query.pipeline_id {
            params.push(p.clone());
            sql.push_str(&format!(" AND pipeline_id = ?{}", params.len()));
        }
        if let Some(s) = query.status {
            params.push(s.as_str().to_owned());
            sql.push_str(&format!(" AND status = ?{}", params.len()));
        }
        sql.push_str(" ORDER BY logical_date DESC, started_at DESC, run_id DESC");
        if let Some(limit) = query.limit {
            sql.push_str(&format!(" LIMIT {}", rows::count(limit as u64)));
        }
        let runs = self
            .call("read runs", move |c| {
                let mut stmt = c.prepare_cached(&sql)?;
                stmt.query_map(rusqlite::params_from_iter(params.iter()), rows::from_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
        Ok(runs)
    }
}
