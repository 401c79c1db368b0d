//! `validate`: rejects rows that break a rule.

use std::collections::HashSet;

use compact_str::CompactString;
use dataforge_core::{
    Batch, ComponentError, ConfigErrors, Projection, Record, RowContext, RunLocal, Transform,
    TransformFactory, Value,
};
use regex::Regex;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::config::{Issues, OrderedMap};
use crate::error::TransformError;
use crate::key::encode_key;
use crate::rows::{Reach, for_each_row};

/// Config of `validate`: column → rules.
///
/// ```json
/// {"type": "validate", "rules": {
///   "id": {"required": true, "type": "integer", "unique": true},
///   "email": {"pattern": "^[^@\\s]+@[^@\\s]+$"},
///   "total_price": {"type": "number", "min": 0, "max": 100000},
///   "currency": {"one_of": ["EUR", "USD"]}
/// }}
/// ```
///
/// A row that breaks a rule is rejected with the column, the rule and what is wrong (the first
/// broken rule, checked in the order `required`, `type`, `pattern`, `min`, `max`, `one_of`,
/// `unique`). A null or missing value breaks only `required`: the other rules apply to values.
/// - `type`: `string integer float number decimal boolean timestamp date array object`
///   (`number` is any of integer, float, decimal).
/// - `pattern`: a `regex` crate expression that must match somewhere in the string (anchor it
///   with `^…$` for the whole); a non-string value breaks it.
/// - `min` / `max`: inclusive bounds for numbers; a non-number breaks them.
/// - `one_of`: the allowed values (numbers compare by value: `1` matches `1.0`).
/// - `unique`: no two rows of the run share the value (memory grows with the distinct values;
///   the chain then runs one batch at a time). A rejected row does not claim its value.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateConfig {
    /// Column → its rules.
    pub rules: OrderedMap<RuleConfig>,
}

/// The rules of one column.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// The value must be present and not null.
    #[serde(default)]
    pub required: bool,
    /// The value's type.
    #[serde(default, rename = "type")]
    pub kind: Option<TypeRule>,
    /// A regular expression the string must match.
    #[serde(default)]
    pub pattern: Option<String>,
    /// The smallest number allowed.
    #[serde(default)]
    pub min: Option<f64>,
    /// The largest number allowed.
    #[serde(default)]
    pub max: Option<f64>,
    /// The allowed values.
    #[serde(default)]
    pub one_of: Option<Vec<serde_json::Value>>,
    /// No two rows of the run share the value.
    #[serde(default)]
    pub unique: bool,
}

/// A type a value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TypeRule {
    /// A string.
    String,
    /// An integer.
    Integer,
    /// A float.
    Float,
    /// An integer, float or decimal.
    Number,
    /// A decimal.
    Decimal,
    /// A boolean.
    Boolean,
    /// A timestamp.
    Timestamp,
    /// A date.
    Date,
    /// An array.
    Array,
    /// An object.
    Object,
}

impl TypeRule {
    fn name(self) -> &'static str {
        match self {
            TypeRule::String => "string",
            TypeRule::Integer => "integer",
            TypeRule::Float => "float",
            TypeRule::Number => "number",
            TypeRule::Decimal => "decimal",
            TypeRule::Boolean => "boolean",
            TypeRule::Timestamp => "timestamp",
            TypeRule::Date => "date",
            TypeRule::Array => "array",
            TypeRule::Object => "object",
        }
    }

    fn accepts(self, v: &Value) -> bool {
        match self {
            TypeRule::Number => matches!(v, Value::Int(_) | Value::Float(_) | Value::Decimal(_)),
            other => v.type_name() == other.name(),
        }
    }
}

/// Registers `validate`.
pub struct ValidateFactory;

impl TransformFactory for ValidateFactory {
    const NAME: &'static str = "validate";
    const DESCRIPTION: &'static str =
        "Rejects rows that break rules: required, type, pattern, min/max, one_of, unique";
    type Config = ValidateConfig;

    fn build(config: Self::Config) -> Result<impl Transform, ConfigErrors> {
        let mut issues = Issues::default();
        if config.rules.is_empty() {
            issues.push("rules", "must give rules for at least one column");
        }
        let mut columns = Vec::with_capacity(config.rules.len());
        for (name, rule) in config.rules.iter() {
            let path = format!("rules.{name}");
            let pattern = rule.pattern.as_ref().and_then(|p| match Regex::new(p) {
                Ok(r) => Some(r),
                Err(e) => {
                    issues.push(
                        format!("{path}.pattern"),
                        format!("invalid regular expression: {e}"),
                    );
                    None
                }
            });
            if let (Some(min), Some(max)) = (rule.min, rule.max)
                && min > max
            {
                issues.push(
                    format!("{path}.min"),
                    format!("min {min} is above max {max}"),
                );
            }
            if rule.one_of.as_ref().is_some_and(Vec::is_empty) {
                issues.push(format!("{path}.one_of"), "must list at least one value");
            }
            let has_rule = rule.required
                || rule.kind.is_some()
                || rule.pattern.is_some()
                || rule.min.is_some()
                || rule.max.is_some()
                || rule.one_of.is_some()
                || rule.unique;
            if !has_rule {
                issues.push(path, "gives no rule");
            }
            columns.push(Column {
                name: name.into(),
                required: rule.required,
                kind: rule.kind,
                pattern,
                min: rule.min,
                max: rule.max,
                one_of: rule
                    .one_of
                    .clone()
                    .map(|vs| vs.into_iter().map(Value::from).collect()),
                unique: rule.unique,
            });
        }
        let unique = columns.iter().filter(|c| c.unique).count();
        issues.finish(Validate {
            columns,
            unique,
            seen: RunLocal::new(),
        })
    }
}

dataforge_core::register_transform!(ValidateFactory);

#[derive(Debug)]
struct Column {
    name: CompactString,
    required: bool,
    kind: Option<TypeRule>,
    pattern: Option<Regex>,
    min: Option<f64>,
    max: Option<f64>,
    one_of: Option<Vec<Value>>,
    unique: bool,
}

/// The `validate` transform.
#[derive(Debug)]
pub struct Validate {
    columns: Vec<Column>,
    unique: usize,
    /// Per unique column, the values seen in the run.
    seen: RunLocal<Vec<HashSet<Box<[u8]>>>>,
}

fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if !matches!(a, Value::String(_)) && !matches!(b, Value::String(_)) => {
            x == y
        }
        _ => a == b,
    }
}

fn broken(c: &Column, rule: &'static str, detail: impl Into<String>) -> TransformError {
    TransformError::Rule {
        column: c.name.to_string(),
        rule,
        detail: detail.into(),
    }
}

impl Column {
    fn check(&self, v: Option<&Value>) -> Result<(), TransformError> {
        let v = match v {
            None | Some(Value::Null) if self.required => {
                return Err(broken(self, "required", "value is missing or null"));
            }
            None | Some(Value::Null) => return Ok(()),
            Some(v) => v,
        };
        if let Some(k) = self.kind
            && !k.accepts(v)
        {
            return Err(broken(
                self,
                "type",
                format!("expected {}, found {}", k.name(), v.type_name()),
            ));
        }
        if let Some(re) = &self.pattern {
            match v {
                Value::String(s) if re.is_match(s) => {}
                Value::String(_) => {
                    return Err(broken(
                        self,
                        "pattern",
                        format!("does not match `{}`", re.as_str()),
                    ));
                }
                other => {
                    return Err(broken(
                        self,
                        "pattern",
                        format!("expected a string, found {}", other.type_name()),
                    ));
                }
            }
        }
        if self.min.is_some() || self.max.is_some() {
            let Some(x) = v.as_f64() else {
                return Err(broken(
                    self,
                    if self.min.is_some() { "min" } else { "max" },
                    format!("expected a number, found {}", v.type_name()),
                ));
            };
            if let Some(min) = self.min.filter(|m| x < *m) {
                return Err(broken(self, "min", format!("below {min}")));
            }
            if let Some(max) = self.max.filter(|m| x > *m) {
                return Err(broken(self, "max", format!("above {max}")));
            }
        }
        if let Some(allowed) = &self.one_of
            && !allowed.iter().any(|a| same(a, v))
        {
            return Err(broken(self, "one_of", "not one of the allowed values"));
        }
        Ok(())
    }
}

impl Validate {
    fn row(
        &self,
        r: &Record,
        seen: Option<&mut Vec<HashSet<Box<[u8]>>>>,
        keys: &mut Vec<Vec<u8>>,
    ) -> Result<(), TransformError> {
        for c in &self.columns {
            c.check(r.get(&c.name))?;
        }
        let Some(seen) = seen else { return Ok(()) };
        seen.resize_with(self.unique, HashSet::new);
        keys.clear();
        for (i, c) in self.columns.iter().filter(|c| c.unique).enumerate() {
            let mut key = Vec::new();
            match r.get(&c.name) {
                None | Some(Value::Null) => {}
                Some(v) => {
                    encode_key(v, &mut key);
                    if seen[i].contains(key.as_slice()) {
                        return Err(broken(c, "unique", "value already seen in this run"));
                    }
                }
            }
            keys.push(key);
        }
        for (i, key) in keys.drain(..).enumerate() {
            if !key.is_empty() {
                seen[i].insert(key.into_boxed_slice());
            }
        }
        Ok(())
    }
}

impl Transform for Validate {
    fn transform(&self, batch: Batch, rows: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        let mut keys = Vec::new();
        if self.unique == 0 {
            return Ok(for_each_row(batch, rows, Reach::Nested, |r| {
                self.row(r, None, &mut keys).map(|()| true)
            }));
        }
        let ctx = rows.run();
        Ok(self.seen.with(ctx, |seen| {
            for_each_row(batch, rows, Reach::Nested, |r| {
                self.row(r, Some(seen), &mut keys).map(|()| true)
            })
        }))
    }

    fn is_ordered(&self) -> bool {
        self.unique > 0
    }

    /// Reads the columns that have rules (their values and presence) besides `output`.
    fn input_projection(&self, output: &Projection) -> Projection {
        output.clone().with(self.columns.iter().map(|c| &c.name))
    }
}

#[cfg(test)]
mod tests {
    use dataforge_core::record;
    use serde_json::json;

    use super::*;
    use crate::test_support::{build, build_err, ctx, run_one, run_with};

    fn check(rules: serde_json::Value, row: Record) -> Result<(), String> {
        let t = build::<ValidateFactory>(json!({ "rules": rules })).expect("builds");
        let (out, rejected) = run_one(&t, vec![row.clone()]);
        match rejected.into_iter().next() {
            Some(r) => {
                assert_eq!(r.record, row);
                Err(r.reason)
            }
            None => {
                assert_eq!(out, vec![row]);
                Ok(())
            }
        }
    }

    #[test]
    fn parses_example_config() {
        let c: ValidateConfig = serde_json::from_value(json!({"rules": {
            "id": {"required": true, "type": "integer", "unique": true},
            "email": {"pattern": "^[^@\\s]+@[^@\\s]+$"},
            "total_price": {"type": "number", "min": 0, "max": 100000},
            "currency": {"one_of": ["EUR", "USD"]}
        }}))
        .expect("parses");
        assert_eq!(c.rules.len(), 4);
        assert_eq!(c.rules.0[0].1.kind, Some(TypeRule::Integer));
    }

    #[test]
    fn rejects_unknown_field() {
        let e = build_err::<ValidateFactory>(json!({"rules": {"a": {"requird": true}}}));
        assert!(e.to_string().contains("unknown field `requird`"), "{e}");
        assert_eq!(e.issues()[0].path, "rules.a.requird");
    }

    #[test]
    fn checks_rules_at_build() {
        let e = build_err::<ValidateFactory>(
            json!({"rules": {"a": {"pattern": "("}, "b": {"min": 5, "max": 1}, "c": {}, "d": {"one_of": []}}}),
        );
        let paths: Vec<&str> = e.issues().iter().map(|i| i.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "rules.a.pattern",
                "rules.b.min",
                "rules.c",
                "rules.d.one_of"
            ]
        );
    }

    #[test]
    fn required_and_type() {
        let rules = json!({"id": {"required": true, "type": "integer"}});
        assert_eq!(check(rules.clone(), record! {"id" => 1}), Ok(()));
        assert_eq!(
            check(rules.clone(), record! {"x" => 1}),
            Err("column `id` breaks rule `required`: value is missing or null".into())
        );
        assert!(check(rules.clone(), record! {"id" => Value::Null}).is_err());
        assert_eq!(
            check(rules, record! {"id" => "1"}),
            Err("column `id` breaks rule `type`: expected integer, found string".into())
        );
        assert_eq!(
            check(json!({"n": {"type": "number"}}), record! {"n" => 1.5}),
            Ok(())
        );
        assert_eq!(
            check(
                json!({"n": {"type": "number"}}),
                record! {"n" => Value::Null}
            ),
            Ok(())
        );
    }

    #[test]
    fn pattern_with_unicode() {
        let rules = json!({"name": {"pattern": "^\\p{Lu}\\p{Ll}+$"}});
        assert_eq!(check(rules.clone(), record! {"name" => "Łukasz"}), Ok(()));
        assert!(check(rules.clone(), record! {"name" => "łukasz"}).is_err());
        assert_eq!(
            check(rules, record! {"name" => 5}),
            Err("column `name` breaks rule `pattern`: expected a string, found integer".into())
        );
    }

    #[test]
    fn min_max_and_one_of() {
        let rules = json!({"p": {"min": 0, "max": 100.5}});
        assert_eq!(check(rules.clone(), record! {"p" => 100.5}), Ok(()));
        assert_eq!(
            check(
                rules.clone(),
                record! {"p" => rust_decimal::Decimal::new(5, 0)}
            ),
            Ok(())
        );
        assert_eq!(
            check(rules.clone(), record! {"p" => -1}),
            Err("column `p` breaks rule `min`: below 0".into())
        );
        assert_eq!(
            check(rules.clone(), record! {"p" => i64::MAX}),
            Err("column `p` breaks rule `max`: above 100.5".into())
        );
        assert!(check(rules, record! {"p" => "5"}).is_err());
        let rules = json!({"c": {"one_of": ["EUR", "€", 1]}});
        assert_eq!(check(rules.clone(), record! {"c" => "€"}), Ok(()));
        assert_eq!(check(rules.clone(), record! {"c" => 1.0}), Ok(()));
        assert!(check(rules.clone(), record! {"c" => "1"}).is_err());
        assert_eq!(
            check(rules, record! {"c" => "usd"}),
            Err("column `c` breaks rule `one_of`: not one of the allowed values".into())
        );
    }

    #[test]
    fn unique_across_batches_and_rejected_rows_claim_nothing() {
        let t = build::<ValidateFactory>(
            json!({"rules": {"id": {"unique": true}, "ok": {"one_of": [true]}}}),
        )
        .expect("builds");
        assert!(t.is_ordered());
        let ctx = ctx();
        let (out, rejected) = run_with(
            &t,
            vec![
                record! {"id" => 1, "ok" => true},
                record! {"id" => 2, "ok" => false},
                record! {"id" => 1, "ok" => true},
                record! {"id" => Value::Null, "ok" => true},
                record! {"id" => Value::Null, "ok" => true},
            ],
            &ctx,
        );
        assert_eq!(out.len(), 3);
        assert_eq!(rejected.len(), 2);
        assert_eq!(
            rejected[1].reason,
            "column `id` breaks rule `unique`: value already seen in this run"
        );
        let (out, rejected) = run_with(
            &t,
            vec![
                record! {"id" => 2, "ok" => true},
                record! {"id" => 1, "ok" => true},
            ],
            &ctx,
        );
        assert_eq!(out, vec![record! {"id" => 2, "ok" => true}]);
        assert_eq!(rejected.len(), 1);
        let plain =
            build::<ValidateFactory>(json!({"rules": {"id": {"required": true}}})).expect("builds");
        assert!(!plain.is_ordered());
    }

    #[test]
    fn reads_the_columns_with_rules() {
        let t = build::<ValidateFactory>(json!({"rules": {
            "id": {"required": true, "unique": true},
            "email": {"pattern": "@"}
        }}))
        .expect("builds");
        assert_eq!(t.input_projection(&Projection::All), Projection::All);
        assert_eq!(
            t.input_projection(&Projection::only(["x"])),
            Projection::only(["email", "id", "x"])
        );
        assert_eq!(
            t.input_projection(&Projection::All.without(["id", "x"])),
            Projection::All.without(["x"])
        );
    }
}
