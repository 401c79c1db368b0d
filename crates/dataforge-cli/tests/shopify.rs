//! The `dataforge` binary against the local fake Shopify (`dataforge-fake-shopify`), as a user
//! runs it: the fake serves from a tokio runtime inside this test process while the test spawns
//! `dataforge` pointed at it through `DATAFORGE_CONN_SHOPIFY_DEFAULT`.
//!
//! - orders end to end into PostgreSQL (upsert on `id`), then an incremental run after some
//!   orders changed;
//! - the shop's refusals (401, 403, 404, 402, 423): exit 1, one request, a message that names
//!   the shop and what to check;
//! - the access token never reaches stdout, stderr (trace logs, text and JSON), the run report
//!   or the state files;
//! - `validate` refuses a bulk query Shopify would refuse, at `source.query`.
//!
//! PostgreSQL comes from `DATAFORGE_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), one schema per test; when it is unreachable the
//! PostgreSQL test is skipped with a loud message, except under `CI=true` where it fails.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;

use chrono::{DateTime, SubsecRound as _, Utc};
use dataforge_fake_shopify::{FakeShopify, FakeShopifyConfig, ShopState};
use serde_json::{Value as Json, json};

mod support;
use support::{database_url, dataforge, files_under, runtime, test_db, text, write};

/// The token of the leak test: easy to find wherever it appears.
const SECRET: &str = "shpat_TOKEN_MUST_NOT_LEAK_42";

fn start(rt: &tokio::runtime::Runtime, config: FakeShopifyConfig) -> FakeShopify {
    rt.block_on(FakeShopify::start(config))
}

/// `host:port` of the fake, as error messages name the shop.
fn shop_name(fake: &FakeShopify) -> String {
    fake.url().trim_start_matches("http://").to_owned()
}

/// A pipeline file in the original's shape around `source`, `transforms` and `destination`.
fn pipeline(dag_id: &str, source: Json, transforms: Json, destination: Json) -> String {
    support::pipeline_file(
        dag_id,
        "shopify",
        "Shopify orders, from the fake shop",
        source,
        transforms,
        destination,
    )
}

/// The fake's orders by id.
fn orders_by_id(fake: &FakeShopify) -> BTreeMap<i64, Json> {
    fake.orders()
        .into_iter()
        .map(|o| (o["id"].as_i64().expect("integer id"), o))
        .collect()
}

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
}

/// 500 orders end to end into PostgreSQL (flatten, cast, upsert on id): every order once, with
/// its values; then 25 orders change and a second, incremental run loads just those, leaving
/// the count as it was and their `updated_at` moved.
#[test]
fn shopify_orders_load_into_postgres_and_an_incremental_run_upserts_the_changes() {
    let rt = runtime();
    let schema = "dft_cli_shopify_e2e";
    let Some(client) = test_db(&rt, schema) else {
        return;
    };
    let fake = start(
        &rt,
        FakeShopifyConfig {
            orders: 500,
            ..Default::default()
        },
    );
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "shopify_orders.json",
        &pipeline(
            "shopify_orders",
            json!({"type": "shopify", "resource": "orders", "params": {"status": "any"},
                   "page_size": 250, "incremental": {"lookback": "5m"}}),
            json!([
                {"type": "flatten", "separator": "_"},
                {"type": "cast", "columns": {"total_price": "float", "updated_at": "timestamp"}}
            ]),
            json!({"type": "postgres", "conn_id": "postgres_default", "schema": schema,
                   "table": "orders", "write_mode": "upsert", "primary_key": ["id"]}),
        ),
    );
    let url = database_url();
    let env = [
        ("DATAFORGE_CONN_SHOPIFY_DEFAULT", fake.connection_uri()),
        ("DATAFORGE_CONN_POSTGRES_DEFAULT", url),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = |report: &str| {
        let out = dataforge(
            dir.path(),
            &["run", "shopify_orders.json", "--report", report],
            &env,
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let report: Json = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(report)).expect("report"),
        )
        .expect("json report");
        report[0].clone()
    };
    let table = format!("{schema}.orders");

    // First run: everything.
    let report = run("first.json");
    let expected = orders_by_id(&fake);
    assert_eq!(expected.len(), 500);
    assert_eq!(report["rows_loaded"], 500, "{report}");
    let ids: BTreeSet<i64> = rt
        .block_on(client.query(&format!("SELECT id FROM {table}"), &[]))
        .expect("ids")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids.len(), 500);
    assert_eq!(ids, expected.keys().copied().collect::<BTreeSet<_>>());
    // Two pages of 250 (and no retries): the REST bucket was never near its limit.
    let stats = fake.stats();
    assert_eq!(stats.rest_requests, 2, "{stats:?}");
    assert_eq!(stats.rest_429, 0, "{stats:?}");

    // Values, field by field, for a spread of orders (guest checkouts included).
    let rows = rt
        .block_on(client.query(
            &format!(
                "SELECT id, name, email, financial_status, total_price, customer_email, \
                 customer_first_name, customer_id, (extract(epoch FROM updated_at))::int8 \
                 FROM {table} ORDER BY id"
            ),
            &[],
        ))
        .expect("values");
    let mut guests = 0;
    for (k, row) in rows.iter().enumerate() {
        let id: i64 = row.get(0);
        let o = &expected[&id];
        if k % 37 != 0 && !o["customer"].is_null() {
            continue;
        }
        let context = format!("order {id}: {o}");
        assert_eq!(
            row.get::<_, Option<String>>(1).as_deref(),
            o["name"].as_str(),
            "{context}"
        );
        assert_eq!(
            row.get::<_, Option<String>>(2).as_deref(),
            o["email"].as_str(),
            "{context}"
        );
        assert_eq!(
            row.get::<_, Option<String>>(3).as_deref(),
            o["financial_status"].as_str(),
            "{context}"
        );
        let total: f64 = o["total_price"]
            .as_str()
            .expect("REST money is a string")
            .parse()
            .expect("a number");
        assert_eq!(row.get::<_, Option<f64>>(4), Some(total), "{context}");
        assert_eq!(
            row.get::<_, Option<String>>(5).as_deref(),
            o["customer"]["email"].as_str(),
            "{context}"
        );
        assert_eq!(
            row.get::<_, Option<String>>(6).as_deref(),
            o["customer"]["first_name"].as_str(),
            "{context}"
        );
        assert_eq!(
            row.get::<_, Option<i64>>(7),
            o["customer"]["id"].as_i64(),
            "{context}"
        );
        assert_eq!(
            row.get::<_, i64>(8),
            instant(o["updated_at"].as_str().expect("updated_at")).timestamp(),
            "{context}"
        );
        if o["customer"].is_null() {
            guests += 1;
        }
    }
    assert!(guests > 0, "500 orders hold some guest checkouts");

    // 25 orders change; the second run asks only for what changed since the first.
    let newest = expected
        .values()
        .map(|o| instant(o["updated_at"].as_str().expect("updated_at")))
        .max()
        .expect("orders");
    let at = Utc::now().trunc_subsecs(0) - chrono::Duration::minutes(1);
    assert!(at > newest, "the fake's orders are older than now");
    let touched: BTreeSet<i64> = fake.touch_orders(25, at).into_iter().collect();
    assert_eq!(touched.len(), 25);
    fake.reset_stats();
    let report = run("second.json");
    assert_eq!(report["rows_extracted"], 25, "{report}");
    assert_eq!(report["rows_loaded"], 25, "{report}");
    assert_eq!(fake.stats().rest_requests, 1, "{:?}", fake.stats());
    let count: i64 = rt
        .block_on(client.query_one(&format!("SELECT count(*) FROM {table}"), &[]))
        .expect("count")
        .get(0);
    assert_eq!(count, 500, "upsert keeps one row per order");
    let moved: BTreeSet<i64> = rt
        .block_on(client.query(
            &format!("SELECT id FROM {table} WHERE updated_at = to_timestamp($1::int8)"),
            &[&at.timestamp()],
        ))
        .expect("touched rows")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        moved, touched,
        "exactly the touched orders have the new updated_at"
    );

    rt.block_on(client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")))
        .expect("drop the test schema");
}

/// Runs one orders pipeline into SQLite against `fake` with connection `uri`; returns the output.
fn run_into_sqlite(dir: &Path, dag_id: &str, source: Json, uri: &str, args: &[&str]) -> Output {
    let file = format!("{dag_id}.json");
    write(
        dir,
        &file,
        &pipeline(
            dag_id,
            source,
            json!([{"type": "flatten", "separator": "_"}]),
            json!({"type": "sqlite", "path": "out.db", "table": dag_id, "write_mode": "replace"}),
        ),
    );
    let mut all = args.to_vec();
    all.extend(["run", file.as_str()]);
    dataforge(dir, &all, &[("DATAFORGE_CONN_SHOPIFY_DEFAULT", uri)])
}

/// Each refusal of the shop fails the run (exit 1) after exactly one request: the message
/// names the shop and what to check.
#[test]
fn the_shops_refusals_fail_the_run_once_with_what_to_check() {
    let rt = runtime();
    let orders = json!({"type": "shopify", "resource": "orders", "params": {"status": "any"}});
    let cases: [(&str, FakeShopifyConfig, Json, bool, &[&str]); 5] = [
        (
            "unauthorized",
            FakeShopifyConfig::default(),
            orders.clone(),
            true,
            &["HTTP 401", "access token", "DATAFORGE_CONN_SHOPIFY_DEFAULT"],
        ),
        (
            "missing_scope",
            FakeShopifyConfig {
                scopes: Some(vec!["read_products".into()]),
                ..Default::default()
            },
            orders.clone(),
            false,
            &["HTTP 403", "`orders`", "read_orders"],
        ),
        (
            "not_found",
            FakeShopifyConfig::default(),
            json!({"type": "shopify", "resource": "nonexistent_things"}),
            false,
            &[
                "HTTP 404",
                "`nonexistent_things`",
                "resource",
                "API version",
            ],
        ),
        (
            "frozen",
            FakeShopifyConfig {
                shop_state: ShopState::Frozen,
                ..Default::default()
            },
            orders.clone(),
            false,
            &["HTTP 402", "frozen"],
        ),
        (
            "locked",
            FakeShopifyConfig {
                shop_state: ShopState::Locked,
                ..Default::default()
            },
            orders,
            false,
            &["HTTP 423", "locked"],
        ),
    ];
    for (name, config, source, wrong_token, hints) in cases {
        let fake = start(
            &rt,
            FakeShopifyConfig {
                orders: 10,
                ..config
            },
        );
        let uri = if wrong_token {
            format!("http://:shpat_wrong_token@{}", shop_name(&fake))
        } else {
            fake.connection_uri()
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let out = run_into_sqlite(dir.path(), name, source, &uri, &[]);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        eprintln!("--- {name}: stdout:\n{stdout}--- {name}: stderr:\n{stderr}");
        assert_eq!(out.status.code(), Some(1), "{name}:\n{stdout}\n{stderr}");
        let shop = format!("shop {}", shop_name(&fake));
        assert!(
            stderr.contains(&shop),
            "{name}: stderr names {shop}:\n{stderr}"
        );
        for hint in hints {
            assert!(
                stderr.contains(hint),
                "{name}: stderr says {hint}:\n{stderr}"
            );
        }
        assert!(
            stdout.contains(&format!("{name}: FAILED")),
            "{name}:\n{stdout}"
        );
        assert!(
            stdout.contains(&shop),
            "{name}: the summary names {shop}:\n{stdout}"
        );
        let stats = fake.stats();
        assert_eq!(
            stats.requests, 1,
            "{name}: one request, no retry: {stats:?}"
        );
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// A successful run and a 401 run, at trace level in text and JSON: the token appears in
/// neither stdout nor stderr, nor in the run report, nor in any file under `DATAFORGE_HOME`.
#[test]
fn the_access_token_never_appears_in_output_reports_or_state() {
    let rt = runtime();
    // The token the shop accepts, and a shop that refuses it (same token in the URI: 401).
    let good = start(
        &rt,
        FakeShopifyConfig {
            token: SECRET.into(),
            orders: 30,
            ..Default::default()
        },
    );
    let refusing = start(
        &rt,
        FakeShopifyConfig {
            token: "shpat_the_shops_real_token".into(),
            orders: 30,
            ..Default::default()
        },
    );
    assert!(good.connection_uri().contains(SECRET));
    let refused_uri = format!("http://:{SECRET}@{}", shop_name(&refusing));
    let source = json!({"type": "shopify", "resource": "orders", "params": {"status": "any"},
                        "incremental": {"lookback": "5m"}});
    for format in ["text", "json"] {
        for (case, uri, code) in [
            ("ok", good.connection_uri(), 0),
            ("refused", refused_uri.clone(), 1),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let dag_id = format!("leak_{case}_{format}");
            let file = format!("{dag_id}.json");
            write(
                dir.path(),
                &file,
                &pipeline(
                    &dag_id,
                    source.clone(),
                    json!([{"type": "flatten", "separator": "_"}]),
                    json!({"type": "sqlite", "path": "out.db", "table": "orders",
                           "write_mode": "upsert", "primary_key": ["id"]}),
                ),
            );
            let out = dataforge(
                dir.path(),
                &[
                    "--log-format",
                    format,
                    "run",
                    &file,
                    "--report",
                    "report.json",
                ],
                &[
                    ("DATAFORGE_CONN_SHOPIFY_DEFAULT", uri.as_str()),
                    ("DATAFORGE_LOG", "trace"),
                ],
            );
            let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
            let what = format!("{case}, --log-format {format}");
            assert_eq!(
                out.status.code(),
                Some(code),
                "{what}:\n{stdout}\n{stderr:.3000}"
            );
            // The trace really is on, and reaches the HTTP layer: the check can fail.
            let traced = if format == "json" {
                stderr.contains("\"level\":\"TRACE\"")
            } else {
                stderr.contains("TRACE")
            };
            assert!(traced, "{what}: no trace output:\n{stderr:.3000}");
            assert!(
                stderr
                    .lines()
                    .any(|l| l.contains("TRACE") && l.contains("http.request")),
                "{what}: no trace of the HTTP requests:\n{stderr:.3000}"
            );
            assert!(
                !stdout.contains(SECRET),
                "{what}: the token is in stdout:\n{stdout}"
            );
            if let Some(at) = stderr.find(SECRET) {
                let from = stderr[..at].rfind('\n').map_or(0, |n| n + 1);
                let to = stderr[at..].find('\n').map_or(stderr.len(), |n| at + n);
                panic!("{what}: the token is in stderr: {}", &stderr[from..to]);
            }
            let report = std::fs::read(dir.path().join("report.json")).expect("report");
            assert!(
                contains(&report, &dag_id),
                "{what}: the report is about the run"
            );
            assert!(
                !contains(&report, SECRET),
                "{what}: the token is in the report"
            );
            // The successful run saved its cursor in the state database under DATAFORGE_HOME
            // (a failed one saves nothing); every file the runs left (state database and its
            // WAL, report, the SQLite output) is clean.
            if code == 0 {
                let db = dir.path().join(".dataforge/state.db");
                let cursors: Vec<String> = rusqlite::Connection::open(&db)
                    .and_then(|c| {
                        c.prepare("SELECT state FROM cursors")?
                            .query_map([], |r| r.get(0))?
                            .collect()
                    })
                    .unwrap_or_else(|e| panic!("{what}: {}: {e}", db.display()));
                assert!(
                    cursors
                        .iter()
                        .any(|t| t.contains("\"shopify\"") && t.contains("cursor")),
                    "{what}: no cursor saved under DATAFORGE_HOME: {cursors:?}"
                );
            }
            for f in files_under(dir.path()) {
                let bytes = std::fs::read(&f).expect("a file the run left");
                assert!(
                    !contains(&bytes, SECRET),
                    "{what}: the token is in {}",
                    f.display()
                );
            }
        }
    }
    // The refused runs really sent the token (and were refused for it).
    assert!(
        refusing.stats().tokens_seen_invalid >= 2,
        "{:?}",
        refusing.stats()
    );
    assert!(good.stats().rest_requests >= 2, "{:?}", good.stats());
}

/// `validate` refuses a bulk query Shopify would refuse (`nodes` instead of `edges { node }`):
/// exit 2, the file, the JSON path `source.query` and Shopify's own message.
#[test]
fn validate_refuses_a_bulk_query_shopify_would_reject_at_source_query() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "bulk.json",
        &pipeline(
            "bulk_orders",
            json!({"type": "shopify", "resource": "orders", "api": "bulk",
                   "query": "{ orders { nodes { id name updatedAt } } }"}),
            json!([{"type": "flatten", "separator": "_"}]),
            json!({"type": "sqlite", "path": "out.db", "table": "orders"}),
        ),
    );
    let out = dataforge(dir.path(), &["validate", "bulk.json"], &[]);
    let stderr = text(&out.stderr);
    eprintln!("--- validate stderr:\n{stderr}");
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("bulk.json: source.query: ")
                && l.contains("Selecting via 'nodes' is not supported")),
        "{stderr}"
    );
    // The same query written with `edges { node }` is valid.
    write(
        dir.path(),
        "bulk.json",
        &pipeline(
            "bulk_orders",
            json!({"type": "shopify", "resource": "orders", "api": "bulk",
                   "query": "{ orders { edges { node { id name updatedAt } } } }"}),
            json!([{"type": "flatten", "separator": "_"}]),
            json!({"type": "sqlite", "path": "out.db", "table": "orders"}),
        ),
    );
    let out = dataforge(dir.path(), &["validate", "bulk.json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// The shipped `examples/pipelines/shopify_orders_daily.json` runs as written (its schema
/// swapped for the test's) against the fake shop: every order changed since its
/// `incremental.start` lands in PostgreSQL, `customer_id` renamed `customer`.
#[test]
fn the_shipped_shopify_example_runs_against_the_fake_shop() {
    let rt = runtime();
    let schema = "dft_cli_shopify_example";
    let Some(client) = test_db(&rt, schema) else {
        return;
    };
    let fake = start(
        &rt,
        FakeShopifyConfig {
            orders: 300,
            ..Default::default()
        },
    );
    let example = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/pipelines/shopify_orders_daily.json");
    let mut config: Json =
        serde_json::from_str(&std::fs::read_to_string(example).expect("the example"))
            .expect("json");
    config["destination"]["schema"] = schema.into();
    let start_at = instant(
        config["source"]["incremental"]["start"]
            .as_str()
            .expect("the example has an incremental start"),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "example.json", &config.to_string());
    let url = database_url();
    let uri = fake.connection_uri();
    let out = dataforge(
        dir.path(),
        &["run", "example.json"],
        &[
            ("DATAFORGE_CONN_SHOPIFY_DEFAULT", uri.as_str()),
            ("DATAFORGE_CONN_POSTGRES_DEFAULT", url.as_str()),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let expected: BTreeMap<i64, Json> = orders_by_id(&fake)
        .into_iter()
        .filter(|(_, o)| instant(o["updated_at"].as_str().expect("updated_at")) >= start_at)
        .collect();
    // `incremental.start` filters: some orders, not all.
    assert!(
        !expected.is_empty() && expected.len() < 300,
        "{} orders since {start_at}",
        expected.len()
    );
    let rows = rt
        .block_on(client.query(
            &format!("SELECT id, customer FROM {schema}.orders ORDER BY id"),
            &[],
        ))
        .expect("rows");
    let got: BTreeMap<i64, Option<i64>> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        got.keys().copied().collect::<Vec<_>>(),
        expected.keys().copied().collect::<Vec<_>>()
    );
    for (id, customer) in &got {
        assert_eq!(
            *customer,
            expected[id]["customer"]["id"].as_i64(),
            "order {id}"
        );
    }
    rt.block_on(client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")))
        .expect("drop the test schema");
}
