//! `rename_columns`: renames columns.

use compact_str::CompactString;
use dataforge_core::{
    Batch, ComponentError, ConfigErrors, Projection, Record, RowContext, Transform,
    TransformFactory,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::config::{Issues, OrderedMap};
use crate::error::TransformError;
use crate::names::NameSet;
use crate::rows::{Reach, for_each_row};
use crate::shape::{Reshape, ShapeCache};

/// Config of `rename_columns`: old name → new name.
///
/// ```json
/// {"type": "rename_columns", "mapping": {"customer_id": "customer", "name": "order_name"}, "strict": false}
/// ```
///
/// All renames happen at once, so `{"a": "b", "b": "a"}` swaps two columns. A column keeps its
/// position. A new name that is already taken by a column that is not renamed away rejects the
/// row (no value is silently dropped). With `strict`, a row missing a source column is rejected;
/// otherwise that rename is skipped.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameColumnsConfig {
    /// Old name → new name.
    pub mapping: OrderedMap<String>,
    /// Reject rows that lack a source column (default false: skip that rename).
    #[serde(default)]
    pub strict: bool,
}

/// Registers `rename_columns`.
pub struct RenameColumnsFactory;

impl TransformFactory for RenameColumnsFactory {
    const NAME: &'static str = "rename_columns";
    const DESCRIPTION: &'static str = "Renames columns (`mapping`: old → new)";
    type Config = RenameColumnsConfig;

    fn build(config: Self::Config) -> Result<impl Transform, ConfigErrors> {
        RenameColumns::new(config)
    }
}

dataforge_core::register_transform!(RenameColumnsFactory);

/// The `rename_columns` transform.
#[derive(Debug)]
pub struct RenameColumns {
    pairs: Vec<(CompactString, CompactString)>,
    /// Some new name is also an old name (a swap or a chain): rename in one pass over a copy.
    simultaneous: bool,
    /// Per pair: its new name is another pair's old name (so it is free once renamed).
    renamed_away: Vec<bool>,
    /// The old names (tag `2j`) and new names (tag `2j + 1`) of pair `j`.
    names: NameSet,
    strict: bool,
}

impl RenameColumns {
    /// Validates the config.
    ///
    /// # Errors
    /// An empty mapping, an empty name, or two columns renamed to one name.
    pub fn new(config: RenameColumnsConfig) -> Result<Self, ConfigErrors> {
        let mut issues = Issues::default();
        if config.mapping.is_empty() {
            issues.push("mapping", "must rename at least one column");
        }
        let mut targets: Vec<&str> = Vec::new();
        for (from, to) in config.mapping.iter() {
            if from.is_empty() || to.is_empty() {
                issues.push(format!("mapping.{from}"), "column names must not be empty");
            }
            if targets.contains(&to.as_str()) {
                issues.push(
                    format!("mapping.{from}"),
                    format!("two columns are renamed to `{to}`"),
                );
            }
            targets.push(to);
        }
        let pairs: Vec<(CompactString, CompactString)> = config
            .mapping
            .iter()
            .filter(|(from, to)| from != to)
            .map(|(from, to)| (from.into(), to.as_str().into()))
            .collect();
        let simultaneous = pairs
            .iter()
            .any(|(_, to)| pairs.iter().any(|(from, _)| from == to));
        let renamed_away = pairs
            .iter()
            .map(|(_, to)| simultaneous && pairs.iter().any(|(f, _)| f == to))
            .collect();
        let names = NameSet::new(
            pairs
                .iter()
                .enumerate()
                .flat_map(|(j, (f, t))| [(f.as_str(), 2 * j), (t.as_str(), 2 * j + 1)]),
        );
        issues.finish(Self {
            pairs,
            simultaneous,
            renamed_away,
            names,
            strict: config.strict,
        })
    }

    /// `at` is scratch space, one slot per pair: where the pair's old name is in the row.
    fn rename_row(&self, r: &mut Record, at: &mut [usize]) -> Result<(), TransformError> {
        if self.pairs.len() > 64 {
            return self.rename_row_slow(r);
        }
        // One pass finds the old names present (and where) and the new names taken.
        let (mut present, mut taken) = (0u64, 0u64);
        for (i, k) in r.keys().enumerate() {
            self.names.each_match(k, |tag| {
                let j = tag / 2;
                if tag % 2 == 0 {
                    present |= 1 << j;
                    if let Some(slot) = at.get_mut(j) {
                        *slot = i;
                    }
                } else {
                    taken |= 1 << j;
                }
            });
        }
        // Check everything first: a rejected row leaves unchanged.
        for (j, (from, to)) in self.pairs.iter().enumerate() {
            if present & (1 << j) == 0 {
                if self.strict {
                    return Err(TransformError::MissingColumn {
                        column: from.to_string(),
                    });
                }
                continue;
            }
            // `to` is taken by a column that stays: renaming would drop its value.
            if !self.renamed_away[j] && taken & (1 << j) != 0 {
                return Err(TransformError::ColumnExists {
                    column: to.to_string(),
                });
            }
        }
        if present == 0 {
            return Ok(());
        }
        if self.simultaneous {
            self.apply(r, present);
        } else {
            // No new name is an old name or a column that stays: each rename is one write.
            for (j, ((_, to), i)) in self.pairs.iter().zip(at.iter()).enumerate() {
                if present & (1 << j) != 0 {
                    r.rename_at(*i, to.clone());
                }
            }
        }
        Ok(())
    }

    /// The general case (more than 64 renames): a scan per name.
    fn rename_row_slow(&self, r: &mut Record) -> Result<(), TransformError> {
        for (from, to) in &self.pairs {
            let present = r.contains_key(from);
            if !present {
                if self.strict {
                    return Err(TransformError::MissingColumn {
                        column: from.to_string(),
                    });
                }
                continue;
            }
            // `to` is taken by a column that stays: renaming would drop its value.
            let renamed_away = self.simultaneous && self.pairs.iter().any(|(f, _)| f == to);
            if !renamed_away && r.contains_key(to) {
                return Err(TransformError::ColumnExists {
                    column: to.to_string(),
                });
            }
        }
        self.apply(r, u64::MAX);
        Ok(())
    }

    /// Renames, once the row is known to take every rename; `present` has the bit of each
    /// pair whose old name is in the row (or all bits, when not known).
    fn apply(&self, r: &mut Record, present: u64) {
        if self.simultaneous {
            let old = std::mem::take(r);
            let mut out = Record::with_capacity(old.len());
            for (k, v) in old {
                match self.pairs.iter().find(|(from, _)| *from == k) {
                    Some((_, to)) => out.push_unchecked(to.clone(), v),
                    None => out.push_unchecked(k, v),
                }
            }
            *r = out;
        } else {
            for (j, (from, to)) in self.pairs.iter().enumerate() {
                if j >= 64 || present & (1 << j) != 0 {
                    r.rename(from, to);
                }
            }
        }
    }
}

impl Transform for RenameColumns {
    fn transform(&self, batch: Batch, rows: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        let mut at = vec![0; self.pairs.len()];
        let mut plans = ShapeCache::default();
        Ok(for_each_row(batch, rows, Reach::Columns, |r| {
            let plan = plans.get(r.columns(), |c| {
                Reshape::of(c, |p| self.rename_row(p, &mut at))
            });
            if plan.apply(r)? {
                return Ok(true);
            }
            self.rename_row(r, &mut at).map(|()| true)
        }))
    }

    /// `output` and every old and new name: whether an old name is there decides a rename (or,
    /// with `strict`, rejects the row), and a new name already taken rejects the row.
    fn input_projection(&self, output: &Projection) -> Projection {
        // Mapping `output` back through the renames would add nothing: every name a rename
        // involves is read, and the other columns keep their names.
        output
            .clone()
            .with(self.pairs.iter().flat_map(|(from, to)| [from, to]))
    }
}

#[cfg(test)]
mod tests {
    use dataforge_core::{Value, record};
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::test_support::{build, build_err, keys, run_one, values};

    #[test]
    fn parses_example_config() {
        let c: RenameColumnsConfig = serde_json::from_value(
            json!({"mapping": {"customer_id": "customer", "name": "order_name"}, "strict": false}),
        )
        .expect("parses");
        assert_eq!(c.mapping.len(), 2);
        assert_eq!(c.mapping.0[0], ("customer_id".into(), "customer".into()));
    }

    #[test]
    fn rejects_unknown_field() {
        let e = build_err::<RenameColumnsFactory>(
            json!({"mapping": {"a": "b"}, "strict": true, "mapping2": {}}),
        );
        assert!(e.to_string().contains("unknown field `mapping2`"), "{e}");
    }

    #[test]
    fn rejects_bad_mappings_at_build() {
        let e = build_err::<RenameColumnsFactory>(json!({"mapping": {}}));
        assert_eq!(e.issues()[0].path, "mapping");
        let e = build_err::<RenameColumnsFactory>(json!({"mapping": {"a": "x", "b": "x"}}));
        assert_eq!(e.issues()[0].path, "mapping.b");
    }

    #[test]
    fn renames_in_place_and_ignores_missing_columns() {
        let t = build::<RenameColumnsFactory>(
            json!({"mapping": {"b": "beta", "zz": "q", "ünï": "uni"}}),
        )
        .expect("builds");
        let (out, rejected) = run_one(
            &t,
            vec![record! {"a" => 1, "b" => 2, "ünï" => "ç", "c" => Value::Null}],
        );
        assert!(rejected.is_empty());
        assert_eq!(keys(&out[0]), ["a", "beta", "uni", "c"]);
        assert_eq!(out[0].get("beta"), Some(&Value::Int(2)));
        assert_eq!(out[0].get("c"), Some(&Value::Null));
    }

    #[test]
    fn strict_rejects_rows_missing_a_source() {
        let t = build::<RenameColumnsFactory>(json!({"mapping": {"a": "b"}, "strict": true}))
            .expect("builds");
        let (out, rejected) = run_one(&t, vec![record! {"a" => 1}, record! {"x" => 1}]);
        assert_eq!(out, vec![record! {"b" => 1}]);
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].reason, "column `a` not found");
        assert_eq!(rejected[0].record, record! {"x" => 1});
    }

    #[test]
    fn swaps_and_chains_happen_at_once() {
        let t = build::<RenameColumnsFactory>(json!({"mapping": {"a": "b", "b": "a"}}))
            .expect("builds");
        let (out, _) = run_one(&t, vec![record! {"a" => 1, "b" => 2, "c" => 3}]);
        assert_eq!(out, vec![record! {"b" => 1, "a" => 2, "c" => 3}]);
        let t = build::<RenameColumnsFactory>(json!({"mapping": {"a": "b", "b": "c"}}))
            .expect("builds");
        let (out, rejected) = run_one(
            &t,
            vec![
                record! {"a" => 1, "b" => 2},
                record! {"a" => 1, "b" => 2, "c" => 3},
            ],
        );
        assert_eq!(out, vec![record! {"b" => 1, "c" => 2}]);
        assert_eq!(rejected[0].reason, "column `c` already exists");
    }

    #[test]
    fn a_taken_name_rejects_the_row_unchanged() {
        let t = build::<RenameColumnsFactory>(json!({"mapping": {"a": "b", "x": "y"}}))
            .expect("builds");
        let row = record! {"x" => 0, "a" => 1, "b" => 2};
        let (out, rejected) = run_one(&t, vec![row.clone()]);
        assert!(out.is_empty());
        assert_eq!(rejected[0].record, row);
        assert_eq!(rejected[0].reason, "column `b` already exists");
    }

    #[test]
    fn more_than_64_renames_take_the_general_path() {
        let mapping: serde_json::Map<String, serde_json::Value> = (0..70)
            .map(|i| (format!("c{i}"), json!(format!("r{i}"))))
            .collect();
        let t = build::<RenameColumnsFactory>(json!({"mapping": mapping, "strict": true}))
            .expect("builds");
        let row: Record = (0..70).map(|i| (format!("c{i}"), i)).collect();
        let (out, rejected) = run_one(&t, vec![row, record! {"c1" => 1, "r2" => 2}]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].get("r69"), Some(&Value::Int(69)));
        assert_eq!(keys(&out[0])[..2], ["r0", "r1"]);
        assert_eq!(rejected[0].reason, "column `c0` not found");
    }

    proptest! {
        #[test]
        fn never_loses_or_invents_values(
            row in crate::test_support::arb_flat_record(),
            mapping in proptest::collection::vec(("[a-e]{1,2}", "[a-g]{1,2}"), 1..5),
        ) {
            let mut seen = std::collections::BTreeMap::new();
            for (from, to) in mapping {
                if !seen.values().any(|t: &String| *t == to) {
                    seen.entry(from).or_insert(to);
                }
            }
            let config = json!({"mapping": seen.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>()});
            let t = build::<RenameColumnsFactory>(config).expect("builds");
            let (out, rejected) = run_one(&t, vec![row.clone()]);
            prop_assert_eq!(out.len() + rejected.len(), 1);
            if let Some(r) = out.first() {
                prop_assert_eq!(r.len(), row.len());
                prop_assert_eq!(values(r), values(&row));
                for (k, v) in row.iter() {
                    let new = seen.get(k.as_str()).map_or(k.as_str(), String::as_str);
                    prop_assert_eq!(r.get(new), Some(v));
                }
            } else {
                prop_assert_eq!(&rejected[0].record, &row);
            }
        }
    }

    #[test]
    fn reads_back_through_the_renames_and_every_name_involved() {
        let t = build::<RenameColumnsFactory>(json!({"mapping": {"a": "b", "c": "d", "e": "e"}}))
            .expect("builds");
        assert_eq!(t.input_projection(&Projection::All), Projection::All);
        assert_eq!(
            t.input_projection(&Projection::only(["b", "x"])),
            Projection::only(["a", "b", "c", "d", "x"])
        );
        assert_eq!(
            t.input_projection(&Projection::All.without(["b", "e", "x"])),
            Projection::All.without(["e", "x"]),
            "`e` is renamed to itself: nothing is read of it"
        );
    }
}
