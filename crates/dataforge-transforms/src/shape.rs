//! Plans made once per row shape: what a transform does to a row's columns, worked out for the
//! first row with those [`Columns`] and reused, by position, for the rows that share them.
//!
//! Rows of a batch share their column names (see `dataforge_core::Columns`), so telling that a
//! row has the shape of the row before costs one pointer comparison. A transform whose effect
//! on the names does not depend on the values (renaming, casting, adding a column) makes its
//! plan from the names alone; the rows then pay no name comparisons at all.

use dataforge_core::{Columns, Record, Value};

use crate::error::TransformError;

/// The plan for the last shape seen.
pub(crate) struct ShapeCache<P> {
    last: Option<(Columns, P)>,
}

impl<P> Default for ShapeCache<P> {
    fn default() -> Self {
        Self { last: None }
    }
}

impl<P> ShapeCache<P> {
    /// The plan for `columns`: the last one when the columns are the same list, or equal names
    /// in another list; else `make`'s.
    pub(crate) fn get(&mut self, columns: &Columns, make: impl FnOnce(&Columns) -> P) -> &P {
        let fresh = match &mut self.last {
            Some((c, _)) if c.same(columns) => false,
            Some((c, _)) if c == columns => {
                // Equal names in another list (parsing hands out a fresh copy now and then):
                // the plan holds; remember this list so the next rows compare pointers.
                *c = columns.clone();
                false
            }
            _ => true,
        };
        if fresh {
            self.last = None;
        }
        &self
            .last
            .get_or_insert_with(|| (columns.clone(), make(columns)))
            .1
    }
}

/// A record of `columns` whose values are their positions (`Int(0)`, `Int(1)`, ...): run
/// through a transform that ignores values, it shows where each column ends.
fn probe(columns: &Columns) -> Record {
    let values = (0..columns.len() as i64).map(Value::Int).collect();
    Record::from_parts(columns.clone(), values).unwrap_or_default()
}

/// Where each column of a probed record came from: the input position of each output value.
fn origins(probed: &Record) -> Option<Vec<usize>> {
    probed
        .values()
        .iter()
        .map(|v| v.as_i64().and_then(|i| usize::try_from(i).ok()))
        .collect()
}

/// How a transform that ignores values (`rename_columns`, `select_columns`, `drop_columns`)
/// reshapes the rows of one shape.
pub(crate) enum Reshape {
    /// Nothing changes.
    Keep,
    /// Every value keeps its place; the row takes these names.
    Rename(Columns),
    /// The values at `origins`, in that order, under `columns`; the others are dropped.
    Take {
        columns: Columns,
        origins: Vec<usize>,
    },
    /// The row is rejected, for this reason.
    Reject(TransformError),
    /// Not a move of values (worked out row by row).
    Row,
}

impl Reshape {
    /// What `f` does to rows of `columns`, seen on a probe.
    pub(crate) fn of(
        columns: &Columns,
        f: impl FnOnce(&mut Record) -> Result<(), TransformError>,
    ) -> Self {
        let mut p = probe(columns);
        if let Err(e) = f(&mut p) {
            return Self::Reject(e);
        }
        let Some(origins) = origins(&p) else {
            return Self::Row;
        };
        let mut seen = vec![false; columns.len()];
        let moves = origins
            .iter()
            .all(|&i| seen.get_mut(i).is_some_and(|s| !std::mem::replace(s, true)));
        if !moves {
            return Self::Row;
        }
        let identity =
            origins.len() == columns.len() && origins.iter().enumerate().all(|(i, &j)| i == j);
        if identity && p.columns() == columns {
            Self::Keep
        } else if identity {
            Self::Rename(p.columns().clone())
        } else {
            Self::Take {
                columns: p.columns().clone(),
                origins,
            }
        }
    }

    /// Reshapes `r`, a row of the shape this was made for: `Ok(false)` when it must be worked
    /// out row by row; on `Err` the row is as it was.
    pub(crate) fn apply(&self, r: &mut Record) -> Result<bool, TransformError> {
        match self {
            Self::Keep => Ok(true),
            Self::Rename(columns) => Ok(r.set_columns(columns)),
            Self::Row => Ok(false),
            Self::Reject(e) => Err(e.clone()),
            Self::Take { columns, origins } => {
                let (_, mut values) = std::mem::take(r).into_parts();
                let out = origins
                    .iter()
                    .map(|&i| values.get_mut(i).map(std::mem::take).unwrap_or_default())
                    .collect();
                // `origins` has one position per name of `columns`: `from_parts` takes them.
                *r = Record::from_parts(columns.clone(), out).unwrap_or_default();
                Ok(true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use compact_str::CompactString;

    use super::*;

    fn columns(names: &[&str]) -> Columns {
        Columns::new(names.iter().map(|&n| CompactString::from(n)).collect())
    }

    #[test]
    fn a_plan_is_made_once_per_shape() {
        let mut cache = ShapeCache::default();
        let mut made = 0;
        let a = columns(&["a", "b"]);
        let a_copy = columns(&["a", "b"]);
        let c = columns(&["c"]);
        for cols in [&a, &a, &a_copy, &a, &c, &a] {
            let plan = *cache.get(cols, |c| {
                made += 1;
                c.len()
            });
            assert_eq!(plan, cols.len());
        }
        assert_eq!(
            made, 3,
            "a, then c, then a again; the equal copy reuses a's plan"
        );
    }

    /// Rows of mixed shapes, parsed as a source parses them: rows of one shape share their
    /// columns, and shapes change from row to row.
    fn mixed_rows() -> Vec<Record> {
        let customer = r#"{"id":1,"name":"a","customer":{"id":7,"first_name":"Zoë"},"total":"12.50","tags":[{"x":1}]}"#;
        [
            customer,
            customer,
            r#"{"id":2,"name":"b","customer":null,"total":"3"}"#,
            customer,
            r#"{"id":3,"name":"c","customer":{"id":8,"first_name":"Ada"},"total":"x","tags":[]}"#,
            r#"{"id":4,"name":"d","customer":{},"total":"1.5","tags":null}"#,
            r#"{"id":5,"name":"e","customer":{"id":9,"first_name":"L","addr":{"city":"P"}},"total":"2","tags":[]}"#,
            r#"{"id":6,"customer_id":1,"customer":{"id":2},"total":"1","name":"f","tags":[]}"#,
            r#"{"id":1,"name":"a","customer":"none","total":"12.50","tags":[{"x":1}]}"#,
            customer,
            r#"{"total":"2","id":1}"#,
            r#"{"total":"2","id":1}"#,
        ]
        .iter()
        .map(|t| serde_json::from_str(t).expect("row"))
        .collect()
    }

    /// Each transform that plans per shape gives, on a batch of mixed shapes, what it gives
    /// on each row alone (where every row makes its plan anew).
    #[test]
    fn plans_give_what_row_by_row_gives() {
        use serde_json::json;

        use crate::test_support::{build, run_one};
        use crate::{add_column, cast, drop, flatten, rename, select};

        let transforms = [
            build::<flatten::FlattenFactory>(json!({})),
            build::<flatten::FlattenFactory>(json!({"max_depth": 1, "columns": ["customer"]})),
            build::<rename::RenameColumnsFactory>(
                json!({"mapping": {"name": "order_name", "customer_id": "customer"}}),
            ),
            build::<rename::RenameColumnsFactory>(json!({"mapping": {"id": "name"}})),
            build::<rename::RenameColumnsFactory>(
                json!({"mapping": {"id": "name", "name": "id"}, "strict": true}),
            ),
            build::<cast::CastFactory>(json!({"columns": {"total": "float", "id": "string"}})),
            build::<add_column::AddColumnFactory>(json!({"name": "twice", "expr": "id * 2"})),
            build::<add_column::AddColumnFactory>(json!({"name": "id", "value": 0})),
            build::<select::SelectColumnsFactory>(json!({"columns": ["total", "id", "gone"]})),
            build::<select::SelectColumnsFactory>(json!({"columns": ["name"], "strict": true})),
            build::<drop::DropColumnsFactory>(json!({"columns": ["customer", "gone"]})),
        ];
        for (i, t) in transforms.into_iter().enumerate() {
            let t = t.expect("builds");
            let (batch_out, batch_rejected) = run_one(&t, mixed_rows());
            let mut alone_out = Vec::new();
            let mut alone_rejected = Vec::new();
            for row in mixed_rows() {
                let (out, rejected) = run_one(&t, vec![row]);
                alone_out.extend(out);
                alone_rejected.extend(rejected.into_iter().map(|r| (r.record, r.reason)));
            }
            let batch_rejected: Vec<_> = batch_rejected
                .into_iter()
                .map(|r| (r.record, r.reason))
                .collect();
            assert_eq!(batch_out, alone_out, "transform {i}");
            assert_eq!(batch_rejected, alone_rejected, "transform {i}");
            assert!(!batch_out.is_empty(), "transform {i}");
        }
    }

    #[test]
    fn a_flattened_batch_keeps_every_shape_apart() {
        use serde_json::json;

        use crate::flatten::FlattenFactory;
        use crate::test_support::{build, keys, run_one};

        let t = build::<FlattenFactory>(json!({})).expect("builds");
        let (out, rejected) = run_one(&t, mixed_rows());
        let shapes: Vec<Vec<&str>> = out.iter().map(keys).collect();
        let customer = [
            "id",
            "name",
            "customer_id",
            "customer_first_name",
            "total",
            "tags",
        ];
        assert_eq!(shapes[0], customer);
        assert_eq!(shapes[2], ["id", "name", "customer", "total"]);
        assert_eq!(
            shapes[6][2..6],
            [
                "customer_id",
                "customer_first_name",
                "customer_addr_city",
                "total"
            ]
        );
        assert_eq!(
            shapes[7],
            ["id", "name", "customer", "total", "tags"],
            "the string stays"
        );
        assert_eq!(shapes[8], customer);
        assert_eq!(out[8].get("customer_first_name"), Some(&Value::from("Zoë")));
        assert_eq!(rejected.len(), 1, "customer_id clashes");
        assert_eq!(rejected[0].record.get("id"), Some(&Value::Int(6)));
    }

    /// Rows of one shape come out of a planned select or drop sharing their new names: the
    /// plan, not the row-by-row code, made them.
    #[test]
    fn selected_and_dropped_rows_share_their_names() {
        use serde_json::json;

        use crate::test_support::{build, keys, run_one};
        use crate::{drop, select};

        for t in [
            build::<select::SelectColumnsFactory>(json!({"columns": ["total", "id"]})),
            build::<drop::DropColumnsFactory>(json!({"columns": ["customer"]})),
        ] {
            let (out, _) = run_one(&t.expect("builds"), mixed_rows());
            assert!(out[0].columns().same(out[1].columns()));
            assert!(!out[0].columns().same(out[2].columns()), "another shape");
            assert!(!keys(&out[0]).contains(&"customer"));
        }
    }

    #[test]
    fn probes_show_where_columns_go() {
        let mut r = probe(&columns(&["a", "b", "c"]));
        r.rename("c", "a");
        assert_eq!(r.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!(origins(&r), Some(vec![1, 2]));
    }
}
