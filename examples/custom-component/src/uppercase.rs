//! The `uppercase` transform: upper-cases string columns.

use dataforge_core::schemars::{self, JsonSchema};
use dataforge_core::{
    Batch, ComponentError, ConfigErrors, ConfigIssue, RowContext, Transform, TransformFactory,
    Value,
};
use serde::Deserialize;

/// Config: `{"type": "uppercase", "columns": ["name"]}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UppercaseConfig {
    /// The columns to upper-case; other value types are rejected rows.
    pub columns: Vec<String>,
}

/// Upper-cases the configured columns.
#[derive(Debug)]
pub struct Uppercase {
    columns: Vec<String>,
}

impl Transform for Uppercase {
    fn transform(&self, batch: Batch, rows: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        let mut out = Vec::with_capacity(batch.len());
        'rows: for mut record in batch {
            for column in &self.columns {
                match record.get_mut(column) {
                    Some(Value::String(s)) => *s = s.to_uppercase(),
                    Some(Value::Null) | None => {}
                    Some(other) => {
                        let reason =
                            format!("column `{column}` is {}, not a string", other.type_name());
                        rows.reject(record, reason);
                        continue 'rows;
                    }
                }
            }
            out.push(record);
        }
        Ok(out)
    }
}

/// Registers `uppercase`.
pub struct UppercaseFactory;

impl TransformFactory for UppercaseFactory {
    const NAME: &'static str = "uppercase";
    const DESCRIPTION: &'static str =
        "Upper-cases string columns (example of a downstream transform)";
    type Config = UppercaseConfig;

    fn build(config: UppercaseConfig) -> Result<impl Transform, ConfigErrors> {
        if config.columns.is_empty() {
            return Err(ConfigIssue::at("columns", "name at least one column").into());
        }
        Ok(Uppercase {
            columns: config.columns,
        })
    }
}
