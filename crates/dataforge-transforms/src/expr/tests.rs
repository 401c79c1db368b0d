use dataforge_core::{RunContext, Value, record};

use super::*;

fn ctx() -> RunContext {
    let date = chrono::DateTime::parse_from_rfc3339("2026-03-04T05:06:07Z")
        .expect("date")
        .to_utc();
    let mut params = serde_json::Map::new();
    params.insert("min".into(), serde_json::json!(50));
    RunContext::builder("p")
        .run_id("run-1")
        .logical_date(date)
        .params(params)
        .build()
}

#[test]
fn filter_example_from_the_issue() {
    let e = Expression::compile(r#"financial_status == "paid" && total_price > 100.0"#)
        .expect("compiles");
    let ctx = ctx();
    let run = RunVars::new(&ctx);
    let paid = record! {"financial_status" => "paid", "total_price" => 120.5};
    let cheap = record! {"financial_status" => "paid", "total_price" => 99.0};
    let pending = record! {"financial_status" => "pending", "total_price" => 500.0};
    assert!(e.eval_bool(&paid, &run).expect("eval"));
    assert!(!e.eval_bool(&cheap, &run).expect("eval"));
    assert!(!e.eval_bool(&pending, &run).expect("eval"));
}

#[test]
fn ints_compare_with_doubles() {
    let e = Expression::compile("total_price > 100.0").expect("compiles");
    let ctx = ctx();
    let run = RunVars::new(&ctx);
    assert!(
        e.eval_bool(&record! {"total_price" => 101}, &run)
            .expect("eval")
    );
    assert!(
        !e.eval_bool(&record! {"total_price" => 100}, &run)
            .expect("eval")
    );
}

#[test]
fn syntax_error_is_reported() {
    let err = Expression::compile("a == ").expect_err("syntax error");
    assert!(err.starts_with("invalid expression"), "{err}");
    assert!(Expression::compile("  ").is_err());
}

#[test]
fn runtime_type_error_and_missing_column_are_row_errors() {
    let e = Expression::compile("total_price > 100.0").expect("compiles");
    let ctx = ctx();
    let run = RunVars::new(&ctx);
    let err = e
        .eval_bool(&record! {"total_price" => "abc"}, &run)
        .expect_err("string > double");
    assert!(matches!(err, TransformError::Expression { .. }), "{err}");
    let err = e.eval_bool(&record! {"x" => 1}, &run).expect_err("missing");
    assert_eq!(
        err,
        TransformError::MissingColumn {
            column: "total_price".into()
        }
    );
    let e = Expression::compile("total_price").expect("compiles");
    let err = e
        .eval_bool(&record! {"total_price" => 1}, &run)
        .expect_err("not a bool");
    assert!(matches!(err, TransformError::NotBoolean { .. }), "{err}");
}

#[test]
fn run_variables_and_row_are_visible() {
    let ctx = ctx();
    let run = RunVars::new(&ctx);
    let r = record! {"first name" => "Zoë", "run" => "column"};
    let e =
        Expression::compile(r#"run.id + "/" + run.ds + "/" + row["first name"] + "/" + row.run"#)
            .expect("compiles");
    assert_eq!(
        e.eval(&r, &run).expect("eval"),
        Value::from("run-1/2026-03-04/Zoë/column")
    );
    let e = Expression::compile("run.params.min + 1").expect("compiles");
    assert_eq!(e.eval(&r, &run).expect("eval"), Value::Int(51));
    let e = Expression::compile("run.logical_date").expect("compiles");
    assert_eq!(
        e.eval(&r, &run).expect("eval").to_string(),
        "2026-03-04T05:06:07Z"
    );
    let e = Expression::compile("has(row.missing) || has(row.run)").expect("compiles");
    assert_eq!(e.eval(&r, &run).expect("eval"), Value::Bool(true));
}

#[test]
fn nested_values_and_results_convert() {
    let ctx = ctx();
    let run = RunVars::new(&ctx);
    let r = record! {
        "customer" => record! {"first_name" => "Ada", "tags" => vec![Value::from("a"), Value::from("b")]},
        "amount" => rust_decimal::Decimal::new(1250, 2),
        "n" => Value::Null,
    };
    let e =
        Expression::compile("customer.first_name + string(size(customer.tags))").expect("compiles");
    assert_eq!(e.eval(&r, &run).expect("eval"), Value::from("Ada2"));
    let e = Expression::compile("amount * 2.0").expect("compiles");
    assert_eq!(e.eval(&r, &run).expect("eval"), Value::Float(25.0));
    let e = Expression::compile("n == null").expect("compiles");
    assert_eq!(e.eval(&r, &run).expect("eval"), Value::Bool(true));
    let e = Expression::compile(r#"{"b": 1, "a": [1u, "x"]}"#).expect("compiles");
    let v = e.eval(&r, &run).expect("eval");
    assert_eq!(v.to_json(), serde_json::json!({"a": [1, "x"], "b": 1}));
    let e = Expression::compile("9223372036854775807 + 1").expect("compiles");
    assert!(
        e.eval(&r, &run).is_err(),
        "overflow is an error, not a wrap"
    );
}

mod native_path {
    use dataforge_core::{Record, Value, record};
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    use super::super::native::{Fail, Nv};
    use super::*;

    /// Expressions of the fast-path subset, over the columns of `arb_row`.
    const NATIVE: &[&str] = &[
        r#"financial_status == "paid" && total_price > 100.0"#,
        "total_price * 1.21",
        "a",
        "a + b",
        "a - b",
        "a * b",
        "a / b",
        "a % b",
        "-a",
        "a + 1",
        "a * 2",
        "a / 0",
        "a % 0",
        "9223372036854775807 + a",
        "-9223372036854775807 - a",
        "a * 1.5",
        "a + 0.5",
        "a == b",
        "a != b",
        "a < b",
        "a <= b",
        "a > b",
        "a >= b",
        "a == 1",
        "a == 1.0",
        "1 == a",
        "a == \"1\"",
        "a == null",
        "null != a",
        "a == true",
        "a < 10",
        "a >= 2.5",
        // A column against a literal, either way round (`Node::ColumnTest`).
        "2.5 < a",
        "100.0 >= total_price",
        "total_price <= 100.0",
        "\"paid\" == financial_status",
        "financial_status != \"paid\"",
        "\"m\" > s",
        "1 != a",
        "s < \"m\"",
        "s == t",
        "s + t",
        "s + \"!\" == \"ab!\"",
        "s > t",
        "!c",
        "c && d",
        "c || d",
        "!c || d",
        "c && a > b",
        "a > b || c",
        "missing > 1",
        "false && missing",
        "missing && false",
        "true || missing",
        "missing || true",
        "missing && true",
        "true && missing",
        "c ? a : b",
        "a > 0 ? \"pos\" : \"neg\"",
        "(a + b) * (a - b) > 0",
        "row.a",
        "row[\"a\"] + 1",
        "row.missing",
        "has(row.a)",
        "has(row.missing) || a == 1",
        "o.x",
        "o.x + 1",
        "has(o.x)",
        "row.o.x",
        "o[\"x\"] > 0",
        "o.x.y",
    ];

    /// Expressions that leave the subset.
    const INTERPRETED: &[&str] = &[
        "size(s) > 1",
        "s.startsWith(\"a\")",
        "a in [1, 2]",
        "run.id",
        "1u + 2u",
        "[a, b]",
        "{\"k\": a}",
        "int(a) > 1",
        "row[s]",
    ];

    fn arb_value() -> impl Strategy<Value = Value> {
        let ts = chrono::DateTime::parse_from_rfc3339("2026-03-04T05:06:07+02:00").expect("ts");
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            prop_oneof![
                Just(i64::MAX),
                Just(i64::MIN),
                Just(-1i64),
                Just(0i64),
                Just(1i64),
                Just(2i64),
                -5i64..200,
                any::<i64>(),
            ]
            .prop_map(Value::Int),
            prop_oneof![
                Just(f64::NAN),
                Just(f64::INFINITY),
                Just(-0.0f64),
                Just(0.0f64),
                Just(1.0f64),
                Just(2.5f64),
                Just(2.0f64),
                Just(9.223_372_036_854_776e18),
                -10.0f64..300.0,
                any::<f64>(),
            ]
            .prop_map(Value::Float),
            (-100_000i64..100_000, 0u32..4).prop_map(|(n, s)| Value::Decimal(Decimal::new(n, s))),
            prop_oneof![
                Just("paid"),
                Just("a"),
                Just("ab"),
                Just("m"),
                Just("Zoë"),
                Just(""),
                Just("1")
            ]
            .prop_map(Value::from),
            Just(Value::Timestamp(ts)),
            Just(Value::Date(ts.date_naive())),
            Just(Value::Array(vec![Value::Int(1)])),
            Just(Value::Object(record! {"x" => 1, "y" => "z"})),
            Just(Value::Object(record! {"x" => 2.5})),
            Just(Value::Object(record! {"y" => Value::Null})),
        ]
    }

    /// A row over the columns the expressions use, each possibly absent.
    fn arb_row() -> impl Strategy<Value = Record> {
        let names = [
            "a",
            "b",
            "c",
            "d",
            "s",
            "t",
            "o",
            "financial_status",
            "total_price",
        ];
        proptest::collection::vec(proptest::option::weighted(0.85, arb_value()), names.len())
            .prop_map(move |values| {
                let mut r = Record::new();
                for (name, v) in names.iter().zip(values) {
                    if let Some(v) = v {
                        r.push_unchecked(*name, v);
                    }
                }
                r
            })
    }

    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits() || x == y,
            // The interpreter adds a map to a list in its hash order: compare as multisets.
            (Value::Array(x), Value::Array(y)) => {
                let sorted = |v: &[Value]| {
                    let mut d: Vec<String> = v.iter().map(|e| format!("{e:?}")).collect();
                    d.sort();
                    d
                };
                sorted(x) == sorted(y)
            }
            _ => a == b,
        }
    }

    fn compiled() -> Vec<Expression> {
        NATIVE
            .iter()
            .map(|s| Expression::compile(s).expect("compiles"))
            .collect()
    }

    #[test]
    fn the_benchmark_expressions_take_the_native_path() {
        let ctx = ctx();
        let run = RunVars::new(&ctx);
        let row = record! {"financial_status" => "paid", "total_price" => 120.5};
        for src in [
            r#"financial_status == "paid" && total_price > 100.0"#,
            "total_price * 1.21",
        ] {
            let e = Expression::compile(src).expect("compiles");
            assert!(e.is_native(), "{src}");
            let native = e.eval_native(&row).expect("native");
            assert!(native.is_ok(), "{src}: {native:?}");
            assert!(e.eval(&row, &run).is_ok());
        }
        for src in NATIVE {
            assert!(
                Expression::compile(src).expect("compiles").is_native(),
                "{src}"
            );
        }
        for src in INTERPRETED {
            assert!(
                !Expression::compile(src).expect("compiles").is_native(),
                "{src}"
            );
        }
    }

    /// The property test would pass vacuously if the fast path gave up on everything: on a
    /// plain row, every expression of the subset answers natively (a value or a sure error).
    #[test]
    fn the_fast_path_answers_on_plain_rows() {
        let row = record! {
            "a" => 3, "b" => 2, "c" => true, "d" => false, "s" => "ab", "t" => "b",
            "o" => record! {"x" => 1}, "financial_status" => "paid", "total_price" => 120.5,
        };
        for src in NATIVE {
            if *src == "o.x.y" {
                continue; // a field of an int: left to the interpreter
            }
            let e = Expression::compile(src).expect("compiles");
            let native = e.eval_native(&row).expect("native");
            assert_ne!(native, Err(Fail::Unsupported), "{src}");
        }
    }

    #[test]
    fn edge_cases_agree_with_the_interpreter() {
        let ctx = ctx();
        let run = RunVars::new(&ctx);
        let cases: &[(&str, Record, Option<Value>)] = &[
            ("a + 1", record! {"a" => i64::MAX}, None),
            ("a / b", record! {"a" => 1, "b" => 0}, None),
            ("a / b", record! {"a" => i64::MIN, "b" => -1}, None),
            ("a % b", record! {"a" => 1, "b" => 0}, None),
            ("-a", record! {"a" => i64::MIN}, None),
            ("a * 1.5", record! {"a" => 2}, None),
            ("a == 1.0", record! {"a" => 1}, Some(Value::Bool(true))),
            ("a == \"1\"", record! {"a" => 1}, Some(Value::Bool(false))),
            (
                "a == null",
                record! {"a" => Value::Null},
                Some(Value::Bool(true)),
            ),
            ("a < 1", record! {"a" => Value::Null}, None),
            ("a < 1", record! {"a" => "0"}, None),
            ("a < 1.0", record! {"a" => f64::NAN}, None),
            (
                "a == a",
                record! {"a" => f64::NAN},
                Some(Value::Bool(false)),
            ),
            ("false && missing", record! {}, Some(Value::Bool(false))),
            ("missing && false", record! {}, Some(Value::Bool(false))),
            ("true || missing", record! {}, Some(Value::Bool(true))),
            ("missing || true", record! {}, Some(Value::Bool(true))),
            ("true && missing", record! {}, None),
            (
                "s < t",
                record! {"s" => "B", "t" => "a"},
                Some(Value::Bool(true)),
            ),
            (
                "a",
                record! {"a" => Decimal::new(1250, 2)},
                Some(Value::Float(12.5)),
            ),
            ("has(row.a)", record! {"b" => 1}, Some(Value::Bool(false))),
            ("row.a", record! {"b" => 1}, None),
            (
                "o.x",
                record! {"o" => record! {"x" => 3}},
                Some(Value::Int(3)),
            ),
            (
                "o.x",
                record! {"o.x" => 4, "o" => record! {"x" => 3}},
                Some(Value::Int(4)),
            ),
        ];
        for (src, row, want) in cases {
            let e = Expression::compile(src).expect("compiles");
            assert!(e.is_native(), "{src}");
            let native = e.eval_native(row).expect("native");
            let cel = e.execute(row, &run).and_then(convert::from_cel);
            match want {
                Some(v) => {
                    let got = native.clone().ok().and_then(Nv::into_value);
                    assert!(
                        got.as_ref().is_some_and(|g| same(g, v)),
                        "{src}: {native:?}"
                    );
                    assert!(cel.as_ref().is_ok_and(|c| same(c, v)), "{src}: {cel:?}");
                }
                None => {
                    assert_eq!(native, Err(Fail::Error), "{src}");
                    assert!(cel.is_err(), "{src}: {cel:?}");
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        /// Several rows per case, through the same compiled expressions: columns move between
        /// rows (absent ones shift the rest), as the fast path's position hints must allow.
        fn native_and_interpreter_agree(rows in proptest::collection::vec(arb_row(), 1..4)) {
            let ctx = ctx();
            let run = RunVars::new(&ctx);
            let exprs = compiled();
            for (row, e) in rows.iter().flat_map(|r| exprs.iter().map(move |e| (r, e))) {
                let src = e.source().to_owned();
                let cel = e.execute(row, &run).and_then(convert::from_cel);
                match e.eval_native(row).expect("native") {
                    Ok(v) => {
                        if let Some(v) = v.into_value() {
                            let c = cel.as_ref();
                            prop_assert!(c.is_ok_and(|c| same(c, &v)), "{}: native {:?}, cel {:?}, row {:?}", src, v, c, row);
                        }
                    }
                    Err(Fail::Error) => {
                        prop_assert!(cel.is_err(), "{}: native error, cel {:?}, row {:?}", src, cel, row);
                    }
                    Err(Fail::Unsupported) => {}
                }
                // What callers see is always the interpreter's answer.
                let got = e.eval(row, &run);
                match (&got, &cel) {
                    (Ok(a), Ok(b)) => prop_assert!(same(a, b), "{}: {:?} vs {:?}", src, a, b),
                    // Same error; the interpreter's own messages may list a map's entries in
                    // any order, so only a missing column is compared in full.
                    (Err(a @ TransformError::MissingColumn { .. }), Err(b)) => prop_assert_eq!(a, b),
                    (Err(a), Err(b)) => prop_assert_eq!(std::mem::discriminant(a), std::mem::discriminant(b)),
                    _ => prop_assert!(false, "{}: {:?} vs {:?}", src, got, cel),
                }
                let got = e.eval_bool(row, &run);
                let want = e.execute(row, &run);
                match (&got, &want) {
                    (Ok(a), Ok(cel::Value::Bool(b))) => prop_assert_eq!(a, b),
                    (Err(_), Err(_)) | (Err(TransformError::NotBoolean { .. }), Ok(_)) => {}
                    _ => prop_assert!(false, "{}: {:?} vs {:?}", src, got, want),
                }
            }
        }

        #[test]
        /// Columns found once per shape (as `filter` and `add_column` do, one lookup over a
        /// batch) give what finding them by name gives, row after row: rows that share their
        /// names (clones) and rows of other shapes, where columns move or are missing.
        fn positions_per_shape_give_what_names_give(rows in proptest::collection::vec(arb_row(), 1..4)) {
            let ctx = ctx();
            let run = RunVars::new(&ctx);
            let exprs = compiled();
            let batch: Vec<Record> = rows.iter().flat_map(|r| [r.clone(), r.clone()]).collect();
            for e in &exprs {
                let mut values = Lookup::default();
                let mut bools = Lookup::default();
                for row in &batch {
                    let src = e.source();
                    let (got, want) = (e.eval_with(row, &run, Some(&mut values)), e.eval(row, &run));
                    match (&got, &want) {
                        (Ok(a), Ok(b)) => prop_assert!(same(a, b), "{}: {:?} vs {:?}", src, a, b),
                        (Err(a), Err(b)) => prop_assert_eq!(std::mem::discriminant(a), std::mem::discriminant(b)),
                        _ => prop_assert!(false, "{}: {:?} vs {:?}, row {:?}", src, got, want, row),
                    }
                    let (got, want) = (e.eval_bool_with(row, &run, Some(&mut bools)), e.eval_bool(row, &run));
                    match (&got, &want) {
                        (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                        (Err(a), Err(b)) => prop_assert_eq!(std::mem::discriminant(a), std::mem::discriminant(b)),
                        _ => prop_assert!(false, "{}: {:?} vs {:?}, row {:?}", src, got, want, row),
                    }
                }
            }
        }
    }
}

/// The probe's expressions and the other deep shapes: refused at `expr`, naming the limit,
/// without touching the stack (before, each of them aborted the process).
#[test]
fn deep_or_long_expressions_are_config_errors_not_stack_overflows() {
    let deep =
        |open: &str, close: &str, n: usize| format!("{}1{}", open.repeat(n), close.repeat(n));
    for (name, source, limit) in [
        ("+ chain", format!("1{}", " + 1".repeat(10_000)), "too long"),
        (
            "member chain",
            format!("{}b", "a.".repeat(25_000)),
            "too long",
        ),
        (
            "+ chain",
            format!("1{}", " + 1".repeat(100)),
            "too deeply nested",
        ),
        (
            "member chain",
            format!("{}b", "a.".repeat(100)),
            "too deeply nested",
        ),
        ("parentheses", deep("(", ")", 100_000), "too long"),
        ("parentheses", deep("(", ")", 40), "too deeply nested"),
        ("!", format!("{}true", "!".repeat(100_000)), "too long"),
        (
            "!",
            format!("{}true", "!".repeat(5_000)),
            "too deeply nested",
        ),
        (
            "unary -",
            format!("{}1", "-".repeat(5_000)),
            "too deeply nested",
        ),
        (
            "ternaries",
            format!("{}1", "true ? 1 : ".repeat(500)),
            "too deeply nested",
        ),
        ("lists", deep("[", "]", 1_000), "too deeply nested"),
        ("maps", deep("{1: ", "}", 1_000), "too deeply nested"),
        (
            "index",
            format!("row{}", "[\"a\"]".repeat(500)),
            "too deeply nested",
        ),
        (
            "calls",
            format!("\"a\"{}", ".lowerAscii()".repeat(200)),
            "too deeply nested",
        ),
        (
            "comparisons",
            format!("x{}", " < x".repeat(500)),
            "too deeply nested",
        ),
        (
            "&& chain",
            format!("true{}", " && true".repeat(2_000)),
            "too long",
        ),
    ] {
        let e = Expression::compile(&source).expect_err(name);
        assert!(e.contains(limit), "{name}: {e}");
        assert!(e.len() < 300, "{name}: {e}");
    }
    let e = Expression::compile(&format!("1{}", " + 1".repeat(100))).expect_err("deep");
    assert!(e.contains(&format!("at most {MAX_EXPR_DEPTH}")), "{e}");
}

/// Expressions just within the limits compile, and evaluate on a thread with the stack of the
/// runner's transform workers (16 MiB), natively and in the interpreter.
#[test]
fn expressions_at_the_limits_compile_and_evaluate() {
    let n = MAX_EXPR_DEPTH - 2;
    let sources = [
        format!("x{}", " + x".repeat(n)),
        format!("{}x", "-".repeat(n)),
        format!("{}true", "!".repeat(n)),
        format!("{}x{}", "(".repeat(n / 2 - 1), ")".repeat(n / 2 - 1)),
        format!("{}1{}", "[".repeat(n / 2 - 1), "]".repeat(n / 2 - 1)),
        format!("{}1", "x > 0 ? 1 : ".repeat(n / 3)),
        format!("x == 1{}", " && x == 1".repeat(900)),
        format!("row{}", ".o".repeat(n)),
        format!("\"a\"{}", ".lowerAscii()".repeat(n / 3)),
    ];
    std::thread::Builder::new()
        .stack_size(16 * 1024 * 1024)
        .spawn(move || {
            let ctx = ctx();
            let run = RunVars::new(&ctx);
            let row = record! {"x" => 1, "o" => Value::Null};
            for source in &sources {
                let e = Expression::compile(source)
                    .unwrap_or_else(|m| panic!("{}: {m}", &source[..40.min(source.len())]));
                // The result may be an error for the row (`row.o.o` on null): not a crash.
                let _ = e.eval(&row, &run);
                let _ = e.execute(&row, &run);
            }
        })
        .expect("thread")
        .join()
        .expect("no panic");
}

/// How deep an expression of one shape may be before it overflows a stack of a given size:
/// `FAM=plus N=1000 STACK=2097152 cargo test -p dataforge-transforms --lib -- --ignored
/// measure_stack_use --nocapture` (in a debug or a release build). The process aborts when the
/// stack overflows; the limits in `limits.rs` were chosen from these runs. Shapes: `plus`
/// (`1 + 1 + …`), `paren`, `list`, `call`. It compiles on the current thread, without the
/// length and depth checks.
#[test]
#[ignore = "a measurement: aborts the process when the stack overflows"]
fn measure_stack_use() {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let n: usize = var("N").parse().unwrap_or(100);
    let stack: usize = var("STACK").parse().unwrap_or(2 * 1024 * 1024);
    let source = match var("FAM").as_str() {
        "paren" => format!("{}1{}", "(".repeat(n), ")".repeat(n)),
        "list" => format!("{}1{}", "[".repeat(n), "]".repeat(n)),
        "call" => format!("\"a\"{}", ".lowerAscii()".repeat(n)),
        _ => format!("1{}", " + 1".repeat(n)),
    };
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(move || {
            let ctx = ctx();
            let run = RunVars::new(&ctx);
            let e = Expression::compile_checked(&source).expect("compiles");
            let row = record! {"x" => 1};
            eprintln!("native: {:?}", e.eval(&row, &run).is_ok());
            eprintln!("interpreter: {:?}", e.execute(&row, &run).is_ok());
        })
        .expect("thread")
        .join()
        .expect("no panic");
}
