//! The `shopify` source against the local fake Shopify (`dataforge-fake-shopify`): every order
//! exactly once through `rest`, `graphql` and `bulk` with injected faults and small buckets,
//! pacing, incremental runs, bulk children and cancellation, MAX_COST_EXCEEDED.
#![cfg(feature = "shopify")]
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone as _, Utc};
use dataforge_core::test_utils::CollectingDestination;
use dataforge_core::{
    MemoryStateStore, Pipeline, Record, RunOptions, RunReport, StateStore as _, StaticConnections,
};
use dataforge_fake_shopify::{FakeShopify, FakeShopifyConfig, FaultKind, Faults};
use dataforge_sources::shopify::{ShopifySource, ShopifySourceConfig};
use serde_json::json;

/// 10% of requests fail: 500, 502, 503, a connection dropped mid-body, or a slow answer.
fn ten_percent_faults() -> Faults {
    Faults {
        rate: 0.10,
        kinds: vec![
            FaultKind::Status500,
            FaultKind::Status502,
            FaultKind::Status503,
            FaultKind::Drop,
            FaultKind::Slow(Duration::from_millis(300)),
        ],
    }
}

/// A shop with `orders` orders, the documented REST bucket (40, leaking 2/s) and a small
/// GraphQL bucket (400 points restoring 200/s).
fn shop(orders: usize) -> FakeShopifyConfig {
    FakeShopifyConfig {
        orders,
        rest_bucket_size: 40,
        rest_leak_per_sec: 2.0,
        graphql_bucket: 400.0,
        graphql_restore_per_sec: 200.0,
        bulk_duration: Duration::from_millis(300),
        ..FakeShopifyConfig::default()
    }
}

struct Run {
    report: RunReport,
    rows: Vec<Record>,
}

/// Runs `source` (a `shopify` source config) into memory, state kept in `store`.
async fn run(fake: &FakeShopify, source: serde_json::Value, store: &Arc<MemoryStateStore>) -> Run {
    run_with(&fake.connection_uri(), source, store).await
}

/// Runs `source` against the shop at `uri`.
async fn run_with(uri: &str, source: serde_json::Value, store: &Arc<MemoryStateStore>) -> Run {
    let config: ShopifySourceConfig = serde_json::from_value(source).unwrap();
    let source = ShopifySource::from_config(config).unwrap();
    let destination = CollectingDestination::new();
    let pipeline = Pipeline::builder("shopify_test")
        .source(source)
        .destination(destination.clone())
        .build()
        .unwrap();
    let options = RunOptions {
        state_store: store.clone(),
        ..shop_options(uri)
    };
    let report = pipeline.run(&options).await;
    Run {
        report,
        rows: destination.rows(),
    }
}

/// Options for a run against the shop at `uri` (connection `shopify_default`), in memory.
fn shop_options(uri: &str) -> RunOptions {
    RunOptions {
        connections: Arc::new(
            StaticConnections::new()
                .with("shopify_default", uri)
                .unwrap(),
        ),
        ..RunOptions::in_memory()
    }
}

/// The text of each row's `id` (REST integers, GraphQL GIDs reduced to their number).
fn ids(rows: &[Record]) -> Vec<String> {
    rows.iter()
        .map(|r| match &r["id"] {
            dataforge_core::Value::Int(i) => i.to_string(),
            dataforge_core::Value::String(s) => s.rsplit('/').next().unwrap().to_owned(),
            other => panic!("id {other:?}"),
        })
        .collect()
}

fn all_order_ids(fake: &FakeShopify) -> BTreeSet<String> {
    fake.orders()
        .iter()
        .map(|o| o["id"].as_i64().unwrap().to_string())
        .collect()
}

/// Every order once: as many rows as orders, and the same ids.
fn assert_exactly_once(fake: &FakeShopify, rows: &[Record]) {
    let got = ids(rows);
    let set: BTreeSet<String> = got.iter().cloned().collect();
    assert_eq!(got.len(), set.len(), "an order came twice");
    assert_eq!(set, all_order_ids(fake), "the ids differ from the shop's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_export_under_faults_has_every_order_once_and_is_paced() {
    let fake = FakeShopify::start(FakeShopifyConfig {
        faults: ten_percent_faults(),
        ..shop(5_000)
    })
    .await;
    let store = Arc::new(MemoryStateStore::default());
    let out = run(
        &fake,
        json!({"resource": "orders", "page_size": 100}),
        &store,
    )
    .await;
    assert!(out.report.is_success(), "{:?}", out.report.error);
    assert_exactly_once(&fake, &out.rows);
    let stats = fake.stats();
    assert!(
        stats.faults_injected > 0,
        "no fault was injected: {stats:?}"
    );
    // The bucket filled (so the pacing was needed), yet 429s stayed under 1%.
    assert!(stats.max_rest_used >= 35, "{stats:?}");
    assert!(
        (stats.rest_429 as f64) < 0.01 * stats.rest_requests as f64,
        "{} of {} REST requests got 429",
        stats.rest_429,
        stats.rest_requests
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_export_under_faults_has_every_order_once_and_is_paced() {
    let fake = FakeShopify::start(FakeShopifyConfig {
        faults: ten_percent_faults(),
        ..shop(5_000)
    })
    .await;
    let store = Arc::new(MemoryStateStore::default());
    let out = run(
        &fake,
        json!({"resource": "orders", "api": "graphql"}),
        &store,
    )
    .await;
    assert!(out.report.is_success(), "{:?}", out.report.error);
    assert_exactly_once(&fake, &out.rows);
    // Records are the nodes as returned: camelCase, money bags, GIDs.
    let first = &out.rows[0];
    assert!(
        first["id"]
            .as_str()
            .unwrap()
            .starts_with("gid://shopify/Order/")
    );
    assert!(first.contains_key("totalPriceSet"), "{first:?}");
    let stats = fake.stats();
    assert!(
        stats.faults_injected > 0,
        "no fault was injected: {stats:?}"
    );
    // The export cost several buckets' worth (so the throttle was needed), yet THROTTLED
    // stayed under 1%.
    let points: f64 = stats.graphql_points_at.iter().map(|(_, p)| p).sum();
    assert!(points > 3.0 * 400.0, "{points} points");
    assert!(
        (stats.graphql_throttled as f64) < 0.01 * stats.graphql_requests as f64,
        "{} of {} GraphQL requests were THROTTLED",
        stats.graphql_throttled,
        stats.graphql_requests
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_export_under_faults_has_every_order_once() {
    let fake = FakeShopify::start(FakeShopifyConfig {
        faults: ten_percent_faults(),
        ..shop(5_000)
    })
    .await;
    let store = Arc::new(MemoryStateStore::default());
    let out = run(&fake, json!({"resource": "orders", "api": "bulk"}), &store).await;
    assert!(out.report.is_success(), "{:?}", out.report.error);
    assert_exactly_once(&fake, &out.rows);
    let stats = fake.stats();
    assert_eq!(stats.bulk_started, 1);
    assert!(stats.downloads >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_children_are_rows_of_their_own_with_parent_id() {
    let fake = FakeShopify::start(shop(300)).await;
    let store = Arc::new(MemoryStateStore::default());
    let query = "{ orders { edges { node { id name lineItems { edges { node { id sku quantity } } } } } } }";
    let out = run(
        &fake,
        json!({"resource": "orders", "api": "bulk", "query": query}),
        &store,
    )
    .await;
    assert!(out.report.is_success(), "{:?}", out.report.error);
    let (children, parents): (Vec<&Record>, Vec<&Record>) =
        out.rows.iter().partition(|r| r.contains_key("__parentId"));
    assert_exactly_once(
        &fake,
        &parents.iter().map(|r| (*r).clone()).collect::<Vec<_>>(),
    );
    let expected: usize = fake
        .orders()
        .iter()
        .map(|o| o["line_items"].as_array().unwrap().len())
        .sum();
    assert_eq!(children.len(), expected);
    let parent_ids: BTreeSet<&str> = parents.iter().map(|r| r["id"].as_str().unwrap()).collect();
    for child in &children {
        assert!(
            child["id"].as_str().unwrap().contains("LineItem"),
            "{child:?}"
        );
        assert!(parent_ids.contains(child["__parentId"].as_str().unwrap()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_costing_too_much_is_halved_until_shopify_takes_it() {
    let fake = FakeShopify::start(FakeShopifyConfig {
        graphql_bucket: 2_000.0,
        graphql_restore_per_sec: 1_000.0,
        ..shop(600)
    })
    .await;
    let store = Arc::new(MemoryStateStore::default());
    let query = "query($first: Int!, $after: String, $query: String) { \
        orders(first: $first, after: $after, query: $query) { \
          pageInfo { hasNextPage endCursor } \
          edges { node { id lineItems(first: 250) { edges { node { id sku } } } } } } }";
    let out = run(
        &fake,
        json!({"resource": "orders", "api": "graphql", "query": query}),
        &store,
    )
    .await;
    assert!(out.report.is_success(), "{:?}", out.report.error);
    assert_exactly_once(&fake, &out.rows);
    let stats = fake.stats();
    assert!(stats.max_cost_exceeded >= 1, "{stats:?}");
    // Halving, never retrying a refused page as it was: a handful of refusals at most.
    assert!(stats.max_cost_exceeded <= 8, "{stats:?}");
}

/// An incremental source config for `api`.
fn incremental(api: &str) -> serde_json::Value {
    json!({
        "resource": "orders",
        "api": api,
        "page_size": 250,
        "incremental": {"lookback": "5m", "start": "2000-01-01T00:00:00Z"}
    })
}

async fn second_run_loads_only_what_changed(api: &str) {
    let fake = FakeShopify::start(shop(1_000)).await;
    let store = Arc::new(MemoryStateStore::default());
    let first = run(&fake, incremental(api), &store).await;
    assert!(first.report.is_success(), "{:?}", first.report.error);
    assert_exactly_once(&fake, &first.rows);

    // Nothing changed: the orders on the boundary (within the lookback) are not loaded again.
    let again = run(&fake, incremental(api), &store).await;
    assert!(again.report.is_success(), "{:?}", again.report.error);
    assert_eq!(again.rows.len(), 0, "{api}: {:?}", ids(&again.rows));

    // 25 orders change: exactly those come, once each.
    let at = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
    let touched: BTreeSet<String> = fake
        .touch_orders(25, at)
        .into_iter()
        .map(|id| id.to_string())
        .collect();
    let second = run(&fake, incremental(api), &store).await;
    assert!(second.report.is_success(), "{:?}", second.report.error);
    let got = ids(&second.rows);
    assert_eq!(got.len(), 25, "{api}: {got:?}");
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), touched);

    // Two more change a minute later (inside the lookback of the 25): only the two come.
    let later = at + chrono::Duration::minutes(1);
    let two: BTreeSet<String> = fake
        .add_orders(2, later)
        .into_iter()
        .map(|id| id.to_string())
        .collect();
    let third = run(&fake, incremental(api), &store).await;
    assert!(third.report.is_success(), "{:?}", third.report.error);
    assert_eq!(ids(&third.rows).into_iter().collect::<BTreeSet<_>>(), two);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_rest_loads_only_changes_and_no_boundary_row_twice() {
    second_run_loads_only_what_changed("rest").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_graphql_loads_only_changes_and_no_boundary_row_twice() {
    second_run_loads_only_what_changed("graphql").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_bulk_loads_only_changes_and_no_boundary_row_twice() {
    second_run_loads_only_what_changed("bulk").await;
}

/// Starts a bulk operation on `fake` as another app run would.
async fn start_other_bulk_operation(fake: &FakeShopify, version: &str) -> String {
    let conn = dataforge_core::Connection::parse("other", &fake.connection_uri()).unwrap();
    let hook = dataforge_hooks::shopify::ShopifyHook::new(&conn, Some(version)).unwrap();
    let op = hook
        .bulk_run_query("{ orders { edges { node { id } } } }")
        .await
        .unwrap();
    op.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_bulk_operation_is_waited_for_or_fails_the_load_as_configured() {
    let fake = FakeShopify::start(FakeShopifyConfig {
        bulk_duration: Duration::from_millis(1_500),
        ..shop(200)
    })
    .await;
    let store = Arc::new(MemoryStateStore::default());
    // Before API 2026-01 a shop runs one bulk query at a time.
    let version = "2025-10";
    let other = start_other_bulk_operation(&fake, version).await;
    let failed = run(
        &fake,
        json!({"resource": "orders", "api": "bulk", "api_version": version, "on_bulk_in_progress": "fail"}),
        &store,
    )
    .await;
    let error = dataforge_core::error_chain(failed.report.error.as_ref().unwrap());
    assert!(!failed.report.is_success());
    assert!(
        error.contains("already running") && error.contains(&other),
        "{error}"
    );

    let waited = run(
        &fake,
        json!({"resource": "orders", "api": "bulk", "api_version": version}),
        &store,
    )
    .await;
    assert!(waited.report.is_success(), "{:?}", waited.report.error);
    assert_exactly_once(&fake, &waited.rows);
    assert_eq!(
        fake.stats().bulk_started,
        2,
        "ours ran after the other one ended"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_bulk_operation_fails_the_run_with_its_error_code() {
    let fake = FakeShopify::start(FakeShopifyConfig {
        bulk_fail: Some("INTERNAL_SERVER_ERROR".into()),
        ..shop(200)
    })
    .await;
    let store = Arc::new(MemoryStateStore::default());
    let out = run(&fake, json!({"resource": "orders", "api": "bulk"}), &store).await;
    let chain = dataforge_core::error_chain(out.report.error.as_ref().unwrap());
    assert!(!out.report.is_success());
    assert!(
        chain.contains("ended FAILED with error code INTERNAL_SERVER_ERROR"),
        "{chain}"
    );
    assert!(out.rows.is_empty(), "nothing half-loaded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_the_run_cancels_the_bulk_operation_on_the_shop() {
    let fake = FakeShopify::start(FakeShopifyConfig {
        bulk_duration: Duration::from_secs(30),
        ..shop(200)
    })
    .await;
    let config: ShopifySourceConfig =
        serde_json::from_value(json!({"resource": "orders", "api": "bulk"})).unwrap();
    let pipeline = Pipeline::builder("shopify_cancel")
        .source(ShopifySource::from_config(config).unwrap())
        .destination(CollectingDestination::new())
        .build()
        .unwrap();
    let options = shop_options(&fake.connection_uri());
    let cancel = options.cancel.clone();
    let started = std::time::Instant::now();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(800)).await;
        cancel.cancel();
    });
    let report = pipeline.run(&options).await;
    assert!(!report.is_success());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the run did not stop promptly"
    );
    let stats = fake.stats();
    assert_eq!(stats.bulk_started, 1);
    assert_eq!(stats.bulk_canceled, 1, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_fails_mid_export_saves_nothing_and_the_rerun_loses_no_order() {
    for api in ["rest", "graphql", "bulk"] {
        let fake = FakeShopify::start(shop(2_000)).await;
        let store = Arc::new(MemoryStateStore::default());
        // One retry per request, so that the outage fails the run quickly.
        let uri = format!("{}?max_retries=1", fake.connection_uri());
        let source = json!({
            "resource": "orders", "api": api, "page_size": 250,
            "incremental": {"lookback": "5m", "start": "2000-01-01T00:00:00Z"}
        });
        // The shop goes down after three requests: mid-export for every api.
        fake.fail_after(3);
        let failed = run_with(&uri, source.clone(), &store).await;
        assert!(!failed.report.is_success(), "{api}");
        assert!(failed.rows.is_empty(), "{api}: the load rolled back");
        assert!(
            store.load("shopify_test").await.unwrap().is_empty(),
            "{api}: no cursor saved by a failed run"
        );
        fake.fail_after(u64::MAX);
        let rerun = run_with(&uri, source, &store).await;
        assert!(rerun.report.is_success(), "{api}: {:?}", rerun.report.error);
        assert_exactly_once(&fake, &rerun.rows);
        assert!(
            !store.load("shopify_test").await.unwrap().is_empty(),
            "{api}"
        );
    }
}

/// Keeps `columns` and says so (`input_projection`); records the columns it was given.
struct KeepOnly {
    columns: Vec<&'static str>,
    seen: Arc<std::sync::Mutex<BTreeSet<String>>>,
}

impl dataforge_core::Transform for KeepOnly {
    fn transform(
        &self,
        mut batch: dataforge_core::Batch,
        _rows: &mut dataforge_core::RowContext<'_>,
    ) -> Result<dataforge_core::Batch, dataforge_core::ComponentError> {
        let mut seen = self.seen.lock().unwrap();
        for r in &mut batch {
            seen.extend(r.keys().map(|k| k.to_string()));
            r.retain(|k, _| self.columns.contains(&k));
        }
        Ok(batch)
    }
    fn input_projection(&self, _output: &dataforge_core::Projection) -> dataforge_core::Projection {
        dataforge_core::Projection::only(&self.columns)
    }
}

/// A run of the incremental `api` source → `KeepOnly columns` → memory: the rows, the fields
/// the shop sent, and the GraphQL points it charged.
async fn keep_only_run(
    fake: &FakeShopify,
    api: &str,
    columns: Vec<&'static str>,
    store: &Arc<MemoryStateStore>,
) -> (Vec<Record>, BTreeSet<String>, f64) {
    let seen = Arc::new(std::sync::Mutex::new(BTreeSet::new()));
    let config: ShopifySourceConfig = serde_json::from_value(incremental(api)).unwrap();
    let destination = CollectingDestination::new();
    let pipeline = Pipeline::builder("shopify_fields")
        .source(ShopifySource::from_config(config).unwrap())
        .transform(KeepOnly {
            columns,
            seen: seen.clone(),
        })
        .destination(destination.clone())
        .build()
        .unwrap();
    let options = RunOptions {
        state_store: store.clone(),
        ..shop_options(&fake.connection_uri())
    };
    fake.reset_stats();
    let report = pipeline.run(&options).await;
    assert!(report.is_success(), "{api}: {:?}", report.error);
    let points = fake.stats().graphql_points_at.iter().map(|(_, p)| p).sum();
    let seen = seen.lock().unwrap().clone();
    (destination.rows(), seen, points)
}

/// A money amount as a whole number of cents, whatever its trailing zeros.
fn cents(amount: &str) -> String {
    let (units, fraction) = amount.split_once('.').unwrap_or((amount, ""));
    format!("{units}{:0<2}", fraction)
}

/// The source asks only for the fields the chain reads (REST `fields=`, a trimmed GraphQL
/// selection), keeps its own (`id`, the cursor field), loads the right values, and the
/// incremental cursor still moves.
async fn asks_only_for_the_fields_the_pipeline_reads(api: &str) {
    let fake = FakeShopify::start(shop(300)).await;
    let (price, cursor) = if api == "rest" {
        ("total_price", "updated_at")
    } else {
        ("totalPriceSet", "updatedAt")
    };
    let store = Arc::new(MemoryStateStore::default());
    let (rows, seen, points) = keep_only_run(&fake, api, vec!["id", price], &store).await;
    assert_exactly_once(&fake, &rows);
    assert_eq!(
        seen,
        ["id", price, cursor].map(String::from).into(),
        "{api}"
    );
    let prices: BTreeSet<(String, String)> = fake
        .orders()
        .iter()
        .map(|o| {
            (
                o["id"].to_string(),
                cents(o["total_price"].as_str().unwrap()),
            )
        })
        .collect();
    let got: BTreeSet<(String, String)> = ids(&rows)
        .into_iter()
        .zip(&rows)
        .map(|(id, r)| {
            let amount = match (api, &r[price]) {
                ("rest", amount) => amount,
                (_, dataforge_core::Value::Object(bag)) => match &bag["shopMoney"] {
                    dataforge_core::Value::Object(money) => &money["amount"],
                    other => panic!("shopMoney {other:?}"),
                },
                (_, other) => panic!("{price} {other:?}"),
            };
            (id, cents(amount.as_str().unwrap()))
        })
        .collect();
    // (GraphQL writes a Decimal without trailing zeros: "162.5" where REST says "162.50".)
    assert!(
        got == prices,
        "{api}: {:?}",
        got.symmetric_difference(&prices).take(5)
    );
    // The cursor came with the trimmed pages: a rerun loads nothing, a change loads itself.
    assert!(
        keep_only_run(&fake, api, vec!["id", price], &store)
            .await
            .0
            .is_empty()
    );
    fake.touch_orders(3, Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap());
    assert_eq!(
        keep_only_run(&fake, api, vec!["id", price], &store)
            .await
            .0
            .len(),
        3
    );
    if api == "graphql" {
        // The trimmed selection costs fewer points than the whole one: more rows per second
        // under Shopify's rate limit.
        let fresh = Arc::new(MemoryStateStore::default());
        fake.reset_stats();
        let whole = run(&fake, incremental(api), &fresh).await;
        assert_exactly_once(&fake, &whole.rows);
        let whole_points: f64 = fake.stats().graphql_points_at.iter().map(|(_, p)| p).sum();
        assert!(
            points < whole_points,
            "{points} points trimmed against {whole_points} for the whole selection"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_asks_only_for_the_fields_the_pipeline_reads_and_incremental_still_works() {
    asks_only_for_the_fields_the_pipeline_reads("rest").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_selects_only_the_fields_the_pipeline_reads_and_incremental_still_works() {
    asks_only_for_the_fields_the_pipeline_reads("graphql").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_selects_only_the_fields_the_pipeline_reads_and_incremental_still_works() {
    asks_only_for_the_fields_the_pipeline_reads("bulk").await;
}
