//! The `sqlite` destination's config.

use std::collections::BTreeMap;
use std::path::PathBuf;

use dataforge_core::schemars::{self, JsonSchema};
use dataforge_core::{ConfigErrors, ConfigIssue};
use serde::Deserialize;

use crate::on_empty::OnEmpty;
use crate::schema::is_safe_type_name;
use crate::target_lock::LockTimeout;
use crate::write_mode::{OneOrMany, WriteMode};

/// `{"type": "sqlite", ...}`: load into a table of a SQLite database file.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqliteConfig {
    /// The database file (created when missing).
    pub path: PathBuf,
    /// The table (created when missing, with inferred column types).
    pub table: String,
    /// `replace`, `append` (default) or `upsert`.
    #[serde(default)]
    pub write_mode: WriteMode,
    /// Key columns: required for `upsert`; also the primary key of a table this creates.
    #[serde(default)]
    pub primary_key: OneOrMany,
    /// Column type overrides for created or added columns: `{"price": "NUMERIC"}`.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// When the source gives no rows: `keep` (default: the table is left as it was),
    /// `replace` (the empty load takes effect: `replace` empties the table) or `fail`.
    #[serde(default)]
    pub on_empty: OnEmpty,
    /// How long a load waits for another run's load into the same database file (seconds or
    /// `"10m"`; default 30 minutes) before it fails naming that run.
    #[serde(default)]
    pub lock_timeout: LockTimeout,
}

impl SqliteConfig {
    /// Checks the config (pure, no I/O), reporting every problem at once.
    ///
    /// # Errors
    /// Each problem at its path.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut issues = Vec::new();
        if self.path.as_os_str().is_empty() {
            issues.push(ConfigIssue::at("path", "must not be empty"));
        }
        if self.table.is_empty() {
            issues.push(ConfigIssue::at("table", "must not be empty"));
        }
        if self.table.contains('\0') {
            issues.push(ConfigIssue::at("table", "must not contain a NUL character"));
        }
        let pk = self.primary_key.to_vec();
        if self.write_mode == WriteMode::Upsert && pk.is_empty() {
            issues.push(ConfigIssue::at(
                "primary_key",
                "required when write_mode is upsert",
            ));
        }
        for (i, k) in pk.iter().enumerate() {
            if k.is_empty() {
                issues.push(ConfigIssue::at(
                    format!("primary_key[{i}]"),
                    "must not be empty",
                ));
            }
        }
        for (name, ty) in &self.columns {
            if !is_safe_type_name(ty) {
                issues.push(ConfigIssue::at(
                    format!("columns.{name}"),
                    format!("`{ty}` is not a plain SQL type name"),
                ));
            }
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(issues))
        }
    }
}
