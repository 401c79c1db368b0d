//! JSONL: one object per line, read in large blocks and parsed in parallel, order preserved.
//!
//! A blocking reader thread cuts the file into chunks of `batch_size` non-blank lines (one
//! growing byte buffer per chunk, filled with `read_until`: no allocation per line). Each chunk
//! is parsed with `sonic-rs` straight into [`Record`]s on a small rayon pool; the reader queues
//! a one-shot receiver per chunk in file order, and the async side awaits them in that order,
//! so batches leave in the order the lines were written. The queue is bounded, which bounds
//! memory and carries backpressure back to the reader.

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

/// Lines of one file, as read: `data[ends[i-1]..ends[i]]` is line `first_line + i`.
struct Chunk {
    path: Arc<Path>,
    first_line: u64,
    data: Vec<u8>,
    ends: Vec<usize>,
}

impl Chunk {
    /// Parses every non-blank line into a record.
    fn parse(self) -> Result<Batch, FileSourceError> {
        let mut batch = Vec::with_capacity(self.ends.len());
        let mut start = 0;
        for (i, &end) in self.ends.iter().enumerate() {
            let raw = &self.data[start..end];
            let line = raw.trim_ascii();
            // Bytes trimmed off the front: the parser's columns count from the trimmed line.
            let lead = raw.len() - raw.trim_ascii_start().len();
            start = end;
            let Some(&first) = line.first() else {
                continue;
            };
            let line_no = self.first_line + i as u64;
            if first != b'{' {
                return Err(FileSourceError::NotAnObject {
                    path: self.path.to_path_buf(),
                    line: line_no,
                    found: describe(first),
                });
            }
            match sonic_rs::from_slice::<Record>(line) {
                Ok(record) => batch.push(record),
                Err(e) => {
                    return Err(FileSourceError::Jsonl {
                        path: self.path.to_path_buf(),
                        line: line_no,
                        message: parse_error(&e, lead),
                    });
                }
            }
        }
        Ok(batch)
    }
}

/// A parser error as "reason (column N)" and the parser's excerpt of the line. The parser's own
/// "at line 1 column N" counts within the one line it was given, which would contradict the
/// file's line number shown beside it.
fn parse_error(e: &sonic_rs::Error, lead: usize) -> String {
    let text = e.to_string();
    match text.split_once(" at line ") {
        Some((reason, rest)) => {
            let excerpt = rest.find('\n').map_or("", |i| &rest[i..]);
            format!("{reason} (column {}){excerpt}", e.column() + lead)
        }
        None => text,
    }
}

/// What a line starting with `b` holds, for the "not an object" message.
fn describe(b: u8) -> &'static str {
    match b {
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
            .thread_name(|i| format!("dataforge-jsonl-{i}"))
            .build()
        {
            Ok(pool) => Self::Pool(pool),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start JSONL parser threads; parsing on the reader thread");
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

/// Streams `files` as JSONL.
pub(crate) async fn extract(
    files: Vec<PathBuf>,
    batch_size: usize,
    threads: usize,
    cancel: CancellationToken,
    out: &mut BatchSender,
) -> Result<(), ComponentError> {
    let (order_tx, mut order_rx) = mpsc::channel::<Pending>(threads.max(1) + 1);
    let reader = tokio::task::spawn_blocking(move || {
        let parser = Parser::new(threads);
        read_all(&files, batch_size, &parser, &order_tx, &cancel)
    });
    while let Some(pending) = order_rx.recv().await {
        let result = match pending.await {
            Ok(Ok(batch)) => out.send(batch).await,
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(ComponentError::fatal_msg(
                "file source: a JSONL parser thread stopped unexpectedly",
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

fn read_all(
    files: &[PathBuf],
    batch_size: usize,
    parser: &Parser,
    order: &mpsc::Sender<Pending>,
    cancel: &CancellationToken,
) -> ReadResult {
    let mut size_hint = 64 * batch_size;
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
        let mut line = 0u64;
        loop {
            if cancel.is_cancelled() || order.is_closed() {
                return Err(ReadError::Stopped);
            }
            let mut chunk = Chunk {
                path: path.clone(),
                first_line: line + 1,
                data: Vec::with_capacity(size_hint + size_hint / 8),
                ends: Vec::with_capacity(batch_size),
            };
            let mut rows = 0;
            let mut eof = false;
            while rows < batch_size {
                let start = chunk.data.len();
                if reader.read_until(b'\n', &mut chunk.data).map_err(io_err)? == 0 {
                    eof = true;
                    break;
                }
                line += 1;
                chunk.ends.push(chunk.data.len());
                if !chunk.data[start..].trim_ascii().is_empty() {
                    rows += 1;
                }
            }
            if rows > 0 {
                size_hint = chunk.data.len();
                let pending = parser.parse(chunk);
                order
                    .blocking_send(pending)
                    .map_err(|_| ReadError::Stopped)?;
            }
            if eof {
                break;
            }
        }
    }
    Ok(())
}
