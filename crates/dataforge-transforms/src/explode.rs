//! `explode`: one row per element of an array column.

use compact_str::CompactString;
use dataforge_core::{
    Batch, ComponentError, ConfigErrors, Projection, Record, RowContext, Transform,
    TransformFactory, Value,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::config::Issues;
use crate::error::TransformError;

/// Config of `explode`.
///
/// ```json
/// {"type": "explode", "field": "line_items", "prefix": "item_"}
/// ```
///
/// An order with three `line_items` becomes three rows, each with the order's other columns.
/// An element that is an object puts its fields in place of the array, named `prefix` + key
/// (the prefix defaults to `field` + `_`: `line_items_sku`); any other element takes the array
/// column's place under its name. A row whose array is empty or null, or that lacks the column,
/// is kept as one row with the column null. A value that is not an array rejects the row, and so
/// does an element field whose name is already a column.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplodeConfig {
    /// The array column.
    pub field: String,
    /// Prefix of the columns taken from object elements (default `<field>_`; may be empty).
    #[serde(default)]
    pub prefix: Option<String>,
}

/// Registers `explode`.
pub struct ExplodeFactory;

impl TransformFactory for ExplodeFactory {
    const NAME: &'static str = "explode";
    const DESCRIPTION: &'static str =
        "One row per element of an array column (e.g. order line items)";
    type Config = ExplodeConfig;

    fn build(config: Self::Config) -> Result<impl Transform, ConfigErrors> {
        let mut issues = Issues::default();
        if config.field.is_empty() {
            issues.push("field", "must name a column");
        }
        let prefix = config
            .prefix
            .unwrap_or_else(|| format!("{}_", config.field));
        issues.finish(Explode {
            field: config.field.into(),
            prefix,
        })
    }
}

dataforge_core::register_transform!(ExplodeFactory);

/// The `explode` transform.
#[derive(Debug)]
pub struct Explode {
    field: CompactString,
    prefix: String,
}

impl Explode {
    fn name(&self, key: &str) -> CompactString {
        let mut n = CompactString::with_capacity(self.prefix.len() + key.len());
        n.push_str(&self.prefix);
        n.push_str(key);
        n
    }

    fn check(&self, r: &Record, items: &[Value]) -> Result<(), TransformError> {
        for item in items {
            let Value::Object(o) = item else { continue };
            for (k, _) in o.iter() {
                let name = self.name(k);
                if name != self.field && r.contains_key(&name) {
                    return Err(TransformError::ColumnExists {
                        column: name.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    fn explode_row(&self, mut r: Record, out: &mut Batch, rows: &mut RowContext<'_>) {
        let items = match r.get(&self.field) {
            None => {
                out.push(r);
                return;
            }
            Some(Value::Null) => {
                out.push(r);
                return;
            }
            Some(Value::Array(items)) if items.is_empty() => {
                r.insert(self.field.clone(), Value::Null);
                out.push(r);
                return;
            }
            Some(Value::Array(items)) => items,
            Some(other) => {
                let found = other.type_name();
                rows.reject(
                    r,
                    TransformError::WrongType {
                        column: self.field.to_string(),
                        found,
                        expected: "an array",
                    },
                );
                return;
            }
        };
        if let Err(e) = self.check(&r, items) {
            rows.reject(r, e);
            return;
        }
        let Some(Value::Array(items)) = r.get_mut(&self.field).map(std::mem::take) else {
            return;
        };
        for item in items {
            let mut row = Record::with_capacity(r.len() + 4);
            for (k, v) in r.iter() {
                if *k != self.field {
                    row.push_unchecked(k.clone(), v.clone());
                    continue;
                }
                match &item {
                    Value::Object(o) => {
                        for (ik, iv) in o.iter() {
                            row.push_unchecked(self.name(ik), iv.clone());
                        }
                    }
                    other => row.push_unchecked(k.clone(), other.clone()),
                }
            }
            out.push(row);
        }
    }
}

impl Transform for Explode {
    fn transform(&self, batch: Batch, rows: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        let mut out = Vec::with_capacity(batch.len() * 2);
        for r in batch {
            self.explode_row(r, &mut out, rows);
        }
        Ok(out)
    }

    /// Every field: an element field whose name is already a column rejects the row.
    fn input_projection(&self, _output: &Projection) -> Projection {
        // The new names are `prefix` + the keys of the elements, which come from the data: any
        // column of the row may clash with one, whether the rest of the chain reads it or not.
        Projection::All
    }
}

#[cfg(test)]
mod tests {
    use dataforge_core::record;
    use serde_json::json;

    use super::*;
    use crate::test_support::{build, build_err, keys, run_one};

    fn order() -> Record {
        serde_json::from_value(json!({
            "id": 7,
            "line_items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2, "note": "ünï"}],
            "total": "9.99"
        }))
        .expect("record")
    }

    #[test]
    fn parses_example_config() {
        let c: ExplodeConfig =
            serde_json::from_value(json!({"field": "line_items", "prefix": "item_"}))
                .expect("parses");
        assert_eq!(c.prefix.as_deref(), Some("item_"));
    }

    #[test]
    fn rejects_unknown_field() {
        let e = build_err::<ExplodeFactory>(json!({"field": "a", "column": "b"}));
        assert!(e.to_string().contains("unknown field `column`"), "{e}");
        let e = build_err::<ExplodeFactory>(json!({"prefix": "b"}));
        assert!(e.to_string().contains("missing field `field`"), "{e}");
    }

    #[test]
    fn one_row_per_line_item_with_parent_columns() {
        let t = build::<ExplodeFactory>(json!({"field": "line_items"})).expect("builds");
        let (out, rejected) = run_one(
            &t,
            vec![
                order(),
                record! {"id" => 8, "line_items" => vec![Value::Int(5)]},
            ],
        );
        assert!(rejected.is_empty());
        assert_eq!(out.len(), 3);
        assert_eq!(
            keys(&out[0]),
            ["id", "line_items_sku", "line_items_qty", "total"]
        );
        assert_eq!(
            keys(&out[1]),
            [
                "id",
                "line_items_sku",
                "line_items_qty",
                "line_items_note",
                "total"
            ]
        );
        assert_eq!(out[1].get("line_items_note"), Some(&Value::from("ünï")));
        assert_eq!(out[1].get("id"), Some(&Value::Int(7)));
        assert_eq!(out[2], record! {"id" => 8, "line_items" => 5});
    }

    #[test]
    fn prefix_can_be_set_or_empty() {
        let t =
            build::<ExplodeFactory>(json!({"field": "line_items", "prefix": ""})).expect("builds");
        let (out, _) = run_one(&t, vec![order()]);
        assert_eq!(keys(&out[0]), ["id", "sku", "qty", "total"]);
        let (_, rejected) = run_one(
            &t,
            vec![record! {"sku" => 1, "line_items" => vec![Value::Object(record! {"sku" => 2})]}],
        );
        assert_eq!(rejected[0].reason, "column `sku` already exists");
    }

    #[test]
    fn empty_null_and_missing_keep_the_row() {
        let t = build::<ExplodeFactory>(json!({"field": "items"})).expect("builds");
        let (out, rejected) = run_one(
            &t,
            vec![
                record! {"id" => 1, "items" => Vec::<Value>::new()},
                record! {"id" => 2, "items" => Value::Null},
                record! {"id" => 3},
            ],
        );
        assert!(rejected.is_empty());
        assert_eq!(
            out,
            vec![
                record! {"id" => 1, "items" => Value::Null},
                record! {"id" => 2, "items" => Value::Null},
                record! {"id" => 3},
            ]
        );
    }

    #[test]
    fn a_non_array_rejects_the_row() {
        let t = build::<ExplodeFactory>(json!({"field": "items"})).expect("builds");
        let row = record! {"items" => "a,b"};
        let (out, rejected) = run_one(&t, vec![row.clone()]);
        assert!(out.is_empty());
        assert_eq!(rejected[0].record, row);
        assert_eq!(
            rejected[0].reason,
            "column `items` is string, expected an array"
        );
    }

    #[test]
    fn reads_every_field() {
        let t = build::<ExplodeFactory>(json!({"field": "items"})).expect("builds");
        for output in [
            Projection::All,
            Projection::only(["items_sku"]),
            Projection::All.without(["x"]),
        ] {
            assert_eq!(t.input_projection(&output), Projection::All, "{output}");
        }
    }
}
