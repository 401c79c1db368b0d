//! JSONL: one object per line, cut into chunks of `batch_size` non-blank lines (fewer when
//! their text reaches [`CHUNK_TEXT_BYTES`]).
//!
//! Lines are found with `memchr` in the reader's buffer and copied into one byte buffer per
//! chunk in runs of whole lines (no allocation or copy per line); [`super::json_chunks`] sends
//! the chunks on to be parsed where they are transformed.

use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use super::error::FileSourceError;
use super::json_chunks::{CHUNK_TEXT_BYTES, Feed, Starts};
use super::source::ReadResult;

/// Cuts one JSONL file into chunks of `batch_size` non-blank lines, or fewer whole lines once
/// a chunk's text reaches [`CHUNK_TEXT_BYTES`].
///
/// Lines are found in the reader's buffer with `memchr` and copied into the chunk in runs
/// (everything up to the last newline needed), not one at a time.
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
        // Where the current line starts in `chunk.data`.
        let mut line_start = 0;
        let mut full = false;
        while !full {
            let buf = reader.fill_buf().map_err(io_err)?;
            if buf.is_empty() {
                // The last line may lack its newline.
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
            let base = chunk.data.len();
            let mut taken = buf.len();
            for nl in memchr::memchr_iter(b'\n', buf) {
                let end = base + nl + 1;
                line += 1;
                chunk.ends.push(end);
                // A line that began in an earlier read has its first part in the chunk.
                let (before, rest) = if line_start < base {
                    (&chunk.data[line_start..], &buf[..=nl])
                } else {
                    (&[][..], &buf[line_start - base..=nl])
                };
                if !(before.trim_ascii().is_empty() && rest.trim_ascii().is_empty()) {
                    rows += 1;
                }
                line_start = end;
                if rows == batch_size || (rows > 0 && end >= CHUNK_TEXT_BYTES) {
                    full = true;
                    taken = nl + 1;
                    break;
                }
            }
            chunk.data.extend_from_slice(&buf[..taken]);
            reader.consume(taken);
        }
        feed.send(chunk)?;
    }
}

#[cfg(test)]
mod tests {
    use super::super::json_chunks::{CHUNK_TEXT_BYTES, cut_bytes};
    use super::cut;

    #[test]
    fn a_chunk_stops_at_its_text_size_on_a_line_boundary() {
        // Lines of ~100 KB, one of them longer than a whole chunk: batches stop near 512 KiB
        // of text (never mid-line), every row comes once, in order, and an error still names
        // its line in the file.
        let pad = "x".repeat(100_000);
        let mut text = String::new();
        for id in 0..40 {
            let long = "z".repeat(CHUNK_TEXT_BYTES + 5);
            let pad = if id == 17 { &long } else { &pad };
            text.push_str(&format!("{{\"id\":{id},\"pad\":\"{pad}\"}}\n"));
            if id % 7 == 0 {
                text.push('\n');
            }
        }
        for buffer in [4096, 1 << 20] {
            let batches = cut_bytes(cut, text.as_bytes(), buffer, 1000).expect("valid");
            let ids: Vec<i64> = batches
                .iter()
                .flatten()
                .map(|r| r.to_json()["id"].as_i64().expect("id"))
                .collect();
            assert_eq!(ids, (0..40).collect::<Vec<_>>());
            // Six ~100 KB lines pass 512 KiB: 40 rows in six chunks of 6 and one of 4 (with
            // 1,000 rows a chunk, one chunk would hold all 40).
            let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
            assert_eq!(sizes, [6, 6, 6, 6, 6, 6, 4]);
            // A chunk ends with the first line that takes it to 512 KiB.
            for batch in &batches {
                let before_last: usize = batch[..batch.len() - 1]
                    .iter()
                    .map(|r| r.to_json().to_string().len() + 1)
                    .sum();
                assert!(before_last < CHUNK_TEXT_BYTES, "{before_last}");
            }
        }
        let bad = format!("{text}{{\"id\": tru}}\n");
        let err = cut_bytes(cut, bad.as_bytes(), 1 << 16, 1000).expect_err("invalid");
        assert!(err.starts_with("test.json: line 47: invalid JSON"), "{err}");
    }

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
