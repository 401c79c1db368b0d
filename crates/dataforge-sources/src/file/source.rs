//! [`FileSource`]: resolves the path or glob, then streams each file in its format.
//!
//! Reading is blocking work: it runs on a blocking thread and hands batches to the async side
//! through a small bounded channel, which forwards them downstream with `out.send(..).await`.
//! Backpressure therefore reaches the reader: it stops reading while the channel is full, so
//! memory stays flat. CSV is parsed on the reading thread; JSON is cut there and parsed where
//! it is transformed (see `json_chunks.rs`).

use std::path::PathBuf;
use std::sync::Arc;

use dataforge_core::observe::LineageDataset;
use dataforge_core::{Batch, BatchSender, ComponentError, RunContext, Source, async_trait};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::config::{CsvOptions, FileFormat, Settings};
use super::error::FileSourceError;
use super::{csv, json_array, json_chunks, jsonl};

/// Reads JSONL, JSON-array or CSV files (a path or a glob) as batches of records.
#[derive(Clone, Debug)]
pub struct FileSource {
    settings: Arc<Settings>,
}

/// Batches the blocking side has parsed, in flight to the async side.
const HANDOFF_CAPACITY: usize = 2;

impl FileSource {
    pub(crate) fn new(settings: Settings) -> Self {
        Self {
            settings: Arc::new(settings),
        }
    }

    /// The format this source reads.
    pub fn format(&self) -> FileFormat {
        self.settings.format
    }
}

/// The files `pattern` names: one plain path, or the sorted matches of a glob.
pub(crate) fn resolve_paths(pattern: &str) -> Result<Vec<PathBuf>, FileSourceError> {
    if !pattern.contains(['*', '?', '[']) {
        let path = PathBuf::from(pattern);
        return match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => Err(FileSourceError::io(
                path,
                std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory"),
            )),
            Ok(_) => Ok(vec![path]),
            Err(e) => Err(FileSourceError::io(path, e)),
        };
    }
    let entries = glob::glob(pattern).map_err(|e| FileSourceError::BadPattern {
        pattern: pattern.to_owned(),
        message: e.to_string(),
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| {
            let path = e.path().to_owned();
            FileSourceError::io(path, e.into())
        })?;
        if path.is_file() {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(FileSourceError::NoMatch {
            pattern: pattern.to_owned(),
        });
    }
    files.sort();
    Ok(files)
}

/// The blocking side's handle for sending batches to the async side.
pub(crate) struct Emitter {
    tx: mpsc::Sender<Batch>,
    cancel: CancellationToken,
}

/// The async side stopped (downstream closed or run cancelled): the reader just returns.
#[derive(Debug)]
pub(crate) struct Stopped;

impl Emitter {
    /// Sends a batch (empty ones are skipped), waiting for room.
    pub(crate) fn send(&self, batch: Batch) -> Result<(), Stopped> {
        if self.cancel.is_cancelled() {
            return Err(Stopped);
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.tx.blocking_send(batch).map_err(|_| Stopped)
    }
}

/// How a blocking reader ended.
pub(crate) type ReadResult = Result<(), ReadError>;

/// A reader's failure: a real error, or the async side stopped first.
#[derive(Debug)]
pub(crate) enum ReadError {
    Failed(FileSourceError),
    Stopped,
}

impl From<FileSourceError> for ReadError {
    fn from(e: FileSourceError) -> Self {
        Self::Failed(e)
    }
}

impl From<Stopped> for ReadError {
    fn from(_: Stopped) -> Self {
        Self::Stopped
    }
}

fn join_error(e: tokio::task::JoinError) -> ComponentError {
    ComponentError::fatal_msg(format!("file source: reader thread failed: {e}"))
}

#[async_trait]
impl Source for FileSource {
    /// `file://<directory>` and the file's name (or the glob's last part).
    async fn lineage_dataset(&self, _ctx: &RunContext) -> Option<LineageDataset> {
        Some(LineageDataset::file(std::path::Path::new(
            &self.settings.path,
        )))
    }

    async fn extract(&self, ctx: &RunContext, out: &mut BatchSender) -> Result<(), ComponentError> {
        let batch_size = ctx.batch_size().max(1);
        let cancel = ctx.cancellation().clone();
        let settings = self.settings.clone();
        let files = {
            let pattern = settings.path.clone();
            tokio::task::spawn_blocking(move || resolve_paths(&pattern))
                .await
                .map_err(join_error)??
        };
        tracing::debug!(pattern = %settings.path, files = files.len(), format = ?settings.format, "reading files");

        let format = settings.format;
        let csv_options = settings.csv;
        let read_one: fn(&std::path::Path, CsvOptions, usize, &Emitter) -> ReadResult = match format
        {
            FileFormat::Jsonl | FileFormat::Json => {
                let cut: (json_chunks::Cutter, usize) = match format {
                    FileFormat::Jsonl => (jsonl::cut, jsonl::READ_BUFFER),
                    _ => (json_array::cut, json_chunks::READ_BUFFER),
                };
                let projection = ctx.projection().clone();
                if !projection.is_all() {
                    tracing::debug!(%projection, "reading only the fields the pipeline reads");
                }
                return json_chunks::extract(files, batch_size, cut, projection, cancel, out).await;
            }
            FileFormat::Csv => csv::read,
        };

        let (tx, mut rx) = mpsc::channel::<Batch>(HANDOFF_CAPACITY);
        let emitter = Emitter { tx, cancel };
        let reader = tokio::task::spawn_blocking(move || -> ReadResult {
            for path in &files {
                read_one(path, csv_options, batch_size, &emitter)?;
            }
            Ok(())
        });
        while let Some(batch) = rx.recv().await {
            if let Err(e) = out.send(batch).await {
                // Dropping `rx` stops the reader at its next send.
                drop(rx);
                let _ = reader.await;
                return Err(e);
            }
        }
        finish(reader.await.map_err(join_error)?, out)
    }
}

/// Turns a reader's ending into the source's result.
pub(crate) fn finish(result: ReadResult, out: &BatchSender) -> Result<(), ComponentError> {
    match result {
        Ok(()) => Ok(()),
        Err(ReadError::Failed(e)) => Err(e.into()),
        // The async side only stops reading on a send error (returned above) or cancellation.
        Err(ReadError::Stopped) if out.is_cancelled() => Err(ComponentError::upstream_aborted()),
        Err(ReadError::Stopped) => Err(ComponentError::downstream_closed()),
    }
}
