//! `add_column`: a computed (CEL) or constant column.

use compact_str::CompactString;
use dataforge_core::{
    Batch, Columns, ComponentError, ConfigErrors, Projection, Record, RowContext, Transform,
    TransformFactory, Value,
};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

use crate::config::Issues;
use crate::expr::{Expression, Lookup, RunVars};
use crate::rows::{Reach, for_each_row};
use crate::shape::ShapeCache;

/// Config of `add_column`: `name` and exactly one of `expr` or `value`.
///
/// ```json
/// {"type": "add_column", "name": "loaded_by_run", "expr": "run.id"}
/// ```
/// ```json
/// {"type": "add_column", "name": "source_system", "value": "shopify"}
/// ```
///
/// `expr` is a CEL expression evaluated per row (`total_price * 1.2`, `run.logical_date`,
/// `first_name + " " + last_name`); an evaluation error rejects the row. `value` is any JSON
/// value, null included. A column that exists is replaced in place; a new one is appended.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddColumnConfig {
    /// The column to set.
    pub name: String,
    /// A CEL expression computing the value.
    #[serde(default)]
    pub expr: Option<String>,
    /// A constant value.
    #[serde(default, deserialize_with = "present")]
    pub value: Option<serde_json::Value>,
}

/// `Some` whenever the key is there, `null` included.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

/// Registers `add_column`.
pub struct AddColumnFactory;

impl TransformFactory for AddColumnFactory {
    const NAME: &'static str = "add_column";
    const DESCRIPTION: &'static str = "Adds a column computed by a CEL expression, or a constant";
    type Config = AddColumnConfig;

    fn build(config: Self::Config) -> Result<impl Transform, ConfigErrors> {
        let mut issues = Issues::default();
        if config.name.is_empty() {
            issues.push("name", "must not be empty");
        }
        let source = match (config.expr, config.value) {
            (Some(e), None) => match Expression::compile(&e) {
                Ok(expr) => Some(Source::Expr(expr)),
                Err(m) => {
                    issues.push("expr", m);
                    None
                }
            },
            (None, Some(v)) => Some(Source::Value(Value::from(v))),
            (Some(_), Some(_)) => {
                issues.push("", "give either `expr` or `value`, not both");
                None
            }
            (None, None) => {
                issues.push("", "give `expr` (a CEL expression) or `value` (a constant)");
                None
            }
        };
        let name = CompactString::from(config.name);
        issues.finish(())?;
        match source {
            Some(source) => Ok(AddColumn { name, source }),
            None => Err(ConfigErrors::default()),
        }
    }
}

dataforge_core::register_transform!(AddColumnFactory);

#[derive(Debug)]
enum Source {
    Expr(Expression),
    Value(Value),
}

/// The `add_column` transform.
#[derive(Debug)]
pub struct AddColumn {
    name: CompactString,
    source: Source,
}

/// Where the new column goes in rows of one shape.
enum Place {
    /// It replaces the column of that name, here.
    At(usize),
    /// It is appended; these columns name the row then.
    Append(Columns),
}

impl AddColumn {
    fn place(&self, columns: &Columns) -> Place {
        match columns.position(&self.name) {
            Some(i) => Place::At(i),
            None => {
                let mut names = columns.as_slice().to_vec();
                names.push(self.name.clone());
                Place::Append(Columns::new(names))
            }
        }
    }

    fn set(&self, r: &mut Record, place: &Place, v: Value) {
        let v = match place {
            Place::At(i) => match r.values_mut().get_mut(*i) {
                Some(slot) => {
                    *slot = v;
                    return;
                }
                None => v,
            },
            Place::Append(columns) => match r.push_with_columns(columns, v) {
                Ok(()) => return,
                Err(v) => v,
            },
        };
        // Only when the place does not fit the row, which its shape rules out.
        r.insert(self.name.clone(), v);
    }
}

impl Transform for AddColumn {
    fn transform(&self, batch: Batch, rows: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        let mut plans = ShapeCache::default();
        match &self.source {
            Source::Value(v) => {
                let mut batch = batch;
                for r in &mut batch {
                    let place = plans.get(r.columns(), |c| self.place(c));
                    self.set(r, place, v.clone());
                }
                Ok(batch)
            }
            Source::Expr(e) => {
                let ctx = rows.run();
                let vars = RunVars::new(ctx);
                let mut lookup = Lookup::default();
                Ok(for_each_row(batch, rows, Reach::Columns, |r| {
                    let v = e.eval_with(r, &vars, Some(&mut lookup))?;
                    let place = plans.get(r.columns(), |c| self.place(c));
                    self.set(r, place, v);
                    Ok(true)
                }))
            }
        }
    }

    /// `output` and the columns the expression reads (every field when it uses `row` whole).
    fn input_projection(&self, output: &Projection) -> Projection {
        // The column set is read when `output` reads it: whether it is there decides where
        // it goes (in place, or appended). When the rest of the chain does not read it, its
        // place matters to nobody.
        match &self.source {
            Source::Value(_) => output.clone(),
            Source::Expr(e) => match e.columns() {
                Some(columns) => output.clone().with(&columns),
                None => Projection::All,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use dataforge_core::record;
    use serde_json::json;

    use super::*;
    use crate::test_support::{build, build_err, keys, run_one};

    #[test]
    fn parses_example_config() {
        let c: AddColumnConfig =
            serde_json::from_value(json!({"name": "loaded_by_run", "expr": "run.id"}))
                .expect("parses");
        assert_eq!(c.expr.as_deref(), Some("run.id"));
        let c: AddColumnConfig =
            serde_json::from_value(json!({"name": "x", "value": null})).expect("parses");
        assert_eq!(c.value, Some(serde_json::Value::Null));
    }

    #[test]
    fn rejects_unknown_field() {
        let e = build_err::<AddColumnFactory>(json!({"name": "a", "value": 1, "default": 2}));
        assert!(e.to_string().contains("unknown field `default`"), "{e}");
    }

    #[test]
    fn needs_exactly_one_of_expr_and_value() {
        let e = build_err::<AddColumnFactory>(json!({"name": "a"}));
        assert!(e.to_string().contains("give `expr`"), "{e}");
        let e = build_err::<AddColumnFactory>(json!({"name": "a", "expr": "1", "value": 1}));
        assert!(e.to_string().contains("not both"), "{e}");
        let e = build_err::<AddColumnFactory>(json!({"name": "a", "expr": "1 +"}));
        assert_eq!(e.issues()[0].path, "expr");
    }

    #[test]
    fn constants_including_null_and_nested() {
        let t = build::<AddColumnFactory>(
            json!({"name": "src", "value": {"sys": "shopify", "v": [1]}}),
        )
        .expect("builds");
        let (out, _) = run_one(&t, vec![record! {"a" => 1}]);
        assert_eq!(
            out[0].to_json(),
            json!({"a": 1, "src": {"sys": "shopify", "v": [1]}})
        );
        let t = build::<AddColumnFactory>(json!({"name": "a", "value": null})).expect("builds");
        let (out, _) = run_one(&t, vec![record! {"a" => 1, "b" => 2}]);
        assert_eq!(out[0], record! {"a" => Value::Null, "b" => 2});
    }

    #[test]
    fn computed_from_columns_and_run() {
        let t = build::<AddColumnFactory>(
            json!({"name": "label", "expr": "first + \" \" + last + \" @ \" + run.id"}),
        )
        .expect("builds");
        let (out, rejected) = run_one(
            &t,
            vec![record! {"first" => "Zoë", "last" => "Łukasiewicz"}],
        );
        assert!(rejected.is_empty());
        assert_eq!(
            out[0].get("label"),
            Some(&Value::from("Zoë Łukasiewicz @ run-1"))
        );
        assert_eq!(keys(&out[0]), ["first", "last", "label"]);
        let t = build::<AddColumnFactory>(json!({"name": "loaded_at", "expr": "run.logical_date"}))
            .expect("builds");
        let (out, _) = run_one(&t, vec![record! {}]);
        assert_eq!(
            out[0].get("loaded_at").map(ToString::to_string).as_deref(),
            Some("2026-03-04T05:06:07Z")
        );
    }

    #[test]
    fn replaces_in_place_and_rejects_on_errors() {
        let t = build::<AddColumnFactory>(json!({"name": "price", "expr": "price * 2"}))
            .expect("builds");
        let (out, rejected) = run_one(
            &t,
            vec![
                record! {"price" => 2, "x" => 1},
                record! {"price" => "2"},
                record! {"price" => i64::MAX},
            ],
        );
        assert_eq!(out, vec![record! {"price" => 4, "x" => 1}]);
        assert_eq!(rejected.len(), 2);
        assert_eq!(rejected[0].record, record! {"price" => "2"});
        assert_eq!(rejected[1].record, record! {"price" => i64::MAX});
    }

    #[test]
    fn reads_what_follows_reads_and_the_columns_of_its_expression() {
        let t = build::<AddColumnFactory>(json!({"name": "twice", "expr": "price * 2"}))
            .expect("builds");
        assert_eq!(t.input_projection(&Projection::All), Projection::All);
        assert_eq!(
            t.input_projection(&Projection::only(["twice", "id"])),
            Projection::only(["id", "price", "twice"]),
            "`twice` is read: where it goes depends on whether it is there"
        );
        assert_eq!(
            t.input_projection(&Projection::All.without(["price", "twice"])),
            Projection::All.without(["twice"])
        );
        let t =
            build::<AddColumnFactory>(json!({"name": "src", "value": "shopify"})).expect("builds");
        assert_eq!(
            t.input_projection(&Projection::only(["id"])),
            Projection::only(["id"])
        );
        assert_eq!(
            t.input_projection(&Projection::All.without(["src"])),
            Projection::All.without(["src"])
        );
        let t =
            build::<AddColumnFactory>(json!({"name": "n", "expr": "size(row)"})).expect("builds");
        assert_eq!(
            t.input_projection(&Projection::only(["n"])),
            Projection::All
        );
    }
}
