use dataforge_core::{Value, record};
use rust_decimal::Decimal;
use serde_json::json;

use super::*;
use crate::test_support::{build, build_err, run_one};

fn cast_one(columns: serde_json::Value, row: Record) -> Result<Record, String> {
    let t = build::<CastFactory>(json!({ "columns": columns })).expect("builds");
    let (mut out, rejected) = run_one(&t, vec![row.clone()]);
    match rejected.into_iter().next() {
        Some(r) => {
            assert_eq!(r.record, row, "a rejected row is passed on unchanged");
            Err(r.reason)
        }
        None => Ok(out.remove(0)),
    }
}

fn cast(to: &str, v: impl Into<Value>) -> Result<Value, String> {
    cast_one(json!({ "c": to }), record! {"c" => v.into()})
        .map(|r| r.get("c").cloned().unwrap_or(Value::Null))
}

fn ts(s: &str) -> Value {
    Value::Timestamp(DateTime::parse_from_rfc3339(s).expect("valid"))
}

#[test]
fn parses_example_config() {
    let c: CastConfig = serde_json::from_value(json!({
        "columns": {"total_price": "float", "amount": "decimal", "created_at": "timestamp",
                    "shipped_on": {"type": "date", "format": "%d/%m/%Y"}},
        "format": "%Y-%m-%d %H:%M:%S"
    }))
    .expect("parses");
    assert_eq!(c.columns.0[0].1, ColumnCast::Type(CastType::Float));
    assert_eq!(
        c.columns.0[3].1,
        ColumnCast::Spec(CastSpec {
            to: CastType::Date,
            format: Some("%d/%m/%Y".into())
        })
    );
    assert!(Cast::new(c).is_ok());
}

#[test]
fn rejects_unknown_field() {
    let e = build_err::<CastFactory>(json!({"columns": {"a": "float"}, "formats": "%Y"}));
    assert!(e.to_string().contains("unknown field `formats`"), "{e}");
    let e = build_err::<CastFactory>(json!({"columns": {"a": {"type": "date", "fmt": "%Y"}}}));
    assert!(e.to_string().contains("unknown field `fmt`"), "{e}");
    assert_eq!(e.issues()[0].path, "columns.a");
}

#[test]
fn rejects_bad_types_and_formats_at_build() {
    let e = build_err::<CastFactory>(json!({"columns": {"a": "money"}}));
    assert_eq!(e.issues()[0].path, "columns.a");
    assert!(e.to_string().contains("unknown variant `money`"), "{e}");
    let e = build_err::<CastFactory>(json!({"columns": {"a": "date"}, "format": "%Q"}));
    assert_eq!(e.issues()[0].path, "format");
    let e = build_err::<CastFactory>(json!({"columns": {"a": "float"}, "format": "%Y"}));
    assert!(e.to_string().contains("none uses it"), "{e}");
    let e = build_err::<CastFactory>(json!({"columns": {"a": {"type": "float", "format": "%Y"}}}));
    assert_eq!(e.issues()[0].path, "columns.a.format");
    let e = build_err::<CastFactory>(json!({"columns": {}}));
    assert_eq!(e.issues()[0].path, "columns");
}

#[test]
fn numbers_from_strings() {
    assert_eq!(cast("float", "12.50"), Ok(Value::Float(12.5)));
    assert_eq!(cast("float", " -1e3 "), Ok(Value::Float(-1000.0)));
    assert!(cast("float", "NaN").is_err());
    assert!(cast("float", "inf").is_err());
    assert_eq!(cast("integer", "42"), Ok(Value::Int(42)));
    assert_eq!(cast("integer", "42.0"), Ok(Value::Int(42)));
    assert_eq!(
        cast("integer", "12.5"),
        Err("cannot cast column `c` from string to integer: not an integral number".into())
    );
    assert!(cast("integer", "abc").is_err());
    assert_eq!(
        cast("decimal", "12.50"),
        Ok(Value::Decimal(Decimal::new(1250, 2)))
    );
    assert_eq!(cast("float", Value::Null), Ok(Value::Null));
}

#[test]
fn huge_numbers_are_errors_not_wraps() {
    assert_eq!(
        cast("integer", "99999999999999999999"),
        Err(
            "cannot cast column `c` from string to integer: out of the 64-bit integer range".into()
        )
    );
    assert!(cast("integer", 1e19).is_err());
    assert_eq!(
        cast("integer", 9.007_199_254_740_992e15),
        Ok(Value::Int(9_007_199_254_740_992))
    );
    assert_eq!(
        cast("integer", "9223372036854775807"),
        Ok(Value::Int(i64::MAX))
    );
    assert_eq!(
        cast("float", "99999999999999999999"),
        Ok(Value::Float(1e20))
    );
    assert_eq!(
        cast("decimal", "99999999999999999999"),
        Ok(Value::Decimal(
            Decimal::from_str_exact("99999999999999999999").expect("dec")
        ))
    );
    assert!(cast("decimal", "1e40").is_err());
    assert!(cast("float", "1e400").is_err());
    let big = Value::Decimal(Decimal::from(u64::MAX));
    assert!(cast("integer", big.clone()).is_err());
    assert_eq!(cast("float", big), Ok(Value::Float(u64::MAX as f64)));
}

/// Integers beyond a decimal, in strings or in JSON text, reject the row: never a rounded
/// float or decimal. Up to the largest decimal they convert exactly.
#[test]
fn integers_beyond_a_decimal_reject_the_row_never_rounded() {
    let thirty = "123456789012345678901234567890";
    // JSON text keeps its integers exact, or rejects the row naming the number.
    assert_eq!(
        cast("json", "18446744073709551616"),
        Ok(Value::Decimal(
            Decimal::from_str_exact("18446744073709551616").expect("dec")
        ))
    );
    assert_eq!(
        cast("json", r#"{"id": [-1234567890123456789012345678]}"#),
        Ok(Value::Object(record! {"id" => vec![Value::Decimal(
            Decimal::from_str_exact("-1234567890123456789012345678").expect("dec")
        )]}))
    );
    assert_eq!(
        cast("json", "[1e30]"),
        Ok(Value::Array(vec![Value::Float(1e30)]))
    );
    let e = cast("json", format!(r#"{{"id": {thirty}}}"#)).expect_err("too large");
    assert!(e.contains(thirty) && e.contains("30 digits"), "{e}");
    // A mantissa with more digits than a decimal keeps is refused, not rounded.
    assert!(cast("decimal", "1.23456789012345678901234567890123e2").is_err());
    assert!(cast("decimal", "0.12345678901234567890123456789012").is_err());
    assert_eq!(
        cast("decimal", "1.5e2"),
        Ok(Value::Decimal(Decimal::new(150, 0)))
    );
    for s in [
        thirty,
        "-123456789012345678901234567890",
        " 123456789012345678901234567890 ",
    ] {
        assert_eq!(
            cast("integer", s),
            Err(
                "cannot cast column `c` from string to integer: out of the 64-bit integer range"
                    .into()
            ),
            "{s}"
        );
        let e = cast("decimal", s).expect_err(s);
        assert!(
            e.starts_with("cannot cast column `c` from string to decimal: "),
            "{e}"
        );
    }
    assert_eq!(
        cast("decimal", "-79228162514264337593543950335"),
        Ok(Value::Decimal(Decimal::MIN))
    );
    assert!(cast("decimal", "79228162514264337593543950336").is_err());
}

#[test]
fn numbers_between_numbers() {
    assert_eq!(cast("integer", 3.0), Ok(Value::Int(3)));
    assert!(cast("integer", 3.5).is_err());
    assert_eq!(cast("float", 3), Ok(Value::Float(3.0)));
    assert_eq!(cast("decimal", 0.1), Ok(Value::Decimal(Decimal::new(1, 1))));
    assert_eq!(cast("float", Decimal::new(1250, 2)), Ok(Value::Float(12.5)));
    assert_eq!(cast("integer", Decimal::new(1200, 2)), Ok(Value::Int(12)));
    assert_eq!(cast("integer", true), Ok(Value::Int(1)));
}

#[test]
fn booleans() {
    for t in ["true", "TRUE", "1", "yes", " Y ", "t", "on"] {
        assert_eq!(cast("boolean", t), Ok(Value::Bool(true)), "{t}");
    }
    for f in ["false", "0", "No", "n", "F", "off"] {
        assert_eq!(cast("boolean", f), Ok(Value::Bool(false)), "{f}");
    }
    assert!(cast("boolean", "maybe").is_err());
    assert_eq!(cast("boolean", 1), Ok(Value::Bool(true)));
    assert!(cast("boolean", 2).is_err());
}

#[test]
fn strings_from_anything() {
    assert_eq!(cast("string", 12), Ok(Value::from("12")));
    assert_eq!(cast("string", 12.5), Ok(Value::from("12.5")));
    assert_eq!(cast("string", true), Ok(Value::from("true")));
    assert_eq!(
        cast(
            "string",
            Value::Array(vec![Value::Int(1), Value::from("é")])
        ),
        Ok(Value::from(r#"[1,"é"]"#))
    );
    assert_eq!(
        cast("string", ts("2026-08-01T10:14:09+02:00")),
        Ok(Value::from("2026-08-01T10:14:09+02:00"))
    );
    assert_eq!(cast("string", "Zoë 🦀"), Ok(Value::from("Zoë 🦀")));
}

#[test]
fn iso_timestamps() {
    let want = ts("2026-08-01T10:14:09+02:00");
    assert_eq!(
        cast("timestamp", "2026-08-01T10:14:09+02:00"),
        Ok(want.clone())
    );
    assert_eq!(
        cast("timestamp", "2026-08-01 10:14:09+02:00"),
        Ok(want.clone())
    );
    assert_eq!(cast("timestamp", "2026-08-01T10:14:09+0200"), Ok(want));
    assert_eq!(
        cast("timestamp", "2026-08-01T08:14:09Z"),
        Ok(ts("2026-08-01T08:14:09Z"))
    );
    assert_eq!(
        cast("timestamp", "2026-08-01T08:14:09.250"),
        Ok(ts("2026-08-01T08:14:09.25Z"))
    );
    assert_eq!(
        cast("timestamp", "2026-08-01"),
        Ok(ts("2026-08-01T00:00:00Z"))
    );
    assert_eq!(cast("timestamp", 0), Ok(ts("1970-01-01T00:00:00Z")));
    assert_eq!(cast("timestamp", 1.5), Ok(ts("1970-01-01T00:00:01.5Z")));
    assert!(cast("timestamp", "yesterday").is_err());
    assert!(cast("timestamp", "2026-02-30").is_err());
    assert!(cast("timestamp", i64::MAX).is_err());
}

#[test]
fn custom_formats() {
    let r = cast_one(
        json!({"a": {"type": "timestamp", "format": "%d/%m/%Y %H:%M"}, "b": {"type": "date", "format": "%d.%m.%Y"}, "c": {"type": "timestamp", "format": "%d/%m/%Y %H:%M %z"}}),
        record! {"a" => "01/08/2026 10:14", "b" => "31.12.2025", "c" => "01/08/2026 10:14 +0200"},
    )
    .expect("casts");
    assert_eq!(r.get("a"), Some(&ts("2026-08-01T10:14:00Z")));
    assert_eq!(
        r.get("b"),
        Some(&Value::Date(
            NaiveDate::from_ymd_opt(2025, 12, 31).expect("date")
        ))
    );
    assert_eq!(r.get("c"), Some(&ts("2026-08-01T10:14:00+02:00")));
    let t = build::<CastFactory>(json!({"columns": {"d": "date"}, "format": "%d/%m/%Y"}))
        .expect("builds");
    let (out, rejected) = run_one(
        &t,
        vec![record! {"d" => "02/01/2026"}, record! {"d" => "2026-01-02"}],
    );
    assert_eq!(
        out[0].get("d"),
        Some(&Value::Date(
            NaiveDate::from_ymd_opt(2026, 1, 2).expect("date")
        ))
    );
    assert_eq!(rejected.len(), 1);
    assert!(
        rejected[0].reason.contains("does not match `%d/%m/%Y`"),
        "{}",
        rejected[0].reason
    );
}

#[test]
fn dates() {
    let d = Value::Date(NaiveDate::from_ymd_opt(2026, 8, 1).expect("date"));
    assert_eq!(cast("date", "2026-08-01"), Ok(d.clone()));
    assert_eq!(cast("date", "2026-08-01T23:30:00-05:00"), Ok(d.clone()));
    assert_eq!(cast("date", ts("2026-08-01T23:30:00-05:00")), Ok(d));
    assert!(cast("date", 5).is_err());
}

#[test]
fn json_strings_become_values() {
    assert_eq!(
        cast("json", r#"{"a": [1, "ü", null], "b": {"c": 1.5}}"#).map(|v| v.to_json()),
        Ok(json!({"a": [1, "ü", null], "b": {"c": 1.5}}))
    );
    assert_eq!(cast("json", 5), Ok(Value::Int(5)));
    assert!(cast("json", "{oops").is_err());
}

#[test]
fn missing_columns_are_skipped_or_rejected_with_strict() {
    assert_eq!(
        cast_one(json!({"a": "float"}), record! {"b" => "1"}),
        Ok(record! {"b" => "1"})
    );
    let t =
        build::<CastFactory>(json!({"columns": {"a": "float"}, "strict": true})).expect("builds");
    let (out, rejected) = run_one(&t, vec![record! {"b" => "1"}]);
    assert!(out.is_empty());
    assert_eq!(rejected[0].reason, "column `a` not found");
}

#[test]
fn a_failing_second_column_leaves_the_first_unchanged() {
    let row = record! {"a" => "1.5", "b" => "x", "c" => "2"};
    let err = cast_one(json!({"a": "float", "b": "integer", "c": "integer"}), row)
        .expect_err("b is not an integer");
    assert_eq!(
        err,
        "cannot cast column `b` from string to integer: not an integer"
    );
    let ok = cast_one(
        json!({"a": "float", "b": "string", "c": "integer"}),
        record! {"a" => "1.5", "b" => "x", "c" => "2"},
    )
    .expect("casts");
    assert_eq!(ok, record! {"a" => 1.5, "b" => "x", "c" => 2});
}

mod fast_rfc3339 {
    use proptest::prelude::*;

    use super::super::fast_rfc3339;
    use super::*;

    fn same_as_chrono(s: &str) -> Result<(), TestCaseError> {
        let chrono = DateTime::parse_from_rfc3339(s).ok();
        // Outside the fast shape, chrono alone decides: nothing to compare.
        if let Some(t) = fast_rfc3339(s) {
            prop_assert_eq!(Some(t), chrono, "{}", s);
            prop_assert_eq!(Some(t.offset()), chrono.as_ref().map(DateTime::offset));
        }
        Ok(())
    }

    #[test]
    fn takes_the_common_shapes_and_matches_chrono() {
        for s in [
            "2026-08-01T10:14:09+02:00",
            "2026-08-01T10:14:09Z",
            "2026-08-01T10:14:09.5-05:30",
            "2026-08-01T10:14:09.123456789Z",
            "2024-02-29T23:59:59+23:59",
            "0001-01-01T00:00:00Z",
        ] {
            assert!(fast_rfc3339(s).is_some(), "{s}");
            same_as_chrono(s).expect("agrees");
        }
        for s in [
            "2026-02-30T10:14:09Z",
            "2026-08-01T24:00:00Z",
            "2026-08-01T10:14:60Z",
            "2026-08-01T10:14:09",
            "2026-08-01 10:14:09Z",
            "2026-08-01T10:14:09.Z",
            "2026-08-01T10:14:09.1234567891Z",
            "2026-08-01T10:14:09+24:00",
            "2026-08-01T10:14:09+0200",
            "2026-08-01T10:14:09Zjunk",
            "٢٠٢٦-08-01T10:14:09Z",
        ] {
            assert!(fast_rfc3339(s).is_none(), "{s}");
        }
    }

    proptest! {
        #[test]
        fn agrees_with_chrono(
            s in "[0-9]{4}-[0-1][0-9]-[0-3][0-9][T ][0-2][0-9]:[0-6][0-9]:[0-6][0-9](\\.[0-9]{0,11})?(Z|z|[+-][0-2][0-9]:[0-6][0-9])"
        ) {
            same_as_chrono(&s)?;
        }
    }
}

#[test]
fn trim_is_str_trim() {
    for s in [
        "",
        " ",
        "12.5",
        " 12.5",
        "12.5\n",
        "\u{3000}12.5\u{a0}",
        "ü12.5",
        "x",
        " x ",
        "\u{85}",
    ] {
        assert_eq!(trim(s), s.trim(), "{s:?}");
    }
}

#[test]
fn reads_the_listed_columns_and_what_follows_reads() {
    let t = build::<CastFactory>(json!({"columns": {"total": "float", "id": "string"}}))
        .expect("builds");
    assert_eq!(t.input_projection(&Projection::All), Projection::All);
    assert_eq!(
        t.input_projection(&Projection::only(["x", "id"])),
        Projection::only(["id", "total", "x"])
    );
    assert_eq!(
        t.input_projection(&Projection::All.without(["total", "y"])),
        Projection::All.without(["y"])
    );
}
