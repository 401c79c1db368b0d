//! `string`: trims, changes case, or replaces with a regular expression.

use compact_str::CompactString;
use dataforge_core::{
    Batch, ComponentError, ConfigErrors, Projection, Record, RowContext, Transform,
    TransformFactory, Value,
};
use regex::Regex;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::config::Issues;
use crate::error::TransformError;
use crate::rows::{Reach, for_each_row};

/// Config of `string`.
///
/// ```json
/// {"type": "string", "columns": ["phone"], "op": "replace", "pattern": "[^0-9+]", "replacement": ""}
/// ```
/// ```json
/// {"type": "string", "columns": ["email", "customer_email"], "op": "lower"}
/// ```
///
/// `trim` removes leading and trailing whitespace (Unicode), `lower` and `upper` change case
/// (Unicode), `replace` replaces every match of `pattern` (a `regex` crate expression) with
/// `replacement` (`$1` and `${name}` refer to groups). Nulls and missing columns are left alone;
/// a value that is not a string rejects the row.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StringConfig {
    /// The columns to change.
    pub columns: Vec<String>,
    /// The operation.
    pub op: StringOp,
    /// The regular expression (`replace` only).
    #[serde(default)]
    pub pattern: Option<String>,
    /// What replaces each match (`replace` only; default empty).
    #[serde(default)]
    pub replacement: Option<String>,
}

/// A string operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StringOp {
    /// Removes leading and trailing whitespace.
    Trim,
    /// Lower case.
    Lower,
    /// Upper case.
    Upper,
    /// Regex replacement.
    Replace,
}

/// Registers `string`.
pub struct StringFactory;

impl TransformFactory for StringFactory {
    const NAME: &'static str = "string";
    const DESCRIPTION: &'static str = "String clean-up: trim, lower, upper, or regex replace";
    type Config = StringConfig;

    fn build(config: Self::Config) -> Result<impl Transform, ConfigErrors> {
        let mut issues = Issues::default();
        issues.columns("columns", &config.columns);
        let mut regex = None;
        match (config.op, &config.pattern) {
            (StringOp::Replace, None) => issues.push("pattern", "`replace` needs a pattern"),
            (StringOp::Replace, Some(p)) => match Regex::new(p) {
                Ok(r) => regex = Some(r),
                Err(e) => issues.push("pattern", format!("invalid regular expression: {e}")),
            },
            (_, Some(_)) => issues.push("pattern", "only `replace` takes a pattern"),
            (_, None) => {}
        }
        if config.op != StringOp::Replace && config.replacement.is_some() {
            issues.push("replacement", "only `replace` takes a replacement");
        }
        issues.finish(StringTransform {
            columns: config.columns.iter().map(CompactString::from).collect(),
            op: config.op,
            regex,
            replacement: config.replacement.unwrap_or_default(),
        })
    }
}

dataforge_core::register_transform!(StringFactory);

/// The `string` transform.
#[derive(Debug)]
pub struct StringTransform {
    columns: Vec<CompactString>,
    op: StringOp,
    regex: Option<Regex>,
    replacement: String,
}

impl StringTransform {
    /// The new text, or `None` when unchanged.
    fn apply(&self, s: &str) -> Option<CompactString> {
        match self.op {
            StringOp::Trim => {
                let t = s.trim();
                (t.len() != s.len()).then(|| t.into())
            }
            StringOp::Lower => (s.chars().any(char::is_uppercase)).then(|| s.to_lowercase().into()),
            StringOp::Upper => (s.chars().any(char::is_lowercase)).then(|| s.to_uppercase().into()),
            StringOp::Replace => {
                let re = self.regex.as_ref()?;
                match re.replace_all(s, self.replacement.as_str()) {
                    std::borrow::Cow::Borrowed(_) => None,
                    std::borrow::Cow::Owned(o) => Some(o.into()),
                }
            }
        }
    }

    fn row(&self, r: &mut Record) -> Result<(), TransformError> {
        for c in &self.columns {
            match r.get(c) {
                None | Some(Value::Null | Value::String(_)) => {}
                Some(other) => {
                    return Err(TransformError::WrongType {
                        column: c.to_string(),
                        found: other.type_name(),
                        expected: "a string",
                    });
                }
            }
        }
        for c in &self.columns {
            if let Some(Value::String(s)) = r.get_mut(c)
                && let Some(new) = self.apply(s)
            {
                *s = new;
            }
        }
        Ok(())
    }
}

impl Transform for StringTransform {
    fn transform(&self, batch: Batch, rows: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        Ok(for_each_row(batch, rows, Reach::Columns, |r| {
            self.row(r).map(|()| true)
        }))
    }

    /// Reads the listed columns (a non-string value rejects the row) besides `output`.
    fn input_projection(&self, output: &Projection) -> Projection {
        output.clone().with(&self.columns)
    }
}

#[cfg(test)]
mod tests {
    use dataforge_core::record;
    use serde_json::json;

    use super::*;
    use crate::test_support::{build, build_err, run_one};

    fn apply(config: serde_json::Value, v: Value) -> Result<Value, String> {
        let t = build::<StringFactory>(config).expect("builds");
        let (out, rejected) = run_one(&t, vec![record! {"s" => v}]);
        match rejected.first() {
            Some(r) => Err(r.reason.clone()),
            None => Ok(out[0].get("s").cloned().unwrap_or(Value::Null)),
        }
    }

    #[test]
    fn parses_example_config() {
        let c: StringConfig = serde_json::from_value(
            json!({"columns": ["phone"], "op": "replace", "pattern": "[^0-9+]", "replacement": ""}),
        )
        .expect("parses");
        assert_eq!(c.op, StringOp::Replace);
    }

    #[test]
    fn rejects_unknown_field() {
        let e = build_err::<StringFactory>(json!({"columns": ["a"], "op": "trim", "regex": "x"}));
        assert!(e.to_string().contains("unknown field `regex`"), "{e}");
    }

    #[test]
    fn checks_pattern_at_build() {
        let e = build_err::<StringFactory>(
            json!({"columns": ["a"], "op": "replace", "pattern": "(unclosed"}),
        );
        assert_eq!(e.issues()[0].path, "pattern");
        assert!(e.to_string().contains("invalid regular expression"), "{e}");
        let e = build_err::<StringFactory>(json!({"columns": ["a"], "op": "replace"}));
        assert_eq!(e.issues()[0].path, "pattern");
        let e =
            build_err::<StringFactory>(json!({"columns": ["a"], "op": "lower", "pattern": "x"}));
        assert_eq!(e.issues()[0].path, "pattern");
        let e = build_err::<StringFactory>(json!({"columns": ["a"], "op": "wash"}));
        assert!(e.to_string().contains("unknown variant `wash`"), "{e}");
    }

    #[test]
    fn trim_lower_upper_with_unicode() {
        assert_eq!(
            apply(
                json!({"columns": ["s"], "op": "trim"}),
                "\u{3000} Zoë \n".into()
            ),
            Ok("Zoë".into())
        );
        assert_eq!(
            apply(
                json!({"columns": ["s"], "op": "lower"}),
                "ÀDA ŁUKASIEWICZ".into()
            ),
            Ok("àda łukasiewicz".into())
        );
        assert_eq!(
            apply(json!({"columns": ["s"], "op": "upper"}), "straße".into()),
            Ok("STRASSE".into())
        );
        assert_eq!(
            apply(json!({"columns": ["s"], "op": "upper"}), Value::Null),
            Ok(Value::Null)
        );
    }

    #[test]
    fn regex_replace_with_groups() {
        let c = json!({"columns": ["s"], "op": "replace", "pattern": "(\\d{3})-(\\d{4})", "replacement": "$2/$1"});
        assert_eq!(
            apply(c, "call 555-1234 now".into()),
            Ok("call 1234/555 now".into())
        );
        let c = json!({"columns": ["s"], "op": "replace", "pattern": "[^0-9+]"});
        assert_eq!(apply(c, "+33 (0)6 12".into()), Ok("+330612".into()));
    }

    #[test]
    fn non_strings_reject_the_row_and_missing_columns_pass() {
        assert_eq!(
            apply(json!({"columns": ["s"], "op": "trim"}), Value::Int(5)),
            Err("column `s` is integer, expected a string".into())
        );
        let t =
            build::<StringFactory>(json!({"columns": ["missing"], "op": "trim"})).expect("builds");
        let (out, rejected) = run_one(&t, vec![record! {"a" => " x "}]);
        assert!(rejected.is_empty());
        assert_eq!(out[0], record! {"a" => " x "});
    }

    #[test]
    fn reads_the_listed_columns() {
        let t = build::<StringFactory>(json!({"columns": ["email", "name"], "op": "lower"}))
            .expect("builds");
        assert_eq!(t.input_projection(&Projection::All), Projection::All);
        assert_eq!(
            t.input_projection(&Projection::only(["id"])),
            Projection::only(["email", "id", "name"])
        );
        assert_eq!(
            t.input_projection(&Projection::All.without(["email", "x"])),
            Projection::All.without(["x"])
        );
    }
}
