use dataforge_core::DestinationFactory;
use dataforge_core::registry::parse_config;
use serde_json::json;

use super::*;
use crate::write_mode::WriteMode;

fn build(v: serde_json::Value) -> Result<PostgresDestination, ConfigErrors> {
    PostgresFactory::build(parse_config::<PostgresConfig>(v)?)
}

#[test]
fn parses_example_config() {
    let c: PostgresConfig = parse_config(json!({
        "conn_id": "warehouse", "schema": "shop", "table": "orders", "write_mode": "upsert",
        "primary_key": ["id"], "columns": {"total_price": "NUMERIC(12,2)"},
        "pre_sql": "SET LOCAL work_mem = '64MB'", "post_sql": ["ANALYZE shop.orders"],
        "create_schema": false
    }))
    .expect("valid");
    assert_eq!(c.write_mode, WriteMode::Upsert);
    assert_eq!(c.primary_key.to_vec(), ["id"]);
    assert_eq!(c.pre_sql.to_vec().len(), 1);
    assert!(!c.create_schema);
    build(json!({"table": "orders"})).expect("defaults are enough");
    let d: PostgresConfig = parse_config(json!({"table": "t"})).expect("valid");
    assert_eq!(
        (d.conn_id.as_str(), d.schema.as_str()),
        ("postgres_default", "public")
    );
    assert!(d.create_schema);
}

#[test]
fn rejects_unknown_field() {
    let e = build(json!({"table": "t", "tabel": "x"})).expect_err("typo");
    assert!(e.to_string().contains("tabel"), "{e}");
}

#[test]
fn upsert_needs_a_primary_key_and_all_issues_are_reported() {
    let e = build(json!({
        "table": "", "write_mode": "upsert", "columns": {"a": "INT; DROP TABLE x"}
    }))
    .expect_err("invalid");
    let paths: Vec<&str> = e.issues().iter().map(|i| i.path.as_str()).collect();
    assert_eq!(paths, ["table", "primary_key", "columns.a"], "{e}");
    assert!(e.to_string().contains("required when write_mode is upsert"));
}

#[test]
fn long_identifiers_are_rejected_not_truncated() {
    let e = build(json!({"table": "x".repeat(64)})).expect_err("too long");
    assert!(e.to_string().contains("63"), "{e}");
}
