//! A bulk operation's JSONL, cut into line-aligned chunks as it downloads and decoded into
//! records on the runner's workers.
//!
//! The download arrives as byte chunks cut anywhere (a line may span several). [`LineSplitter`]
//! copies them into the chunk being filled, whose text ends with the current partial line;
//! once it holds `batch_size` non-blank lines it is handed out and the partial line moves on
//! to the next chunk. So only the current chunk (and in it the partial line) is held. Each
//! handed-out [`JsonlChunk`] becomes a [`DeferredBatch`] whose decode
//! ([`Record::from_json`] per line) runs on a worker thread, as in the `file` source.
//!
//! One line is one record: child lines of nested connections keep their `__parentId` column
//! as Shopify writes it. Blank lines are skipped, `\r\n` is accepted, and a last line without a
//! newline is taken by [`LineSplitter::finish`]. Errors name the line in the download.

use dataforge_core::{Batch, JsonError, Record};

use super::error::ShopifySourceError;
use crate::json_text::{Position, describe, in_file, parse_error};

/// The text of consecutive non-blank lines: `data[ends[i-1]..ends[i]]` is line `lines[i]`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct JsonlChunk {
    data: Vec<u8>,
    ends: Vec<usize>,
    lines: Vec<u64>,
}

impl JsonlChunk {
    /// The number of records (non-blank lines) in the chunk.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the chunk holds no record.
    pub(crate) fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Parses every line into a record.
    ///
    /// # Errors
    /// The first line that is not a JSON object, named by its line number.
    pub(crate) fn decode(self) -> Result<Batch, ShopifySourceError> {
        let mut batch = Vec::with_capacity(self.ends.len());
        let mut start = 0;
        for (&end, &line) in self.ends.iter().zip(&self.lines) {
            let raw = &self.data[start..end];
            start = end;
            let text = raw.trim_ascii();
            let lead = (raw.len() - raw.trim_ascii_start().len()) as u64;
            let at = Position {
                line,
                column: 1 + lead,
            };
            // Blank lines never enter a chunk, so `text` has a first byte.
            let first = text.first().copied().unwrap_or(b' ');
            if first != b'{' {
                return Err(ShopifySourceError::NotAnObject {
                    line,
                    found: describe(first),
                });
            }
            match Record::from_json(text) {
                Ok(record) => batch.push(record),
                Err(JsonError::Invalid(e)) => {
                    let (line, message) = parse_error(&e, at);
                    return Err(ShopifySourceError::InvalidJson { line, message });
                }
                Err(JsonError::IntegerTooLarge {
                    number,
                    digits,
                    line: l,
                    column,
                }) => {
                    let (line, column) = in_file(at, l, column);
                    return Err(ShopifySourceError::IntegerTooLarge {
                        line,
                        column,
                        number,
                        digits,
                    });
                }
                // `JsonError` may gain variants: any other is invalid JSON at the line.
                Err(e) => {
                    return Err(ShopifySourceError::InvalidJson {
                        line,
                        message: e.to_string(),
                    });
                }
            }
        }
        Ok(batch)
    }
}

/// Cuts JSONL bytes, fed in pieces of any size, into chunks of `batch_size` non-blank lines.
#[derive(Debug)]
pub(crate) struct LineSplitter {
    batch_size: usize,
    /// The chunk being filled; its text after its last end is the current partial line.
    chunk: JsonlChunk,
    /// The number of the line being read, from 1.
    line: u64,
    /// Whether the partial line is known to be non-blank.
    partial_has_text: bool,
    /// The size of the last full chunk's text, to allocate the next one at once.
    size_hint: usize,
}

impl LineSplitter {
    /// A splitter handing out chunks of `batch_size` (at least 1) lines.
    pub(crate) fn new(batch_size: usize) -> Self {
        Self {
            batch_size: batch_size.max(1),
            chunk: JsonlChunk::default(),
            line: 1,
            partial_has_text: false,
            size_hint: 0,
        }
    }

    /// Adds downloaded bytes (a `bytes::Bytes` derefs to them); returns the chunks that
    /// filled up, in order (usually none or one).
    pub(crate) fn push(&mut self, mut bytes: &[u8]) -> Vec<JsonlChunk> {
        let mut full = Vec::new();
        while !bytes.is_empty() {
            let (piece, ends_line) = match memchr::memchr(b'\n', bytes) {
                Some(i) => (&bytes[..=i], true),
                None => (bytes, false),
            };
            bytes = &bytes[piece.len()..];
            if !self.partial_has_text && !piece.trim_ascii().is_empty() {
                self.partial_has_text = true;
            }
            self.chunk.data.extend_from_slice(piece);
            if ends_line {
                self.end_line(&mut full);
            }
        }
        full
    }

    /// Ends the download: the last chunk, with a final line that had no newline.
    pub(crate) fn finish(mut self) -> Option<JsonlChunk> {
        let mut full = Vec::new();
        self.end_line(&mut full);
        // `end_line` hands out a chunk only when it reaches `batch_size`: then it is the last
        // one and the new chunk is empty.
        full.pop()
            .or_else(|| (!self.chunk.is_empty()).then_some(self.chunk))
    }

    /// Closes the current line: keeps it if it has text, drops it if blank.
    fn end_line(&mut self, full: &mut Vec<JsonlChunk>) {
        let start = self.chunk.ends.last().copied().unwrap_or(0);
        if self.partial_has_text {
            if self.line == 1 && self.chunk.data[start..].starts_with(b"\xEF\xBB\xBF") {
                self.chunk.data.drain(start..start + 3);
            }
            self.chunk.ends.push(self.chunk.data.len());
            self.chunk.lines.push(self.line);
        } else {
            self.chunk.data.truncate(start);
        }
        self.line += 1;
        self.partial_has_text = false;
        if self.chunk.len() >= self.batch_size {
            self.size_hint = self.chunk.data.len();
            let next = JsonlChunk {
                data: Vec::with_capacity(self.size_hint + self.size_hint / 8),
                ends: Vec::with_capacity(self.batch_size),
                lines: Vec::with_capacity(self.batch_size),
            };
            full.push(std::mem::replace(&mut self.chunk, next));
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Splits `text` at `cuts` (byte offsets), decoding every chunk.
    fn split(text: &[u8], cuts: &[usize], batch_size: usize) -> Result<Vec<Batch>, String> {
        let mut splitter = LineSplitter::new(batch_size);
        let mut chunks = Vec::new();
        let mut from = 0;
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (text.len() + 1)).collect();
        cuts.sort_unstable();
        for cut in cuts.into_iter().chain([text.len()]) {
            chunks.extend(splitter.push(&text[from..cut]));
            from = cut;
        }
        chunks.extend(splitter.finish());
        chunks
            .into_iter()
            .map(|c| {
                assert!(!c.is_empty() && c.len() <= batch_size.max(1));
                c.decode().map_err(|e| e.to_string())
            })
            .collect()
    }

    /// Every non-blank line parsed on its own.
    fn whole(text: &str) -> Vec<Record> {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| Record::from_json(l.trim().as_bytes()).ok())
            .collect()
    }

    const SAMPLE: &str = "{\"id\":\"gid://shopify/Product/1\",\"title\":\"a\\nb\"}\n\
        {\"id\":\"gid://shopify/ProductVariant/2\",\"title\":\"52\",\"__parentId\":\"gid://shopify/Product/1\"}\r\n\
        \n   \n\
        {\"id\":\"gid://shopify/Product/3\",\"n\":12345678901234567890123,\"t\":[\"x\",\"ü\"]}";

    #[test]
    fn children_keep_parent_id_and_the_last_line_needs_no_newline() {
        let batches = split(SAMPLE.as_bytes(), &[], 2).expect("valid");
        let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
        assert_eq!(sizes, [2, 1]);
        let child = &batches[0][1];
        assert_eq!(
            child.get("__parentId").and_then(|v| v.as_str()),
            Some("gid://shopify/Product/1")
        );
        assert_eq!(batches.concat(), whole(SAMPLE));
    }

    #[test]
    fn errors_name_the_line_in_the_download() {
        let text = "{\"id\":1}\n\n  {\"id\": tru}\n";
        for cut in 0..text.len() {
            let err = split(text.as_bytes(), &[cut], 10).expect_err("invalid");
            assert!(
                err.starts_with("bulk JSONL line 3: invalid JSON: "),
                "{err}"
            );
            assert!(err.contains("(column 13)"), "{err}");
        }
        let err = split(b"{}\n[1]\n", &[], 10).expect_err("array");
        assert_eq!(
            err,
            "bulk JSONL line 2: expected a JSON object, found an array"
        );
    }

    #[test]
    fn empty_and_blank_downloads_make_no_chunk() {
        assert_eq!(split(b"", &[], 3), Ok(vec![]));
        assert_eq!(split(b"\n \r\n\n", &[1, 2], 3), Ok(vec![]));
        assert_eq!(LineSplitter::new(3).finish(), None);
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let batches = split(b"\xEF\xBB\xBF{\"id\":1}\n", &[1, 2], 3).expect("valid");
        assert_eq!(batches.concat(), whole("{\"id\":1}"));
    }

    proptest! {
        #[test]
        fn any_chunk_boundaries_give_the_records_of_whole_text(
            cuts in proptest::collection::vec(0usize..400, 0..12),
            batch_size in 1usize..5,
            extra in proptest::collection::vec(
                (any::<i64>(), "[a-z\"\\\\ ü]{0,8}", any::<bool>()), 0..6),
        ) {
            let mut text = SAMPLE.to_owned();
            for (id, s, blank) in &extra {
                text.push('\n');
                if *blank {
                    text.push_str("  \n");
                }
                let line = serde_json::json!({"id": id, "s": s, "__parentId": "gid://shopify/Order/9"});
                text.push_str(&line.to_string());
            }
            let batches = split(text.as_bytes(), &cuts, batch_size).expect("valid");
            prop_assert_eq!(batches.concat(), whole(&text));
            let reference = split(text.as_bytes(), &[], batch_size).expect("valid");
            prop_assert_eq!(batches, reference);
        }
    }
}
