//! Projection pushdown changes no result: random rows (JSON text) through random chains of
//! the built-in transforms give the same rows, and the same rejections at each step, whether
//! every field is parsed or only those the chain's source projection keeps
//! (`Record::from_json_projected`, as the file source parses).
//!
//! The rows draw their fields from a small pool of names, so that the transforms' column lists
//! meet them often; the pool has names that clash when flattened or exploded (`a` holding an
//! object with `b`, and `a_b`; elements with `b` and `c` exploded with an empty prefix), values
//! of every JSON kind (numbers as strings too), and repeats (for `deduplicate` and `unique`).

use std::sync::Arc;

use dataforge_core::chrono::DateTime;
use dataforge_core::test_utils::{CollectingDestination, MemorySource};
use dataforge_core::{
    Batch, OnError, Pipeline, ProjectedParser, Projection, Record, Registry, Rejected, RowContext,
    RunContext, Transform,
};
use dataforge_transforms as _;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use proptest::test_runner::Config;
use serde_json::{Map, Value as Json, json};

/// The field names of the rows and of the configs.
const NAMES: [&str; 10] = ["a", "a_b", "b", "c", "id", "n", "s", "t", "tags", "x"];

/// Field values, as JSON text.
const VALUES: &[&str] = &[
    "null",
    "true",
    "false",
    "0",
    "1",
    "2",
    "-3",
    "1.5",
    "123456789012345678901234",
    r#""12""#,
    r#""1.5""#,
    r#""abc""#,
    r#"" Ab ""#,
    r#""""#,
    r#""2026-03-04""#,
    r#""yes""#,
    r#""{\"b\": 1}""#,
    "[]",
    "[1, 2]",
    r#"[{"b": 1, "c": "x"}, {"b": 2}]"#,
    r#"["a", null]"#,
    "{}",
    r#"{"b": 1}"#,
    r#"{"b": {"c": 2}, "c": "x"}"#,
    r#"{"b": null, "d": [1]}"#,
    r#"{"c": "AB"}"#,
];

/// `filter` conditions over the pool (column tests, presence, the whole row, the run).
const CONDITIONS: &[&str] = &[
    "n > 1",
    "id == 1",
    "has(row.s)",
    r#"s == "abc""#,
    "b != null",
    "size(row) > 3",
    "a.b == 1",
    "x",
    "c < 2 || b == 1",
    "row.t == 1",
    r#"row["a_b"] != 0"#,
    "!has(row.c) && n != 2",
    r#"s.startsWith("a")"#,
    "tags.exists(e, e == 1)",
    r#"run.ds == "2026-03-04""#,
    "id in [0, 1]",
    "a_b == null || a_b == 1",
    r#"has(a.b) && a.b.c == 2"#,
];

/// `add_column` expressions over the pool.
const EXPRESSIONS: &[&str] = &[
    "n * 2",
    r#"s + "!""#,
    "id",
    "has(row.b)",
    "row.c",
    "size(row)",
    "a.b",
    "run.id",
    r#"row["a_b"]"#,
    "c == null ? 0 : 1",
    "[n, id]",
    r#"{"k": s}"#,
    "string(n)",
];

fn registry() -> &'static Registry {
    Registry::global().expect("the transforms are linked")
}

/// `k` distinct names of the pool, in a random order.
fn names(k: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Vec<&'static str>> {
    subsequence(NAMES.to_vec(), k).prop_shuffle()
}

fn value() -> impl Strategy<Value = Json> {
    select(VALUES).prop_map(|v| serde_json::from_str(v).expect("valid JSON"))
}

/// A row as JSON text: some names of the pool, in a random order.
fn row() -> impl Strategy<Value = String> {
    (
        names(0..=NAMES.len()),
        proptest::collection::vec(select(VALUES), NAMES.len()),
    )
        .prop_map(|(names, values)| {
            let fields: Vec<String> = names
                .iter()
                .zip(values)
                .map(|(n, v)| format!("\"{n}\": {v}"))
                .collect();
            format!("{{{}}}", fields.join(", "))
        })
}

fn object<'a>(entries: impl IntoIterator<Item = (&'a str, Json)>) -> Json {
    Json::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<Map<_, _>>(),
    )
}

fn add_column() -> impl Strategy<Value = Json> {
    let source = prop_oneof![
        select(EXPRESSIONS).prop_map(|e| ("expr", json!(e))),
        value().prop_map(|v| ("value", v)),
    ];
    (select(&NAMES[..]), source).prop_map(|(name, (key, v))| {
        object([
            ("type", json!("add_column")),
            ("name", json!(name)),
            (key, v),
        ])
    })
}

fn cast() -> impl Strategy<Value = Json> {
    const TYPES: &[&str] = &[
        "string",
        "integer",
        "float",
        "decimal",
        "boolean",
        "timestamp",
        "date",
        "json",
    ];
    let types = proptest::collection::vec(select(TYPES).prop_map(|t| json!(t)), 3);
    (names(1..=3), types, any::<bool>()).prop_map(|(columns, types, strict)| {
        json!({"type": "cast", "columns": object(columns.into_iter().zip(types)), "strict": strict})
    })
}

fn deduplicate() -> impl Strategy<Value = Json> {
    (names(1..=2), select(&["first", "last"][..]))
        .prop_map(|(keys, keep)| json!({"type": "deduplicate", "keys": keys, "keep": keep}))
}

fn drop_columns() -> impl Strategy<Value = Json> {
    names(1..=3).prop_map(|c| json!({"type": "drop_columns", "columns": c}))
}

fn explode() -> impl Strategy<Value = Json> {
    // With an empty prefix, the elements' `b` and `c` clash with those columns; with `a_`,
    // `b` clashes with `a_b`.
    const PREFIXES: &[Option<&str>] = &[None, Some(""), Some("a_")];
    (select(&["tags", "a", "x", "c"][..]), select(PREFIXES)).prop_map(|(field, prefix)| {
        let mut c = json!({"type": "explode", "field": field});
        if let Some(p) = prefix {
            c["prefix"] = json!(p);
        }
        c
    })
}

fn fill_null() -> impl Strategy<Value = Json> {
    // A null default is refused: 0 instead.
    let defaults = proptest::collection::vec(
        value().prop_map(|v| if v.is_null() { json!(0) } else { v }),
        2,
    );
    (names(1..=2), defaults).prop_map(|(columns, defaults)| {
        json!({"type": "fill_null", "values": object(columns.into_iter().zip(defaults))})
    })
}

fn filter() -> impl Strategy<Value = Json> {
    select(CONDITIONS).prop_map(|e| json!({"type": "filter", "expr": e}))
}

fn flatten() -> impl Strategy<Value = Json> {
    const COLUMNS: &[Option<&[&str]>] = &[None, Some(&["a"]), Some(&["a", "x"])];
    (select(&["_", "."][..]), any::<bool>(), select(COLUMNS)).prop_map(
        |(separator, one_level, columns)| {
            let mut c = json!({"type": "flatten", "separator": separator});
            if one_level {
                c["max_depth"] = json!(1);
            }
            if let Some(columns) = columns {
                c["columns"] = json!(columns);
            }
            c
        },
    )
}

fn hash() -> impl Strategy<Value = Json> {
    names(1..=2).prop_map(|c| json!({"type": "hash", "columns": c}))
}

fn rename_columns() -> impl Strategy<Value = Json> {
    // Distinct new names: a permutation of the pool, cut to the old names' length.
    let to = Just(NAMES.to_vec()).prop_shuffle();
    (names(1..=3), to, any::<bool>()).prop_map(|(from, to, strict)| {
        let mapping = object(from.into_iter().zip(to.into_iter().map(|t| json!(t))));
        json!({"type": "rename_columns", "mapping": mapping, "strict": strict})
    })
}

fn select_columns() -> impl Strategy<Value = Json> {
    (names(1..=4), any::<bool>())
        .prop_map(|(c, strict)| json!({"type": "select_columns", "columns": c, "strict": strict}))
}

fn string() -> impl Strategy<Value = Json> {
    (
        names(1..=2),
        select(&["trim", "lower", "upper", "replace"][..]),
    )
        .prop_map(|(c, op)| {
            let mut config = json!({"type": "string", "columns": c, "op": op});
            if op == "replace" {
                config["pattern"] = json!("[0-9]");
                config["replacement"] = json!("#");
            }
            config
        })
}

fn validate() -> impl Strategy<Value = Json> {
    let rule = prop_oneof![
        Just(json!({"required": true})),
        select(&["string", "integer", "number", "object", "array"][..])
            .prop_map(|t| json!({"type": t})),
        Just(json!({"min": 0})),
        Just(json!({"max": 1})),
        Just(json!({"pattern": "^a"})),
        Just(json!({"one_of": [1, "abc", null]})),
        Just(json!({"unique": true})),
        Just(json!({"required": true, "type": "integer", "unique": true})),
    ];
    (names(1..=2), proptest::collection::vec(rule, 2)).prop_map(|(columns, rules)| {
        json!({"type": "validate", "rules": object(columns.into_iter().zip(rules))})
    })
}

/// A valid config of one of the 13 built-in transforms, over the pool. Only a chain with a
/// `drop_columns` or `select_columns` skips fields (the destination reads every field), and
/// `flatten` and `explode` read every field: those are drawn more and these less often, so
/// that about half the cases skip fields of their rows.
fn transform() -> impl Strategy<Value = Json> {
    prop_oneof![
        3 => add_column(),
        3 => cast(),
        3 => deduplicate(),
        5 => drop_columns(),
        1 => explode(),
        3 => fill_null(),
        3 => filter(),
        1 => flatten(),
        3 => hash(),
        3 => rename_columns(),
        5 => select_columns(),
        3 => string(),
        3 => validate(),
    ]
}

/// A rejection's reason, comparable from one run to the next: CEL's messages show a map's
/// entries in hash order, which differs from one map to the next, so a reason that shows a
/// map is kept as its characters in order (the same characters in any order compare equal).
fn reason(r: Rejected) -> String {
    if r.reason.contains("Map {") {
        let mut chars: Vec<char> = r.reason.chars().collect();
        chars.sort_unstable();
        format!(
            "(a map, unordered) {}",
            chars.into_iter().collect::<String>()
        )
    } else {
        r.reason
    }
}

/// What a chain gave: the rows out, and the reasons of each step's rejections.
type Outcome = Result<(Batch, Vec<Vec<String>>), String>;

/// Runs `chain` on `rows` as the runner does: each batch through every step (the rejected
/// rows leave the flow), then every step's `finish` in order, the rows it releases going
/// through the steps after it. A fresh run context: per-run state starts empty.
fn run(chain: &[Arc<dyn Transform>], rows: Vec<Record>, batch_size: usize) -> Outcome {
    let date = DateTime::parse_from_rfc3339("2026-03-04T05:06:07Z")
        .expect("date")
        .to_utc();
    let ctx = RunContext::builder("pushdown")
        .run_id("run-1")
        .logical_date(date)
        .build();
    let mut reasons = vec![Vec::new(); chain.len()];
    let mut out = Vec::new();
    for chunk in rows.chunks(batch_size) {
        let mut batch = chunk.to_vec();
        for (i, t) in chain.iter().enumerate() {
            let mut rows = RowContext::new(&ctx);
            batch = t.transform(batch, &mut rows).map_err(|e| e.to_string())?;
            reasons[i].extend(rows.take_rejected().into_iter().map(reason));
        }
        out.extend(batch);
    }
    let mut carried: Batch = Vec::new();
    for (i, t) in chain.iter().enumerate() {
        let mut rows = RowContext::new(&ctx);
        if !carried.is_empty() {
            carried = t.transform(carried, &mut rows).map_err(|e| e.to_string())?;
        }
        carried.extend(t.finish(&mut rows).map_err(|e| e.to_string())?);
        reasons[i].extend(rows.take_rejected().into_iter().map(reason));
    }
    out.extend(carried);
    Ok((out, reasons))
}

/// The chain's source projection, folded as `Pipeline::source_projection` folds it: from the
/// last step back, starting from every field.
fn source_projection(chain: &[Arc<dyn Transform>]) -> Projection {
    chain
        .iter()
        .rev()
        .fold(Projection::All, |p, t| t.input_projection(&p))
}

fn config() -> Config {
    Config {
        cases: 1024,
        failure_persistence: None,
        ..Config::default()
    }
}

/// What pushdown is checked on: the chain's source projection, and what the chain gives on
/// `rows` parsed whole and parsed with that projection.
struct Compared {
    projection: Projection,
    full: Outcome,
    projected: Outcome,
}

/// Builds the chain of `configs` (through the registry, as a pipeline config is built), checks
/// that its folded projection is `Pipeline::source_projection`'s, and runs it on `rows` parsed
/// both ways.
fn compare(rows: &[String], configs: &[Json], batch_size: usize) -> Compared {
    let built: Vec<_> = configs
        .iter()
        .map(|c| registry().build_transform(c).expect("a valid config"))
        .collect();
    let chain: Vec<Arc<dyn Transform>> = built.iter().map(|b| b.component.clone()).collect();
    let projection = source_projection(&chain);
    let mut pipeline = Pipeline::builder("pushdown").source(MemorySource::new(Vec::new()));
    for b in built {
        pipeline = pipeline.built_transform(b);
    }
    let pipeline = pipeline
        .destination(CollectingDestination::new())
        .build()
        .expect("pipeline");
    assert_eq!(pipeline.source_projection(), projection);
    // One parser for the rows, as the file source parses a chunk (it reuses the last shape).
    let parse = |projection: &Projection| -> Vec<Record> {
        let mut parser = ProjectedParser::new(projection);
        rows.iter()
            .map(|t| parser.parse(t.as_bytes()).expect("valid row"))
            .collect()
    };
    let full: Vec<Record> = rows
        .iter()
        .map(|t| Record::from_json(t.as_bytes()).expect("valid row"))
        .collect();
    Compared {
        full: run(&chain, full, batch_size),
        projected: run(&chain, parse(&projection), batch_size),
        projection,
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn pushdown_changes_no_row_and_no_rejection(
        rows in proptest::collection::vec(row(), 1..12),
        configs in proptest::collection::vec(transform(), 1..=5),
        batch_size in 1usize..6,
    ) {
        let c = compare(&rows, &configs, batch_size);
        prop_assert_eq!(c.projected, c.full, "projection: {}", c.projection);
    }
}

/// Clashes that reject a row involve columns the rest of the chain never reads: `flatten` and
/// `explode` read every field, and `rename_columns` its new names.
#[test]
fn a_clash_with_a_column_read_by_nobody_still_rejects() {
    let rows = [r#"{"id": 1, "a": {"b": 1}, "a_b": 2, "items": [{"b": 3}], "n": 4}"#.to_owned()];
    let select = json!({"type": "select_columns", "columns": ["id"]});
    for clash in [
        json!({"type": "flatten"}),
        json!({"type": "explode", "field": "items", "prefix": "a_"}),
        json!({"type": "rename_columns", "mapping": {"id": "n"}}),
    ] {
        let c = compare(&rows, &[clash.clone(), select.clone()], 1);
        let (out, rejected) = c.full.clone().expect("runs");
        assert!(out.is_empty(), "{clash}");
        assert_eq!(rejected[0].len(), 1, "{clash}");
        assert_eq!(c.projected, c.full, "{clash}: {}", c.projection);
    }
}

/// Every step of these configs is built with `on_error: fail`.
fn pipeline(configs: &[Json]) -> Pipeline {
    let mut builder = Pipeline::builder("orders").source(MemorySource::new(Vec::new()));
    for c in configs {
        let built = registry().build_transform(c).expect("a valid config");
        assert_eq!(built.on_error, OnError::Fail);
        builder = builder.built_transform(built);
    }
    builder
        .destination(CollectingDestination::new())
        .build()
        .expect("pipeline")
}

const SELECTED: [&str; 15] = [
    "id",
    "name",
    "email",
    "created_at",
    "updated_at",
    "currency",
    "total_price",
    "subtotal_price",
    "total_tax",
    "financial_status",
    "fulfillment_status",
    "customer_id",
    "customer_email",
    "customer_first_name",
    "customer_last_name",
];

#[test]
fn a_realistic_chain_skips_the_dropped_columns() {
    let drop = json!({"type": "drop_columns", "columns": ["line_items", "shipping_address"]});
    let select = json!({"type": "select_columns", "columns": SELECTED});
    let cast = json!({"type": "cast", "columns": {"total_price": "float"}});
    // `flatten` reads every field (a flattened name may clash with any column): what the
    // chain skips is what `drop_columns` drops before it.
    let with_flatten = pipeline(&[
        drop.clone(),
        json!({"type": "flatten"}),
        select.clone(),
        cast.clone(),
    ]);
    assert_eq!(
        with_flatten.source_projection(),
        Projection::All.without(["line_items", "shipping_address"])
    );
    // Without it, only the selected columns are read.
    let without = pipeline(&[drop, select, cast]);
    assert_eq!(without.source_projection(), Projection::only(SELECTED));
}
