//! `flatten`: nested objects become prefixed columns.

use compact_str::CompactString;
use dataforge_core::{
    Batch, Columns, ComponentError, ConfigErrors, Projection, Record, RowContext, Transform,
    TransformFactory, Value,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::config::Issues;
use crate::error::TransformError;
use crate::rows::{Reach, for_each_row};

/// Config of `flatten`.
///
/// ```json
/// {"type": "flatten", "separator": "_", "max_depth": 2, "columns": ["customer"]}
/// ```
///
/// `{"customer": {"first_name": "Ada", "address": {"city": "Paris"}}}` becomes
/// `customer_first_name` and `customer_address_city`, in place of `customer`. Arrays stay values
/// (use `explode` for one row per element), and so do empty objects. `max_depth` limits how many
/// levels are opened (1: only the top-level objects; deeper objects stay values); `columns`
/// limits flattening to those top-level columns. A flattened name that is already a column
/// rejects the row rather than overwrite a value.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlattenConfig {
    /// Joins the names of the levels (default `_`).
    #[serde(default = "default_separator")]
    pub separator: String,
    /// How many levels to open (default: all).
    #[serde(default)]
    pub max_depth: Option<usize>,
    /// Only these top-level columns are flattened (default: every object column).
    #[serde(default)]
    pub columns: Option<Vec<String>>,
}

fn default_separator() -> String {
    "_".into()
}

/// Registers `flatten`.
pub struct FlattenFactory;

impl TransformFactory for FlattenFactory {
    const NAME: &'static str = "flatten";
    const DESCRIPTION: &'static str =
        "Turns nested objects into prefixed columns (customer.first_name → customer_first_name)";
    type Config = FlattenConfig;

    fn build(config: Self::Config) -> Result<impl Transform, ConfigErrors> {
        let mut issues = Issues::default();
        if config.separator.is_empty() {
            issues.push("separator", "must not be empty");
        }
        if config.max_depth == Some(0) {
            issues.push("max_depth", "must be at least 1");
        }
        if let Some(c) = &config.columns {
            issues.columns("columns", c);
        }
        issues.finish(Flatten {
            separator: config.separator,
            max_depth: config.max_depth.unwrap_or(usize::MAX),
            columns: config
                .columns
                .map(|c| c.iter().map(CompactString::from).collect()),
        })
    }
}

dataforge_core::register_transform!(FlattenFactory);

/// The `flatten` transform.
#[derive(Debug)]
pub struct Flatten {
    separator: String,
    max_depth: usize,
    columns: Option<Vec<CompactString>>,
}

fn opens(v: &Value) -> bool {
    matches!(v, Value::Object(o) if !o.is_empty())
}

impl Flatten {
    fn selected(&self, key: &str) -> bool {
        self.columns
            .as_ref()
            .is_none_or(|c| c.iter().any(|k| k == key))
    }

    /// `prefix` + separator + `key`. The rows of a batch usually have the same shape, so the
    /// `n`th join of a row is first looked up as the `n`th join of the rows before; otherwise it
    /// is built in a reused buffer and copied once into the name (inline, with no allocation,
    /// up to 24 bytes).
    fn join(&self, prefix: &str, key: &str, s: &mut Scratch) -> CompactString {
        let i = s.next_join;
        s.next_join += 1;
        if let Some((p, k, joined)) = s.joins.get(i)
            && p.as_str() == prefix
            && k.as_str() == key
        {
            return joined.clone();
        }
        s.buf.clear();
        s.buf.push_str(prefix);
        s.buf.push_str(&self.separator);
        s.buf.push_str(key);
        let name = CompactString::from(s.buf.as_str());
        let entry = (prefix.into(), key.into(), name.clone());
        match s.joins.get_mut(i) {
            Some(slot) => *slot = entry,
            None => s.joins.push(entry),
        }
        name
    }

    /// Pass 1, on the borrowed row: the names of the leaves of `obj`, in order.
    fn names(&self, prefix: &str, obj: &Record, depth: usize, s: &mut Scratch) {
        for (k, v) in obj.iter() {
            let name = self.join(prefix, k, s);
            match v {
                Value::Object(inner) if depth < self.max_depth && !inner.is_empty() => {
                    self.names(&name, inner, depth + 1, s);
                }
                _ => s.names.push(name),
            }
        }
    }

    /// Pass 2, moving values: the leaves of `obj`, named by `names` in pass-1 order.
    fn move_leaves(
        &self,
        obj: Record,
        depth: usize,
        names: &mut std::vec::Drain<'_, CompactString>,
        out: &mut Record,
    ) {
        for (_, v) in obj {
            match v {
                Value::Object(inner) if depth < self.max_depth && !inner.is_empty() => {
                    self.move_leaves(inner, depth + 1, names, out);
                }
                v => {
                    if let Some(name) = names.next() {
                        out.push_unchecked(name, v);
                    }
                }
            }
        }
    }

    fn flattens(&self, k: &str, v: &Value) -> bool {
        opens(v) && self.selected(k)
    }

    fn flatten_row(&self, r: &mut Record, s: &mut Scratch) -> Result<(), TransformError> {
        let Some(first) = r.iter().position(|(k, v)| self.flattens(k, v)) else {
            return Ok(());
        };
        s.names.clear();
        s.next_join = 0;
        // A 64-bit signature of the kept names: a flattened name is compared with the row's
        // columns only when its bit is set.
        let mut kept: u64 = 0;
        for (k, v) in r.iter() {
            match v {
                Value::Object(inner) if self.flattens(k, v) => self.names(k, inner, 1, s),
                _ => kept |= signature(k),
            }
        }
        // A flattened name must not repeat a kept column or another flattened name.
        let mut seen: u64 = 0;
        for (i, name) in s.names.iter().enumerate() {
            let bit = signature(name);
            if (kept | seen) & bit != 0 {
                let clash = s.names[..i].contains(name)
                    || r.iter().any(|(k, v)| k == name && !self.flattens(k, v));
                if clash {
                    return Err(TransformError::ColumnExists {
                        column: name.to_string(),
                    });
                }
            }
            seen |= bit;
        }
        // In place: the columns from the first flattened one on leave the row, then come back
        // with the objects replaced by their leaves. The row keeps its allocation (and its
        // spare room, often enough for the new columns).
        s.tail.clear();
        s.tail.extend(r.drain_from(first));
        // One growth for all the new columns. Counting each flattened object too leaves room
        // for a column or two that later transforms add.
        r.reserve_exact(s.tail.len() + s.names.len());
        let mut names = s.names.drain(..);
        for (k, v) in s.tail.drain(..) {
            match v {
                Value::Object(inner) if !inner.is_empty() && self.selected(&k) => {
                    self.move_leaves(inner, 1, &mut names, r);
                }
                v => r.push_unchecked(k, v),
            }
        }
        Ok(())
    }
}

/// One bit per name, from its length and a few bytes.
fn signature(name: &str) -> u64 {
    let b = name.as_bytes();
    let h = match b.len() {
        0 => 0,
        n => n
            .wrapping_mul(31)
            .wrapping_add(usize::from(b[0]).wrapping_mul(7))
            .wrapping_add(usize::from(b[n - 1]).wrapping_mul(13))
            .wrapping_add(usize::from(b[n / 2])),
    };
    1 << (h & 63)
}

/// Buffers reused across the rows of a batch.
#[derive(Default)]
struct Scratch {
    names: Vec<CompactString>,
    tail: Vec<(CompactString, Value)>,
    buf: String,
    /// The joins of the rows before, in order: (prefix, key, name).
    joins: Vec<(CompactString, CompactString, CompactString)>,
    /// How many joins this row made so far.
    next_join: usize,
}

/// Room left in a flattened row for columns that later transforms add (`add_column`), so
/// that adding one does not move the row.
const SPARE: usize = 2;

/// How many shapes a batch's plans cover (rows whose nested objects come and go, or are null
/// in some rows, have a few).
const PLANS: usize = 4;

/// How the rows of one shape flatten, worked out once (see `shape.rs`): which columns open,
/// level by level, and the names of the leaves.
struct Plan {
    top: Level,
    names: Columns,
}

/// One level of a shape: its columns, and what becomes of them, in order.
struct Level {
    columns: Columns,
    steps: Vec<Step>,
    /// Per column: it would open, were it a non-empty object (a selected column, at a depth
    /// still opened).
    may_open: Vec<bool>,
    /// Every column may open (no `columns` list at this level, and the depth allows it).
    all_may_open: bool,
}

/// What becomes of the next columns of a level.
enum Step {
    /// The `n` columns from `at` on stay values (moved as they are, in one go).
    Leaves { at: usize, n: usize },
    /// The column at `at` opens into this level.
    Open { at: usize, level: Level },
}

impl Level {
    /// True when `r` has this shape: the same columns, the same ones opening into the same
    /// shapes, and none of the others opening.
    fn fits(&self, r: &Record) -> bool {
        if !r.columns().same(&self.columns) {
            return false;
        }
        let values = r.values();
        self.steps.iter().all(|step| match step {
            Step::Leaves { at, n } => {
                let (Some(run), Some(may)) =
                    (values.get(*at..at + n), self.may_open.get(*at..at + n))
                else {
                    return false;
                };
                if self.all_may_open {
                    !run.iter().any(opens)
                } else {
                    !run.iter().zip(may).any(|(v, may)| *may && opens(v))
                }
            }
            Step::Open { at, level } => {
                matches!(values.get(*at), Some(Value::Object(inner)) if level.fits(inner))
            }
        })
    }

    /// Moves the leaves of `values` (a row of this shape) to `out`, in order.
    fn move_leaves(&self, values: Vec<Value>, out: &mut Vec<Value>) {
        let mut values = values.into_iter();
        for step in &self.steps {
            match step {
                Step::Leaves { n, .. } => out.extend(values.by_ref().take(*n)),
                Step::Open { level, .. } => match values.next() {
                    Some(Value::Object(inner)) => level.move_leaves(inner.into_parts().1, out),
                    // Not for a row that fits: kept as a value all the same.
                    Some(v) => out.push(v),
                    None => {}
                },
            }
        }
    }
}

impl Flatten {
    fn level(&self, r: &Record, depth: usize, top: bool) -> Level {
        let mut steps = Vec::new();
        let mut may_open = Vec::with_capacity(r.len());
        let mut leaves = 0;
        for (at, (k, v)) in r.iter().enumerate() {
            let may = depth <= self.max_depth && (!top || self.selected(k));
            may_open.push(may);
            match v {
                Value::Object(inner) if may && !inner.is_empty() => {
                    if leaves > 0 {
                        steps.push(Step::Leaves {
                            at: at - leaves,
                            n: leaves,
                        });
                        leaves = 0;
                    }
                    let level = self.level(inner, depth + 1, false);
                    steps.push(Step::Open { at, level });
                }
                _ => leaves += 1,
            }
        }
        if leaves > 0 {
            steps.push(Step::Leaves {
                at: r.len() - leaves,
                n: leaves,
            });
        }
        Level {
            columns: r.columns().clone(),
            steps,
            all_may_open: may_open.iter().all(|&m| m),
            may_open,
        }
    }

    /// Flattens `r` by `plan` (its shape's).
    fn apply(plan: &Plan, r: &mut Record) {
        let (_, values) = std::mem::take(r).into_parts();
        let mut out = Vec::with_capacity(plan.names.len() + SPARE);
        plan.top.move_leaves(values, &mut out);
        // The plan's names are the leaves of its levels, and the row fits the plan: the counts
        // agree, and `from_parts` cannot refuse them.
        debug_assert_eq!(out.len(), plan.names.len());
        *r = Record::from_parts(plan.names.clone(), out).unwrap_or_default();
    }
}

impl Transform for Flatten {
    fn transform(&self, batch: Batch, rows: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        let mut scratch = Scratch::default();
        let mut plans: Vec<Plan> = Vec::new();
        Ok(for_each_row(batch, rows, Reach::Nested, |r| {
            if let Some(plan) = plans.iter().find(|p| p.top.fits(r)) {
                Self::apply(plan, r);
                return Ok(true);
            }
            if !r.iter().any(|(k, v)| self.flattens(k, v)) {
                // Nothing opens: there is no plan to make.
                return Ok(true);
            }
            // A new shape: the per-row code flattens this row (on an error it leaves the row
            // as it was), and the names it gives are the plan's for the rows of this shape.
            let top = self.level(r, 1, true);
            self.flatten_row(r, &mut scratch)?;
            if plans.len() == PLANS {
                plans.pop();
            }
            plans.insert(
                0,
                Plan {
                    top,
                    names: r.columns().clone(),
                },
            );
            Ok(true)
        }))
    }

    /// Every field: a flattened name that is already a column rejects the row.
    fn input_projection(&self, _output: &Projection) -> Projection {
        // The flattened names come from the data (the keys of the nested objects), so any
        // column of the row, whether the rest of the chain reads it or not, may clash with one
        // and reject the row: skipping a field could turn a rejected row into a kept one. And
        // an object column opens into columns whose names cannot be told in advance.
        Projection::All
    }
}

#[cfg(test)]
mod tests {
    use dataforge_core::record;
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::test_support::{build, build_err, keys, run_one};

    fn flat(config: serde_json::Value, row: Record) -> Result<Record, String> {
        let t = build::<FlattenFactory>(config).expect("builds");
        let (mut out, rejected) = run_one(&t, vec![row.clone()]);
        match rejected.into_iter().next() {
            Some(r) => {
                assert_eq!(r.record, row);
                Err(r.reason)
            }
            None => Ok(out.remove(0)),
        }
    }

    fn nested() -> Record {
        serde_json::from_value(json!({
            "id": 1,
            "customer": {"first_name": "Zoë", "address": {"city": "Łódź", "geo": {"lat": 1.5}}, "tags": ["a", {"x": 1}]},
            "empty": {},
            "total": "12.50"
        }))
        .expect("record")
    }

    /// Rows with nothing to open pass untouched: they keep the names they share.
    #[test]
    fn flat_rows_keep_their_shared_names() {
        let t = build::<FlattenFactory>(json!({})).expect("builds");
        let batch: Vec<Record> = (0..3)
            .map(|i| serde_json::from_str(&format!(r#"{{"id":{i},"tags":[{{"a":1}}],"e":{{}}}}"#)))
            .collect::<Result<_, _>>()
            .expect("rows");
        let names = batch[0].columns().clone();
        let (out, rejected) = run_one(&t, batch);
        assert!(rejected.is_empty());
        assert!(out.iter().all(|r| r.columns().same(&names)));
        assert_eq!(out[2].get("id"), Some(&Value::Int(2)));
    }

    #[test]
    fn parses_example_config() {
        let c: FlattenConfig = serde_json::from_value(
            json!({"separator": "_", "max_depth": 2, "columns": ["customer"]}),
        )
        .expect("parses");
        assert_eq!(c.max_depth, Some(2));
        let c: FlattenConfig = serde_json::from_value(json!({})).expect("defaults");
        assert_eq!(c.separator, "_");
    }

    #[test]
    fn rejects_unknown_field() {
        let e = build_err::<FlattenFactory>(json!({"sep": "."}));
        assert!(e.to_string().contains("unknown field `sep`"), "{e}");
        let e = build_err::<FlattenFactory>(json!({"separator": "", "max_depth": 0}));
        let paths: Vec<&str> = e.issues().iter().map(|i| i.path.as_str()).collect();
        assert_eq!(paths, ["separator", "max_depth"]);
    }

    #[test]
    fn flattens_every_level_and_keeps_arrays_and_empty_objects() {
        let r = flat(json!({}), nested()).expect("flattens");
        assert_eq!(
            keys(&r),
            [
                "id",
                "customer_first_name",
                "customer_address_city",
                "customer_address_geo_lat",
                "customer_tags",
                "empty",
                "total"
            ]
        );
        assert_eq!(r.get("customer_address_city"), Some(&Value::from("Łódź")));
        assert_eq!(
            r.get("customer_tags").map(Value::to_json),
            Some(json!(["a", {"x": 1}]))
        );
        assert_eq!(r.get("empty"), Some(&Value::Object(Record::new())));
    }

    #[test]
    fn max_depth_and_separator() {
        let r = flat(json!({"max_depth": 1, "separator": "."}), nested()).expect("flattens");
        assert_eq!(
            keys(&r),
            [
                "id",
                "customer.first_name",
                "customer.address",
                "customer.tags",
                "empty",
                "total"
            ]
        );
        assert_eq!(
            r.get("customer.address").map(Value::to_json),
            Some(json!({"city": "Łódź", "geo": {"lat": 1.5}}))
        );
    }

    #[test]
    fn only_listed_columns() {
        let row = record! {"a" => record! {"x" => 1}, "b" => record! {"y" => 2}};
        let r = flat(json!({"columns": ["b"]}), row).expect("flattens");
        assert_eq!(keys(&r), ["a", "b_y"]);
    }

    #[test]
    fn deep_nesting() {
        let mut v = Value::from("bottom");
        for _ in 0..100 {
            v = Value::Object(record! {"n" => v});
        }
        let r = flat(json!({}), record! {"top" => v}).expect("flattens");
        assert_eq!(r.len(), 1);
        let (k, v) = r.iter().next().expect("one column");
        assert_eq!(k.len(), 3 + 100 * 2);
        assert_eq!(v, &Value::from("bottom"));
    }

    #[test]
    fn a_clash_rejects_the_row() {
        let row = record! {"a_b" => 1, "a" => record! {"b" => 2}};
        assert_eq!(
            flat(json!({}), row),
            Err("column `a_b` already exists".into())
        );
        let row = record! {"a" => record! {"b_c" => 1, "b" => record! {"c" => 2}}};
        assert_eq!(
            flat(json!({}), row),
            Err("column `a_b_c` already exists".into())
        );
    }

    #[test]
    fn flat_rows_pass_untouched() {
        let row = record! {"a" => 1, "b" => Value::Null, "c" => vec![Value::Int(1)]};
        assert_eq!(flat(json!({}), row.clone()), Ok(row));
    }

    fn leaves(v: &Value, out: &mut Vec<Value>) {
        match v {
            Value::Object(o) if !o.is_empty() => o.iter().for_each(|(_, v)| leaves(v, out)),
            other => out.push(other.clone()),
        }
    }

    proptest! {
        /// Rows of different shapes in one batch (the names cached from one row must not leak
        /// into the next) flatten as they do alone.
        #[test]
        fn a_batch_flattens_as_its_rows_alone(rows in proptest::collection::vec(crate::test_support::arb_nested_record(), 1..6)) {
            let t = build::<FlattenFactory>(json!({})).expect("builds");
            let (together, rejected_together) = run_one(&t, rows.clone());
            let mut alone = Vec::new();
            let mut rejected_alone = Vec::new();
            for r in rows {
                let (out, rejected) = run_one(&t, vec![r]);
                alone.extend(out);
                rejected_alone.extend(rejected);
            }
            prop_assert_eq!(together, alone);
            prop_assert_eq!(rejected_together, rejected_alone);
        }

        #[test]
        fn never_loses_or_invents_values(row in crate::test_support::arb_nested_record()) {
            let t = build::<FlattenFactory>(json!({"separator": "."})).expect("builds");
            let (out, rejected) = run_one(&t, vec![row.clone()]);
            let mut want = Vec::new();
            row.iter().for_each(|(_, v)| leaves(v, &mut want));
            if let Some(r) = out.first() {
                let got: Vec<Value> = r.iter().map(|(_, v)| v.clone()).collect();
                prop_assert_eq!(got, want);
                for (k, v) in r.iter() {
                    let mut cur = Value::Object(row.clone());
                    for part in k.split('.') {
                        cur = cur.as_object().and_then(|o| o.get(part)).cloned().unwrap_or(Value::Null);
                    }
                    prop_assert_eq!(&cur, v);
                }
            } else {
                prop_assert_eq!(&rejected[0].record, &row);
            }
        }
    }

    #[test]
    fn reads_every_field() {
        let t = build::<FlattenFactory>(json!({"columns": ["customer"]})).expect("builds");
        for output in [
            Projection::All,
            Projection::only(["customer_id"]),
            Projection::All.without(["x"]),
        ] {
            assert_eq!(t.input_projection(&output), Projection::All, "{output}");
        }
    }
}
