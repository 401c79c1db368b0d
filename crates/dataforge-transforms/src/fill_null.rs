//! `fill_null`: defaults for nulls and missing columns.

use compact_str::CompactString;
use dataforge_core::{
    Batch, ComponentError, ConfigErrors, Projection, RowContext, Transform, TransformFactory, Value,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::config::{Issues, OrderedMap};

/// Config of `fill_null`: column → default value.
///
/// ```json
/// {"type": "fill_null", "values": {"discount": 0, "currency": "EUR", "tags": []}}
/// ```
///
/// A null value is replaced in place; a missing column is appended, in the order of `values`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FillNullConfig {
    /// Column → default (any JSON value).
    pub values: OrderedMap<serde_json::Value>,
}

/// Registers `fill_null`.
pub struct FillNullFactory;

impl TransformFactory for FillNullFactory {
    const NAME: &'static str = "fill_null";
    const DESCRIPTION: &'static str = "Sets defaults for null values and missing columns";
    type Config = FillNullConfig;

    fn build(config: Self::Config) -> Result<impl Transform, ConfigErrors> {
        let mut issues = Issues::default();
        if config.values.is_empty() {
            issues.push("values", "must give at least one column");
        }
        for (k, v) in config.values.iter() {
            if k.is_empty() {
                issues.push("values", "column names must not be empty");
            }
            if v.is_null() {
                issues.push(format!("values.{k}"), "a null default fills nothing");
            }
        }
        issues.finish(FillNull {
            values: config
                .values
                .0
                .into_iter()
                .map(|(k, v)| (CompactString::from(k), Value::from(v)))
                .collect(),
        })
    }
}

dataforge_core::register_transform!(FillNullFactory);

/// The `fill_null` transform.
#[derive(Debug)]
pub struct FillNull {
    values: Vec<(CompactString, Value)>,
}

impl Transform for FillNull {
    fn transform(
        &self,
        mut batch: Batch,
        _rows: &mut RowContext<'_>,
    ) -> Result<Batch, ComponentError> {
        for r in &mut batch {
            for (k, default) in &self.values {
                match r.get_mut(k) {
                    Some(v) if v.is_null() => *v = default.clone(),
                    Some(_) => {}
                    None => r.push_unchecked(k.clone(), default.clone()),
                }
            }
        }
        Ok(batch)
    }

    /// Reads the filled columns (null or missing decides the value and the place) besides `output`.
    fn input_projection(&self, output: &Projection) -> Projection {
        output.clone().with(self.values.iter().map(|(k, _)| k))
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
        let c: FillNullConfig = serde_json::from_value(
            json!({"values": {"discount": 0, "currency": "EUR", "tags": []}}),
        )
        .expect("parses");
        assert_eq!(c.values.len(), 3);
    }

    #[test]
    fn rejects_unknown_field() {
        let e = build_err::<FillNullFactory>(json!({"values": {"a": 1}, "value": 1}));
        assert!(e.to_string().contains("unknown field `value`"), "{e}");
        let e = build_err::<FillNullFactory>(json!({"values": {"a": null}}));
        assert_eq!(e.issues()[0].path, "values.a");
    }

    #[test]
    fn fills_nulls_in_place_and_appends_missing_columns() {
        let t = build::<FillNullFactory>(
            json!({"values": {"discount": 0, "currency": "€", "tags": []}}),
        )
        .expect("builds");
        let (out, rejected) = run_one(
            &t,
            vec![
                record! {"currency" => Value::Null, "id" => 1},
                record! {"discount" => 5, "currency" => "USD", "tags" => vec![Value::from("x")]},
            ],
        );
        assert!(rejected.is_empty());
        assert_eq!(keys(&out[0]), ["currency", "id", "discount", "tags"]);
        assert_eq!(out[0].get("currency"), Some(&Value::from("€")));
        assert_eq!(out[0].get("tags"), Some(&Value::Array(vec![])));
        assert_eq!(
            out[1],
            record! {"discount" => 5, "currency" => "USD", "tags" => vec![Value::from("x")]}
        );
    }

    #[test]
    fn reads_the_filled_columns() {
        let t = build::<FillNullFactory>(json!({"values": {"discount": 0, "currency": "EUR"}}))
            .expect("builds");
        assert_eq!(t.input_projection(&Projection::All), Projection::All);
        assert_eq!(
            t.input_projection(&Projection::only(["id"])),
            Projection::only(["currency", "discount", "id"])
        );
        assert_eq!(
            t.input_projection(&Projection::All.without(["discount", "x"])),
            Projection::All.without(["x"])
        );
    }
}
