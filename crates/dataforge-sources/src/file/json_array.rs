//! JSON array: `[{...}, {...}, ...]`, cut element by element, never held whole in memory.
//!
//! The cutter does not parse: it finds where each top-level object ends by counting braces
//! outside strings (a tight loop from one quote or brace to the next), copies the object's
//! bytes into a chunk and lets [`super::json_chunks`] parse the chunks with `sonic-rs` in
//! parallel, in order, as for JSONL. It checks the array's own punctuation (`[`, commas, `]`,
//! nothing after it); the parser checks each object. Brackets are not counted: in valid JSON
//! they balance inside an object, and an object whose brackets do not balance fails to parse.

use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use memchr::{memchr_iter, memrchr};

use super::error::FileSourceError;
use super::json_chunks::{CHUNK_TEXT_BYTES, Chunk, Feed, Starts};
use super::source::ReadResult;
use crate::json_text::{Position, describe};

/// Where the cutter is in the array's grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before `[`.
    Open,
    /// After `[` (`first`) or after a comma: an object (or, when `first`, `]`) comes next.
    Element { first: bool },
    /// Inside an object.
    Object(ObjectScan),
    /// After an object: `,` or `]` comes next.
    Separator,
    /// After `]`: only whitespace may follow.
    Closed,
}

/// Tracks the line and column of a byte offset while the file is read.
struct Cursor {
    offset: u64,
    line: u64,
    line_start: u64,
}

impl Cursor {
    /// Moves past `bytes`.
    fn advance(&mut self, bytes: &[u8]) {
        if let Some(last) = memrchr(b'\n', bytes) {
            self.line += memchr_iter(b'\n', bytes).count() as u64;
            self.line_start = self.offset + last as u64 + 1;
        }
        self.offset += bytes.len() as u64;
    }

    /// The position of the byte at the cursor.
    fn position(&self) -> Position {
        Position {
            line: self.line,
            column: self.offset - self.line_start + 1,
        }
    }
}

/// Cuts one JSON-array file into chunks of `batch_size` objects, or fewer once a chunk's text
/// reaches [`CHUNK_TEXT_BYTES`].
pub(crate) fn cut(
    path: &Arc<Path>,
    reader: &mut dyn BufRead,
    batch_size: usize,
    feed: &mut Feed<'_>,
) -> ReadResult {
    let new_chunk = |feed: &Feed<'_>| {
        feed.chunk(
            path,
            batch_size,
            Starts::Positions(Vec::with_capacity(batch_size)),
            0,
        )
    };
    let syntax = |at: Position, message: String| FileSourceError::Json {
        path: path.to_path_buf(),
        message: format!("line {} column {}: {message}", at.line, at.column),
    };
    let mut state = State::Open;
    let mut cursor = Cursor {
        offset: 0,
        line: 1,
        line_start: 0,
    };
    let mut chunk = new_chunk(feed);
    loop {
        // `cursor` stands at `buf[mark]`; it is moved forward only when a position is needed
        // and at the end of the buffer, so each byte is counted once.
        let mut mark = 0;
        let buf = reader
            .fill_buf()
            .map_err(|e| FileSourceError::io(path.to_path_buf(), e))?;
        if buf.is_empty() {
            break;
        }
        let mut i = 0;
        while i < buf.len() {
            if let State::Object(scan) = &mut state {
                let start = i;
                let end = scan.run(buf, i);
                chunk.data.extend_from_slice(&buf[start..end]);
                i = end;
                if scan.depth == 0 {
                    chunk.ends.push(chunk.data.len());
                    state = State::Separator;
                    if chunk.ends.len() >= batch_size || chunk.data.len() >= CHUNK_TEXT_BYTES {
                        let full = std::mem::replace(&mut chunk, new_chunk(feed));
                        feed.send(full)?;
                        feed.check()?;
                    }
                }
                continue;
            }
            let b = buf[i];
            if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                i += 1;
                continue;
            }
            let mut at = || {
                cursor.advance(&buf[mark..i]);
                mark = i;
                cursor.position()
            };
            state = match (state, b) {
                (State::Open, b'[') => State::Element { first: true },
                (State::Open, _) => {
                    let found = describe(b);
                    return Err(syntax(
                        at(),
                        format!("expected a JSON array of objects, found {found}"),
                    )
                    .into());
                }
                (State::Element { first: true }, b']') | (State::Separator, b']') => State::Closed,
                (State::Element { .. }, b'{') => {
                    push_start(&mut chunk, at());
                    State::Object(ObjectScan::default())
                }
                (State::Element { .. }, _) => {
                    // `]` right after a comma: a trailing comma.
                    let found = if b == b']' { "`]`" } else { describe(b) };
                    return Err(FileSourceError::NotAnObject {
                        path: path.to_path_buf(),
                        line: at().line,
                        found,
                    }
                    .into());
                }
                (State::Separator, b',') => State::Element { first: false },
                (State::Separator, _) => {
                    return Err(syntax(
                        at(),
                        format!(
                            "expected `,` or `]` after an array element, found {}",
                            shown(b)
                        ),
                    )
                    .into());
                }
                (State::Closed, _) => {
                    return Err(syntax(
                        at(),
                        format!("unexpected {} after the end of the array", shown(b)),
                    )
                    .into());
                }
                (State::Object(_), _) => unreachable!("objects are scanned above"),
            };
            // An object's `{` is scanned with the object.
            if !matches!(state, State::Object(_)) {
                i += 1;
            }
        }
        let len = buf.len();
        cursor.advance(&buf[mark..]);
        reader.consume(len);
    }
    if state == State::Open {
        // Nothing but blank space: an empty file has no rows, like an empty JSONL or CSV file
        // and like `[]` (whether that empties a target is the destination's `on_empty`).
        return feed.send(chunk);
    }
    if state != State::Closed {
        let open_object = match (&state, &chunk.starts) {
            (State::Object(_), Starts::Positions(p)) => p.last(),
            _ => None,
        };
        let what = match (state, open_object) {
            (_, Some(at)) => format!(
                "unexpected end of file: the object at line {} column {} is not closed",
                at.line, at.column
            ),
            _ => "unexpected end of file: the array is not closed with `]`".to_owned(),
        };
        return Err(syntax(cursor.position(), what).into());
    }
    feed.send(chunk)
}

/// Records where the next object of `chunk` starts.
fn push_start(chunk: &mut Chunk, at: Position) {
    if let Starts::Positions(p) = &mut chunk.starts {
        p.push(at);
    }
}

/// Where a scan of one object stands, carried from one buffer to the next.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ObjectScan {
    /// Braces open (outside strings).
    depth: u32,
    /// Inside a string.
    in_string: bool,
    /// The last byte scanned was an escaping backslash: the next byte is escaped.
    escape: bool,
}

impl ObjectScan {
    /// Scans `buf` from `from` (the object's `{`, or 0 when it goes on from the previous
    /// buffer); returns the index just past the object's closing brace (then `depth` is 0), or
    /// `buf.len()` when the object goes on past the buffer.
    ///
    /// Two tight loops take turns: inside a string, to the next quote or backslash (a
    /// backslash escapes the byte after it); outside, to the next quote or brace. Measured
    /// faster than `memchr3` here: the stops are a few bytes apart, too close for its setup to
    /// pay off.
    fn run(&mut self, buf: &[u8], from: usize) -> usize {
        let (mut depth, mut in_string, mut escape) = (self.depth, self.in_string, self.escape);
        let mut i = from;
        let n = buf.len();
        while i < n {
            if escape {
                escape = false;
                i += 1;
            } else if in_string {
                match buf[i..].iter().position(|&b| b == b'"' || b == b'\\') {
                    None => i = n,
                    Some(k) => {
                        i += k;
                        if buf[i] == b'"' {
                            in_string = false;
                        } else {
                            escape = true;
                        }
                        i += 1;
                    }
                }
            } else {
                match buf[i..]
                    .iter()
                    .position(|&b| b == b'"' || b == b'{' || b == b'}')
                {
                    None => i = n,
                    Some(k) => {
                        i += k;
                        match buf[i] {
                            b'"' => in_string = true,
                            b'{' => depth += 1,
                            _ => {
                                depth -= 1;
                                if depth == 0 {
                                    self.depth = 0;
                                    return i + 1;
                                }
                            }
                        }
                        i += 1;
                    }
                }
            }
        }
        (self.depth, self.in_string, self.escape) = (depth, in_string, escape);
        n
    }
}

/// A byte as shown in a message: punctuation in backquotes, a value by its kind.
fn shown(b: u8) -> String {
    match b {
        b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => describe(b).to_owned(),
        _ if b.is_ascii_graphic() => format!("`{}`", b as char),
        _ => format!("byte 0x{b:02x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::json_chunks::{CHUNK_TEXT_BYTES, cut_bytes, row_ids};
    use super::cut;

    #[test]
    fn a_chunk_stops_at_its_text_size_between_objects() {
        let pad = "y".repeat(100_000);
        let objects: Vec<String> = (0..30)
            .map(|id| format!("{{\"id\":{id},\"pad\":\"{pad}\"}}"))
            .collect();
        let text = format!("[\n{}\n]", objects.join(",\n"));
        let batches = cut_bytes(cut, text.as_bytes(), 4096, 1000).expect("valid");
        let ids = row_ids(&batches);
        assert_eq!(ids, (0..30).collect::<Vec<_>>());
        // ~100 KB objects: six per chunk (the sixth takes it past 512 KiB), not all 30 at once.
        let per = CHUNK_TEXT_BYTES.div_ceil(100_020);
        assert!(batches.iter().all(|b| b.len() <= per), "{per}");
        assert_eq!(batches.len(), 30_usize.div_ceil(per));
    }

    /// The rows of `text` as JSON, cut with every small buffer size (so a buffer boundary
    /// falls on every byte: in strings, on escapes, between elements) and as one batch each.
    fn rows(text: &str, batch_size: usize) -> Vec<serde_json::Value> {
        let whole = cut_bytes(cut, text.as_bytes(), 1 << 16, batch_size).expect("valid");
        for buffer in 1..=9 {
            let small = cut_bytes(cut, text.as_bytes(), buffer, batch_size).expect("valid");
            assert_eq!(small, whole, "buffer of {buffer} bytes");
        }
        assert!(whole.iter().all(|b| b.len() <= batch_size && !b.is_empty()));
        whole.iter().flatten().map(|r| r.to_json()).collect()
    }

    fn error(text: &str) -> String {
        let whole = cut_bytes(cut, text.as_bytes(), 1 << 16, 2).expect_err("invalid");
        for buffer in [1, 2, 5] {
            let small = cut_bytes(cut, text.as_bytes(), buffer, 2).expect_err("invalid");
            assert_eq!(small, whole, "buffer of {buffer} bytes");
        }
        whole
    }

    #[test]
    fn cuts_objects_whose_strings_hold_braces_quotes_and_escapes() {
        let text = concat!(
            "\n  [\n",
            r#"  {"s": "a \"}\" {", "t": "\\", "u": "\\\"}"},"#,
            "\n",
            r#"  {"nested": {"a": [{"b": {}}, "}"], "c": {"d": null}}, "é": "日本"},"#,
            r#"{},{"last":[1,2,{"x":"]"}]}"#,
            "\n]\n"
        );
        let expected: Vec<serde_json::Value> = serde_json::from_str(text).expect("valid JSON");
        for batch_size in [1, 2, 3, 10] {
            assert_eq!(rows(text, batch_size), expected, "batches of {batch_size}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        /// Any objects, with strings of quotes, backslashes, braces and brackets, written
        /// compact or pretty and cut through any buffer size, come back exactly.
        #[test]
        fn any_array_of_objects_cuts_back_to_its_elements(
            objects in proptest::collection::vec(
                proptest::collection::vec(
                    ("[a-z\\\\\"{}\\[\\]]{0,6}", "[a-z\\\\\"{}\\[\\] é]{0,40}"),
                    0..5,
                ),
                0..8,
            ),
            pretty: bool,
            // Small buffers put a boundary everywhere; large ones scan 64-byte blocks.
            buffer in proptest::prop_oneof![1usize..40, 64usize..400],
            batch_size in 1usize..4,
        ) {
            let expected: Vec<serde_json::Value> = objects
                .iter()
                .map(|fields| {
                    let inner: serde_json::Map<_, _> =
                        fields.iter().map(|(k, v)| (k.clone(), serde_json::json!([v]))).collect();
                    let outer: serde_json::Map<_, _> =
                        fields.iter().map(|(k, v)| (v.clone(), serde_json::json!({ k: inner.clone() }))).collect();
                    serde_json::Value::Object(outer)
                })
                .collect();
            let text = if pretty {
                serde_json::to_string_pretty(&expected)
            } else {
                serde_json::to_string(&expected)
            }
            .expect("serialise");
            let batches = cut_bytes(cut, text.as_bytes(), buffer, batch_size).expect("valid");
            let got: Vec<serde_json::Value> = batches.iter().flatten().map(|r| r.to_json()).collect();
            proptest::prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn an_empty_array_has_no_rows() {
        assert!(rows("[]", 2).is_empty());
        assert!(rows(" \r\n[ \t\n ]\n\n", 2).is_empty());
        assert!(rows("", 2).is_empty(), "a 0-byte file");
        assert!(rows(" \n\t\r\n", 2).is_empty(), "blank space only");
    }

    #[test]
    fn punctuation_errors_name_line_and_column() {
        let cases = [
            (
                r#"{"id":1}"#,
                "test.json: line 1 column 1: expected a JSON array of objects, found an object",
            ),
            (
                "[{\"a\":1},\n  2]",
                "test.json: line 2: expected a JSON object, found a number",
            ),
            (
                r#"[{"a":1},]"#,
                "test.json: line 1: expected a JSON object, found `]`",
            ),
            (
                r#"[{"a":1} {"b":2}]"#,
                "test.json: line 1 column 10: expected `,` or `]` after an array element, \
                 found an object",
            ),
            (
                "[{\"a\":1}]\n x",
                "test.json: line 2 column 2: unexpected `x` after the end of the array",
            ),
            (
                "[{\"a\":1},\n{\"b\":\"}",
                "test.json: line 2 column 8: unexpected end of file: the object at line 2 \
                 column 1 is not closed",
            ),
            (
                "[{\"a\":1}\n",
                "test.json: line 2 column 1: unexpected end of file: the array is not closed \
                 with `]`",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(error(text), expected, "{text:?}");
        }
    }

    #[test]
    fn an_invalid_element_names_its_line_and_column_in_the_file() {
        let one_line = error("[\n  {\"a\": 1},\n  {\"b\": tru}\n]");
        assert!(
            one_line.starts_with("test.json: line 3: invalid JSON: "),
            "{one_line}"
        );
        assert!(one_line.contains("(column 12)"), "{one_line}");
        let spanning = error("[{\"a\": 1},\n{\n  \"b\":\n    nul\n}]");
        assert!(
            spanning.starts_with("test.json: line 4: invalid JSON: "),
            "{spanning}"
        );
        assert!(spanning.contains("(column 8)"), "{spanning}");
    }
}
