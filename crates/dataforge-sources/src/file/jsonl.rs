//! JSONL: one object per line, cut into chunks of `batch_size` non-blank lines.
//!
//! The file is read straight into each chunk's byte buffer (reads as large as the lines still
//! needed, which bypass the reader's own buffer), and lines are found there with `memchr`: no
//! copy or allocation per line, and no second copy of the text. The bytes read past a chunk's
//! last line start the next chunk. [`super::json_chunks`] sends the chunks on to be parsed
//! where they are transformed.

use std::io::{BufRead, Read};
use std::path::Path;
use std::sync::Arc;

use super::error::FileSourceError;
use super::json_chunks::{Feed, Starts};
use super::source::ReadResult;

/// The least a read asks for.
const MIN_READ: usize = 64 * 1024;

/// Cuts one JSONL file into chunks of `batch_size` non-blank lines.
pub(crate) fn cut(
    path: &Arc<Path>,
    reader: &mut dyn BufRead,
    batch_size: usize,
    feed: &mut Feed<'_>,
) -> ReadResult {
    let io_err = |e: std::io::Error| FileSourceError::io(path.to_path_buf(), e);
    let mut line = 0u64;
    // Bytes read past the last chunk's last line.
    let mut carry: Vec<u8> = Vec::new();
    let mut at_end = false;
    loop {
        feed.check()?;
        let mut chunk = feed.chunk(path, batch_size, Starts::Lines(line + 1));
        chunk.data.append(&mut carry);
        let mut rows = 0;
        // Where the current line starts, and how far the text has been searched.
        let (mut line_start, mut searched) = (0, 0);
        let full = 'fill: loop {
            for nl in memchr::memchr_iter(b'\n', &chunk.data[searched..]) {
                let end = searched + nl + 1;
                line += 1;
                chunk.ends.push(end);
                if !chunk.data[line_start..end].trim_ascii().is_empty() {
                    rows += 1;
                }
                line_start = end;
                if rows == batch_size {
                    break 'fill true;
                }
            }
            searched = chunk.data.len();
            if at_end {
                break 'fill false;
            }
            // Ask for about what the missing lines take, judging by the lines so far.
            let per_line = line_start / chunk.ends.len().max(1);
            let want = ((batch_size - rows) * per_line.max(1)).max(MIN_READ);
            let read = Read::take(&mut *reader, want as u64)
                .read_to_end(&mut chunk.data)
                .map_err(io_err)?;
            at_end = read == 0;
        };
        if full {
            carry.extend_from_slice(&chunk.data[line_start..]);
            chunk.data.truncate(line_start);
            feed.send(chunk)?;
            continue;
        }
        // The end of the file: the last line may lack its newline.
        if chunk.data.len() > line_start {
            chunk.ends.push(chunk.data.len());
            if !chunk.data[line_start..].trim_ascii().is_empty() {
                rows += 1;
            }
        }
        // Blank lines alone make no batch.
        if rows > 0 {
            feed.send(chunk)?;
        }
        return Ok(());
    }
}

#[cfg(test)]
mod tests {
    use super::super::json_chunks::cut_bytes;
    use super::cut;

    #[test]
    fn lines_cut_the_same_through_any_buffer_with_blank_lines_and_crlf() {
        let text = "{\"id\":1,\"s\":\"a\\\\n}\"}\r\n\n  \n{\"id\":2}\n{\"id\":3,\"n\":{\"x\":[1]}}";
        let whole = cut_bytes(cut, text.as_bytes(), 1 << 16, 2).expect("valid");
        let ids: Vec<_> = whole
            .iter()
            .map(|b| {
                b.iter()
                    .map(|r| r.to_json()["id"].as_i64())
                    .collect::<Vec<_>>()
            })
            .collect();
        // Blank lines are not rows: batches of 2 non-blank lines.
        assert_eq!(ids, [vec![Some(1), Some(2)], vec![Some(3)]]);
        for buffer in 1..=9 {
            let small = cut_bytes(cut, text.as_bytes(), buffer, 2).expect("valid");
            assert_eq!(small, whole, "buffer of {buffer} bytes");
        }
    }

    #[test]
    fn a_bad_line_is_named_by_its_line_in_the_file() {
        let text = "{\"id\":1}\n\n  {\"id\": tru}\n";
        for buffer in [1, 3, 1 << 16] {
            let err = cut_bytes(cut, text.as_bytes(), buffer, 10).expect_err("invalid");
            assert!(
                err.starts_with("test.json: line 3: invalid JSON: "),
                "{err}"
            );
            assert!(err.contains("(column 13)"), "{err}");
        }
        let err = cut_bytes(cut, b"{}\n[1]\n", 1 << 16, 10).expect_err("not an object");
        assert_eq!(
            err,
            "test.json: line 2: expected a JSON object, found an array"
        );
    }
}
