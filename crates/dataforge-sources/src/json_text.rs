//! Where JSON text went wrong, in the terms of the file or download it came from: shared by
//! the sources that cut JSON into chunks parsed on the runner's workers (`file`, `shopify`).

/// A place in a file: line and column (in bytes), both from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Position {
    /// Line, from 1.
    pub line: u64,
    /// Byte column within the line, from 1.
    pub column: u64,
}

/// A parser error as its line in the file and "reason (column N)" with the parser's excerpt.
/// The parser counts lines and columns within the text it was given, which starts at `at`;
/// its own "at line 1 column N" would contradict the file's line number shown beside it.
pub(crate) fn parse_error(e: &sonic_rs::Error, at: Position) -> (u64, String) {
    let (line, column) = in_file(at, e.line() as u64, e.column() as u64);
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

/// The line and column in the file of a place at `line` and `column` (from 1) within the text
/// of an object that starts at `at`.
pub(crate) fn in_file(at: Position, line: u64, column: u64) -> (u64, u64) {
    match line {
        0 | 1 => (at.line, at.column - 1 + column),
        n => (at.line + n - 1, column),
    }
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
