use dataforge_core::record;

use super::*;

fn types(rows: &[Record]) -> Vec<(String, ColumnType)> {
    infer(rows)
        .into_iter()
        .map(|(n, t)| (n.to_string(), t))
        .collect()
}

fn one(values: Vec<Value>) -> ColumnType {
    let rows: Vec<Record> = values.into_iter().map(|v| record! {"c" => v}).collect();
    types(&rows)[0].1
}

#[test]
fn consensus_over_many_rows_not_the_first_value() {
    use ColumnType::*;
    // The original took the first non-null value: here that would say integer.
    assert_eq!(one(vec![Value::Int(1), Value::Float(2.5)]), Double);
    assert_eq!(
        one(vec![Value::Null, Value::Int(1), Value::Int(1 << 40)]),
        BigInt
    );
    // Small integers too: a later 64-bit value must not fail the load.
    assert_eq!(one(vec![Value::Int(1), Value::Int(-7)]), BigInt);
    assert_eq!(one(vec![Value::Int(1), "x".into()]), Text);
    assert_eq!(one(vec![Value::Bool(true), Value::Int(1)]), Text);
    assert_eq!(one(vec![Value::Null, Value::Null]), Text);
    assert_eq!(
        one(vec![
            Value::Int(1),
            Value::Decimal("1.25".parse().expect("dec"))
        ]),
        Numeric
    );
}

#[test]
fn iso_strings_become_timestamps_and_dates() {
    use ColumnType::*;
    assert_eq!(
        one(vec![
            "2024-05-01T10:00:00+02:00".into(),
            "2024-05-02T00:00:00Z".into()
        ]),
        TimestampTz
    );
    assert_eq!(one(vec!["2024-05-01".into(), Value::Null]), Date);
    assert_eq!(
        one(vec!["2024-05-01".into(), "2024-05-01T10:00:00Z".into()]),
        TimestampTz
    );
    // Without an offset it is not a TIMESTAMPTZ: keep the text.
    assert_eq!(one(vec!["2024-05-01T10:00:00".into()]), Text);
    assert_eq!(
        one(vec!["2024-05-01T10:00:00Z".into(), "soon".into()]),
        Text
    );
    assert_eq!(one(vec!["2024-13-45".into()]), Text);
}

#[test]
fn objects_and_arrays_are_json() {
    let rows = vec![
        record! {"a" => Value::Array(vec![Value::Int(1)]), "o" => record!{"x" => 1}},
        record! {"a" => Value::Null, "o" => "scalar"},
    ];
    assert_eq!(
        types(&rows),
        vec![
            ("a".into(), ColumnType::Json),
            ("o".into(), ColumnType::Json)
        ]
    );
}

#[test]
fn columns_keep_first_seen_order() {
    let rows = vec![
        record! {"b" => 1, "a" => 2},
        record! {"c" => true, "a" => 3},
    ];
    let names: Vec<String> = types(&rows).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["b", "a", "c"]);
}

#[test]
fn type_overrides_are_checked_for_injection() {
    assert!(is_safe_type_name("NUMERIC(12,2)"));
    assert!(is_safe_type_name("timestamp with time zone"));
    assert!(is_safe_type_name("TEXT[]"));
    assert!(!is_safe_type_name("INT; DROP TABLE x"));
    assert!(!is_safe_type_name("INT -- comment"));
    assert!(!is_safe_type_name("TEXT DEFAULT 'x'"));
    assert!(!is_safe_type_name(""));
}
