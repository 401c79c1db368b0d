//! The columns an expression reads, for projection pushdown (`filter` and `add_column` tell
//! the runner what they read of a row).
//!
//! A name is resolved as the expression module's resolver and the native path resolve it:
//! `a.b.c` is the column `a.b.c`, else `a.b` with `c` selected, else `a` (CEL tries the longest
//! first), so each of them counts; a leading dot (`.a`, an absolute name) is CEL's `a`, and the
//! native path's column `.a`: both count. `run` and `run.…` are the run, never a column. `row`
//! is the whole row: `row.x`, `row["x"]` and `has(row.x)` read the column `x` (and `row.x` the
//! column `row.x` too, tried first), any other use of it may read every column. The list is a
//! superset: a comprehension's variables (`items.exists(i, i > 1)`) count as columns too, which
//! only reads a little more.

use std::collections::BTreeSet;

use cel::IdedExpr;
use cel::common::ast::{EntryExpr, Expr, LiteralValue, operators};
use compact_str::CompactString;

/// The columns `expr` may read, or `None` when it may read any of them (it uses `row` as a
/// whole, or indexes it with a key that is not a string literal).
pub(crate) fn columns(expr: &IdedExpr) -> Option<BTreeSet<CompactString>> {
    let mut out = BTreeSet::new();
    walk(expr, &mut out).then_some(out)
}

/// Adds the columns `e` reads to `out`; false when it may read any.
fn walk(e: &IdedExpr, out: &mut BTreeSet<CompactString>) -> bool {
    match &e.expr {
        Expr::Unspecified | Expr::Literal(_) => true,
        Expr::Ident(_) => segments(e).is_some_and(|segs| name(&segs, out)),
        Expr::Select(s) if s.test => match segments(&s.operand) {
            // `has(a.b)` reads what `a.b` would (a little more: only `a` is resolved).
            Some(mut segs) => {
                segs.push(&s.field);
                name(&segs, out)
            }
            None => walk(&s.operand, out),
        },
        Expr::Select(s) => match segments(e) {
            Some(segs) => name(&segs, out),
            None => walk(&s.operand, out),
        },
        Expr::Call(c) => {
            if c.target.is_none()
                && c.func_name == operators::INDEX
                && let [target, key] = c.args.as_slice()
                && segments(target).is_some_and(|segs| is_row(&segs))
                && let Expr::Literal(LiteralValue::String(key)) = &key.expr
            {
                // `row["x"]`: the column `x`.
                out.insert(CompactString::from(key.inner()));
                return true;
            }
            c.target.as_deref().is_none_or(|t| walk(t, out)) && c.args.iter().all(|a| walk(a, out))
        }
        Expr::List(l) => l.elements.iter().all(|x| walk(x, out)),
        Expr::Map(m) => m.entries.iter().all(|x| entry(&x.expr, out)),
        Expr::Struct(s) => s.entries.iter().all(|x| entry(&x.expr, out)),
        Expr::Comprehension(c) => [
            &c.iter_range,
            &c.accu_init,
            &c.loop_cond,
            &c.loop_step,
            &c.result,
        ]
        .into_iter()
        .all(|x| walk(x, out)),
    }
}

fn entry(e: &EntryExpr, out: &mut BTreeSet<CompactString>) -> bool {
    match e {
        EntryExpr::StructField(f) => walk(&f.value, out),
        EntryExpr::MapEntry(m) => walk(&m.key, out) && walk(&m.value, out),
    }
}

/// The segments of `a.b.c` (an identifier and field selections on it), root first.
fn segments(expr: &IdedExpr) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let mut e = expr;
    loop {
        match &e.expr {
            Expr::Ident(n) => {
                out.push(n.as_str());
                out.reverse();
                return Some(out);
            }
            Expr::Select(s) if !s.test => {
                out.push(s.field.as_str());
                e = &s.operand;
            }
            _ => return None,
        }
    }
}

/// True when the name is `row` alone (or `.row`).
fn is_row(segs: &[&str]) -> bool {
    matches!(segs, [root] if root.strip_prefix('.').unwrap_or(root) == "row")
}

/// Adds the columns the name `segs` may resolve to; false when it is `row` as a whole.
fn name(segs: &[&str], out: &mut BTreeSet<CompactString>) -> bool {
    let Some(first) = segs.first() else {
        return true;
    };
    let root = first.strip_prefix('.').unwrap_or(first);
    match (root, segs.get(1)) {
        ("run", _) => return true,
        ("row", None) => return false,
        ("row", Some(column)) => {
            out.insert((*column).into());
        }
        _ => {}
    }
    // Each of `a`, `a.b`, `a.b.c` may be a column (`row` alone is the row), with and without
    // a leading dot.
    for len in 1..=segs.len() {
        if len == 1 && root == "row" {
            continue;
        }
        let raw = segs.get(..len).unwrap_or_default().join(".");
        out.insert(raw.strip_prefix('.').unwrap_or(&raw).into());
        out.insert(raw.into());
    }
    true
}

#[cfg(test)]
mod tests {
    use super::super::Expression;

    fn reads(source: &str) -> Option<Vec<String>> {
        let e = Expression::compile(source).expect("compiles");
        e.columns()
            .map(|c| c.into_iter().map(|n| n.to_string()).collect())
    }

    #[test]
    fn lists_the_columns_an_expression_reads() {
        assert_eq!(
            reads("financial_status == \"paid\" && total_price > 100.0"),
            Some(vec!["financial_status".into(), "total_price".into()])
        );
        assert_eq!(
            reads("customer.first_name + \" \" + run.id"),
            Some(vec!["customer".into(), "customer.first_name".into()])
        );
        assert_eq!(reads("run.ds == \"2026-01-01\" && 1 < 2"), Some(vec![]));
        assert_eq!(
            reads("row.x + row[\"first name\"] + (has(row.y) ? 1 : 0)"),
            Some(vec![
                "first name".into(),
                "row.x".into(),
                "row.y".into(),
                "x".into(),
                "y".into()
            ])
        );
        assert_eq!(
            reads("size(tags) > 0 && name.startsWith(\"Zo\") && .abs > 1"),
            Some(vec![
                ".abs".into(),
                "abs".into(),
                "name".into(),
                "tags".into()
            ])
        );
        let items = reads("items.exists(i, i.sku == \"A\")").expect("known");
        assert!(items.contains(&"items".to_owned()), "{items:?}");
        assert_eq!(
            reads("{\"k\": a, b: [c]}"),
            Some(vec!["a".into(), "b".into(), "c".into()])
        );
    }

    #[test]
    fn the_whole_row_is_every_column() {
        for source in [
            "size(row) > 2",
            "row[key] == 1",
            "row == {}",
            "\"x\" in row",
            "[row].size() == 1",
        ] {
            assert_eq!(reads(source), None, "{source}");
        }
    }
}
