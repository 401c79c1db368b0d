//! Errors of the `file` destination.

use std::io;
use std::path::PathBuf;

use dataforge_core::ComponentError;

/// What can go wrong writing a file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileDestinationError {
    /// The file (or its temporary sibling, or its directory) could not be written.
    #[error("cannot write {}", path.display())]
    Io {
        /// The target file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A row has a column the CSV header does not have.
    #[error(
        "{}: row {row} has column `{column}`, which is not in the CSV header ({header}); \
         select or rename columns before the destination",
        path.display()
    )]
    UnknownColumn {
        /// The target file.
        path: PathBuf,
        /// The column.
        column: String,
        /// The row number in this load, from 1.
        row: u64,
        /// The header, comma-separated.
        header: String,
    },
    /// The header of an existing CSV file (appended to) could not be read.
    #[error("{}: cannot read the existing CSV header: {message}", path.display())]
    ExistingHeader {
        /// The target file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A record could not be written as JSON or CSV.
    #[error("{}: row {row}: cannot encode: {message}", path.display())]
    Encode {
        /// The target file.
        path: PathBuf,
        /// The row number in this load, from 1.
        row: u64,
        /// The encoder's message.
        message: String,
    },
}

impl FileDestinationError {
    /// Whether retrying could help: I/O errors other than permissions and bad paths.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Io { source, .. } => !matches!(
                source.kind(),
                io::ErrorKind::PermissionDenied
                    | io::ErrorKind::NotFound
                    | io::ErrorKind::IsADirectory
                    | io::ErrorKind::NotADirectory
                    | io::ErrorKind::InvalidInput
                    | io::ErrorKind::InvalidFilename
                    | io::ErrorKind::ReadOnlyFilesystem
            ),
            _ => false,
        }
    }
}

impl From<FileDestinationError> for ComponentError {
    fn from(e: FileDestinationError) -> Self {
        if e.is_retryable() {
            ComponentError::retryable(e)
        } else {
            ComponentError::fatal(e)
        }
    }
}
