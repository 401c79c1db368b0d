//! Behaviour tests against a real SQLite file.

use dataforge_core::registry::parse_config;
use dataforge_core::test_utils::MemorySource;
use dataforge_core::{DestinationFactory, Pipeline, Record, RunOptions, RunReport, Value, record};
use serde_json::json;

use super::*;
use crate::write_mode::WriteMode;

fn dest(v: serde_json::Value) -> SqliteDestination {
    SqliteFactory::build(parse_config::<SqliteConfig>(v).expect("config")).expect("valid")
}

async fn run(d: SqliteDestination, source: MemorySource, batch: usize) -> RunReport {
    let pipeline = Pipeline::builder("sqlite_test")
        .source(source)
        .destination(d)
        .batch_size(batch)
        .build()
        .expect("pipeline");
    let opts = RunOptions::in_memory();
    pipeline.run(&opts).await
}

fn query(path: &std::path::Path, sql: &str) -> Vec<Vec<rusqlite::types::Value>> {
    let conn = rusqlite::Connection::open(path).expect("open");
    let mut stmt = conn.prepare(sql).expect("prepare");
    let n = stmt.column_count();
    stmt.query_map([], |r| (0..n).map(|i| r.get(i)).collect())
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn int(v: &rusqlite::types::Value) -> i64 {
    match v {
        rusqlite::types::Value::Integer(i) => *i,
        other => panic!("expected an integer, got {other:?}"),
    }
}

fn text(v: &rusqlite::types::Value) -> String {
    match v {
        rusqlite::types::Value::Text(s) => s.clone(),
        other => panic!("expected text, got {other:?}"),
    }
}

fn orders(n: i64) -> Vec<Record> {
    (1..=n)
        .map(|i| {
            record! {
                "id" => i,
                "total" => Value::Float(i as f64 * 1.5),
                "created_at" => "2024-05-01T10:00:00+02:00",
                "day" => "2024-05-01",
                "customer" => record!{"name" => "Ada"},
                "note" => Value::Null,
            }
        })
        .collect()
}

#[test]
fn parses_example_config() {
    let c: SqliteConfig = parse_config(json!({
        "path": "dataforge-quickstart.db", "table": "orders", "write_mode": "upsert",
        "primary_key": "id", "columns": {"total": "NUMERIC"}
    }))
    .expect("valid");
    assert_eq!(c.write_mode, WriteMode::Upsert);
    assert_eq!(c.primary_key.to_vec(), ["id"]);
    let e = SqliteFactory::build(
        parse_config(json!({"path": "x.db", "table": "t", "write_mode": "upsert"}))
            .expect("parses"),
    )
    .expect_err("upsert without key");
    assert_eq!(e.issues()[0].path, "primary_key");
}

#[test]
fn rejects_unknown_field() {
    let e = parse_config::<SqliteConfig>(json!({"path": "x.db", "table": "t", "mode": "append"}))
        .expect_err("unknown field");
    assert!(e.to_string().contains("mode"), "{e}");
}

#[tokio::test]
async fn creates_table_with_inferred_sqlite_types() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("q.db");
    let report = run(
        dest(json!({"path": path, "table": "orders", "write_mode": "replace"})),
        MemorySource::new(orders(25)),
        10,
    )
    .await;
    assert!(report.is_success(), "{:?}", report.error);
    assert_eq!(report.rows_loaded, 25);
    let cols = query(
        &path,
        "SELECT name, type FROM pragma_table_info('orders') ORDER BY cid",
    );
    let cols: Vec<(String, String)> = cols.iter().map(|r| (text(&r[0]), text(&r[1]))).collect();
    assert_eq!(
        cols,
        [
            ("id", "INTEGER"),
            ("total", "REAL"),
            ("created_at", "TIMESTAMP"),
            ("day", "DATE"),
            ("customer", "JSON"),
            ("note", "TEXT")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let rows = query(&path, "SELECT count(*), sum(id), max(customer) FROM orders");
    assert_eq!(int(&rows[0][0]), 25);
    assert_eq!(int(&rows[0][1]), 325);
    assert_eq!(text(&rows[0][2]), r#"{"name":"Ada"}"#);
}

#[tokio::test]
async fn replace_is_atomic_and_append_all_or_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("q.db");
    let cfg = |mode: &str| dest(json!({"path": path, "table": "t", "write_mode": mode}));
    assert!(
        run(cfg("replace"), MemorySource::new(orders(30)), 10)
            .await
            .is_success()
    );
    // A source failing after 2 batches: the replace rolls back, the 30 rows stay.
    let failing = MemorySource::new(orders(50)).fail_after_batches(2).fatal();
    let report = run(cfg("replace"), failing, 10).await;
    assert!(!report.is_success());
    assert_eq!(int(&query(&path, "SELECT count(*) FROM t")[0][0]), 30);
    let failing = MemorySource::new(orders(50)).fail_after_batches(3).fatal();
    assert!(!run(cfg("append"), failing, 10).await.is_success());
    assert_eq!(int(&query(&path, "SELECT count(*) FROM t")[0][0]), 30);
    assert!(
        run(cfg("append"), MemorySource::new(orders(5)), 10)
            .await
            .is_success()
    );
    assert_eq!(int(&query(&path, "SELECT count(*) FROM t")[0][0]), 35);
    assert!(
        run(cfg("replace"), MemorySource::new(orders(3)), 10)
            .await
            .is_success()
    );
    assert_eq!(int(&query(&path, "SELECT count(*) FROM t")[0][0]), 3);
}

#[tokio::test]
async fn upsert_merges_and_rerun_changes_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("q.db");
    let cfg =
        || dest(json!({"path": path, "table": "t", "write_mode": "upsert", "primary_key": ["id"]}));
    let rows = vec![
        record! {"id" => 1, "v" => "a"},
        record! {"id" => 2, "v" => "b"},
        record! {"id" => 1, "v" => "a2"}, // a duplicate key: the last one wins
    ];
    let r = run(cfg(), MemorySource::new(rows.clone()), 2).await;
    assert!(r.is_success(), "{:?}", r.error);
    let load = r.load.expect("summary");
    assert_eq!((load.rows_inserted, load.rows_updated), (Some(2), Some(1)));
    let got = query(&path, "SELECT id, v FROM t ORDER BY id");
    assert_eq!(text(&got[0][1]), "a2");
    assert_eq!(got.len(), 2);
    let again = run(
        cfg(),
        MemorySource::new(vec![rows[1].clone(), rows[2].clone()]),
        2,
    )
    .await;
    let load = again.load.expect("summary");
    assert_eq!((load.rows_inserted, load.rows_updated), (Some(0), Some(0)));
    let r = run(
        cfg(),
        MemorySource::new(vec![
            record! {"id" => 3, "v" => "c"},
            record! {"id" => 2, "v" => "B"},
        ]),
        10,
    )
    .await;
    let load = r.load.expect("summary");
    assert_eq!((load.rows_inserted, load.rows_updated), (Some(1), Some(1)));
}

#[tokio::test]
async fn upsert_without_key_column_fails_before_writing() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("q.db");
    let d = dest(json!({"path": path, "table": "t", "write_mode": "upsert", "primary_key": "id"}));
    let r = run(d, MemorySource::new(vec![record! {"name" => "x"}]), 10).await;
    let msg = dataforge_core::error_chain(r.error.as_ref().expect("fails"));
    assert!(
        msg.contains("primary key column `id` is not in the data"),
        "{msg}"
    );
    assert!(!path.exists(), "nothing may be written, not even the file");
}

#[tokio::test]
async fn evolution_adds_columns_and_rejects_misfits() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("q.db");
    let cfg = || dest(json!({"path": path, "table": "t", "write_mode": "append"}));
    assert!(
        run(
            cfg(),
            MemorySource::new(vec![record! {"id" => 1, "n" => 5}]),
            10
        )
        .await
        .is_success()
    );
    // A new column in a later batch of the stream, and a column missing from the data.
    let rows = vec![record! {"id" => 2}, record! {"id" => 3, "extra" => "x"}];
    let r = run(cfg(), MemorySource::new(rows), 1).await;
    assert!(r.is_success(), "{:?}", r.error);
    let got = query(&path, "SELECT id, n, extra FROM t ORDER BY id");
    assert_eq!(got.len(), 3);
    assert_eq!(got[1][1], rusqlite::types::Value::Null);
    assert_eq!(text(&got[2][2]), "x");
    let rows = vec![
        record! {"id" => 4, "n" => 1},
        record! {"id" => 5, "n" => "many"},
    ];
    let r = run(cfg(), MemorySource::new(rows), 10).await;
    let msg = dataforge_core::error_chain(r.error.as_ref().expect("misfit"));
    assert!(
        msg.contains("row 2: column `n` of type INTEGER cannot hold a string value"),
        "{msg}"
    );
    assert_eq!(
        int(&query(&path, "SELECT count(*) FROM t")[0][0]),
        3,
        "nothing written"
    );
}

#[tokio::test]
async fn hostile_table_name_is_just_a_name() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("q.db");
    let name = "x\"; DROP TABLE y; --";
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.execute_batch("CREATE TABLE y (a INTEGER); INSERT INTO y VALUES (1);")
        .expect("setup");
    drop(conn);
    let r = run(
        dest(json!({"path": path, "table": name})),
        MemorySource::new(vec![record! {"we\"ird col" => 1}]),
        10,
    )
    .await;
    assert!(r.is_success(), "{:?}", r.error);
    assert_eq!(int(&query(&path, "SELECT count(*) FROM y")[0][0]), 1);
    let sql = format!("SELECT \"we\"\"ird col\" FROM {}", load::ident(name));
    assert_eq!(int(&query(&path, &sql)[0][0]), 1);
}
