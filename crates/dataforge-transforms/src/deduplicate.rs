//! `deduplicate`: drops rows whose key was already seen in the run.

use std::collections::HashSet;

use compact_str::CompactString;
use dataforge_core::{
    Batch, ComponentError, ConfigErrors, RowContext, Transform, TransformFactory, Value,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::config::Issues;
use crate::state::{PerRun, encode_key};

/// Config of `deduplicate`.
///
/// ```json
/// {"type": "deduplicate", "keys": ["id"], "keep": "first"}
/// ```
///
/// The first row of each key is kept and its repeats are dropped, across the whole run (not
/// just a batch); a missing key column counts as null. Values are compared by type and value
/// (`1`, `1.0` and `"1"` are different keys; timestamps compare as instants). The keys seen are
/// kept in memory for the run. The transform keeps state across batches, so its chain runs one
/// batch at a time.
///
/// `keep: "last"` needs to hold rows back until the end of the stream, which the transform
/// interface of dataforge-core cannot signal yet: it is refused at build time.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeduplicateConfig {
    /// The columns that identify a row.
    pub keys: Vec<String>,
    /// Which row of a key to keep (default `first`).
    #[serde(default)]
    pub keep: Keep,
}

/// Which row of a repeated key is kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Keep {
    /// The first one seen.
    #[default]
    First,
    /// The last one seen (not available yet, see above).
    Last,
}

/// Registers `deduplicate`.
pub struct DeduplicateFactory;

impl TransformFactory for DeduplicateFactory {
    const NAME: &'static str = "deduplicate";
    const DESCRIPTION: &'static str =
        "Drops rows whose key columns repeat an earlier row of the run";
    type Config = DeduplicateConfig;

    fn build(config: Self::Config) -> Result<impl Transform, ConfigErrors> {
        let mut issues = Issues::default();
        issues.columns("keys", &config.keys);
        if config.keep == Keep::Last {
            issues.push(
                "keep",
                "`last` is not supported yet: it needs an end-of-stream hook in dataforge-core's \
                 Transform trait; use `first`",
            );
        }
        issues.finish(Deduplicate {
            keys: config.keys.iter().map(CompactString::from).collect(),
            seen: PerRun::default(),
        })
    }
}

dataforge_core::register_transform!(DeduplicateFactory);

/// The `deduplicate` transform.
#[derive(Debug)]
pub struct Deduplicate {
    keys: Vec<CompactString>,
    seen: PerRun<HashSet<Box<[u8]>>>,
}

impl Transform for Deduplicate {
    fn transform(
        &self,
        mut batch: Batch,
        rows: &mut RowContext<'_>,
    ) -> Result<Batch, ComponentError> {
        let mut buf = Vec::with_capacity(64);
        self.seen.with(rows.run(), |seen| {
            batch.retain(|r| {
                buf.clear();
                for k in &self.keys {
                    encode_key(r.get(k).unwrap_or(&Value::Null), &mut buf);
                }
                if seen.contains(buf.as_slice()) {
                    false
                } else {
                    seen.insert(buf.as_slice().into());
                    true
                }
            });
        });
        Ok(batch)
    }

    fn is_ordered(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use dataforge_core::record;
    use serde_json::json;

    use super::*;
    use crate::test_support::{build, build_err, ctx, run_with};

    #[test]
    fn parses_example_config() {
        let c: DeduplicateConfig =
            serde_json::from_value(json!({"keys": ["id"], "keep": "first"})).expect("parses");
        assert_eq!(c.keep, Keep::First);
    }

    #[test]
    fn rejects_unknown_field() {
        let e = build_err::<DeduplicateFactory>(json!({"keys": ["id"], "key": "id"}));
        assert!(e.to_string().contains("unknown field `key`"), "{e}");
        let e = build_err::<DeduplicateFactory>(json!({"keys": ["id"], "keep": "last"}));
        assert_eq!(e.issues()[0].path, "keep");
        let e = build_err::<DeduplicateFactory>(json!({"keys": []}));
        assert_eq!(e.issues()[0].path, "keys");
    }

    #[test]
    fn drops_repeats_across_batches_of_one_run() {
        let t = build::<DeduplicateFactory>(json!({"keys": ["id", "ü"]})).expect("builds");
        assert!(t.is_ordered());
        let ctx = ctx();
        let (out1, _) = run_with(
            &t,
            vec![
                record! {"id" => 1, "ü" => "a", "n" => 1},
                record! {"id" => 1, "ü" => "a", "n" => 2},
                record! {"id" => 1, "ü" => "b", "n" => 3},
                record! {"id" => 1.0, "ü" => "a", "n" => 4},
            ],
            &ctx,
        );
        let n = |b: &Batch| {
            b.iter()
                .filter_map(|r| r.get("n").and_then(Value::as_i64))
                .collect::<Vec<_>>()
        };
        assert_eq!(n(&out1), [1, 3, 4]);
        let (out2, rejected) = run_with(
            &t,
            vec![
                record! {"id" => 1, "ü" => "b", "n" => 5},
                record! {"n" => 6},
                record! {"n" => 7, "id" => Value::Null},
            ],
            &ctx,
        );
        assert!(rejected.is_empty());
        assert_eq!(n(&out2), [6]);
        // A retry (attempt 2) and another run start afresh.
        let retry = dataforge_core::RunContext::builder("test")
            .run_id("run-1")
            .attempt(2)
            .build();
        let (out3, _) = run_with(&t, vec![record! {"id" => 1, "ü" => "a", "n" => 8}], &retry);
        let other = dataforge_core::RunContext::builder("test")
            .run_id("run-2")
            .build();
        let (out4, _) = run_with(&t, vec![record! {"id" => 1, "ü" => "a", "n" => 9}], &other);
        assert_eq!(n(&out3), [8]);
        assert_eq!(n(&out4), [9]);
    }
}
