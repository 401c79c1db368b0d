//! The `postgres` destination's errors name the row and the column, and integer columns widen
//! mid-load instead of failing. Against a real server, like `tests/postgres.rs`.

mod support;

use dataforge_core::test_utils::MemorySource;
use dataforge_core::{Record, Value, record};
use dataforge_destinations as _;
use serde_json::json;
use support::{TestDb, failure};

macro_rules! db {
    ($name:expr) => {
        match TestDb::new($name).await {
            Some(db) => db,
            None => return,
        }
    };
}

/// A Shopify-style order id (13 digits, beyond 32 bits).
const SHOPIFY_ID: i64 = 5_923_462_037_621;

/// The type of one column, as `format_type` writes it.
async fn column_type(db: &TestDb, table: &str, column: &str) -> String {
    db.columns(table)
        .await
        .into_iter()
        .find(|(n, _)| n == column)
        .map(|(_, t)| t)
        .unwrap_or_else(|| panic!("no column {column}"))
}

#[tokio::test]
async fn a_shopify_id_at_row_50001_loads_into_a_created_table() {
    let db = db!("err_shopify_created");
    let mut rows: Vec<Record> = (1..=50_000i64)
        .map(|i| record! {"id" => i, "n" => i})
        .collect();
    rows.push(record! {"id" => SHOPIFY_ID, "n" => 1});
    let cfg = db.config("t", json!({"write_mode": "append"}));
    let r = db.run(cfg, MemorySource::new(rows), 5000).await;
    assert!(r.is_success(), "{:?}", r.error);
    let t = db.qualified("t");
    assert_eq!(
        db.count(&format!("SELECT max(id) FROM {t}")).await,
        SHOPIFY_ID
    );
    assert_eq!(db.rows("t").await, 50_001);
    db.drop().await;
}

#[tokio::test]
async fn a_users_integer_column_widens_to_bigint_mid_load() {
    let db = db!("err_widen_int4");
    let t = db.qualified("t");
    db.client
        .batch_execute(&format!(
            "CREATE TABLE {t} (id INTEGER, n SMALLINT, note TEXT); INSERT INTO {t} VALUES (0, 0, 'old')"
        ))
        .await
        .expect("create");
    // Every value the inference sees fits 32 bits; row 50,001 holds a Shopify id.
    let mut rows: Vec<Record> = (1..=50_000i64)
        .map(|i| record! {"id" => i, "n" => i % 100, "note" => "x"})
        .collect();
    rows.push(record! {"id" => SHOPIFY_ID, "n" => 70_000, "note" => "big"});
    rows.push(record! {"id" => 50_002, "n" => 1, "note" => "after"});
    let cfg = db.config("t", json!({"write_mode": "append"}));
    let r = db.run(cfg, MemorySource::new(rows), 5000).await;
    assert!(r.is_success(), "{:?}", r.error);
    assert_eq!(column_type(&db, "t", "id").await, "bigint");
    assert_eq!(column_type(&db, "t", "n").await, "bigint");
    assert_eq!(db.rows("t").await, 50_003);
    assert_eq!(
        db.count(&format!("SELECT n FROM {t} WHERE id = {SHOPIFY_ID}"))
            .await,
        70_000
    );
    assert_eq!(
        db.count(&format!("SELECT count(*) FROM {t} WHERE note = 'after'"))
            .await,
        1
    );
    db.drop().await;
}

#[tokio::test]
async fn upsert_widens_the_target_and_its_staging_table() {
    let db = db!("err_widen_upsert");
    let t = db.qualified("t");
    db.client
        .batch_execute(&format!(
            "CREATE TABLE {t} (id INTEGER PRIMARY KEY, v INTEGER)"
        ))
        .await
        .expect("create");
    let mut rows: Vec<Record> = (1..=12_000i64)
        .map(|i| record! {"id" => i, "v" => i})
        .collect();
    rows.push(record! {"id" => SHOPIFY_ID, "v" => SHOPIFY_ID});
    let cfg = db.config("t", json!({"write_mode": "upsert", "primary_key": ["id"]}));
    let r = db.run(cfg, MemorySource::new(rows), 1000).await;
    assert!(r.is_success(), "{:?}", r.error);
    assert_eq!(column_type(&db, "t", "id").await, "bigint");
    assert_eq!(column_type(&db, "t", "v").await, "bigint");
    assert_eq!(
        db.count(&format!("SELECT v FROM {t} WHERE id = {SHOPIFY_ID}"))
            .await,
        SHOPIFY_ID
    );
    assert_eq!(db.rows("t").await, 12_001);
    db.drop().await;
}

#[tokio::test]
async fn a_bigint_column_widens_to_numeric_for_a_value_beyond_64_bits() {
    let db = db!("err_widen_numeric");
    let mut rows: Vec<Record> = (1..=12_000i64).map(|i| record! {"n" => i}).collect();
    // What a JSON source makes of 18446744073709551615: an integral decimal.
    let huge: rust_decimal::Decimal = "18446744073709551615".parse().expect("decimal");
    rows.push(record! {"n" => Value::Decimal(huge)});
    rows.push(record! {"n" => 7});
    let cfg = db.config("t", json!({"write_mode": "replace"}));
    let r = db.run(cfg, MemorySource::new(rows), 1000).await;
    assert!(r.is_success(), "{:?}", r.error);
    assert_eq!(column_type(&db, "t", "n").await, "numeric");
    let max: String = db
        .client
        .query_one(
            &format!("SELECT max(n)::text FROM {}", db.qualified("t")),
            &[],
        )
        .await
        .expect("max")
        .get(0);
    assert_eq!(max, "18446744073709551615");
    assert_eq!(db.rows("t").await, 12_002);
    db.drop().await;
}

#[tokio::test]
async fn a_column_typed_by_the_columns_setting_is_not_widened() {
    let db = db!("err_no_widen_override");
    let mut rows: Vec<Record> = (1..=12_000i64)
        .map(|i| record! {"id" => i, "n" => i})
        .collect();
    rows.push(record! {"id" => 12_001, "n" => SHOPIFY_ID});
    let cfg = db.config(
        "t",
        json!({"write_mode": "upsert", "primary_key": ["id"], "columns": {"n": "INTEGER"}}),
    );
    let msg = failure(&db.run(cfg, MemorySource::new(rows), 1000).await);
    assert!(
        msg.contains(
            "row 12001 (id=12001): column `n` of type integer cannot hold an integer value (out of range)"
        ) && msg.contains("`columns`")
            && msg.contains("nothing was written"),
        "{msg}"
    );
    assert!(
        db.relations().await.is_empty(),
        "the created table is rolled back"
    );
    db.drop().await;
}

#[cfg(feature = "file")] // the dead letters go to a `file` destination
#[tokio::test]
async fn a_nul_in_a_string_follows_the_destinations_on_error() {
    let db = db!("err_nul");
    let t = db.qualified("t");
    db.client
        .batch_execute(&format!(
            "CREATE TABLE {t} (id BIGINT PRIMARY KEY, note VARCHAR(20), doc JSONB)"
        ))
        .await
        .expect("create");
    let cfg = || db.config("t", json!({"write_mode": "append"}));
    let rows = || {
        vec![
            record! {"id" => 1, "note" => "fine"},
            record! {"id" => 2, "note" => "bad\0byte"},
            // jsonb rejects `\u0000` anywhere, even in a nested key.
            record! {"id" => 3, "doc" => record! {"k\0" => 1}},
            // A backslash followed by `u0000` is not a NUL.
            record! {"id" => 4, "doc" => record! {"a" => "\\u0000"}},
        ]
    };
    // `fail` (the default): the run fails naming the row, the column and the cause.
    let msg = failure(&db.run(cfg(), MemorySource::new(rows()), 10).await);
    assert!(
        msg.contains("destination postgres")
            && msg.contains("column `note`: a NUL character, which PostgreSQL text cannot hold")
            && msg.contains("\"id\":2"),
        "{msg}"
    );
    assert_eq!(db.rows("t").await, 0, "nothing was written");

    // `skip`, from a pipeline file: the other rows load, the rejected ones are counted.
    let dir = tempfile::tempdir().expect("tempdir");
    let dead = dir.path().join("dead.jsonl");
    let mut destination = cfg();
    destination["on_error"] = json!("skip");
    let report = run_file_pipeline(&db, destination.clone(), None, rows()).await;
    assert!(report.is_success(), "{:?}", report.error);
    assert_eq!((report.rows_loaded, report.rows_rejected), (2, 2));
    assert_eq!(db.rows("t").await, 2);

    // `dead_letter`: the rows go to the dead-letter destination with the reason.
    db.client
        .batch_execute(&format!("DELETE FROM {t}"))
        .await
        .expect("empty");
    destination["on_error"] = json!("dead_letter");
    let dead_letter = json!({"type": "file", "path": dead});
    let report = run_file_pipeline(&db, destination, Some(dead_letter), rows()).await;
    assert!(report.is_success(), "{:?}", report.error);
    assert_eq!((report.rows_loaded, report.rows_dead_lettered), (2, 2));
    let letters = std::fs::read_to_string(&dead).expect("dead letters");
    assert!(
        letters.contains("a NUL character inside its JSON value")
            && letters.contains("bad\\u0000byte"),
        "{letters}"
    );
    db.drop().await;
}

/// Runs `rows` into `destination` through a pipeline built from a pipeline file's JSON (so
/// `on_error` is read from the destination's object as users write it).
#[cfg(feature = "file")]
async fn run_file_pipeline(
    db: &TestDb,
    destination: serde_json::Value,
    dead_letter: Option<serde_json::Value>,
    rows: Vec<Record>,
) -> dataforge_core::RunReport {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("rows.jsonl");
    let lines: String = rows
        .iter()
        .map(|r| serde_json::to_string(r).expect("a row as JSON") + "\n")
        .collect();
    std::fs::write(&input, lines).expect("input");
    let mut file = json!({
        "dag_id": "nul_rows",
        "source": {"type": "file", "path": input},
        "destination": destination,
    });
    if let Some(dl) = dead_letter {
        file["dead_letter"] = dl;
    }
    let config = dataforge_core::PipelineConfig::from_json(file)
        .expect("a valid pipeline")
        .config;
    let mut registry = dataforge_core::Registry::new();
    dataforge_sources::register(&mut registry).expect("sources");
    dataforge_destinations::register(&mut registry).expect("destinations");
    let pipeline = dataforge_core::Pipeline::from_config(&config, &registry).expect("pipeline");
    let opts = dataforge_core::RunOptions {
        connections: std::sync::Arc::new(
            dataforge_core::StaticConnections::new()
                .with("postgres_default", &db.url)
                .expect("connection"),
        ),
        ..dataforge_core::RunOptions::in_memory()
    };
    pipeline.run(&opts).await
}

#[tokio::test]
async fn a_too_long_string_and_a_numeric_overflow_name_row_column_and_key() {
    let db = db!("err_typmod");
    let t = db.qualified("t");
    db.client
        .batch_execute(&format!(
            "CREATE TABLE {t} (id BIGINT PRIMARY KEY, code VARCHAR(10), amount NUMERIC(5,2))"
        ))
        .await
        .expect("create");
    let cfg = || db.config("t", json!({"write_mode": "append"}));
    let ok = |i: i64| record! {"id" => i, "code" => "ABCDEFGHIJ", "amount" => "999.99"};
    let rows = vec![
        ok(1),
        ok(2),
        ok(3),
        record! {"id" => 4, "code" => "ABCDEFGHIJK", "amount" => 1},
    ];
    let msg = failure(&db.run(cfg(), MemorySource::new(rows), 10).await);
    assert!(
        msg.contains("row 4 (id=4): column `code` of type character varying(10)")
            && msg.contains("11 characters"),
        "{msg}"
    );
    let rows = vec![
        ok(1),
        record! {"id" => 2, "code" => "A", "amount" => Value::Float(999.995)},
    ];
    let msg = failure(&db.run(cfg(), MemorySource::new(rows), 10).await);
    assert!(
        msg.contains("row 2 (id=2): column `amount` of type numeric(5,2)")
            && msg.contains("overflow"),
        "{msg}"
    );
    // Trailing spaces beyond the length are cut by PostgreSQL, not an error.
    let rows = vec![record! {"id" => 5, "code" => "ABCDEFGHIJ   ", "amount" => "-999.994"}];
    let r = db.run(cfg(), MemorySource::new(rows), 10).await;
    assert!(r.is_success(), "{:?}", r.error);
    assert_eq!(db.rows("t").await, 1);
    db.drop().await;
}

#[tokio::test]
async fn a_unique_violation_names_the_row_in_the_run_and_its_key() {
    let db = db!("err_unique");
    let t = db.qualified("t");
    db.client
        .batch_execute(&format!(
            "CREATE TABLE {t} (id BIGINT PRIMARY KEY, v TEXT); INSERT INTO {t} VALUES (69999, 'old')"
        ))
        .await
        .expect("create");
    let rows: Vec<Record> = (1..=70_000i64)
        .map(|i| record! {"id" => i, "v" => "new"})
        .collect();
    let cfg = db.config("t", json!({"write_mode": "append"}));
    let msg = failure(&db.run(cfg, MemorySource::new(rows), 5000).await);
    assert!(
        msg.contains("row 69999 (id=69999)")
            && msg.contains("Key (id)=(69999) already exists")
            && msg.contains("nothing was written"),
        "{msg}"
    );
    assert_eq!(db.rows("t").await, 1);
    db.drop().await;
}

#[tokio::test]
async fn a_check_violation_names_the_row_and_key() {
    let db = db!("err_check");
    let t = db.qualified("t");
    db.client
        .batch_execute(&format!(
            "CREATE TABLE {t} (id BIGINT PRIMARY KEY, qty BIGINT CHECK (qty >= 0))"
        ))
        .await
        .expect("create");
    let rows = vec![
        record! {"id" => 10, "qty" => 1},
        record! {"id" => 11, "qty" => -1},
        record! {"id" => 12, "qty" => 1},
    ];
    let cfg = db.config("t", json!({"write_mode": "replace"}));
    let msg = failure(&db.run(cfg, MemorySource::new(rows), 10).await);
    assert!(
        msg.contains("row 2 (id=11):") && msg.contains("check constraint"),
        "{msg}"
    );
    db.drop().await;
}

#[tokio::test]
async fn a_column_name_over_63_bytes_is_a_clear_error() {
    let db = db!("err_long_name");
    let long = "c".repeat(70);
    let cfg = || db.config("t", json!({"write_mode": "append"}));
    let rows = vec![record! {"id" => 1, long.as_str() => 1}];
    let msg = failure(&db.run(cfg(), MemorySource::new(rows), 10).await);
    assert!(
        msg.contains(&format!("column name `{long}` is 70 bytes long")) && msg.contains("63"),
        "{msg}"
    );
    assert!(db.relations().await.is_empty());
    // The same name first seen mid-stream, when the table exists.
    let mut rows: Vec<Record> = (1..=11_000i64).map(|i| record! {"id" => i}).collect();
    rows.push(record! {"id" => 1, long.as_str() => 1});
    let msg = failure(&db.run(cfg(), MemorySource::new(rows), 1000).await);
    assert!(
        msg.contains(&format!("column name `{long}` is 70 bytes long")),
        "{msg}"
    );
    assert!(db.relations().await.is_empty());
    db.drop().await;
}

#[tokio::test]
async fn upsert_adds_the_missing_unique_index_when_the_rows_allow_it() {
    let db = db!("err_upsert_index");
    let t = db.qualified("t");
    db.client
        .batch_execute(&format!(
            "CREATE TABLE {t} (id BIGINT, v TEXT); INSERT INTO {t} VALUES (1, 'old'), (2, 'old')"
        ))
        .await
        .expect("create");
    let cfg = || db.config("t", json!({"write_mode": "upsert", "primary_key": ["id"]}));
    let rows = vec![
        record! {"id" => 2, "v" => "new"},
        record! {"id" => 3, "v" => "new"},
    ];
    let r = db.run(cfg(), MemorySource::new(rows.clone()), 10).await;
    assert!(r.is_success(), "{:?}", r.error);
    let load = r.load.as_ref().expect("summary");
    assert_eq!((load.rows_inserted, load.rows_updated), (Some(1), Some(1)));
    assert_eq!(db.rows("t").await, 3);
    let unique = db
        .count(&format!(
            "SELECT count(*) FROM pg_index WHERE indrelid = '{}'::regclass AND indisunique",
            t.replace('\'', "''")
        ))
        .await;
    assert_eq!(unique, 1);
    // The next load finds the index and adds no other.
    let r = db.run(cfg(), MemorySource::new(rows), 10).await;
    assert!(r.is_success(), "{:?}", r.error);
    assert_eq!(db.relations().await.len(), 2, "{:?}", db.relations().await);
    db.drop().await;
}

#[tokio::test]
async fn upsert_without_a_unique_key_and_duplicate_rows_names_table_and_columns() {
    let db = db!("err_upsert_dups");
    let t = db.qualified("t");
    db.client
        .batch_execute(&format!(
            "CREATE TABLE {t} (a BIGINT, b TEXT, v TEXT); \
             INSERT INTO {t} VALUES (1, 'x', 'old'), (1, 'x', 'again')"
        ))
        .await
        .expect("create");
    let cfg = db.config(
        "t",
        json!({"write_mode": "upsert", "primary_key": ["a", "b"]}),
    );
    let rows = vec![record! {"a" => 2, "b" => "y", "v" => "new"}];
    let msg = failure(&db.run(cfg, MemorySource::new(rows), 10).await);
    assert!(
        msg.contains(&format!(
            "{}.t has no unique constraint on (a, b) and its rows hold duplicate keys",
            db.schema
        )),
        "{msg}"
    );
    assert_eq!(db.rows("t").await, 2);
    assert_eq!(db.relations().await, ["t"]);
    db.drop().await;
}

#[tokio::test]
async fn a_widening_that_postgres_refuses_names_column_types_and_cause() {
    let db = db!("err_widen_view");
    let t = db.qualified("t");
    let v = db.qualified("v");
    db.client
        .batch_execute(&format!(
            "CREATE TABLE {t} (id INTEGER); CREATE VIEW {v} AS SELECT id FROM {t}"
        ))
        .await
        .expect("create");
    let rows = vec![record! {"id" => 1}, record! {"id" => SHOPIFY_ID}];
    let cfg = db.config("t", json!({"write_mode": "append"}));
    let msg = failure(&db.run(cfg, MemorySource::new(rows), 10).await);
    assert!(
        msg.contains(&format!(
            "row 2: column `id` of {}.t must widen from integer to bigint",
            db.schema
        )) && msg.contains("used by a view"),
        "{msg}"
    );
    assert_eq!(db.rows("t").await, 0);
    assert_eq!(column_type(&db, "t", "id").await, "integer");
    db.drop().await;
}
