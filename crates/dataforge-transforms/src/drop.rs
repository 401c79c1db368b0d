//! `drop_columns`: removes the listed columns.

use compact_str::CompactString;
use dataforge_core::{
    Batch, ComponentError, ConfigErrors, Projection, Record, RowContext, Transform,
    TransformFactory,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::config::Issues;
use crate::shape::{Reshape, ShapeCache};

/// Config of `drop_columns`.
///
/// ```json
/// {"type": "drop_columns", "columns": ["email", "customer_email"]}
/// ```
///
/// A listed column a row lacks is ignored; the other columns keep their order.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DropColumnsConfig {
    /// The columns to remove.
    pub columns: Vec<String>,
}

/// Registers `drop_columns`.
pub struct DropColumnsFactory;

impl TransformFactory for DropColumnsFactory {
    const NAME: &'static str = "drop_columns";
    const DESCRIPTION: &'static str = "Removes the listed columns";
    type Config = DropColumnsConfig;

    fn build(config: Self::Config) -> Result<impl Transform, ConfigErrors> {
        let mut issues = Issues::default();
        issues.columns("columns", &config.columns);
        issues.finish(DropColumns {
            columns: config.columns.iter().map(CompactString::from).collect(),
        })
    }
}

dataforge_core::register_transform!(DropColumnsFactory);

/// The `drop_columns` transform.
#[derive(Debug)]
pub struct DropColumns {
    columns: Vec<CompactString>,
}

impl DropColumns {
    fn drop_from(&self, r: &mut Record) {
        r.retain(|k, _| !self.columns.iter().any(|c| c == k));
    }
}

impl Transform for DropColumns {
    fn transform(
        &self,
        mut batch: Batch,
        _rows: &mut RowContext<'_>,
    ) -> Result<Batch, ComponentError> {
        let mut plans = ShapeCache::default();
        for r in &mut batch {
            let plan = plans.get(r.columns(), |c| {
                Reshape::of(c, |p| {
                    self.drop_from(p);
                    Ok(())
                })
            });
            // Dropping rejects nothing: the plan either applies or leaves the row to the loop.
            if !plan.apply(r).unwrap_or(false) {
                self.drop_from(r);
            }
        }
        Ok(batch)
    }

    /// The dropped columns are never read.
    fn input_projection(&self, output: &Projection) -> Projection {
        output.clone().without(&self.columns)
    }
}

#[cfg(test)]
mod tests {
    use dataforge_core::{Value, record};
    use serde_json::json;

    use super::*;
    use crate::test_support::{build, build_err, keys, run_one};

    #[test]
    fn parses_example_config() {
        let c: DropColumnsConfig =
            serde_json::from_value(json!({"columns": ["email", "customer_email"]}))
                .expect("parses");
        assert_eq!(c.columns, ["email", "customer_email"]);
    }

    #[test]
    fn rejects_unknown_field() {
        let e = build_err::<DropColumnsFactory>(json!({"columns": ["a"], "strict": true}));
        assert!(e.to_string().contains("unknown field `strict`"), "{e}");
        let e = build_err::<DropColumnsFactory>(json!({"columns": []}));
        assert_eq!(e.issues()[0].path, "columns");
    }

    #[test]
    fn removes_listed_columns_and_keeps_order() {
        let t =
            build::<DropColumnsFactory>(json!({"columns": ["b", "ñ", "missing"]})).expect("builds");
        let (out, rejected) = run_one(
            &t,
            vec![
                record! {"a" => 1, "b" => 2, "ñ" => Value::Null, "c" => 3},
                record! {},
            ],
        );
        assert!(rejected.is_empty());
        assert_eq!(keys(&out[0]), ["a", "c"]);
        assert!(out[1].is_empty());
    }
}
