//! The `file` destination: JSONL or CSV, all or nothing.
//!
//! ```json
//! {"type": "file", "path": "out/orders.csv", "write_mode": "replace"}
//! ```
//! - `path`: the file; its directory is created if missing.
//! - `format`: `jsonl` or `csv`; default from the extension (`.jsonl`/`.ndjson`, `.csv`).
//! - `write_mode`: `replace` (default) writes a temporary file beside the target, syncs it and
//!   renames it over the target only when the stream ends cleanly, so a failed run leaves the
//!   old file untouched and no temporary file behind; `append` adds to the end and, on failure,
//!   cuts the file back to its old length.
//!
//! JSONL writes one object per line, columns in record order; the lines are encoded on the
//! runner's transform workers, in parallel (the destination's `Preparer`), and the writer
//! thread writes them in order. CSV writes a header of the first
//! batch's columns (in order of first appearance) or, when appending to a non-empty file, uses
//! that file's header; a missing column or a null is an empty cell and an empty string is
//! `""` (PostgreSQL's CSV convention), nested values are JSON text, and a
//! row with a column not in the header is an error naming the column and the row (data is
//! never dropped silently).

mod config;
mod csv_writer;
mod destination;
mod error;
mod jsonl_chunk;
#[cfg(test)]
mod tests;
mod writer;

use dataforge_core::{ConfigErrors, Destination, DestinationFactory};

pub use config::{FileDestinationConfig, OutputFormat, WriteMode};
pub use destination::FileDestination;
pub use error::FileDestinationError;

/// Registers the `file` destination.
pub struct FileDestinationFactory;

impl DestinationFactory for FileDestinationFactory {
    const NAME: &'static str = "file";
    const DESCRIPTION: &'static str = "Writes JSONL or CSV files (replace atomically, or append)";
    type Config = FileDestinationConfig;

    fn build(config: FileDestinationConfig) -> Result<impl Destination, ConfigErrors> {
        FileDestination::from_config(config)
    }
}

impl FileDestination {
    /// Validates `config` and builds the destination (no I/O until `load`).
    ///
    /// # Errors
    /// Every problem in the config, each at its key.
    pub fn from_config(config: FileDestinationConfig) -> Result<Self, ConfigErrors> {
        config.validate().map(FileDestination::new)
    }
}

dataforge_core::register_destination!(FileDestinationFactory);
