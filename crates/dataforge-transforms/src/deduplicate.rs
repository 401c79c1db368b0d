//! `deduplicate`: keeps one row per key across the run, the first or the last.

use std::collections::{HashMap, HashSet};

use compact_str::CompactString;
use dataforge_core::{
    Batch, ComponentError, ConfigErrors, Projection, Record, RowContext, RunLocal, Transform,
    TransformFactory, Value,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::config::Issues;
use crate::key::encode_key;

/// Config of `deduplicate`.
///
/// ```json
/// {"type": "deduplicate", "keys": ["id"], "keep": "first"}
/// ```
///
/// One row per key is kept, across the whole run (not just a batch); a missing key column counts
/// as null. Values are compared by type and value (`1`, `1.0` and `"1"` are different keys;
/// timestamps compare as instants). The transform keeps state across batches, so its chain runs
/// one batch at a time.
///
/// - `keep: "first"` (default): the first row of each key passes at once and its repeats are
///   dropped. The keys seen are kept in memory for the run.
/// - `keep: "last"`: every row is held back until the end of the stream, where the last row of
///   each key is released, in the order the keys were **first** seen (a key first seen in row 3
///   and last in row 900 comes out where row 3 was, with row 900's values). The released rows go
///   through the transforms after this one as usual. One row per distinct key is kept in memory
///   for the run.
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
    /// The last one seen, released at the end of the stream.
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
        issues.finish(Deduplicate {
            keys: config.keys.iter().map(CompactString::from).collect(),
            keep: config.keep,
            seen: RunLocal::new(),
            last: RunLocal::new(),
        })
    }
}

dataforge_core::register_transform!(DeduplicateFactory);

/// The `deduplicate` transform.
#[derive(Debug)]
pub struct Deduplicate {
    keys: Vec<CompactString>,
    keep: Keep,
    /// `keep: first`: the keys seen.
    seen: RunLocal<HashSet<Box<[u8]>>>,
    /// `keep: last`: the rows held back.
    last: RunLocal<LastRows>,
}

/// The latest row of each key, in the order keys were first seen.
#[derive(Debug, Default)]
struct LastRows {
    index: HashMap<Box<[u8]>, usize>,
    rows: Vec<Record>,
}

impl Deduplicate {
    fn key(&self, r: &Record, buf: &mut Vec<u8>) {
        buf.clear();
        for k in &self.keys {
            encode_key(r.get(k).unwrap_or(&Value::Null), buf);
        }
    }
}

impl Transform for Deduplicate {
    fn transform(
        &self,
        mut batch: Batch,
        rows: &mut RowContext<'_>,
    ) -> Result<Batch, ComponentError> {
        let mut buf = Vec::with_capacity(64);
        match self.keep {
            Keep::First => self.seen.with(rows.run(), |seen| {
                batch.retain(|r| {
                    self.key(r, &mut buf);
                    if seen.contains(buf.as_slice()) {
                        false
                    } else {
                        seen.insert(buf.as_slice().into());
                        true
                    }
                });
            }),
            Keep::Last => self.last.with(rows.run(), |held| {
                for r in batch.drain(..) {
                    self.key(&r, &mut buf);
                    match held.index.get(buf.as_slice()) {
                        Some(&i) => held.rows[i] = r,
                        None => {
                            held.index.insert(buf.as_slice().into(), held.rows.len());
                            held.rows.push(r);
                        }
                    }
                }
            }),
        }
        Ok(batch)
    }

    fn finish(&self, rows: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        match self.keep {
            Keep::First => Ok(Vec::new()),
            Keep::Last => Ok(self.last.with(rows.run(), |held| std::mem::take(held).rows)),
        }
    }

    fn is_ordered(&self) -> bool {
        true
    }

    /// Reads the key columns (a missing one counts as null) besides `output`.
    fn input_projection(&self, output: &Projection) -> Projection {
        output.clone().with(&self.keys)
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
        let e = build_err::<DeduplicateFactory>(json!({"keys": ["id"], "keep": "latest"}));
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

    #[test]
    fn keep_last_holds_rows_until_finish_in_first_seen_order() {
        let t =
            build::<DeduplicateFactory>(json!({"keys": ["id"], "keep": "last"})).expect("builds");
        assert!(t.is_ordered());
        let ctx = ctx();
        let (out1, _) = run_with(
            &t,
            vec![
                record! {"id" => 2, "n" => 1},
                record! {"id" => 1, "n" => 2},
                record! {"id" => 2, "n" => 3},
            ],
            &ctx,
        );
        let (out2, _) = run_with(
            &t,
            vec![record! {"id" => 3, "n" => 4}, record! {"id" => 1, "n" => 5}],
            &ctx,
        );
        assert!(out1.is_empty() && out2.is_empty(), "rows are held back");
        let mut rows = RowContext::new(&ctx);
        let released = t.finish(&mut rows).expect("finish");
        assert_eq!(
            released,
            vec![
                record! {"id" => 2, "n" => 3},
                record! {"id" => 1, "n" => 5},
                record! {"id" => 3, "n" => 4},
            ]
        );
        assert!(
            t.finish(&mut rows).expect("finish").is_empty(),
            "released once"
        );
        // keep: first holds nothing back.
        let t = build::<DeduplicateFactory>(json!({"keys": ["id"]})).expect("builds");
        assert!(t.finish(&mut rows).expect("finish").is_empty());
    }

    #[test]
    fn reads_the_key_columns() {
        let t = build::<DeduplicateFactory>(json!({"keys": ["id", "shop"], "keep": "last"}))
            .expect("builds");
        assert_eq!(t.input_projection(&Projection::All), Projection::All);
        assert_eq!(
            t.input_projection(&Projection::only(["x"])),
            Projection::only(["id", "shop", "x"])
        );
        assert_eq!(
            t.input_projection(&Projection::All.without(["shop", "x"])),
            Projection::All.without(["x"])
        );
    }
}
