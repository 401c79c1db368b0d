//! `select_columns`: keeps the listed columns, in the listed order.

use compact_str::CompactString;
use dataforge_core::{
    Batch, ComponentError, ConfigErrors, Projection, Record, RowContext, Transform,
    TransformFactory,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::config::Issues;
use crate::error::TransformError;
use crate::rows::{Reach, for_each_row};
use crate::shape::{Reshape, ShapeCache};

/// Config of `select_columns`.
///
/// ```json
/// {"type": "select_columns", "columns": ["id", "email", "total_price"], "strict": false}
/// ```
///
/// The output has the listed columns in the listed order; the others are dropped. A listed
/// column a row lacks is left out of that row, or rejects it with `strict`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectColumnsConfig {
    /// The columns to keep, in output order.
    pub columns: Vec<String>,
    /// Reject rows that lack a listed column (default false).
    #[serde(default)]
    pub strict: bool,
}

/// Registers `select_columns`.
pub struct SelectColumnsFactory;

impl TransformFactory for SelectColumnsFactory {
    const NAME: &'static str = "select_columns";
    const DESCRIPTION: &'static str = "Keeps the listed columns, in the listed order";
    type Config = SelectColumnsConfig;

    fn build(config: Self::Config) -> Result<impl Transform, ConfigErrors> {
        let mut issues = Issues::default();
        issues.columns("columns", &config.columns);
        issues.finish(SelectColumns {
            columns: config.columns.iter().map(CompactString::from).collect(),
            strict: config.strict,
        })
    }
}

dataforge_core::register_transform!(SelectColumnsFactory);

/// The `select_columns` transform.
#[derive(Debug)]
pub struct SelectColumns {
    columns: Vec<CompactString>,
    strict: bool,
}

impl SelectColumns {
    fn select(&self, r: &mut Record) -> Result<(), TransformError> {
        if self.strict
            && let Some(c) = self.columns.iter().find(|c| !r.contains_key(c))
        {
            return Err(TransformError::MissingColumn {
                column: c.to_string(),
            });
        }
        let mut old = std::mem::take(r);
        let mut out = Record::with_capacity(self.columns.len());
        for c in &self.columns {
            if let Some(v) = old.get_mut(c) {
                out.push_unchecked(c.clone(), std::mem::take(v));
            }
        }
        *r = out;
        Ok(())
    }
}

impl Transform for SelectColumns {
    fn transform(&self, batch: Batch, rows: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        let mut plans = ShapeCache::default();
        Ok(for_each_row(batch, rows, Reach::Nested, |r| {
            let plan = plans.get(r.columns(), |c| Reshape::of(c, |p| self.select(p)));
            if plan.apply(r)? {
                return Ok(true);
            }
            self.select(r).map(|()| true)
        }))
    }

    /// Only the listed columns are read (all of them: `strict` checks each is there).
    fn input_projection(&self, _output: &Projection) -> Projection {
        Projection::only(&self.columns)
    }
}

#[cfg(test)]
mod tests {
    use dataforge_core::{Value, record};
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::test_support::{build, build_err, keys, run_one};

    #[test]
    fn parses_example_config() {
        let c: SelectColumnsConfig = serde_json::from_value(
            json!({"columns": ["id", "email", "total_price"], "strict": false}),
        )
        .expect("parses");
        assert_eq!(c.columns, ["id", "email", "total_price"]);
    }

    #[test]
    fn rejects_unknown_field() {
        let e = build_err::<SelectColumnsFactory>(json!({"columns": ["a"], "column": ["b"]}));
        assert!(e.to_string().contains("unknown field `column`"), "{e}");
    }

    #[test]
    fn rejects_empty_and_repeated_columns() {
        let e = build_err::<SelectColumnsFactory>(json!({"columns": []}));
        assert_eq!(e.issues()[0].path, "columns");
        let e = build_err::<SelectColumnsFactory>(json!({"columns": ["a", "b", "a", ""]}));
        let paths: Vec<&str> = e.issues().iter().map(|i| i.path.as_str()).collect();
        assert_eq!(paths, ["columns[2]", "columns[3]"]);
    }

    #[test]
    fn keeps_listed_columns_in_listed_order() {
        let t = build::<SelectColumnsFactory>(json!({"columns": ["c", "ä", "a", "missing"]}))
            .expect("builds");
        let (out, rejected) = run_one(
            &t,
            vec![record! {"a" => 1, "b" => 2, "c" => Value::Null, "ä" => "ü"}],
        );
        assert!(rejected.is_empty());
        assert_eq!(keys(&out[0]), ["c", "ä", "a"]);
        assert_eq!(out[0].get("ä"), Some(&Value::from("ü")));
    }

    #[test]
    fn strict_rejects_rows_missing_a_column() {
        let t = build::<SelectColumnsFactory>(json!({"columns": ["a", "b"], "strict": true}))
            .expect("builds");
        let row = record! {"a" => 1, "c" => 3};
        let (out, rejected) = run_one(&t, vec![row.clone(), record! {"b" => 2, "a" => 1}]);
        assert_eq!(out, vec![record! {"a" => 1, "b" => 2}]);
        assert_eq!(rejected[0].record, row);
        assert_eq!(rejected[0].reason, "column `b` not found");
    }

    proptest! {
        #[test]
        fn never_loses_or_invents_values(
            row in crate::test_support::arb_flat_record(),
            columns in proptest::collection::btree_set("[a-g]{1,2}", 1..6),
        ) {
            let columns: Vec<String> = columns.into_iter().collect();
            let t = build::<SelectColumnsFactory>(json!({"columns": columns})).expect("builds");
            let (out, rejected) = run_one(&t, vec![row.clone()]);
            prop_assert!(rejected.is_empty());
            let r = &out[0];
            let expected: Vec<&String> = columns.iter().filter(|c| row.contains_key(c)).collect();
            prop_assert_eq!(r.len(), expected.len());
            for (c, (k, v)) in expected.iter().zip(r.iter()) {
                prop_assert_eq!(c.as_str(), k.as_str());
                prop_assert_eq!(Some(v), row.get(c));
            }
        }
    }
}
