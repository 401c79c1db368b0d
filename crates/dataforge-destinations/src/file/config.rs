//! The `file` destination's config: the keys users write in pipeline files.

use std::path::{Path, PathBuf};

use dataforge_core::{ConfigErrors, ConfigIssue};

use crate::on_empty::OnEmpty;
use crate::target_lock::LockTimeout;
use schemars::JsonSchema;
use serde::Deserialize;

/// Config of the `file` destination.
///
/// ```json
/// {"type": "file", "path": "out/orders.csv", "write_mode": "replace"}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileDestinationConfig {
    /// The file to write; its directory is created if missing.
    pub path: String,
    /// `jsonl` or `csv`; default from the extension (`.jsonl`/`.ndjson`, `.csv`).
    #[serde(default)]
    pub format: Option<OutputFormat>,
    /// CSV field delimiter: one ASCII character (default `,`), e.g. `;` or `\t`.
    #[serde(default)]
    pub delimiter: Option<String>,
    /// `replace` (default: a temporary file renamed over the target on success) or `append`
    /// (truncated back to its old length on failure).
    #[serde(default)]
    pub write_mode: WriteMode,
    /// When the source gives no rows: `keep` (default: the file is left as it was, or not
    /// created), `replace` (the empty load takes effect: `replace` writes an empty file) or
    /// `fail`.
    #[serde(default)]
    pub on_empty: OnEmpty,
    /// How long a load waits for another run's load into the same file (seconds or `"10m"`;
    /// default 30 minutes) before it fails naming that run.
    #[serde(default)]
    pub lock_timeout: LockTimeout,
}

/// The formats the `file` destination writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header row.
    Csv,
}

impl OutputFormat {
    /// The format implied by a path's extension, if known.
    pub fn from_extension(path: &str) -> Option<Self> {
        let ext = Path::new(path).extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" => Some(Self::Jsonl),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }
}

/// What happens to an existing file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WriteMode {
    /// Write a new file and swap it in only when the load succeeds.
    #[default]
    Replace,
    /// Add to the end; on failure the file is cut back to its old length.
    Append,
}

/// A validated config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) path: PathBuf,
    pub(crate) format: OutputFormat,
    /// The CSV field delimiter.
    pub(crate) delimiter: u8,
    pub(crate) write_mode: WriteMode,
    pub(crate) on_empty: OnEmpty,
    pub(crate) lock_timeout: std::time::Duration,
}

impl FileDestinationConfig {
    /// Checks the config and resolves defaults; every problem is reported.
    pub(crate) fn validate(self) -> Result<Settings, ConfigErrors> {
        if self.path.trim().is_empty() {
            return Err(ConfigIssue::at("path", "must not be empty").into());
        }
        let Some(format) = self
            .format
            .or_else(|| OutputFormat::from_extension(&self.path))
        else {
            return Err(ConfigIssue::at(
                "format",
                format!(
                    "cannot tell the format of `{}` from its extension: set `format` to \
                     `jsonl` or `csv`",
                    self.path
                ),
            )
            .into());
        };
        let delimiter = match (self.delimiter.as_deref().map(str::as_bytes), format) {
            (None, _) => b',',
            (Some(_), OutputFormat::Jsonl) => {
                return Err(
                    ConfigIssue::at("delimiter", "applies only to the `csv` format").into(),
                );
            }
            (Some([b]), OutputFormat::Csv)
                if b.is_ascii() && !matches!(b, b'"' | b'\n' | b'\r') =>
            {
                *b
            }
            (Some(_), OutputFormat::Csv) => {
                return Err(ConfigIssue::at(
                    "delimiter",
                    format!(
                        "must be exactly one ASCII character other than a quote or a line break, \
                         found `{}`",
                        self.delimiter.unwrap_or_default().escape_debug()
                    ),
                )
                .into());
            }
        };
        Ok(Settings {
            path: PathBuf::from(self.path),
            format,
            delimiter,
            write_mode: self.write_mode,
            on_empty: self.on_empty,
            lock_timeout: self.lock_timeout.0,
        })
    }
}
