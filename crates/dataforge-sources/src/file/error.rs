//! Errors of the `file` source.

use std::io;
use std::path::PathBuf;

use dataforge_core::ComponentError;

/// For a relative path, where it was looked for: a pipeline run from another directory than the
/// one its paths were written for is the usual reason a file is missing.
fn relative_hint(path: &std::path::Path) -> String {
    match std::env::current_dir() {
        Ok(cwd) if path.is_relative() => {
            format!(" (relative to the working directory {})", cwd.display())
        }
        _ => String::new(),
    }
}

/// What can go wrong reading files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileSourceError {
    /// A glob pattern matched no file.
    #[error(
        "no file matches `{pattern}`{}",
        relative_hint(std::path::Path::new(pattern))
    )]
    NoMatch {
        /// The pattern.
        pattern: String,
    },
    /// A glob pattern is malformed.
    #[error("invalid glob pattern `{pattern}`: {message}")]
    BadPattern {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// A file does not exist.
    #[error("file not found: {}{}", path.display(), relative_hint(path))]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// A file could not be opened or read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A JSONL line or a JSON array's element is not valid JSON.
    #[error("{}: line {line}: invalid JSON: {message}", path.display())]
    InvalidJson {
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: u64,
        /// The parser's message.
        message: String,
    },
    /// A JSON integer literal beyond the largest decimal: refused rather than rounded.
    #[error(
        "{}: line {line}: the integer {number} ({digits} digits, column {column}) is beyond the \
         largest decimal (79228162514264337593543950335): refused rather than rounded to a \
         float; to keep it exactly, quote it in the file (\"…\") so that it loads as a string",
        path.display()
    )]
    IntegerTooLarge {
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: u64,
        /// The byte column within the line, from 1.
        column: u64,
        /// The literal, cut after 40 characters.
        number: String,
        /// Its number of digits.
        digits: usize,
    },
    /// A JSONL line or a JSON array's element is not an object.
    #[error("{}: line {line}: expected a JSON object, found {found}", path.display())]
    NotAnObject {
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: u64,
        /// What was found instead.
        found: &'static str,
    },
    /// A JSON file is not an array: its punctuation is wrong or it ends early.
    #[error("{}: {message}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// Where and what, as "line L column C: …".
        message: String,
    },
    /// A CSV row has a different number of fields than the first.
    #[error("{}: line {line}: expected {expected} fields, found {found}", path.display())]
    CsvRowLength {
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: u64,
        /// Fields in the header (or first row).
        expected: u64,
        /// Fields in this row.
        found: u64,
    },
    /// A CSV header names a column twice.
    #[error("{}: the header names column `{column}` twice", path.display())]
    CsvDuplicateColumn {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
    },
    /// Any other CSV problem (invalid UTF-8, …).
    #[error("{}: {message}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// The CSV reader's message.
        message: String,
    },
}

impl FileSourceError {
    /// An I/O error on `path`: a missing file is [`FileSourceError::NotFound`].
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        if source.kind() == io::ErrorKind::NotFound {
            Self::NotFound { path }
        } else {
            Self::Io { path, source }
        }
    }

    /// Whether retrying could help: only I/O errors other than missing files and permissions.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Io { source, .. } => !matches!(
                source.kind(),
                io::ErrorKind::NotFound
                    | io::ErrorKind::PermissionDenied
                    | io::ErrorKind::InvalidData
                    | io::ErrorKind::IsADirectory
            ),
            _ => false,
        }
    }
}

impl From<FileSourceError> for ComponentError {
    fn from(e: FileSourceError) -> Self {
        if e.is_retryable() {
            ComponentError::retryable(e)
        } else {
            ComponentError::fatal(e)
        }
    }
}
