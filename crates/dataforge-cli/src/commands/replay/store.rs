//! The dead-letter file a replay reads and, once the replayed rows are loaded, rewrites: one
//! JSON object per line, `{pipeline, run_id, transform, reason, record}` as the runner writes
//! them.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A dead-letter line picked for replay.
pub struct Picked {
    /// The line as it is in the file (to take it out afterwards).
    pub line: String,
    /// Its `record`: the row as the rejecting transform received it.
    pub record: serde_json::Map<String, serde_json::Value>,
}

/// What reading the file found for one pipeline.
pub struct Found {
    /// The lines to replay.
    pub picked: Vec<Picked>,
    /// Lines of this pipeline without a `record` object (kept, not replayed).
    pub unreadable: usize,
}

/// Why the store could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading, writing or replacing the file failed.
    #[error("dead-letter file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The lines of `path` (none when it does not exist).
fn lines(path: &Path) -> Result<Vec<String>, StoreError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io(path)(e)),
    }
}

/// The dead letters of `pipeline` in `path`.
pub fn read(path: &Path, pipeline: &str) -> Result<Found, StoreError> {
    let mut found = Found {
        picked: Vec::new(),
        unreadable: 0,
    };
    for line in lines(path)? {
        let Ok(serde_json::Value::Object(mut row)) = serde_json::from_str(&line) else {
            continue; // not a dead letter this replay understands: left as it is
        };
        if row.get("pipeline").and_then(|p| p.as_str()) != Some(pipeline) {
            continue;
        }
        match row.remove("record") {
            Some(serde_json::Value::Object(record)) => found.picked.push(Picked { line, record }),
            _ => found.unreadable += 1,
        }
    }
    Ok(found)
}

/// Rewrites `path` without the `replayed` lines (each taken out once: lines written since the
/// replay read the file stay) and with `still_rejected` appended; atomically (a temporary file
/// in the same directory, renamed over it).
pub fn rewrite(
    path: &Path,
    replayed: &[String],
    still_rejected: &[String],
) -> Result<(), StoreError> {
    let mut to_remove: Vec<&str> = replayed.iter().map(String::as_str).collect();
    let mut kept: Vec<String> = Vec::new();
    for line in lines(path)? {
        match to_remove.iter().position(|r| *r == line) {
            Some(i) => {
                to_remove.swap_remove(i);
            }
            None => kept.push(line),
        }
    }
    kept.extend(still_rejected.iter().cloned());
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(io(path))?;
    for line in &kept {
        writeln!(tmp, "{line}").map_err(io(path))?;
    }
    tmp.as_file().sync_all().map_err(io(path))?;
    tmp.persist(path).map_err(|e| io(path)(e.error))?;
    Ok(())
}

/// The lines of a file written by this replay's dead-letter destination.
pub fn new_lines(path: &Path) -> Result<Vec<String>, StoreError> {
    lines(path)
}
