//! The state committed with the data: table `dataforge_state` in the destination's database
//! file, one row per pipeline, written inside the load's transaction so a row and the cursor
//! that covers it commit together or not at all (see `Destination::commits_state`).
//!
//! ```sql
//! CREATE TABLE "dataforge_state" (pipeline_id TEXT PRIMARY KEY, state TEXT NOT NULL,
//!     run_id TEXT NOT NULL, updated_at TEXT NOT NULL)  -- state: JSON; updated_at: RFC 3339 UTC
//! ```

use std::path::Path;

use dataforge_core::State;

/// The state table's name.
pub(crate) const STATE_TABLE: &str = "dataforge_state";

/// The staged state of one run, encoded, ready to be written before `COMMIT`.
#[derive(Debug, Clone)]
pub(crate) struct StateRow {
    /// The pipeline.
    pub(crate) pipeline: String,
    /// The run that commits it.
    pub(crate) run_id: String,
    /// The state as JSON text.
    pub(crate) json: String,
}

/// Writes `row` in the open transaction, creating the table when it is missing.
///
/// # Errors
/// When a statement fails.
pub(crate) fn write(conn: &rusqlite::Connection, row: &StateRow) -> rusqlite::Result<()> {
    let table = super::load::ident(STATE_TABLE);
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {table} (pipeline_id TEXT PRIMARY KEY, \
         state TEXT NOT NULL, run_id TEXT NOT NULL, updated_at TEXT NOT NULL)"
    ))?;
    conn.execute(
        &format!(
            "INSERT INTO {table} (pipeline_id, state, run_id, updated_at) \
             VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) \
             ON CONFLICT (pipeline_id) DO UPDATE SET state = excluded.state, \
             run_id = excluded.run_id, updated_at = excluded.updated_at"
        ),
        (&row.pipeline, &row.json, &row.run_id),
    )?;
    Ok(())
}

/// The committed state's JSON text for `pipeline`, or `None` when the file, the table or the
/// row is missing. Opens the file without the create flag, so a missing database is not
/// created (and not read-only, which a WAL database without its `-shm` file may refuse).
///
/// # Errors
/// When the file cannot be opened or queried.
pub(crate) fn read(
    path: &Path,
    pipeline: &str,
    busy: std::time::Duration,
) -> rusqlite::Result<Option<String>> {
    if !path.exists() {
        return Ok(None);
    }
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
        | rusqlite::OpenFlags::SQLITE_OPEN_URI
        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(busy)?;
    let exists: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [STATE_TABLE],
        |r| r.get(0),
    )?;
    if exists == 0 {
        return Ok(None);
    }
    let sql = format!(
        "SELECT state FROM {} WHERE pipeline_id = ?1",
        super::load::ident(STATE_TABLE)
    );
    match conn.query_row(&sql, [pipeline], |r| r.get::<_, String>(0)) {
        Ok(json) => Ok(Some(json)),
        Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Parses the committed state's JSON text.
///
/// # Errors
/// When it is not a JSON object.
pub(crate) fn parse(json: &str) -> Result<State, serde_json::Error> {
    serde_json::from_str(json)
}
