//! Integration tests of the `postgres` destination against a real PostgreSQL server.
//!
//! Run them with `scripts/test.sh` (starts a throwaway server when none answers at
//! `DATAFORGE_TEST_DATABASE_URL`).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dataforge_core::test_utils::MemorySource;
use dataforge_core::{Record, Value, record};
use dataforge_destinations as _;
use serde_json::json;
use support::{SlowSource, TestDb, failure};

fn order(i: i64) -> Record {
    record! {
        "id" => i,
        "total" => Value::Float(i as f64 + 0.5),
        "status" => if i % 2 == 0 { "paid" } else { "pending" },
    }
}

fn orders(range: std::ops::RangeInclusive<i64>) -> Vec<Record> {
    range.map(order).collect()
}

macro_rules! db {
    ($name:expr) => {
        match TestDb::new($name).await {
            Some(db) => db,
            None => return,
        }
    };
}

#[tokio::test]
async fn replace_infers_types_from_many_rows_and_reports() {
    let db = db!("infer");
    let mut rows = Vec::new();
    for i in 0..3000i64 {
        let mut r = record! {
            "id" => i,
            // Small for 2,999 rows, then one beyond 32 bits (integers are always BIGINT).
            "big" => if i == 2999 { 1i64 << 40 } else { i },
            // Integers, then one float: DOUBLE PRECISION.
            "mixed" => if i == 1500 { Value::Float(0.25) } else { Value::Int(i) },
            "created_at" => format!("2024-05-01T10:{:02}:00+02:00", i % 60),
            "day" => "2024-05-01",
            "customer" => record! {"name" => "Ada", "tags" => Value::Array(vec!["vip".into()])},
            "items" => Value::Array(vec![Value::Int(1), Value::Int(2)]),
            "nothing" => Value::Null,
            "paid" => i % 3 == 0,
            "price" => "12.30",
            "amount" => Value::Decimal("9.99".parse().expect("decimal")),
            "note" => "plain text",
        };
        if i == 0 {
            // The first value says integer; the consensus says text.
            r.insert("code", 7);
        } else {
            r.insert("code", "A-7");
        }
        rows.push(r);
    }
    let cfg = db.config(
        "orders",
        json!({"write_mode": "replace", "columns": {"price": "NUMERIC(12,2)"}}),
    );
    let report = db.run(cfg, MemorySource::new(rows), 500).await;
    assert!(report.is_success(), "{:?}", report.error);
    assert_eq!(report.rows_loaded, 3000);
    let load = report.load.as_ref().expect("load summary");
    assert_eq!(load.target, format!("{}.orders", db.schema));
    assert_eq!(load.rows_inserted, Some(3000));
    assert!(report.seconds.contains_key("load"));
    let cols = db.columns("orders").await;
    let expected = [
        ("id", "bigint"),
        ("big", "bigint"),
        ("mixed", "double precision"),
        ("created_at", "timestamp with time zone"),
        ("day", "date"),
        ("customer", "jsonb"),
        ("items", "jsonb"),
        ("nothing", "text"),
        ("paid", "boolean"),
        ("price", "numeric(12,2)"),
        ("amount", "numeric"),
        ("note", "text"),
        ("code", "text"),
    ];
    let got: Vec<(&str, &str)> = cols.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(got, expected);
    let t = db.qualified("orders");
    let row = db
        .client
        .query_one(
            &format!(
                "SELECT big, mixed, created_at = '2024-05-01T08:00:00Z'::timestamptz, \
                 customer->>'name', customer->'tags'->>0, price::text, amount::text, code, \
                 nothing IS NULL, day = DATE '2024-05-01' \
                 FROM {t} WHERE id = 0"
            ),
            &[],
        )
        .await
        .expect("row 0");
    assert_eq!(row.get::<_, i64>(0), 0);
    assert_eq!(row.get::<_, f64>(1), 0.0);
    assert!(row.get::<_, bool>(2));
    assert_eq!(row.get::<_, &str>(3), "Ada");
    assert_eq!(row.get::<_, &str>(4), "vip");
    assert_eq!(row.get::<_, &str>(5), "12.30");
    assert_eq!(row.get::<_, &str>(6), "9.99");
    assert_eq!(row.get::<_, &str>(7), "7");
    assert!(row.get::<_, bool>(8));
    assert!(row.get::<_, bool>(9));
    let big: i64 = db
        .count(&format!("SELECT big FROM {t} WHERE id = 2999"))
        .await;
    assert_eq!(big, 1 << 40);
    db.drop().await;
}

#[tokio::test]
async fn append_adds_rows_all_or_nothing() {
    let db = db!("append");
    let cfg = || db.config("t", json!({"write_mode": "append"}));
    assert!(
        db.run(cfg(), MemorySource::new(orders(1..=100)), 25)
            .await
            .is_success()
    );
    assert!(
        db.run(cfg(), MemorySource::new(orders(101..=150)), 25)
            .await
            .is_success()
    );
    assert_eq!(db.rows("t").await, 150);
    // A source that errors after 3 batches: nothing of this load remains.
    let failing = MemorySource::new(orders(151..=400))
        .fail_after_batches(3)
        .fatal();
    let report = db.run(cfg(), failing, 25).await;
    assert!(
        failure(&report).contains("planned failure"),
        "{}",
        failure(&report)
    );
    assert_eq!(db.rows("t").await, 150);
    assert_eq!(report.rows_loaded, 0);
    db.drop().await;
}

#[tokio::test]
async fn replace_rolls_back_when_the_source_fails_mid_stream() {
    let db = db!("replace_rollback");
    let cfg = || db.config("t", json!({"write_mode": "replace"}));
    assert!(
        db.run(cfg(), MemorySource::new(orders(1..=1000)), 100)
            .await
            .is_success()
    );
    let sum_before = db
        .count(&format!("SELECT sum(id)::int8 FROM {}", db.qualified("t")))
        .await;
    // More than the inference buffer, so rows are already flowing over COPY when it fails.
    let failing = MemorySource::new(orders(5001..=30000))
        .fail_after_batches(3)
        .fatal();
    let report = db.run(cfg(), failing, 5000).await;
    assert!(!report.is_success());
    assert_eq!(db.rows("t").await, 1000);
    let sum_after = db
        .count(&format!("SELECT sum(id)::int8 FROM {}", db.qualified("t")))
        .await;
    assert_eq!(sum_before, sum_after);
    // The connection is still usable for the next load, which replaces.
    assert!(
        db.run(cfg(), MemorySource::new(orders(1..=10)), 100)
            .await
            .is_success()
    );
    assert_eq!(db.rows("t").await, 10);
    db.drop().await;
}

#[tokio::test]
async fn upsert_merges_on_the_key_and_rerunning_changes_nothing() {
    let db = db!("upsert");
    let cfg = || db.config("t", json!({"write_mode": "upsert", "primary_key": ["id"]}));
    let first = vec![
        record! {"id" => 1, "v" => "a", "doc" => record!{"n" => 1}},
        record! {"id" => 2, "v" => "b", "doc" => record!{"n" => 2}},
        record! {"id" => 1, "v" => "a-last", "doc" => record!{"n" => 3}},
    ];
    let r = db.run(cfg(), MemorySource::new(first.clone()), 2).await;
    assert!(r.is_success(), "{:?}", r.error);
    let load = r.load.as_ref().expect("summary");
    assert_eq!((load.rows_inserted, load.rows_updated), (Some(2), Some(0)));
    let t = db.qualified("t");
    let v: String = db
        .client
        .query_one(&format!("SELECT v FROM {t} WHERE id = 1"), &[])
        .await
        .expect("row")
        .get(0);
    assert_eq!(
        v, "a-last",
        "duplicates inside one load resolve to the last"
    );
    // The created table has the key as its primary key.
    let pk = db
        .count(&format!(
            "SELECT count(*) FROM pg_index WHERE indrelid = '{}'::regclass AND indisprimary",
            t.replace('\'', "''")
        ))
        .await;
    assert_eq!(pk, 1);
    let xmin_before: Vec<String> = db
        .client
        .query(&format!("SELECT xmin::text FROM {t} ORDER BY id"), &[])
        .await
        .expect("xmin")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let again = db.run(cfg(), MemorySource::new(first), 2).await;
    let load = again.load.as_ref().expect("summary");
    assert_eq!((load.rows_inserted, load.rows_updated), (Some(0), Some(0)));
    let xmin_after: Vec<String> = db
        .client
        .query(&format!("SELECT xmin::text FROM {t} ORDER BY id"), &[])
        .await
        .expect("xmin")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        xmin_before, xmin_after,
        "an unchanged row must not be rewritten"
    );
    let next = vec![
        record! {"id" => 2, "v" => "B"},
        record! {"id" => 3, "v" => "c"},
    ];
    let r = db.run(cfg(), MemorySource::new(next), 10).await;
    let load = r.load.as_ref().expect("summary");
    assert_eq!((load.rows_inserted, load.rows_updated), (Some(1), Some(1)));
    // A column missing from this load keeps its value on update.
    let n: i64 = db
        .count(&format!("SELECT (doc->>'n')::int8 FROM {t} WHERE id = 2"))
        .await;
    assert_eq!(n, 2);
    assert_eq!(db.rows("t").await, 3);
    // No staging table survives the load.
    assert_eq!(db.relations().await, ["t", "t_pkey"]);
    db.drop().await;
}

#[tokio::test]
async fn upsert_with_a_missing_key_column_fails_before_writing() {
    let db = db!("upsert_missing_key");
    let cfg = db.config("t", json!({"write_mode": "upsert", "primary_key": ["id"]}));
    let r = db
        .run(cfg, MemorySource::new(vec![record! {"name" => "x"}]), 10)
        .await;
    let msg = failure(&r);
    assert!(
        msg.contains("primary key column `id` is not in the data"),
        "{msg}"
    );
    assert!(db.relations().await.is_empty(), "no table may be created");
    // A null key is an error naming the row, and nothing is written either.
    let cfg = db.config("t", json!({"write_mode": "upsert", "primary_key": "id"}));
    let rows = vec![record! {"id" => 1}, record! {"id" => Value::Null}];
    let r = db.run(cfg, MemorySource::new(rows), 10).await;
    assert!(
        failure(&r).contains("row 2: primary key column `id` is null"),
        "{}",
        failure(&r)
    );
    assert!(db.relations().await.is_empty());
    db.drop().await;
}

/// Rows of one shape share their column names, and the writer maps them to the COPY's
/// columns once per shape: rows that share a shape, the same names in another order, a new
/// column mid-stream (during the COPY) and the first shape again all land in their columns.
#[tokio::test]
async fn rows_sharing_a_shape_and_reordered_rows_land_in_their_columns() {
    let db = db!("shared_shape");
    let shaped = |base: &Record, id: i64| {
        let mut r = base.clone(); // shares `base`'s column names
        r.values_mut()[0] = Value::Int(id);
        r
    };
    let first = record! {"id" => 0, "total" => 1.5, "coupon" => "A"};
    let reordered = record! {"id" => 0, "coupon" => "B", "total" => 2.5};
    let wider = record! {"id" => 0, "coupon" => "C", "weight" => 7.0, "total" => 3.5};
    let mut rows: Vec<Record> = (1..=11_000).map(|i| shaped(&first, i)).collect();
    rows.extend((11_001..=11_500).map(|i| shaped(&reordered, i)));
    rows.extend((11_501..=11_600).map(|i| shaped(&wider, i)));
    rows.extend((11_601..=12_000).map(|i| shaped(&first, i)));
    let r = db
        .run(
            db.config("t", json!({"write_mode": "replace"})),
            MemorySource::new(rows),
            1000,
        )
        .await;
    assert!(r.is_success(), "{:?}", r.error);
    let t = db.qualified("t");
    assert_eq!(db.rows("t").await, 12_000);
    for (coupon, total, ids, weight) in [
        (
            "A",
            "1.5",
            "(id BETWEEN 1 AND 11000 OR id > 11600)",
            "weight IS NULL",
        ),
        ("B", "2.5", "id BETWEEN 11001 AND 11500", "weight IS NULL"),
        ("C", "3.5", "id BETWEEN 11501 AND 11600", "weight = 7.0"),
    ] {
        let all = db
            .count(&format!("SELECT count(*) FROM {t} WHERE {ids}"))
            .await;
        let right = db
            .count(&format!(
                "SELECT count(*) FROM {t} WHERE {ids} AND coupon = '{coupon}' AND total = \
                 {total} AND {weight}"
            ))
            .await;
        assert_eq!((right, all > 0), (all, true), "coupon {coupon}");
    }
    db.drop().await;
}

#[tokio::test]
async fn schema_evolves_and_misfits_name_column_row_and_type() {
    let db = db!("evolution");
    let cfg = || db.config("t", json!({"write_mode": "append"}));
    assert!(
        db.run(cfg(), MemorySource::new(orders(1..=10)), 10)
            .await
            .is_success()
    );
    // `status` missing from the data, `coupon` new in the first batch, `weight` new mid-stream
    // (after the inference buffer, so it arrives during the COPY).
    let mut rows: Vec<Record> = (11..=12_010)
        .map(|i| record! {"id" => i, "total" => 1.0, "coupon" => "SAVE"})
        .collect();
    rows.push(record! {"id" => 20_000, "total" => 2.0, "weight" => 1.5});
    let r = db.run(cfg(), MemorySource::new(rows), 1000).await;
    assert!(r.is_success(), "{:?}", r.error);
    let cols: Vec<String> = db.columns("t").await.into_iter().map(|(n, _)| n).collect();
    assert_eq!(cols, ["id", "total", "status", "coupon", "weight"]);
    let t = db.qualified("t");
    assert_eq!(
        db.count(&format!("SELECT count(*) FROM {t} WHERE status IS NULL"))
            .await,
        12_001
    );
    assert_eq!(
        db.count(&format!("SELECT count(*) FROM {t} WHERE weight = 1.5"))
            .await,
        1
    );
    assert_eq!(db.rows("t").await, 12_011);
    // A value that cannot fit: the load fails naming column, row and type; nothing written.
    let rows = vec![
        order(1),
        order(2),
        record! {"id" => "three", "total" => 3.0},
    ];
    let r = db.run(cfg(), MemorySource::new(rows), 10).await;
    let msg = failure(&r);
    assert!(
        msg.contains("row 3: column `id` of type bigint cannot hold a string value"),
        "{msg}"
    );
    assert_eq!(db.rows("t").await, 12_011);
    // A user's table with a 32-bit column: a 64-bit value widens it to bigint inside the load
    // (tests/postgres_errors.rs has the mid-stream cases and the `columns` override).
    let narrow = db.qualified("narrow");
    db.client
        .batch_execute(&format!(
            "CREATE TABLE {narrow} (id INTEGER, total DOUBLE PRECISION)"
        ))
        .await
        .expect("create narrow");
    let rows = vec![order(1), record! {"id" => 1i64 << 40}];
    let cfg = db.config("narrow", json!({"write_mode": "append"}));
    let r = db.run(cfg, MemorySource::new(rows), 10).await;
    assert!(r.is_success(), "{:?}", r.error);
    assert_eq!(db.columns("narrow").await[0].1, "bigint");
    assert_eq!(db.rows("narrow").await, 2);
    db.drop().await;
}

#[tokio::test]
async fn a_large_integer_after_the_inference_rows_loads() {
    let db = db!("late_big");
    // Every integer the inference sees fits 32 bits; the one beyond it comes later, mid-COPY.
    let mut rows: Vec<Record> = (0..12_000i64).map(|i| record! {"n" => i}).collect();
    rows.push(record! {"n" => 1i64 << 40});
    let cfg = db.config("t", json!({"write_mode": "replace"}));
    let r = db.run(cfg, MemorySource::new(rows), 1000).await;
    assert!(r.is_success(), "{:?}", r.error);
    let t = db.qualified("t");
    assert_eq!(db.count(&format!("SELECT max(n) FROM {t}")).await, 1 << 40);
    assert_eq!(db.rows("t").await, 12_001);
    db.drop().await;
}

#[tokio::test]
async fn hostile_identifiers_are_just_names() {
    let db = db!("hostile");
    let victim = db.qualified("y");
    db.client
        .batch_execute(&format!(
            "CREATE TABLE {victim} (a int); INSERT INTO {victim} VALUES (1)"
        ))
        .await
        .expect("victim");
    let table = "x\"; DROP TABLE y; --";
    let column = "a\"); DROP TABLE y; --";
    let rows = vec![record! {"id" => 1, column => "'; DROP TABLE y; --"}];
    let cfg = db.config(
        table,
        json!({"write_mode": "upsert", "primary_key": ["id"], "columns": {column: "TEXT"}}),
    );
    let r = db
        .run(cfg.clone(), MemorySource::new(rows.clone()), 10)
        .await;
    assert!(r.is_success(), "{:?}", r.error);
    let r = db.run(cfg, MemorySource::new(rows), 10).await;
    assert!(r.is_success(), "{:?}", r.error);
    assert_eq!(db.rows("y").await, 1, "the victim table survives");
    assert_eq!(db.rows(table).await, 1);
    let v: String = db
        .client
        .query_one(
            &format!(
                "SELECT {} FROM {}",
                postgres_protocol::escape::escape_identifier(column),
                db.qualified(table)
            ),
            &[],
        )
        .await
        .expect("value")
        .get(0);
    assert_eq!(v, "'; DROP TABLE y; --");
    // A hostile schema name too (created by the destination).
    let schema = format!("{}\"; DROP TABLE y; --", db.schema);
    let cfg = json!({"type": "postgres", "schema": schema, "table": table});
    let r = support::run_with_url(&db.url, cfg, MemorySource::new(orders(1..=3)), 10).await;
    assert!(r.is_success(), "{:?}", r.error);
    db.client
        .batch_execute(&format!(
            "DROP SCHEMA {} CASCADE",
            postgres_protocol::escape::escape_identifier(&schema)
        ))
        .await
        .expect("drop hostile schema");
    assert_eq!(db.rows("y").await, 1);
    db.drop().await;
}

#[tokio::test]
async fn replace_keeps_indexes_grants_and_dependent_views() {
    let db = db!("dependents");
    let cfg = || db.config("t", json!({"write_mode": "replace"}));
    assert!(
        db.run(cfg(), MemorySource::new(orders(1..=100)), 50)
            .await
            .is_success()
    );
    let t = db.qualified("t");
    let v = db.qualified("paid_orders");
    db.client
        .batch_execute(&format!(
            "CREATE INDEX t_status_idx ON {t} (status); \
             CREATE VIEW {v} AS SELECT id FROM {t} WHERE status = 'paid'; \
             DO $$ BEGIN CREATE ROLE dataforge_test_reader; EXCEPTION WHEN duplicate_object THEN NULL; END $$; \
             GRANT SELECT ON {t} TO dataforge_test_reader"
        ))
        .await
        .expect("dependents");
    assert!(
        db.run(cfg(), MemorySource::new(orders(1..=40)), 50)
            .await
            .is_success()
    );
    assert_eq!(db.rows("t").await, 40);
    assert_eq!(
        db.rows("paid_orders").await,
        20,
        "the view sees the new rows"
    );
    let granted = db
        .count(&format!(
            "SELECT count(*) FROM information_schema.role_table_grants \
             WHERE grantee = 'dataforge_test_reader' AND table_schema = '{}' AND table_name = 't'",
            db.schema.replace('\'', "''")
        ))
        .await;
    assert_eq!(granted, 1);
    assert!(db.relations().await.contains(&"t_status_idx".to_owned()));
    db.client
        .batch_execute(&format!("REVOKE ALL ON {t} FROM dataforge_test_reader"))
        .await
        .expect("revoke");
    db.drop().await;
}

#[tokio::test]
async fn concurrent_reader_never_sees_an_empty_or_partial_table_during_replace() {
    let db = db!("concurrent_replace");
    let cfg = || db.config("t", json!({"write_mode": "replace"}));
    assert!(
        db.run(cfg(), MemorySource::new(orders(1..=5000)), 1000)
            .await
            .is_success()
    );
    let url = db.url.clone();
    let table = db.qualified("t");
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let reader = {
        let (done, reads) = (done.clone(), reads.clone());
        tokio::spawn(async move {
            let client = support::connect(&url).await.expect("reader connects");
            // A REPEATABLE READ transaction opened before the load (TRUNCATE would make it see
            // an empty table; DELETE keeps MVCC).
            client
                .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
                .await
                .expect("begin rr");
            let mut seen = Vec::new();
            let mut rr = Vec::new();
            let sql = format!("SELECT count(*) FROM {table}");
            let sql2 = format!("SELECT count(*), coalesce(sum(id), 0)::int8 FROM {table}");
            let other = support::connect(&url).await.expect("reader connects");
            // A reader blocked by the load (a lock a DELETE never takes) fails instead of hanging.
            for c in [&client, &other] {
                c.batch_execute("SET statement_timeout = '10s'")
                    .await
                    .expect("timeout");
            }
            while !done.load(Ordering::SeqCst) {
                rr.push(
                    client
                        .query_one(&sql, &[])
                        .await
                        .expect("rr read")
                        .get::<_, i64>(0),
                );
                let row = other.query_one(&sql2, &[]).await.expect("read");
                seen.push((row.get::<_, i64>(0), row.get::<_, i64>(1)));
                reads.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (seen, rr)
        })
    };
    // 20 batches of 1,000 rows, 100 ms apart: about 2 s of load, rows flowing over COPY.
    let source = SlowSource {
        batches: 20,
        rows: 1000,
        delay: Duration::from_millis(100),
        make: |i| order(100_000 + i as i64),
    };
    let started = Instant::now();
    let r = db.run(cfg(), source, 1000).await;
    let took = started.elapsed();
    done.store(true, Ordering::SeqCst);
    let (seen, rr) = reader.await.expect("reader");
    assert!(r.is_success(), "{:?}", r.error);
    assert!(
        took > Duration::from_secs(1),
        "the load must take a while: {took:?}"
    );
    assert!(
        reads.load(Ordering::SeqCst) > 20,
        "the reader must have read during the load"
    );
    let old = (5000i64, (1..=5000i64).sum::<i64>());
    let new = (20_000i64, (100_000..120_000i64).sum::<i64>());
    for s in &seen {
        assert!(
            *s == old || *s == new,
            "reader saw {s:?}: neither old {old:?} nor new {new:?}"
        );
    }
    assert!(
        seen.contains(&old),
        "the reader saw the old table while loading"
    );
    assert!(rr.iter().all(|n| *n == 5000), "repeatable read saw {rr:?}");
    assert_eq!(db.rows("t").await, 20_000);
    db.drop().await;
}

const SIGKILL_CHILD: &str = "DATAFORGE_SIGKILL_CHILD";

#[tokio::test]
async fn sigkill_mid_load_keeps_old_data_and_leaves_no_stray_tables() {
    if let Ok(schema) = std::env::var(SIGKILL_CHILD) {
        // The child: an endless-looking replace that the parent kills mid-load.
        let cfg =
            json!({"type": "postgres", "schema": schema, "table": "t", "write_mode": "replace"});
        let source = SlowSource {
            batches: 10_000,
            rows: 1000,
            delay: Duration::from_millis(20),
            make: |i| order(1_000_000 + i as i64),
        };
        let r = support::run_with_url(&support::database_url(), cfg, source, 1000).await;
        panic!(
            "the child should have been killed, but its load ended: {:?}",
            r.status
        );
    }
    let db = db!("sigkill");
    let cfg = || db.config("t", json!({"write_mode": "replace"}));
    assert!(
        db.run(cfg(), MemorySource::new(orders(1..=1000)), 500)
            .await
            .is_success()
    );
    let mut child = support::spawn_test_child(
        "sigkill_mid_load_keeps_old_data_and_leaves_no_stray_tables",
        &[
            (SIGKILL_CHILD, db.schema.as_ref()),
            ("DATAFORGE_TEST_DATABASE_URL", db.url.as_ref()),
        ],
    );
    // Wait until the child's COPY has sent rows to the server.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let copied = db
            .count(
                "SELECT coalesce(max(tuples_processed), 0)::int8 FROM pg_stat_progress_copy \
                 WHERE command = 'COPY FROM'",
            )
            .await;
        if copied > 2000 {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the child exited before it was killed: {status}");
        }
        assert!(Instant::now() < deadline, "the child's COPY never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().expect("SIGKILL"); // Command::kill sends SIGKILL on Unix
    let status = child.wait().expect("wait");
    assert!(!status.success());
    // The server notices the closed socket and rolls the transaction back.
    let deadline = Instant::now() + Duration::from_secs(30);
    while db
        .count("SELECT count(*) FROM pg_stat_progress_copy WHERE command = 'COPY FROM'")
        .await
        > 0
    {
        assert!(
            Instant::now() < deadline,
            "the killed load's backend never ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(db.rows("t").await, 1000, "old data intact");
    assert_eq!(db.relations().await, ["t"], "no stray tables");
    assert!(
        db.run(cfg(), MemorySource::new(orders(1..=7)), 500)
            .await
            .is_success()
    );
    assert_eq!(db.rows("t").await, 7);
    assert_eq!(
        db.relations().await,
        ["t"],
        "no stray tables after the next run"
    );
    db.drop().await;
}

#[tokio::test]
async fn pre_and_post_sql_run_inside_the_load_transaction() {
    let db = db!("pre_post_sql");
    let log = db.qualified("log");
    db.client
        .batch_execute(&format!("CREATE TABLE {log} (msg text)"))
        .await
        .expect("log table");
    let cfg = db.config(
        "t",
        json!({
            "pre_sql": format!("INSERT INTO {log} VALUES ('pre')"),
            "post_sql": [format!("INSERT INTO {log} VALUES ('post')")],
        }),
    );
    assert!(
        db.run(cfg.clone(), MemorySource::new(orders(1..=5)), 10)
            .await
            .is_success()
    );
    assert_eq!(db.rows("log").await, 2);
    // A failed load rolls pre_sql back with it.
    let failing = MemorySource::new(orders(1..=50))
        .fail_after_batches(2)
        .fatal();
    assert!(!db.run(cfg, failing, 10).await.is_success());
    assert_eq!(db.rows("log").await, 2);
    db.drop().await;
}

#[tokio::test]
async fn connection_errors_never_show_the_password() {
    let Some(_) = support::connect(&support::database_url()).await else {
        return;
    };
    let url = "postgres://loader:Sup3rS3cret@127.0.0.1:1/test?sslmode=disable&connect_timeout=2";
    let cfg = json!({"type": "postgres", "table": "t"});
    let r = support::run_with_url(url, cfg, MemorySource::new(orders(1..=2)), 10).await;
    let msg = failure(&r);
    assert!(!msg.contains("Sup3rS3cret"), "{msg}");
    assert!(msg.contains("loader:***@127.0.0.1:1"), "{msg}");
    assert!(r.error.as_ref().is_some_and(|e| e.is_retryable()), "{msg}");
}

async fn encrypted(url: &str, mode: &str) -> Result<bool, String> {
    let mut url = url::Url::parse(url).expect("url");
    url.query_pairs_mut().append_pair("sslmode", mode);
    let conn = dataforge_core::Connection::parse("t", url.as_str()).expect("uri");
    let client = dataforge_hooks::postgres::connect(&conn)
        .await
        .map_err(|e| dataforge_core::error_chain(&e))?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get(0))
}

#[tokio::test]
async fn sslmode_chooses_tls_as_libpq_does() {
    let db = db!("sslmode");
    let ssl: String = db
        .client
        .query_one("SHOW ssl", &[])
        .await
        .expect("show ssl")
        .get(0);
    assert_eq!(encrypted(&db.url, "disable").await, Ok(false));
    if ssl == "on" {
        // prefer and require encrypt without verifying (libpq's meaning) ...
        assert_eq!(encrypted(&db.url, "prefer").await, Ok(true));
        assert_eq!(encrypted(&db.url, "require").await, Ok(true));
        // ... verify-full checks the certificate, which a test server's is not trusted for.
        let e = encrypted(&db.url, "verify-full")
            .await
            .expect_err("untrusted certificate");
        assert!(e.contains("certificate"), "{e}");
    } else {
        assert_eq!(encrypted(&db.url, "prefer").await, Ok(false));
        let e = encrypted(&db.url, "require")
            .await
            .expect_err("no TLS on this server");
        assert!(e.to_lowercase().contains("tls") || e.contains("SSL"), "{e}");
    }
    db.drop().await;
}
