//! `hash`: pseudonymises columns with a salted SHA-256.

use std::sync::Arc;

use compact_str::CompactString;
use dataforge_core::{
    Batch, ComponentError, ConfigErrors, Projection, RowContext, RunContext, RunLocal, Transform,
    TransformFactory, Value,
};
use schemars::JsonSchema;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::config::Issues;
use crate::error::TransformError;

/// Config of `hash`.
///
/// ```json
/// {"type": "hash", "columns": ["email", "customer_email"], "algorithm": "sha256", "salt_env": "DATAFORGE_PII_SALT"}
/// ```
///
/// Each value becomes the lower-case hex SHA-256 of the salt followed by the value's text
/// (strings as they are, other values by their text form, nested values as JSON), so the same
/// input always gives the same pseudonym and joins still work: in PostgreSQL,
/// `encode(sha256(convert_to(salt || value, 'UTF8')), 'hex')`. Nulls stay null; missing columns
/// are left alone. The salt is read from the environment variable `salt_env` on each run's first
/// batch (an unset or empty variable fails the run); without `salt_env` values are hashed unsalted,
/// which a dictionary attack reverses for guessable values like emails.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HashConfig {
    /// The columns to hash.
    pub columns: Vec<String>,
    /// The hash function (default `sha256`).
    #[serde(default)]
    pub algorithm: Algorithm,
    /// The environment variable holding the salt.
    #[serde(default)]
    pub salt_env: Option<String>,
}

/// A hash function.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// SHA-256.
    #[default]
    Sha256,
}

/// Registers `hash`.
pub struct HashFactory;

impl TransformFactory for HashFactory {
    const NAME: &'static str = "hash";
    const DESCRIPTION: &'static str =
        "Replaces values with their salted SHA-256 (pseudonymises PII)";
    type Config = HashConfig;

    fn build(config: Self::Config) -> Result<impl Transform, ConfigErrors> {
        let mut issues = Issues::default();
        issues.columns("columns", &config.columns);
        if config.salt_env.as_deref() == Some("") {
            issues.push("salt_env", "must name an environment variable");
        }
        if config.salt_env.is_none() {
            tracing::warn!(
                columns = ?config.columns,
                "hash without salt_env: guessable values can be recovered from their hashes"
            );
        }
        issues.finish(Hash {
            columns: config.columns.iter().map(CompactString::from).collect(),
            salt_env: config.salt_env,
            salt: RunLocal::new(),
        })
    }
}

dataforge_core::register_transform!(HashFactory);

/// The `hash` transform.
#[derive(Debug)]
pub struct Hash {
    columns: Vec<CompactString>,
    salt_env: Option<String>,
    /// Read from `salt_env` once per run (a run after the variable changed sees the new one).
    salt: RunLocal<Option<Result<Arc<[u8]>, TransformError>>>,
}

impl Hash {
    /// This run's salt, read from `salt_env` on the run's first batch.
    fn salt(&self, ctx: &RunContext) -> Result<Arc<[u8]>, TransformError> {
        self.salt.with(ctx, |salt| {
            salt.get_or_insert_with(|| match &self.salt_env {
                None => Ok(Arc::from(&[][..])),
                Some(var) => match std::env::var_os(var) {
                    Some(v) if !v.is_empty() => Ok(Arc::from(v.into_encoded_bytes())),
                    _ => Err(TransformError::MissingSalt { var: var.clone() }),
                },
            })
            .clone()
        })
    }
}

fn digest(salt: &[u8], v: &Value) -> CompactString {
    let mut h = Sha256::new();
    h.update(salt);
    match v {
        Value::String(s) => h.update(s.as_bytes()),
        Value::Array(_) | Value::Object(_) => h.update(v.to_json().to_string().as_bytes()),
        other => h.update(other.to_string().as_bytes()),
    }
    hex::encode(h.finalize()).into()
}

impl Transform for Hash {
    fn transform(
        &self,
        mut batch: Batch,
        rows: &mut RowContext<'_>,
    ) -> Result<Batch, ComponentError> {
        let salt = self.salt(rows.run())?;
        for r in &mut batch {
            for c in &self.columns {
                if let Some(v) = r.get_mut(c)
                    && !v.is_null()
                {
                    *v = Value::String(digest(&salt, v));
                }
            }
        }
        Ok(batch)
    }

    /// Reads the hashed columns besides `output` (the salt comes from the environment).
    fn input_projection(&self, output: &Projection) -> Projection {
        output.clone().with(&self.columns)
    }
}

#[cfg(test)]
mod tests {
    use dataforge_core::{RowContext, record};
    use serde_json::json;

    use super::*;
    use crate::test_support::{build, build_err, ctx, run_one};

    #[test]
    fn parses_example_config() {
        let c: HashConfig = serde_json::from_value(json!({
            "columns": ["email", "customer_email"], "algorithm": "sha256", "salt_env": "DATAFORGE_PII_SALT"
        }))
        .expect("parses");
        assert_eq!(c.algorithm, Algorithm::Sha256);
    }

    #[test]
    fn rejects_unknown_field() {
        let e = build_err::<HashFactory>(json!({"columns": ["a"], "salt": "x"}));
        assert!(e.to_string().contains("unknown field `salt`"), "{e}");
        let e = build_err::<HashFactory>(json!({"columns": ["a"], "algorithm": "md5"}));
        assert!(e.to_string().contains("unknown variant `md5`"), "{e}");
    }

    #[test]
    fn unsalted_sha256_matches_the_standard_vector() {
        let t = build::<HashFactory>(json!({"columns": ["e", "n", "missing"]})).expect("builds");
        let (out, _) = run_one(
            &t,
            vec![record! {"e" => "abc", "n" => Value::Null, "k" => "abc"}],
        );
        assert_eq!(
            out[0].get("e"),
            Some(&Value::from(
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
            ))
        );
        assert_eq!(out[0].get("n"), Some(&Value::Null));
        assert_eq!(out[0].get("k"), Some(&Value::from("abc")));
        assert!(!out[0].contains_key("missing"));
    }

    #[test]
    fn salt_changes_the_hash_and_equal_inputs_stay_equal() {
        // Tests cannot set variables (`set_var` is unsafe in edition 2024, and unsafe code is
        // forbidden): an unset name shows the failure, and PATH, always set, the salted path.
        let var = "DATAFORGE_TEST_HASH_SALT_UNSET_7F3A";
        let t = build::<HashFactory>(json!({"columns": ["e"], "salt_env": var})).expect("builds");
        let ctx = ctx();
        let mut rows = RowContext::new(&ctx);
        let err = t
            .transform(vec![record! {"e" => "abc"}], &mut rows)
            .expect_err("unset salt fails the batch");
        assert_eq!(
            err.to_string(),
            format!("environment variable `{var}` (salt_env) is not set or empty")
        );
        let unsalted = build::<HashFactory>(json!({"columns": ["e"]})).expect("builds");
        let (a, _) = run_one(
            &unsalted,
            vec![
                record! {"e" => "Zoë"},
                record! {"e" => "Zoë"},
                record! {"e" => 12},
            ],
        );
        assert_eq!(a[0], a[1]);
        assert_ne!(a[0], a[2]);
        let mut expected = Sha256::new();
        expected.update(b"pepper");
        expected.update("Zoë".as_bytes());
        assert_eq!(
            digest(b"pepper", &Value::from("Zoë")),
            hex::encode(expected.finalize())
        );
        assert_ne!(
            digest(b"pepper", &Value::from("Zoë")),
            digest(b"", &Value::from("Zoë"))
        );
        let path = std::env::var_os("PATH")
            .expect("PATH is set")
            .into_encoded_bytes();
        let salted =
            build::<HashFactory>(json!({"columns": ["e"], "salt_env": "PATH"})).expect("builds");
        let (b, _) = run_one(&salted, vec![record! {"e" => "Zoë"}]);
        assert_eq!(
            b[0].get("e"),
            Some(&Value::String(digest(&path, &Value::from("Zoë"))))
        );
        assert_ne!(b[0], a[0]);
    }

    #[test]
    fn reads_the_hashed_columns() {
        let t = build::<HashFactory>(json!({"columns": ["email"]})).expect("builds");
        assert_eq!(t.input_projection(&Projection::All), Projection::All);
        assert_eq!(
            t.input_projection(&Projection::only(["x"])),
            Projection::only(["email", "x"])
        );
        assert_eq!(
            t.input_projection(&Projection::All.without(["email", "x"])),
            Projection::All.without(["x"])
        );
    }
}
