//! The `file` source's config: the keys users write in pipeline files.

use std::path::Path;

use dataforge_core::{ConfigErrors, ConfigIssue};
use schemars::JsonSchema;
use serde::Deserialize;

/// Config of the `file` source.
///
/// ```json
/// {"type": "file", "path": "data/orders-*.jsonl", "format": "jsonl"}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// A file, or a glob pattern (`data/*.csv`) whose matches are read in sorted order.
    pub path: String,
    /// `jsonl`, `json` (one array of objects) or `csv`; default from the extension
    /// (`.jsonl`/`.ndjson`, `.json`, `.csv`).
    #[serde(default)]
    pub format: Option<FileFormat>,
    /// CSV field delimiter: one ASCII character (default `,`).
    #[serde(default)]
    pub delimiter: Option<String>,
    /// CSV: whether the first row names the columns (default true); without it columns are
    /// `column_1`, `column_2`, …
    #[serde(default)]
    pub has_header: Option<bool>,
}

/// The formats the `file` source reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// One JSON object per line (blank lines skipped).
    Jsonl,
    /// One JSON array of objects, read element by element.
    Json,
    /// Comma-separated values; every value is a string (use `cast` for types).
    Csv,
}

impl FileFormat {
    /// The format implied by a path's extension, if known.
    pub fn from_extension(path: &str) -> Option<Self> {
        let ext = Path::new(path).extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" => Some(Self::Jsonl),
            "json" => Some(Self::Json),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }
}

/// CSV options, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CsvOptions {
    pub(crate) delimiter: u8,
    pub(crate) has_header: bool,
}

/// A validated config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) path: String,
    pub(crate) format: FileFormat,
    pub(crate) csv: CsvOptions,
}

impl FileSourceConfig {
    /// Checks the config and resolves defaults; every problem is reported.
    pub(crate) fn validate(self) -> Result<Settings, ConfigErrors> {
        let mut issues = Vec::new();
        if self.path.trim().is_empty() {
            issues.push(ConfigIssue::at("path", "must not be empty"));
        }
        let format = self
            .format
            .or_else(|| FileFormat::from_extension(&self.path));
        if format.is_none() && !self.path.trim().is_empty() {
            issues.push(ConfigIssue::at(
                "format",
                format!(
                    "cannot tell the format of `{}` from its extension: set `format` to \
                     `jsonl`, `json` or `csv`",
                    self.path
                ),
            ));
        }
        let mut delimiter = b',';
        if let Some(d) = &self.delimiter {
            match d.as_bytes() {
                [b] if b.is_ascii() => delimiter = *b,
                _ => issues.push(ConfigIssue::at(
                    "delimiter",
                    format!("must be exactly one ASCII character, found `{d}`"),
                )),
            }
        }
        if let Some(f) = format.filter(|f| *f != FileFormat::Csv) {
            let name = match f {
                FileFormat::Jsonl => "jsonl",
                _ => "json",
            };
            for (key, set) in [
                ("delimiter", self.delimiter.is_some()),
                ("has_header", self.has_header.is_some()),
            ] {
                if set {
                    issues.push(ConfigIssue::at(
                        key,
                        format!("applies only to the `csv` format, not `{name}`"),
                    ));
                }
            }
        }
        match format {
            Some(format) if issues.is_empty() => Ok(Settings {
                path: self.path,
                format,
                csv: CsvOptions {
                    delimiter,
                    has_header: self.has_header.unwrap_or(true),
                },
            }),
            _ => Err(ConfigErrors(issues)),
        }
    }
}
