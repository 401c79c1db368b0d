//! The `markdown_table` destination: writes rows as a Markdown table, atomically.

use std::io::Write;
use std::path::PathBuf;

use dataforge_core::schemars::{self, JsonSchema};
use dataforge_core::{
    BatchReceiver, ComponentError, ConfigErrors, ConfigIssue, Destination, DestinationFactory,
    LoadSummary, RunContext, async_trait,
};
use serde::Deserialize;

/// Config: `{"type": "markdown_table", "path": "out/report.md"}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkdownTableConfig {
    /// The file to write (replaced when the load commits).
    pub path: PathBuf,
}

/// Writes a Markdown table: the header from the first row's columns.
#[derive(Debug)]
pub struct MarkdownTable {
    path: PathBuf,
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[async_trait]
impl Destination for MarkdownTable {
    async fn load(
        &self,
        input: &mut BatchReceiver,
        _ctx: &RunContext,
    ) -> Result<LoadSummary, ComponentError> {
        let mut columns: Vec<String> = Vec::new();
        let mut body = String::new();
        let mut rows = 0u64;
        // Small outputs by nature: a Markdown table is for people to read.
        while let Some(batch) = input.recv().await? {
            for record in batch {
                if columns.is_empty() {
                    columns = record.keys().map(|k| k.to_string()).collect();
                }
                let cells: Vec<String> = columns
                    .iter()
                    .map(|c| {
                        record
                            .get(c)
                            .map(|v| cell(&v.to_string()))
                            .unwrap_or_default()
                    })
                    .collect();
                body.push_str(&format!("| {} |\n", cells.join(" | ")));
                rows += 1;
            }
        }
        let header = format!(
            "| {} |\n|{}\n",
            columns.join(" | "),
            columns.iter().map(|_| "---|").collect::<String>()
        );
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            tmp.write_all(header.as_bytes())?;
            tmp.write_all(body.as_bytes())?;
            tmp.persist(&self.path).map_err(|e| e.error)?;
            Ok(())
        };
        write().map_err(ComponentError::retryable)?;
        Ok(LoadSummary::new(self.path.display().to_string(), rows))
    }
}

/// Registers `markdown_table`.
pub struct MarkdownTableFactory;

impl DestinationFactory for MarkdownTableFactory {
    const NAME: &'static str = "markdown_table";
    const DESCRIPTION: &'static str =
        "Writes rows as a Markdown table (example of a downstream destination)";
    type Config = MarkdownTableConfig;

    fn build(config: MarkdownTableConfig) -> Result<impl Destination, ConfigErrors> {
        if config.path.as_os_str().is_empty() {
            return Err(ConfigIssue::at("path", "must not be empty").into());
        }
        Ok(MarkdownTable { path: config.path })
    }
}
