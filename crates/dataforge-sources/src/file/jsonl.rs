//! JSONL: one object per line, cut into chunks of `batch_size` non-blank lines.
//!
//! Lines are read in large blocks with `read_until` into one growing byte buffer per chunk (no
//! allocation per line); [`super::json_chunks`] parses the chunks in parallel, in order.

use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use super::error::FileSourceError;
use super::json_chunks::{Feed, Starts};
use super::source::ReadResult;

/// Cuts one JSONL file into chunks of `batch_size` non-blank lines.
pub(crate) fn cut(
    path: &Arc<Path>,
    reader: &mut dyn BufRead,
    batch_size: usize,
    feed: &mut Feed<'_>,
) -> ReadResult {
    let io_err = |e: std::io::Error| FileSourceError::io(path.to_path_buf(), e);
    let mut line = 0u64;
    loop {
        feed.check()?;
        let mut chunk = feed.chunk(path, batch_size, Starts::Lines(line + 1));
        let mut rows = 0;
        while rows < batch_size {
            let start = chunk.data.len();
            if reader.read_until(b'\n', &mut chunk.data).map_err(io_err)? == 0 {
                // Blank lines alone make no batch.
                if rows > 0 {
                    feed.send(chunk)?;
                }
                return Ok(());
            }
            line += 1;
            chunk.ends.push(chunk.data.len());
            if !chunk.data[start..].trim_ascii().is_empty() {
                rows += 1;
            }
        }
        feed.send(chunk)?;
    }
}
