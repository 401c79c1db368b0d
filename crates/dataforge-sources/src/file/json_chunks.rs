//! JSON objects cut from a file into chunks, sent in file order to be parsed where they are
//! transformed.
//!
//! A blocking reader thread runs a format's *cutter* (JSONL: one object per line; a JSON array:
//! one object per element), which copies the raw bytes of up to `batch_size` objects into a
//! [`Chunk`] without parsing them. Each chunk leaves as a [`DeferredBatch`] that parses it with
//! `sonic-rs` straight into [`Record`](dataforge_core::Record)s: the runner runs that on the worker thread that then
//! transforms the batch, so parsing uses every core and a row is made and freed on one thread.
//! Order is the runner's to keep. The queue to the async side is bounded, which bounds memory
//! and carries backpressure back to the reader.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dataforge_core::{
    Batch, BatchSender, ComponentError, DeferredBatch, JsonError, ProjectedParser, Projection,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::error::FileSourceError;
use super::source::{ReadError, ReadResult, finish};
use crate::json_text::{Position, describe, in_file, parse_error};

/// Bytes read from the file at a time (a JSON array; JSONL reads into its chunks).
pub(crate) const READ_BUFFER: usize = 1 << 20;
/// A chunk is sent once its text reaches this size, even short of `batch_size` objects: the
/// memory held by the chunks in flight (about ten of them, queued, handed over and being
/// parsed) then stays flat whatever the size of a row. 1,000 Shopify orders of ~1.45 KB are
/// ~1.4 MB of text; at this size a chunk holds ~360 of them.
pub(crate) const CHUNK_TEXT_BYTES: usize = 512 << 10;

/// Chunks cut but not yet sent on: the reader runs this far ahead of the async side.
const QUEUED_CHUNKS: usize = 2;

/// Where each object of a chunk starts in its file, for error messages.
pub(crate) enum Starts {
    /// Object `i` is the whole of line `first + i` (JSONL; blank lines count as objects and
    /// are skipped when parsing).
    Lines(u64),
    /// Object `i` starts at `positions[i]` (a JSON array: elements may span lines).
    Positions(Vec<Position>),
}

/// The raw text of consecutive objects of one file: `data[ends[i-1]..ends[i]]` is object `i`.
pub(crate) struct Chunk {
    pub path: Arc<Path>,
    pub data: Vec<u8>,
    pub ends: Vec<usize>,
    pub starts: Starts,
}

impl Chunk {
    /// Parses every non-blank object into a record of the fields `projection` keeps.
    fn parse(self, projection: &Projection) -> Result<Batch, FileSourceError> {
        let mut batch = Vec::with_capacity(self.ends.len());
        let mut parser = ProjectedParser::new(projection);
        let mut start = 0;
        for (i, &end) in self.ends.iter().enumerate() {
            let raw = &self.data[start..end];
            let text = raw.trim_ascii();
            // Bytes trimmed off the front: the parser's columns count from the trimmed text.
            let lead = (raw.len() - raw.trim_ascii_start().len()) as u64;
            start = end;
            let Some(&first) = text.first() else {
                continue;
            };
            let at = self.start_of(i, lead);
            if first != b'{' {
                return Err(FileSourceError::NotAnObject {
                    path: self.path.to_path_buf(),
                    line: at.line,
                    found: describe(first),
                });
            }
            match parser.parse(text) {
                Ok(record) => batch.push(record),
                Err(JsonError::Invalid(e)) => {
                    let (line, message) = parse_error(&e, at);
                    return Err(FileSourceError::InvalidJson {
                        path: self.path.to_path_buf(),
                        line,
                        message,
                    });
                }
                Err(JsonError::IntegerTooLarge {
                    number,
                    digits,
                    line,
                    column,
                }) => {
                    let (line, column) = in_file(at, line, column);
                    return Err(FileSourceError::IntegerTooLarge {
                        path: self.path.to_path_buf(),
                        line,
                        column,
                        number,
                        digits,
                    });
                }
                // `JsonError` may gain variants: any other is invalid JSON at the object.
                Err(e) => {
                    return Err(FileSourceError::InvalidJson {
                        path: self.path.to_path_buf(),
                        line: at.line,
                        message: e.to_string(),
                    });
                }
            }
        }
        Ok(batch)
    }

    /// Where the trimmed text of object `i` starts (`lead` bytes after its raw start).
    fn start_of(&self, i: usize, lead: u64) -> Position {
        match &self.starts {
            Starts::Lines(first) => Position {
                line: first + i as u64,
                column: 1 + lead,
            },
            // A cutter copies elements from their first byte: nothing is trimmed. The array
            // cutter records a start at each object's `{` before it records the object's end,
            // so every object `i` has one.
            Starts::Positions(p) => p[i],
        }
    }
}

/// A cutter's outlet: hands full chunks on, in order.
pub(crate) struct Feed<'a> {
    order: &'a mpsc::Sender<Chunk>,
    cancel: &'a CancellationToken,
    /// The size of the last chunk's text, to allocate the next one at once.
    size_hint: usize,
}

impl Feed<'_> {
    /// Err when the run was cancelled or the async side stopped reading.
    pub(crate) fn check(&self) -> ReadResult {
        if self.cancel.is_cancelled() || self.order.is_closed() {
            Err(ReadError::Stopped)
        } else {
            Ok(())
        }
    }

    /// An empty chunk of `path` with room for `batch_size` objects: for text like the last
    /// chunk's and `extra` bytes more.
    pub(crate) fn chunk(
        &self,
        path: &Arc<Path>,
        batch_size: usize,
        starts: Starts,
        extra: usize,
    ) -> Chunk {
        Chunk {
            path: path.clone(),
            data: Vec::with_capacity(self.size_hint + self.size_hint / 8 + extra),
            ends: Vec::with_capacity(batch_size),
            starts,
        }
    }

    /// Queues `chunk` (waiting while the queue is full); empty chunks are dropped.
    pub(crate) fn send(&mut self, chunk: Chunk) -> ReadResult {
        if chunk.ends.is_empty() {
            return Ok(());
        }
        self.size_hint = chunk.data.len();
        self.order
            .blocking_send(chunk)
            .map_err(|_| ReadError::Stopped)
    }
}

/// Cuts one open file (its byte-order mark already skipped) into chunks of `batch_size`
/// objects and sends them to the feed. The reader is a `dyn BufRead` so that tests can cut any
/// bytes through any buffer size.
pub(crate) type Cutter = fn(&Arc<Path>, &mut dyn BufRead, usize, &mut Feed<'_>) -> ReadResult;

/// Streams the objects of `files`, cut by `cut`, as deferred batches of records holding the
/// fields `projection` keeps.
pub(crate) async fn extract(
    files: Vec<PathBuf>,
    batch_size: usize,
    (cut, read_buffer): (Cutter, usize),
    projection: Projection,
    cancel: CancellationToken,
    out: &mut BatchSender,
) -> Result<(), ComponentError> {
    let projection = Arc::new(projection);
    let (order_tx, mut order_rx) = mpsc::channel::<Chunk>(QUEUED_CHUNKS);
    let reader = tokio::task::spawn_blocking(move || {
        let mut feed = Feed {
            order: &order_tx,
            cancel: &cancel,
            size_hint: 64 * batch_size,
        };
        read_all(&files, batch_size, (cut, read_buffer), &mut feed)
    });
    while let Some(chunk) = order_rx.recv().await {
        let projection = projection.clone();
        let deferred =
            DeferredBatch::new(move || chunk.parse(&projection).map_err(ComponentError::from));
        if let Err(e) = out.send_deferred(deferred).await {
            // Dropping the queue stops the reader at its next chunk.
            drop(order_rx);
            let _ = reader.await;
            return Err(e);
        }
    }
    let result = reader.await.map_err(|e| {
        ComponentError::fatal_msg(format!("file source: reader thread failed: {e}"))
    })?;
    finish(result, out)
}

/// Cuts each of `files` with `cut`, read through a buffer of `read_buffer` bytes.
fn read_all(
    files: &[PathBuf],
    batch_size: usize,
    (cut, read_buffer): (Cutter, usize),
    feed: &mut Feed<'_>,
) -> ReadResult {
    for path in files {
        let path: Arc<Path> = Arc::from(path.as_path());
        let io_err = |e: std::io::Error| FileSourceError::io(path.to_path_buf(), e);
        let file = File::open(&path).map_err(io_err)?;
        let mut reader = BufReader::with_capacity(read_buffer, file);
        if reader
            .fill_buf()
            .map_err(io_err)?
            .starts_with(b"\xEF\xBB\xBF")
        {
            reader.consume(3);
        }
        cut(&path, &mut reader, batch_size, feed)?;
    }
    Ok(())
}

/// The `id` of every row of `batches`, in order (the cutters' tests).
#[cfg(test)]
pub(crate) fn row_ids(batches: &[Batch]) -> Vec<i64> {
    batches
        .iter()
        .flatten()
        .map(|r| r.to_json()["id"].as_i64().expect("an integer id"))
        .collect()
}

/// Runs `cut` over `text` read through a `buffer`-byte buffer, then parses the chunks: the
/// batches, or the first error as its message.
#[cfg(test)]
pub(crate) fn cut_bytes(
    cut: Cutter,
    text: &[u8],
    buffer: usize,
    batch_size: usize,
) -> Result<Vec<Batch>, String> {
    // Room for every chunk: the cutter never waits.
    let (tx, mut rx) = mpsc::channel(text.len() + 1);
    let cancel = CancellationToken::new();
    let mut feed = Feed {
        order: &tx,
        cancel: &cancel,
        size_hint: 0,
    };
    let path: Arc<Path> = Arc::from(Path::new("test.json"));
    let mut reader = BufReader::with_capacity(buffer, text);
    let result = cut(&path, &mut reader, batch_size, &mut feed);
    drop(tx);
    let mut batches = Vec::new();
    while let Ok(chunk) = rx.try_recv() {
        batches.push(chunk.parse(&Projection::All).map_err(|e| e.to_string())?);
    }
    match result {
        Ok(()) => Ok(batches),
        Err(ReadError::Failed(e)) => Err(e.to_string()),
        Err(ReadError::Stopped) => Err("stopped".to_owned()),
    }
}
