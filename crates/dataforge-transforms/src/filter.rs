//! `filter`: keeps the rows for which a CEL expression is true.

use dataforge_core::{
    Batch, ComponentError, ConfigErrors, ConfigIssue, Projection, RowContext, Transform,
    TransformFactory,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::expr::{Expression, Lookup, RunVars};
use crate::rows::{Reach, for_each_row};

/// Config of `filter`.
///
/// ```json
/// {"type": "filter", "expr": "financial_status == \"paid\" && total_price > 100.0"}
/// ```
///
/// `expr` is a [CEL](https://cel.dev) expression over the row's columns (see the crate docs for
/// the names it sees). Rows where it is `true` are kept, rows where it is `false` are dropped
/// (not rejected). A result that is not a boolean, or an error while evaluating (a missing
/// column, comparing a string with a number), rejects the row.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    /// The condition, in CEL.
    pub expr: String,
}

/// Registers `filter`.
pub struct FilterFactory;

impl TransformFactory for FilterFactory {
    const NAME: &'static str = "filter";
    const DESCRIPTION: &'static str = "Keeps the rows where a CEL expression is true";
    type Config = FilterConfig;

    fn build(config: Self::Config) -> Result<impl Transform, ConfigErrors> {
        let expr = Expression::compile(&config.expr).map_err(|m| ConfigIssue::at("expr", m))?;
        Ok(Filter { expr })
    }
}

dataforge_core::register_transform!(FilterFactory);

/// The `filter` transform.
#[derive(Debug)]
pub struct Filter {
    expr: Expression,
}

impl Transform for Filter {
    fn transform(&self, batch: Batch, rows: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        let ctx = rows.run();
        let vars = RunVars::new(ctx);
        let mut lookup = Lookup::default();
        Ok(for_each_row(batch, rows, Reach::Nested, |r| {
            self.expr.eval_bool_with(r, &vars, Some(&mut lookup))
        }))
    }

    /// Reads the columns the expression reads besides `output`; every field when it uses `row`
    /// as a whole.
    fn input_projection(&self, output: &Projection) -> Projection {
        match self.expr.columns() {
            Some(columns) => output.clone().with(&columns),
            None => Projection::All,
        }
    }
}

#[cfg(test)]
mod tests {
    use dataforge_core::{Value, record};
    use serde_json::json;

    use super::*;
    use crate::test_support::{build, build_err, run_one};

    #[test]
    fn parses_example_config() {
        let c: FilterConfig = serde_json::from_value(
            json!({"expr": "financial_status == \"paid\" && total_price > 100.0"}),
        )
        .expect("parses");
        assert!(c.expr.contains("paid"));
    }

    #[test]
    fn rejects_unknown_field() {
        let e = build_err::<FilterFactory>(json!({"expr": "true", "expression": "x"}));
        assert!(e.to_string().contains("unknown field `expression`"), "{e}");
    }

    #[test]
    fn a_syntax_error_is_a_config_error_at_expr() {
        let e = build_err::<FilterFactory>(json!({"expr": "total_price >"}));
        assert_eq!(e.issues()[0].path, "expr");
        assert!(
            e.issues()[0].message.starts_with("invalid expression"),
            "{e}"
        );
    }

    #[test]
    fn keeps_paid_orders_over_100() {
        let t = build::<FilterFactory>(
            json!({"expr": "financial_status == \"paid\" && total_price > 100.0"}),
        )
        .expect("builds");
        let rows = vec![
            record! {"id" => 1, "financial_status" => "paid", "total_price" => 100.5},
            record! {"id" => 2, "financial_status" => "paid", "total_price" => 100.0},
            record! {"id" => 3, "financial_status" => "pending", "total_price" => 900.0},
            record! {"id" => 4, "financial_status" => "paid", "total_price" => 250},
        ];
        let (out, rejected) = run_one(&t, rows);
        assert!(rejected.is_empty());
        let ids: Vec<_> = out
            .iter()
            .filter_map(|r| r.get("id").and_then(Value::as_i64))
            .collect();
        assert_eq!(ids, [1, 4]);
    }

    #[test]
    fn type_errors_missing_columns_and_non_booleans_reject_rows() {
        let t = build::<FilterFactory>(json!({"expr": "total_price > 100.0"})).expect("builds");
        let (out, rejected) = run_one(
            &t,
            vec![
                record! {"total_price" => "12.50"},
                record! {"other" => 1},
                record! {"total_price" => Value::Null},
                record! {"total_price" => 101.0},
            ],
        );
        assert_eq!(out.len(), 1);
        assert_eq!(rejected.len(), 3);
        assert!(
            rejected[0].reason.starts_with("expression failed"),
            "{}",
            rejected[0].reason
        );
        assert_eq!(rejected[1].reason, "column `total_price` not found");
        assert_eq!(rejected[1].record, record! {"other" => 1});
        let t = build::<FilterFactory>(json!({"expr": "name"})).expect("builds");
        let (_, rejected) = run_one(&t, vec![record! {"name" => "Zoë"}]);
        assert_eq!(
            rejected[0].reason,
            "filter expression returned string, expected a boolean"
        );
    }

    #[test]
    fn unicode_and_run_variables() {
        let t = build::<FilterFactory>(
            json!({"expr": "name.startsWith(\"Zo\") && run.ds == \"2026-03-04\""}),
        )
        .expect("builds");
        let (out, _) = run_one(
            &t,
            vec![record! {"name" => "Zoë"}, record! {"name" => "Ada"}],
        );
        assert_eq!(out, vec![record! {"name" => "Zoë"}]);
    }

    #[test]
    fn reads_the_columns_of_its_expression() {
        let t = build::<FilterFactory>(json!({"expr": "total > 1.0 && has(row.discount)"}))
            .expect("builds");
        assert_eq!(t.input_projection(&Projection::All), Projection::All);
        assert_eq!(
            t.input_projection(&Projection::only(["id"])),
            Projection::only(["discount", "id", "row.discount", "total"])
        );
        assert_eq!(
            t.input_projection(&Projection::All.without(["total", "x"])),
            Projection::All.without(["x"])
        );
        let t = build::<FilterFactory>(json!({"expr": "size(row) > 2"})).expect("builds");
        assert_eq!(
            t.input_projection(&Projection::only(["id"])),
            Projection::All
        );
    }
}
