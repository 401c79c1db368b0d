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
