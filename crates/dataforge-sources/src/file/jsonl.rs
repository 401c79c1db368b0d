//! JSONL: one object per line, cut into chunks of `batch_size` non-blank lines (fewer when
//! their text reaches [`CHUNK_TEXT_BYTES`]).
//!
//! The file is read straight into each chunk's buffer, and lines are found there with
//! `memchr`: no allocation or copy per line, and no copy out of a reader's buffer. What the
//! last read brought past a chunk's end (less than one read) moves on to the next chunk.
//! [`super::json_chunks`] sends the chunks on to be parsed where they are transformed.

use std::io::{BufRead, Read};
use std::path::Path;
use std::sync::Arc;

use super::error::FileSourceError;
use super::json_chunks::{CHUNK_TEXT_BYTES, Feed, Starts};
use super::source::ReadResult;

/// The file reader's own buffer for JSONL: small, so that the reads into a chunk's buffer
/// (larger than it) bypass it instead of being copied through it.
pub(crate) const READ_BUFFER: usize = 8 << 10;

/// The most read into a chunk at a time: a quarter of the last chunk's size, within these
/// bounds, so that what a read brings past a chunk's end (copied into the next one) stays
/// small next to the chunk even when chunks are small.
const READ_STEP: std::ops::RangeInclusive<usize> = (8 << 10)..=(128 << 10);

/// Cuts one JSONL file into chunks of `batch_size` non-blank lines, or fewer whole lines once
/// a chunk's text reaches [`CHUNK_TEXT_BYTES`].
pub(crate) fn cut(
    path: &Arc<Path>,
    reader: &mut dyn BufRead,
    batch_size: usize,
    feed: &mut Feed<'_>,
) -> ReadResult {
    let io_err = |e: std::io::Error| FileSourceError::io(path.to_path_buf(), e);
    let mut line = 0u64;
    // What the last read brought past the end of the last chunk.
    let mut carry: Vec<u8> = Vec::new();
    let mut eof = false;
    let mut step = *READ_STEP.start();
    loop {
        feed.check()?;
        // Room for a chunk like the last one, the carry and the reads past its end, so that
        // reading into it does not move it (a reallocation copies everything read so far).
        let mut chunk = feed.chunk(
            path,
            batch_size,
            Starts::Lines(line + 1),
            carry.len() + 2 * step,
        );
        chunk.data.extend_from_slice(&carry);
        carry.clear();
        let mut rows = 0;
        // Where the current line starts in `chunk.data`, and how far newlines were looked for.
        let mut line_start = 0;
        let mut scanned = 0;
        loop {
            let mut cut_at = None;
            for nl in memchr::memchr_iter(b'\n', &chunk.data[scanned..]) {
                let end = scanned + nl + 1;
                line += 1;
                chunk.ends.push(end);
                if !chunk.data[line_start..end].trim_ascii().is_empty() {
                    rows += 1;
                }
                line_start = end;
                if rows == batch_size || (rows > 0 && end >= CHUNK_TEXT_BYTES) {
                    cut_at = Some(end);
                    break;
                }
            }
            if let Some(end) = cut_at {
                carry.extend_from_slice(&chunk.data[end..]);
                chunk.data.truncate(end);
                step = (end / 4).clamp(*READ_STEP.start(), *READ_STEP.end());
                break;
            }
            scanned = chunk.data.len();
            if eof {
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
            // Reads into the chunk's spare room (no zeroing, no copy through a buffer).
            chunk.data.reserve(step);
            let read = Read::take(&mut *reader, step as u64)
                .read_to_end(&mut chunk.data)
                .map_err(io_err)?;
            eof = read == 0;
        }
        feed.send(chunk)?;
    }
}

#[cfg(test)]
mod tests {
    use super::super::json_chunks::{CHUNK_TEXT_BYTES, cut_bytes, row_ids};
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
            let ids = row_ids(&batches);
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
    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Any lines (blank ones, CRLF, short and long, no final newline) cut into the same
        /// rows, in order, through any reader buffer and batch size; no chunk is over
        /// `batch_size` rows.
        #[test]
        fn any_lines_cut_into_the_same_rows(
            lines in proptest::collection::vec((0usize..3, 0usize..3000, proptest::bool::ANY), 0..60),
            buffer in 1usize..20_000,
            batch_size in 1usize..40,
            final_newline in proptest::bool::ANY,
        ) {
            let mut text = String::new();
            let mut ids = Vec::new();
            for (i, (kind, len, crlf)) in lines.iter().enumerate() {
                match kind {
                    0 => text.push_str("  "),
                    _ => {
                        ids.push(i as i64);
                        text.push_str(&format!("{{\"id\":{i},\"s\":\"{}\"}}", "a".repeat(*len)));
                    }
                }
                if i + 1 < lines.len() || final_newline {
                    text.push_str(if *crlf { "\r\n" } else { "\n" });
                }
            }
            let batches = cut_bytes(cut, text.as_bytes(), buffer, batch_size).expect("valid");
            let got = row_ids(&batches);
            proptest::prop_assert_eq!(got, ids);
            proptest::prop_assert!(batches.iter().all(|b| !b.is_empty() && b.len() <= batch_size));
        }
    }
}
