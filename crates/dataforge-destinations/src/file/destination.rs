//! [`FileDestination`]: receives batches and hands them to a blocking writer thread.

use std::sync::Arc;

use dataforge_core::{
    Batch, BatchReceiver, ComponentError, Destination, LoadSummary, Preparer, RunContext,
    async_trait,
};
use tokio::sync::mpsc;

use super::config::{OutputFormat, Settings, WriteMode};
use super::error::FileDestinationError;
use super::jsonl_chunk::{JsonlChunk, JsonlPreparer};
use super::writer::{Writer, sweep_stale_temp_files};
use crate::target_lock::FileLock;

/// Writes records to a JSONL or CSV file, all or nothing.
#[derive(Clone, Debug)]
pub struct FileDestination {
    settings: Arc<Settings>,
    /// JSONL: encodes batches on the runner's workers.
    jsonl: Option<Arc<JsonlPreparer>>,
}

/// Batches queued for the writer thread (memory stays flat: the queue is bounded).
const WRITER_QUEUE: usize = 2;

enum Message {
    Batch(Batch),
    /// JSONL lines of this many rows.
    Lines(JsonlChunk, u64),
    /// The stream ended cleanly: make the rows visible.
    Commit,
}

impl FileDestination {
    pub(crate) fn new(settings: Settings) -> Self {
        let jsonl = (settings.format == OutputFormat::Jsonl).then(|| {
            Arc::new(JsonlPreparer {
                path: settings.path.clone(),
            })
        });
        Self {
            settings: Arc::new(settings),
            jsonl,
        }
    }

    /// The file written.
    pub fn path(&self) -> &std::path::Path {
        &self.settings.path
    }

    /// The format written.
    pub fn format(&self) -> OutputFormat {
        self.settings.format
    }

    /// The write mode.
    pub fn write_mode(&self) -> WriteMode {
        self.settings.write_mode
    }
}

/// Runs on a blocking thread: opens the target at the first message, writes every batch, then
/// commits on `Commit` or rolls back when the queue closes without it (`Ok(None)`) or a write
/// fails. A queue closed before any message leaves the target untouched.
fn run_writer(
    settings: &Settings,
    mut queue: mpsc::Receiver<Message>,
) -> Result<Option<u64>, FileDestinationError> {
    let Some(mut message) = queue.blocking_recv() else {
        return Ok(None);
    };
    let mut writer = Writer::open(settings)?;
    loop {
        match message {
            Message::Batch(batch) => {
                if let Err(e) = writer.write(&batch) {
                    writer.rollback();
                    return Err(e);
                }
            }
            Message::Lines(chunk, rows) => {
                if let Err(e) = writer.write_jsonl(&chunk, rows) {
                    writer.rollback();
                    return Err(e);
                }
            }
            Message::Commit => return writer.commit().map(Some),
        }
        match queue.blocking_recv() {
            Some(next) => message = next,
            None => {
                writer.rollback();
                return Ok(None);
            }
        }
    }
}

/// Asks the run's commit guard, then tells the writer to commit; refused, the writer rolls
/// back when the channel closes.
async fn commit(tx: &mpsc::Sender<Message>, ctx: &RunContext) -> Result<(), ComponentError> {
    ctx.before_commit().await?;
    // If the writer already failed, its error follows.
    let _ = tx.send(Message::Commit).await;
    Ok(())
}

#[async_trait]
impl Destination for FileDestination {
    /// `file://<directory>` and the file's name.
    async fn lineage_dataset(
        &self,
        _ctx: &RunContext,
    ) -> Option<dataforge_core::observe::LineageDataset> {
        Some(dataforge_core::observe::LineageDataset::file(
            &self.settings.path,
        ))
    }

    async fn load(
        &self,
        input: &mut BatchReceiver,
        ctx: &RunContext,
    ) -> Result<LoadSummary, ComponentError> {
        let settings = self.settings.clone();
        let target = settings.path.display().to_string();
        // One load at a time into this file, held until this function returns.
        let _lock = FileLock::acquire("file", &settings.path, ctx, settings.lock_timeout).await?;
        sweep_stale_temp_files(&settings.path);
        let mut rows_received = 0u64;
        let (tx, rx) = mpsc::channel(WRITER_QUEUE);
        let writer = tokio::task::spawn_blocking(move || run_writer(&settings, rx));
        let upstream = loop {
            let next = match &self.jsonl {
                Some(jsonl) => input.recv_prepared(&**jsonl).await.and_then(|p| {
                    p.map(|p| {
                        let rows = p.rows();
                        p.into_payload::<JsonlChunk>()
                            .map(|chunk| Message::Lines(chunk, rows))
                    })
                    .transpose()
                }),
                None => input.recv().await.map(|b| b.map(Message::Batch)),
            };
            match next {
                Ok(Some(message)) => {
                    rows_received += match &message {
                        Message::Batch(b) => b.len() as u64,
                        Message::Lines(_, rows) => *rows,
                        Message::Commit => 0,
                    };
                    if tx.send(message).await.is_err() {
                        break Ok(()); // the writer failed: its error follows
                    }
                }
                Ok(None) if rows_received == 0 => {
                    if let Some(outcome) = self.settings.on_empty.outcome("file", &target) {
                        // Nothing was sent: the writer ends without opening the target.
                        drop(tx);
                        let _ = writer.await;
                        return outcome;
                    }
                    break commit(&tx, ctx).await;
                }
                Ok(None) => {
                    // If the writer already failed, its error follows.
                    break commit(&tx, ctx).await;
                }
                Err(e) => break Err(e),
            }
        };
        drop(tx);
        let written = writer.await.map_err(|e| {
            ComponentError::fatal_msg(format!("file destination: writer thread failed: {e}"))
        })?;
        match (upstream, written) {
            (Err(upstream), _) => Err(upstream),
            (Ok(()), Err(e)) => Err(e.into()),
            (Ok(()), Ok(Some(rows))) => Ok(LoadSummary::new(target, rows)),
            (Ok(()), Ok(None)) => Err(ComponentError::fatal_msg(
                "file destination: the writer stopped before the end of the stream",
            )),
        }
    }

    fn preparer(&self) -> Option<Arc<dyn Preparer>> {
        self.jsonl.clone().map(|p| p as Arc<dyn Preparer>)
    }
}
