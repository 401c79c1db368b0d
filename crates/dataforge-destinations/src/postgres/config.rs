//! The `postgres` destination's config.

use std::collections::BTreeMap;

use dataforge_core::schemars::{self, JsonSchema};
use dataforge_core::{ConfigErrors, ConfigIssue};
use serde::Deserialize;

use crate::on_empty::OnEmpty;
use crate::schema::is_safe_type_name;
use crate::target_lock::LockTimeout;
use crate::write_mode::{OneOrMany, WriteMode};

/// `{"type": "postgres", ...}`: load into a PostgreSQL table over binary COPY.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// The connection id (`DATAFORGE_CONN_<ID>` holds its URI).
    #[serde(default = "default_conn_id")]
    pub conn_id: String,
    /// The schema (created when missing, unless `create_schema` is false).
    #[serde(default = "default_schema")]
    pub schema: String,
    /// The table (created when missing, with inferred column types).
    pub table: String,
    /// `replace`, `append` (default) or `upsert`.
    #[serde(default)]
    pub write_mode: WriteMode,
    /// Key columns: required for `upsert`; also the primary key of a table this creates.
    #[serde(default)]
    pub primary_key: OneOrMany,
    /// Column type overrides for created or added columns: `{"total_price": "NUMERIC(12,2)"}`.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// SQL run in the load's transaction before the rows are written.
    #[serde(default)]
    pub pre_sql: OneOrMany,
    /// SQL run in the load's transaction after the rows are written, before commit.
    #[serde(default)]
    pub post_sql: OneOrMany,
    /// Create the schema when it is missing (default true).
    #[serde(default = "yes")]
    pub create_schema: bool,
    /// When the source gives no rows: `keep` (default: the table is left as it was),
    /// `replace` (the empty load takes effect: `replace` empties the table) or `fail`.
    #[serde(default)]
    pub on_empty: OnEmpty,
    /// How long a load waits for another run's load into the same table (seconds or `"10m"`;
    /// default 30 minutes) before it fails naming that run.
    #[serde(default)]
    pub lock_timeout: LockTimeout,
}

fn default_conn_id() -> String {
    "postgres_default".into()
}
fn default_schema() -> String {
    "public".into()
}
fn yes() -> bool {
    true
}

/// PostgreSQL truncates identifiers longer than this many bytes.
const MAX_IDENTIFIER: usize = 63;

fn check_identifier(path: &str, name: &str, issues: &mut Vec<ConfigIssue>) {
    if name.is_empty() {
        issues.push(ConfigIssue::at(path, "must not be empty"));
    } else if name.contains('\0') {
        issues.push(ConfigIssue::at(path, "must not contain a NUL character"));
    } else if name.len() > MAX_IDENTIFIER {
        issues.push(ConfigIssue::at(
            path,
            format!(
                "is {} bytes long; PostgreSQL identifiers are at most 63",
                name.len()
            ),
        ));
    }
}

impl PostgresConfig {
    /// Checks the config (pure, no I/O), reporting every problem at once.
    ///
    /// # Errors
    /// Each problem at its path (`primary_key`, `columns.total_price`, ...).
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut issues = Vec::new();
        check_identifier("table", &self.table, &mut issues);
        check_identifier("schema", &self.schema, &mut issues);
        if self.conn_id.is_empty() {
            issues.push(ConfigIssue::at("conn_id", "must not be empty"));
        }
        let pk = self.primary_key.to_vec();
        if self.write_mode == WriteMode::Upsert && pk.is_empty() {
            issues.push(ConfigIssue::at(
                "primary_key",
                "required when write_mode is upsert",
            ));
        }
        for (i, k) in pk.iter().enumerate() {
            check_identifier(&format!("primary_key[{i}]"), k, &mut issues);
            if pk[..i].contains(k) {
                issues.push(ConfigIssue::at(
                    format!("primary_key[{i}]"),
                    format!("`{k}` is listed twice"),
                ));
            }
        }
        for (name, ty) in &self.columns {
            if !is_safe_type_name(ty) {
                issues.push(ConfigIssue::at(
                    format!("columns.{name}"),
                    format!(
                        "`{ty}` is not a plain SQL type name (letters, digits, spaces, and ( ) , . [ ] only)"
                    ),
                ));
            }
            check_identifier(&format!("columns.{name}"), name, &mut issues);
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(issues))
        }
    }
}
