//! JSON objects cut from a file into chunks, parsed in parallel, delivered in file order.
//!
//! A blocking reader thread runs a format's *cutter* (JSONL: one object per line; a JSON array:
//! one object per element), which copies the raw bytes of up to `batch_size` objects into a
//! [`Chunk`] without parsing them. Each chunk is parsed with `sonic-rs` straight into
//! [`Record`]s on a small rayon pool; the reader queues a one-shot receiver per chunk in file
//! order, and the async side awaits them in that order, so batches leave in the order the
//! objects were written. The queue is bounded, which bounds memory and carries backpressure
//! back to the reader.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dataforge_core::{Batch, BatchSender, ComponentError, Record};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::error::FileSourceError;
use super::source::{ReadError, ReadResult, finish};

/// Bytes read from the file at a time.
const READ_BUFFER: usize = 1 << 20;

/// A parsed chunk, delivered once.
type Pending = oneshot::Receiver<Result<Batch, FileSourceError>>;

/// Where each object of a chunk starts in its file, for error messages.
pub(crate) enum Starts {
    /// Object `i` is the whole of line `first + i` (JSONL; blank lines count as objects and
    /// are skipped when parsing).
    Lines(u64),
    /// Object `i` starts at `positions[i]` (a JSON array: elements may span lines).
    Positions(Vec<Position>),
}

/// A place in a file: line and column (in bytes), both from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Position {
    /// Line, from 1.
    pub line: u64,
    /// Byte column within the line, from 1.
    pub column: u64,
}

/// The raw text of consecutive objects of one file: `data[ends[i-1]..ends[i]]` is object `i`.
pub(crate) struct Chunk {
    pub path: Arc<Path>,
    pub data: Vec<u8>,
    pub ends: Vec<usize>,
    pub starts: Starts,
}

impl Chunk {
    /// Parses every non-blank object into a record.
    fn parse(self) -> Result<Batch, FileSourceError> {
        let mut batch = Vec::with_capacity(self.ends.len());
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
            match sonic_rs::from_slice::<Record>(text) {
                Ok(record) => batch.push(record),
                Err(e) => {
                    let (line, message) = parse_error(&e, at);
                    return Err(FileSourceError::InvalidJson {
                        path: self.path.to_path_buf(),
                        line,
                        message,
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

/// A parser error as its line in the file and "reason (column N)" with the parser's excerpt.
/// The parser counts lines and columns within the text it was given, which starts at `at`;
/// its own "at line 1 column N" would contradict the file's line number shown beside it.
fn parse_error(e: &sonic_rs::Error, at: Position) -> (u64, String) {
    let (line, column) = match e.line() as u64 {
        0 | 1 => (at.line, at.column - 1 + e.column() as u64),
        n => (at.line + n - 1, e.column() as u64),
    };
    let text = e.to_string();
    let message = match text.split_once(" at line ") {
        Some((reason, rest)) => {
            let excerpt = rest.find('\n').map_or("", |i| &rest[i..]);
            format!("{reason} (column {column}){excerpt}")
        }
        None => text,
    };
    (line, message)
}

/// What a value starting with `b` is, for "expected …, found …" messages.
pub(crate) fn describe(b: u8) -> &'static str {
    match b {
        b'{' => "an object",
        b'[' => "an array",
        b'"' => "a string",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        b'-' | b'0'..=b'9' => "a number",
        _ => "something that is not JSON",
    }
}

/// Where parsing happens: on the reader thread, or on a pool.
enum Parser {
    Inline,
    Pool(rayon::ThreadPool),
}

impl Parser {
    fn new(threads: usize) -> Self {
        if threads <= 1 {
            return Self::Inline;
        }
        match rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("dataforge-json-{i}"))
            .build()
        {
            Ok(pool) => Self::Pool(pool),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start JSON parser threads; parsing on the reader thread");
                Self::Inline
            }
        }
    }

    fn parse(&self, chunk: Chunk) -> Pending {
        let (tx, rx) = oneshot::channel();
        match self {
            // A dropped receiver means the source stopped: the result is not needed.
            Self::Inline => drop(tx.send(chunk.parse())),
            Self::Pool(pool) => pool.spawn(move || drop(tx.send(chunk.parse()))),
        }
        rx
    }
}

/// A cutter's outlet: hands full chunks to the parser, in order.
pub(crate) struct Feed<'a> {
    parser: &'a Parser,
    order: &'a mpsc::Sender<Pending>,
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

    /// An empty chunk of `path` with room for `batch_size` objects.
    pub(crate) fn chunk(&self, path: &Arc<Path>, batch_size: usize, starts: Starts) -> Chunk {
        Chunk {
            path: path.clone(),
            data: Vec::with_capacity(self.size_hint + self.size_hint / 8),
            ends: Vec::with_capacity(batch_size),
            starts,
        }
    }

    /// Queues `chunk` for parsing (waiting while the queue is full); empty chunks are dropped.
    pub(crate) fn send(&mut self, chunk: Chunk) -> ReadResult {
        if chunk.ends.is_empty() {
            return Ok(());
        }
        self.size_hint = chunk.data.len();
        let pending = self.parser.parse(chunk);
        self.order
            .blocking_send(pending)
            .map_err(|_| ReadError::Stopped)
    }
}

/// Cuts one open file (its byte-order mark already skipped) into chunks of `batch_size`
/// objects and sends them to the feed. The reader is a `dyn BufRead` so that tests can cut any
/// bytes through any buffer size.
pub(crate) type Cutter = fn(&Arc<Path>, &mut dyn BufRead, usize, &mut Feed<'_>) -> ReadResult;

/// Streams the objects of `files`, cut by `cut`.
pub(crate) async fn extract(
    files: Vec<PathBuf>,
    batch_size: usize,
    threads: usize,
    cut: Cutter,
    cancel: CancellationToken,
    out: &mut BatchSender,
) -> Result<(), ComponentError> {
    let (order_tx, mut order_rx) = mpsc::channel::<Pending>(threads.max(1) + 1);
    let reader = tokio::task::spawn_blocking(move || {
        let parser = Parser::new(threads);
        let mut feed = Feed {
            parser: &parser,
            order: &order_tx,
            cancel: &cancel,
            size_hint: 64 * batch_size,
        };
        read_all(&files, batch_size, cut, &mut feed)
    });
    while let Some(pending) = order_rx.recv().await {
        let result = match pending.await {
            Ok(Ok(batch)) => out.send(batch).await,
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(ComponentError::fatal_msg(
                "file source: a JSON parser thread stopped unexpectedly",
            )),
        };
        if let Err(e) = result {
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

fn read_all(files: &[PathBuf], batch_size: usize, cut: Cutter, feed: &mut Feed<'_>) -> ReadResult {
    for path in files {
        let path: Arc<Path> = Arc::from(path.as_path());
        let io_err = |e: std::io::Error| FileSourceError::io(path.to_path_buf(), e);
        let file = File::open(&path).map_err(io_err)?;
        let mut reader = BufReader::with_capacity(READ_BUFFER, file);
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

/// Runs `cut` over `text` read through a `buffer`-byte buffer, parsing inline: the batches, or
/// the first error as its message.
#[cfg(test)]
pub(crate) fn cut_bytes(
    cut: Cutter,
    text: &[u8],
    buffer: usize,
    batch_size: usize,
) -> Result<Vec<Batch>, String> {
    let parser = Parser::Inline;
    // Room for every chunk: the cutter never waits.
    let (tx, mut rx) = mpsc::channel(text.len() + 1);
    let cancel = CancellationToken::new();
    let mut feed = Feed {
        parser: &parser,
        order: &tx,
        cancel: &cancel,
        size_hint: 0,
    };
    let path: Arc<Path> = Arc::from(Path::new("test.json"));
    let mut reader = BufReader::with_capacity(buffer, text);
    let result = cut(&path, &mut reader, batch_size, &mut feed);
    drop(tx);
    let mut batches = Vec::new();
    while let Ok(mut pending) = rx.try_recv() {
        match pending.try_recv() {
            Ok(Ok(batch)) => batches.push(batch),
            Ok(Err(e)) => return Err(e.to_string()),
            Err(e) => return Err(format!("no parse result: {e}")),
        }
    }
    match result {
        Ok(()) => Ok(batches),
        Err(ReadError::Failed(e)) => Err(e.to_string()),
        Err(ReadError::Stopped) => Err("stopped".to_owned()),
    }
}
