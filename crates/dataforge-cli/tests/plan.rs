//! `dataforge plan`: what a run would do to a PostgreSQL or SQLite destination, from a sample
//! of a file source, through the real binary; and that planning itself changes nothing.
#![allow(clippy::unwrap_used)] // tests

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::{dataforge, runtime, test_db, text, write};

/// `n` orders as JSON Lines; with `coupon`, each also has a `coupon` field.
fn orders(dir: &Path, n: usize, coupon: bool) {
    let lines: Vec<String> = (1..=n)
        .map(|id| {
            let mut row = json!({
                "id": id, "quantity": id % 7, "total_price": format!("{}.50", id * 3),
                "email": format!("c{id}@example.com"), "ordered_at": "2025-03-01T10:00:00Z"
            });
            if coupon {
                row["coupon"] = json!("SPRING");
            }
            row.to_string()
        })
        .collect();
    write(dir, "orders.jsonl", &(lines.join("\n") + "\n"));
}

/// A pipeline `dag_id` in `<dag_id>.json` reading `orders.jsonl` into `destination`.
fn pipeline(dir: &Path, dag_id: &str, transforms: Value, destination: Value) {
    let p = json!({
        "dag_id": dag_id,
        "schedule_interval": null,
        "source": {"type": "file", "path": "orders.jsonl", "format": "jsonl"},
        "transforms": transforms,
        "destination": destination,
    });
    write(dir, &format!("{dag_id}.json"), &p.to_string());
}

fn postgres_destination(schema: &str) -> Value {
    json!({"type": "postgres", "schema": schema, "table": "orders", "write_mode": "upsert",
           "primary_key": ["id"], "columns": {"total_price": "NUMERIC(12,2)"}})
}

fn code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// The columns of `schema.orders` with their types, as the catalog has them.
fn catalog(
    rt: &tokio::runtime::Runtime,
    client: &tokio_postgres::Client,
    schema: &str,
) -> Vec<String> {
    let rows = rt
        .block_on(client.query(
            "SELECT column_name::text || ' ' || data_type::text FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = 'orders' ORDER BY ordinal_position",
            &[&schema],
        ))
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

#[test]
fn postgres_new_table_then_nothing_then_an_added_column() {
    const SCHEMA: &str = "cli_plan_flow";
    let rt = runtime();
    let Some(client) = test_db(&rt, SCHEMA) else {
        return;
    };
    let url = support::database_url();
    let env = [("DATAFORGE_CONN_POSTGRES_DEFAULT", url.as_str())];
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    orders(d, 20, false);
    pipeline(
        d,
        "orders_to_postgres",
        json!([]),
        postgres_destination(SCHEMA),
    );

    // (1) A new table: every column with the type the load would give it; exit 3.
    let out = dataforge(d, &["plan", "orders_to_postgres.json"], &env);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 3, "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!(
            "orders_to_postgres → postgres \"{SCHEMA}\".\"orders\" (upsert on id)"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("+ table \"{SCHEMA}\".\"orders\" (create)")),
        "{stdout}"
    );
    for line in [
        "+ column id BIGINT",
        "+ column quantity BIGINT",
        "+ column total_price NUMERIC(12,2)",
        "+ column email TEXT",
        "+ column ordered_at TIMESTAMPTZ",
        "20 of at most 1000 rows sampled (the whole source)",
    ] {
        assert!(stdout.contains(line), "{line}:\n{stdout}");
    }
    // (8) Planning created nothing: no table, no state, no run recorded.
    assert!(catalog(&rt, &client, SCHEMA).is_empty());
    assert!(!d.join(".dataforge").join("state.db").exists());

    // (2) After a real run created it, the same pipeline has nothing to do: exit 0.
    let out = dataforge(d, &["run", "orders_to_postgres.json"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let before = catalog(&rt, &client, SCHEMA);
    assert_eq!(before.len(), 5, "{before:?}");
    let out = dataforge(d, &["plan", "orders_to_postgres.json"], &env);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 0, "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("= no change to the destination"),
        "{stdout}"
    );
    assert!(!stdout.contains("+ "), "{stdout}");

    // (3) The source gains a column: `+ column`, exit 3, and the table still lacks it.
    orders(d, 20, true);
    let out = dataforge(d, &["plan", "orders_to_postgres.json"], &env);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 3, "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("+ column coupon TEXT"), "{stdout}");
    assert!(!stdout.contains("+ table"), "{stdout}");
    assert!(stdout.contains("= nothing else changes"), "{stdout}");
    assert_eq!(catalog(&rt, &client, SCHEMA), before);
}

#[test]
fn postgres_integer_columns_the_sample_exceeds_would_widen() {
    const SCHEMA: &str = "cli_plan_widen";
    let rt = runtime();
    let Some(client) = test_db(&rt, SCHEMA) else {
        return;
    };
    rt.block_on(client.batch_execute(&format!(
        "CREATE TABLE {SCHEMA}.orders (id integer PRIMARY KEY, quantity integer, ref bigint, \
         note text)"
    )))
    .unwrap();
    let before = catalog(&rt, &client, SCHEMA);
    let url = support::database_url();
    let env = [("DATAFORGE_CONN_POSTGRES_DEFAULT", url.as_str())];
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rows = [
        json!({"id": 1, "quantity": 5, "ref": 7, "note": "a"}),
        json!({"id": 2, "quantity": 3_000_000_000_i64, "ref": "123456789012345678901234"}),
        json!({"id": 3, "quantity": 1, "ref": 2}),
    ];
    let lines: Vec<String> = rows.iter().map(Value::to_string).collect();
    write(d, "orders.jsonl", &(lines.join("\n") + "\n"));
    let destination = json!({"type": "postgres", "schema": SCHEMA, "table": "orders",
                             "write_mode": "upsert", "primary_key": "id"});
    pipeline(d, "widen", json!([]), destination);
    let out = dataforge(d, &["plan", "widen.json"], &env);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 3, "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("~ column quantity integer → bigint"),
        "{stdout}"
    );
    assert!(stdout.contains("~ column ref bigint → numeric"), "{stdout}");
    assert!(!stdout.contains("~ column id"), "{stdout}");
    assert!(!stdout.contains("+ "), "{stdout}");
    // (8) Nothing was altered.
    assert_eq!(catalog(&rt, &client, SCHEMA), before);
}

#[test]
fn json_format_field_by_field_with_rejected_rows() {
    const SCHEMA: &str = "cli_plan_json";
    let rt = runtime();
    let Some(client) = test_db(&rt, SCHEMA) else {
        return;
    };
    let url = support::database_url();
    let env = [("DATAFORGE_CONN_POSTGRES_DEFAULT", url.as_str())];
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 10 orders, ids 4 and 8 without an email.
    let lines: Vec<String> = (1..=10)
        .map(|id| {
            let email = (id % 4 != 0).then(|| format!("c{id}@example.com"));
            json!({"id": id, "email": email}).to_string()
        })
        .collect();
    write(d, "orders.jsonl", &(lines.join("\n") + "\n"));
    let transforms = json!([
        {"type": "validate", "on_error": "skip", "rules": {"email": {"required": true}}}
    ]);
    pipeline(d, "checked", transforms, postgres_destination(SCHEMA));
    let out = dataforge(d, &["plan", "checked.json", "--format", "json"], &env);
    assert_eq!(
        code(&out),
        3,
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let plans: Value = serde_json::from_slice(&out.stdout).unwrap();
    let plans = plans.as_array().unwrap();
    assert_eq!(plans.len(), 1);
    let p = &plans[0];
    assert_eq!(p["pipeline"], "checked");
    assert!(p["file"].as_str().unwrap().ends_with("checked.json"), "{p}");
    assert_eq!(p["source"], "file");
    assert_eq!(p["destination"], "postgres");
    assert_eq!(p["sample_limit"], 1000);
    assert_eq!(p["rows_sampled"], 10);
    assert_eq!(p["source_complete"], true);
    assert_eq!(p["rows_out"], 8);
    assert_eq!(p["rows_rejected"], 2);
    assert_eq!(p["over_reject_budget"], false);
    assert_eq!(p["changes"], true);
    assert_eq!(p["error"], Value::Null);
    // (5) The rejected rows, grouped by transform and reason, with a count and an example.
    let rejected = p["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{p}");
    assert_eq!(rejected[0]["transform"], "transforms[0] validate");
    assert_eq!(rejected[0]["on_error"], "skip");
    assert_eq!(
        rejected[0]["reason"],
        "column `email` breaks rule `required`: value is missing or null"
    );
    assert_eq!(rejected[0]["rows"], 2);
    assert_eq!(rejected[0]["example"], json!({"id": 4, "email": null}));
    let t = &p["target"];
    assert_eq!(t["kind"], "postgres");
    assert_eq!(t["target"], format!("\"{SCHEMA}\".\"orders\""));
    assert_eq!(t["write_mode"], "upsert");
    assert_eq!(t["key"], json!(["id"]));
    assert_eq!(t["table_exists"], false);
    assert_eq!(
        t["create"],
        json!([{"name": "id", "type": "BIGINT"}, {"name": "email", "type": "TEXT"}])
    );
    assert_eq!(t["add"], json!([]));
    assert_eq!(t["widen"], json!([]));
    assert_eq!(t["key_index"], Value::Null);
    assert_eq!(t["notes"], json!([]));
    assert!(catalog(&rt, &client, SCHEMA).is_empty());

    // The text form lists the same rejections.
    let out = dataforge(d, &["plan", "checked.json"], &env);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("! 2 of 10 sampled rows would be rejected:"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "transforms[0] validate (on_error skip): column `email` breaks rule `required`: \
             value is missing or null (2 rows, e.g. {"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("\"id\":4"), "{stdout}");
}

#[test]
fn an_unreachable_database_is_exit_1_and_its_password_is_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    orders(d, 5, false);
    let mut destination = postgres_destination("anywhere");
    destination["conn_id"] = json!("warehouse");
    pipeline(d, "unreachable", json!([]), destination);
    // Port 1: nothing listens there.
    let secret = "s3cr3t-Passw0rd";
    let uri = format!("postgres://loader:{secret}@127.0.0.1:1/warehouse");
    let env = [("DATAFORGE_CONN_WAREHOUSE", uri.as_str())];
    for format in ["text", "json"] {
        let out = dataforge(d, &["plan", "unreachable.json", "--format", format], &env);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(code(&out), 1, "{format}: {stdout}\n{stderr}");
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{stdout}\n{stderr}"
        );
        assert!(stderr.contains("unreachable: cannot plan"), "{stderr}");
        assert!(stderr.contains("127.0.0.1"), "{stderr}");
        if format == "json" {
            let plans: Value = serde_json::from_str(&stdout).unwrap();
            let error = plans[0]["error"].as_str().unwrap();
            assert!(error.contains("postgres"), "{error}");
            assert_eq!(plans[0]["target"], Value::Null);
        }
    }
}

fn sqlite_destination() -> Value {
    json!({"type": "sqlite", "path": "shop.db", "table": "orders", "write_mode": "upsert",
           "primary_key": "id"})
}

fn sqlite_columns(d: &Path) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(d.join("shop.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT name, type FROM pragma_table_info('orders')")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn sqlite_new_table_then_nothing_then_an_added_column() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    orders(d, 20, false);
    pipeline(d, "orders_to_sqlite", json!([]), sqlite_destination());
    let out = dataforge(d, &["plan", "orders_to_sqlite.json"], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 3, "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("orders_to_sqlite → sqlite shop.db:orders (upsert on id)"),
        "{stdout}"
    );
    for line in [
        "+ table shop.db:orders (create)",
        "+ column id INTEGER",
        "+ column quantity INTEGER",
        "+ column total_price TEXT",
        "+ column ordered_at TIMESTAMP",
        "note: database file shop.db would be created",
    ] {
        assert!(stdout.contains(line), "{line}:\n{stdout}");
    }
    // Planning created no database file.
    assert!(!d.join("shop.db").exists());

    let out = dataforge(d, &["run", "orders_to_sqlite.json"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let before = sqlite_columns(d);
    let out = dataforge(d, &["plan", "orders_to_sqlite.json"], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 0, "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("= no change to the destination"),
        "{stdout}"
    );

    orders(d, 20, true);
    let out = dataforge(d, &["plan", "orders_to_sqlite.json"], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 3, "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("+ column coupon TEXT"), "{stdout}");
    assert_eq!(sqlite_columns(d), before);
}

#[test]
fn rejected_rows_alone_do_not_make_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    orders(d, 10, false);
    let transforms = json!([
        {"type": "validate", "on_error": "skip", "rules": {"quantity": {"max": 4}}}
    ]);
    pipeline(d, "strict", transforms, sqlite_destination());
    let out = dataforge(d, &["run", "strict.json"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = dataforge(d, &["plan", "strict.json"], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 0, "{stdout}\n{}", text(&out.stderr));
    // Quantities 5 and 6 (ids 5, 6) break the rule.
    assert!(
        stdout.contains("! 2 of 10 sampled rows would be rejected:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("transforms[0] validate (on_error skip)"),
        "{stdout}"
    );
}

#[test]
fn sample_limits_the_rows_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    orders(d, 5_000, false);
    pipeline(d, "big", json!([]), sqlite_destination());
    let out = dataforge(
        d,
        &["plan", "big.json", "--sample", "10", "--format", "json"],
        &[],
    );
    assert_eq!(code(&out), 3, "{}", text(&out.stderr));
    let plans: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plans[0]["sample_limit"], 10);
    assert_eq!(plans[0]["rows_sampled"], 10);
    assert_eq!(plans[0]["rows_out"], 10);
    assert_eq!(plans[0]["source_complete"], false);
    let out = dataforge(d, &["plan", "big.json", "--sample", "10"], &[]);
    assert!(
        text(&out.stdout).contains("10 of at most 10 rows sampled,"),
        "{}",
        text(&out.stdout)
    );
    // A sample larger than the source reads all of it.
    let out = dataforge(
        d,
        &["plan", "big.json", "--sample", "6000", "--format", "json"],
        &[],
    );
    let plans: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plans[0]["rows_sampled"], 5_000);
    assert_eq!(plans[0]["source_complete"], true);
    // Usage errors are exit 2.
    let out = dataforge(d, &["plan", "big.json", "--sample", "0"], &[]);
    assert_eq!(code(&out), 2);
    let out = dataforge(d, &["plan", "big.json", "--pipeline", "nope"], &[]);
    assert_eq!(code(&out), 2);
}
