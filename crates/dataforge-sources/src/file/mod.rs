//! The `file` source: JSONL, JSON array or CSV, from one path or a glob.
//!
//! ```json
//! {"type": "file", "path": "data/orders-*.jsonl"}
//! ```
//! - `path`: a file, or a glob (`*`, `?`, `[...]`) whose matches are read in sorted order;
//!   a glob that matches nothing and a missing file are errors naming them.
//! - `format`: `jsonl`, `json` or `csv`; default from the extension (`.jsonl`/`.ndjson`,
//!   `.json`, `.csv`); an unknown extension without `format` is a config error.
//! - `delimiter` (CSV, one ASCII character, default `,`) and `has_header` (CSV, default true;
//!   without a header the columns are `column_1`, `column_2`, …).
//!
//! Files are streamed, never read whole: JSONL line by line and a JSON array element by element
//! (both parsed by the runner's workers, in parallel, order kept), CSV row by row. CSV values
//! are strings (an empty cell is an empty string); give them types with a `cast` transform.
//! Errors name the file and line.

mod config;
mod csv;
mod error;
mod json_array;
mod json_chunks;
mod jsonl;
mod source;
#[cfg(test)]
mod tests;

use dataforge_core::{ConfigErrors, Source, SourceFactory};

pub use config::{FileFormat, FileSourceConfig};
pub use error::FileSourceError;
pub use source::FileSource;

/// Registers the `file` source.
pub struct FileSourceFactory;

impl SourceFactory for FileSourceFactory {
    const NAME: &'static str = "file";
    const DESCRIPTION: &'static str = "Reads JSONL, JSON-array or CSV files (a path or a glob)";
    type Config = FileSourceConfig;

    fn build(config: FileSourceConfig) -> Result<impl Source, ConfigErrors> {
        FileSource::from_config(config)
    }
}

impl FileSource {
    /// Validates `config` and builds the source (no I/O: files are opened by `extract`).
    ///
    /// # Errors
    /// Every problem in the config, each at its key.
    pub fn from_config(config: FileSourceConfig) -> Result<Self, ConfigErrors> {
        config.validate().map(FileSource::new)
    }
}

dataforge_core::register_source!(FileSourceFactory);
