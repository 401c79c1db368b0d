//! Behaviour of the fake Shopify Admin API over real HTTP.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use dataforge_fake_shopify::{FakeShopify, FakeShopifyConfig, FaultKind, Faults};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// A plain client. Built in the workspace, reqwest has rustls without a crypto provider (the
/// hooks crate picks ring explicitly), so one is installed first.
fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

const TOKEN: &str = "shpat_fake_token";

async fn get(url: &str) -> (u16, HeaderMap, String) {
    let r = client()
        .get(url)
        .header("X-Shopify-Access-Token", TOKEN)
        .send()
        .await
        .unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, headers, r.text().await.unwrap())
}

async fn gql_raw(shop: &FakeShopify, version: &str, query: &str, variables: Value) -> String {
    client()
        .post(format!("{}/admin/api/{version}/graphql.json", shop.url()))
        .header("X-Shopify-Access-Token", TOKEN)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn gql(shop: &FakeShopify, query: &str, variables: Value) -> Value {
    serde_json::from_str(&gql_raw(shop, "2024-10", query, variables).await).unwrap()
}

fn next_link(h: &HeaderMap) -> Option<String> {
    let link = h.get("link")?.to_str().ok()?;
    link.split(", ")
        .find(|l| l.ends_with("rel=\"next\""))
        .map(|l| {
            let l = l.split("; ").next().unwrap_or_default();
            l.trim_start_matches('<').trim_end_matches('>').to_owned()
        })
}

fn ids(body: &str, key: &str) -> Vec<i64> {
    let v: Value = serde_json::from_str(body).unwrap();
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn rest_pagination_returns_each_order_once_with_status_any() {
    let shop = FakeShopify::start(FakeShopifyConfig {
        orders: 333,
        ..Default::default()
    })
    .await;
    let mut url = Some(format!(
        "{}/admin/api/2024-10/orders.json?status=any&limit=50",
        shop.url()
    ));
    let mut seen = Vec::new();
    let mut pages = 0;
    while let Some(u) = url {
        let (status, h, body) = get(&u).await;
        assert_eq!(status, 200, "{body}");
        assert!(
            h.get("x-shopify-shop-api-call-limit")
                .unwrap()
                .to_str()
                .unwrap()
                .ends_with("/40")
        );
        let link = h.get("link").unwrap().to_str().unwrap().to_owned();
        if pages > 0 {
            assert!(
                link.starts_with('<') && link.contains("; rel=\"previous\""),
                "{link}"
            );
        }
        if pages > 0 && link.contains("rel=\"next\"") {
            assert!(
                link.contains("; rel=\"previous\", <"),
                "previous comes first: {link}"
            );
        }
        seen.extend(ids(&body, "orders"));
        url = next_link(&h);
        if let Some(u) = &url {
            assert!(
                u.contains("/admin/api/2024-10/orders.json?limit=50&page_info="),
                "{u}"
            );
            assert!(!u.contains("status="));
        }
        pages += 1;
    }
    assert_eq!(pages, 7);
    let unique: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no duplicates");
    let all: HashSet<i64> = shop
        .orders()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect();
    assert_eq!(unique, all);
    // everything in one page: no Link header
    let (_, h, _) = get(&format!(
        "{}/admin/api/2024-10/orders.json?status=any&limit=250&ids={}",
        shop.url(),
        seen[0]
    ))
    .await;
    assert!(h.get("link").is_none());
}

#[tokio::test]
async fn rest_default_status_excludes_closed_and_cancelled() {
    let shop = FakeShopify::start(FakeShopifyConfig {
        orders: 400,
        ..Default::default()
    })
    .await;
    let orders = shop.orders();
    let open: HashSet<i64> = orders
        .iter()
        .filter(|o| o["closed_at"].is_null() && o["cancelled_at"].is_null())
        .map(|o| o["id"].as_i64().unwrap())
        .collect();
    assert!(open.len() < orders.len() && open.len() > 200);
    let mut url = Some(format!(
        "{}/admin/api/2024-10/orders.json?limit=250",
        shop.url()
    ));
    let mut seen = HashSet::new();
    while let Some(u) = url {
        let (_, h, body) = get(&u).await;
        seen.extend(ids(&body, "orders"));
        url = next_link(&h);
    }
    assert_eq!(seen, open);
    let (_, _, body) = get(&format!(
        "{}/admin/api/2024-10/orders/count.json",
        shop.url()
    ))
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"count": open.len()})
    );
    let (_, _, body) = get(&format!(
        "{}/admin/api/2024-10/orders/count.json?status=cancelled",
        shop.url()
    ))
    .await;
    let cancelled = orders
        .iter()
        .filter(|o| !o["cancelled_at"].is_null())
        .count();
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"count": cancelled})
    );
}

#[tokio::test]
async fn rest_page_info_with_a_filter_and_limit_251_are_400() {
    let shop = FakeShopify::start(FakeShopifyConfig {
        orders: 120,
        ..Default::default()
    })
    .await;
    let (_, h, _) = get(&format!(
        "{}/admin/api/2024-10/orders.json?status=any&limit=50",
        shop.url()
    ))
    .await;
    let next = next_link(&h).unwrap();
    let (status, _, body) = get(&format!("{next}&status=any")).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        r#"{"errors":{"status":"status cannot be passed when page_info is present. See https://shopify.dev/api/usage/pagination-rest for more information."}}"#
    );
    let (status, _, body) = get(&format!("{next}&updated_at_min=2024-01-01T00:00:00Z")).await;
    assert_eq!(status, 400);
    assert!(body.starts_with(r#"{"errors":{"updated_at_min":"updated_at_min cannot be passed"#));
    let (status, _, body) = get(&format!(
        "{}/admin/api/2024-10/orders.json?page_info=notbase64json",
        shop.url()
    ))
    .await;
    assert_eq!(
        (status, body.as_str()),
        (400, r#"{"errors":{"page_info":"Invalid value."}}"#)
    );
    let (status, _, body) = get(&format!(
        "{}/admin/api/2024-10/orders.json?limit=251",
        shop.url()
    ))
    .await;
    assert_eq!(
        (status, body.as_str()),
        (400, r#"{"errors":"Limit exceeds maximum limit of 250"}"#)
    );
}

#[tokio::test]
async fn rest_auth_scope_and_not_found_errors() {
    let cfg = FakeShopifyConfig {
        orders: 5,
        products: 3,
        scopes: Some(vec!["read_products".into()]),
        ..Default::default()
    };
    let shop = FakeShopify::start(cfg).await;
    let r = client()
        .get(format!("{}/admin/api/2024-10/orders.json", shop.url()))
        .header("X-Shopify-Access-Token", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}"#
    );
    let (status, _, body) = get(&format!("{}/admin/api/2024-10/orders.json", shop.url())).await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        r#"{"errors":"[API] This action requires merchant approval for read_orders scope."}"#
    );
    let (status, _, body) = get(&format!("{}/admin/api/2024-10/products.json", shop.url())).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&body, "products").len(), 3);
    let (status, _, body) = get(&format!("{}/admin/api/2024-10/widgets.json", shop.url())).await;
    assert_eq!((status, body.as_str()), (404, r#"{"errors":"Not Found"}"#));
    let (status, _, _) = get(&format!("{}/admin/api/2024-11/products.json", shop.url())).await;
    assert_eq!(status, 404);
    let st = shop.stats();
    assert_eq!((st.auth_failures, st.tokens_seen_invalid), (1, 1));
}

#[tokio::test]
async fn rest_bucket_answers_429_with_float_retry_after_when_hammered() {
    let cfg = FakeShopifyConfig {
        orders: 3,
        rest_bucket_size: 4,
        rest_leak_per_sec: 0.5,
        ..Default::default()
    };
    let shop = FakeShopify::start(cfg).await;
    let url = format!("{}/admin/api/2024-10/orders.json", shop.url());
    let mut limited = None;
    for _ in 0..8 {
        let (status, h, body) = get(&url).await;
        let limit = h
            .get("x-shopify-shop-api-call-limit")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        if status == 429 {
            limited = Some((h, body, limit));
            break;
        }
    }
    let (h, body, limit) = limited.expect("a 429");
    assert_eq!(limit, "4/4");
    let retry = h.get("retry-after").unwrap().to_str().unwrap();
    assert!(retry.contains('.'), "float string: {retry}");
    assert!(retry.parse::<f64>().unwrap() >= 1.0);
    assert_eq!(
        body,
        r#"{"errors":"Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."}"#
    );
    let st = shop.stats();
    assert_eq!(st.rest_429, 1);
    assert_eq!(st.rest_accepted_at.len(), 4);
    assert_eq!(st.max_rest_used, 4);
}

#[tokio::test]
async fn graphql_pages_with_cursors_and_a_query_filter() {
    let shop = FakeShopify::start(FakeShopifyConfig {
        orders: 260,
        ..Default::default()
    })
    .await;
    let since = chrono::DateTime::parse_from_rfc3339("2023-06-01T00:00:00Z").unwrap();
    let expected: HashSet<String> = shop
        .orders()
        .iter()
        .filter(|o| {
            chrono::DateTime::parse_from_rfc3339(o["updated_at"].as_str().unwrap()).unwrap()
                >= since
        })
        .map(|o| o["admin_graphql_api_id"].as_str().unwrap().to_owned())
        .collect();
    let q = "query Page($after: String, $q: String) { orders(first: 40, after: $after, query: $q, sortKey: UPDATED_AT) { edges { cursor node { id updatedAt totalPriceSet { shopMoney { amount currencyCode } } } } pageInfo { hasNextPage hasPreviousPage endCursor } } }";
    let mut after = Value::Null;
    let mut seen = Vec::new();
    let mut last_updated = String::new();
    loop {
        let v = gql(
            &shop,
            q,
            json!({"after": after, "q": "updated_at:>='2023-06-01T00:00:00Z'"}),
        )
        .await;
        assert!(v.get("errors").is_none(), "{v}");
        assert!(v["extensions"].get("search").is_none());
        let cost = &v["extensions"]["cost"];
        assert!(
            cost["requestedQueryCost"].as_u64().unwrap()
                >= cost["actualQueryCost"].as_u64().unwrap()
        );
        let conn = &v["data"]["orders"];
        for e in conn["edges"].as_array().unwrap() {
            let u = e["node"]["updatedAt"].as_str().unwrap().to_owned();
            assert!(u.ends_with('Z') && u >= last_updated, "sorted by updatedAt");
            last_updated = u;
            seen.push(e["node"]["id"].as_str().unwrap().to_owned());
        }
        assert_eq!(conn["pageInfo"]["hasPreviousPage"], json!(!after.is_null()));
        if !conn["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = conn["pageInfo"]["endCursor"].clone();
    }
    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len());
    assert_eq!(unique, expected);
    // an unquoted timestamp: a warning and an hour-truncated filter
    let v = gql(
        &shop,
        "{ orders(first: 5, query: \"updated_at:>=2023-06-01T00:00:00Z\") { nodes { id } } }",
        json!({}),
    )
    .await;
    let search = &v["extensions"]["search"][0];
    assert_eq!(
        search["warnings"],
        json!([{"field":"00","message":"Invalid search field for this query.","code":"invalid_field"}])
    );
    assert_eq!(search["path"], json!(["query", "orders"]));
    // a bad cursor
    let v = gql(
        &shop,
        "{ orders(first: 5, after: \"nope\") { nodes { id } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        v["errors"][0]["message"],
        "Invalid cursor for current pagination sort"
    );
}

#[tokio::test]
async fn graphql_throttled_when_the_bucket_is_empty() {
    let cfg = FakeShopifyConfig {
        orders: 300,
        graphql_bucket: 100.0,
        graphql_restore_per_sec: 1.0,
        ..Default::default()
    };
    let shop = FakeShopify::start(cfg).await;
    let q = "{ orders(first: 250) { nodes { id totalPriceSet { shopMoney { amount } } } } }";
    let mut throttled = None;
    for _ in 0..5 {
        let raw = gql_raw(&shop, "2024-10", q, json!({})).await;
        if raw.contains("THROTTLED") {
            throttled = Some(raw);
            break;
        }
    }
    let raw = throttled.expect("throttled");
    let v: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        v["errors"],
        json!([{"message":"Throttled","extensions":{"code":"THROTTLED","documentation":"https://shopify.dev/api/usage/rate-limits"}}])
    );
    assert!(v.get("data").is_none());
    assert!(raw.contains(r#""actualQueryCost":null,"throttleStatus":{"maximumAvailable":100.0,"currentlyAvailable":"#), "{raw}");
    assert!(raw.ends_with(r#","restoreRate":1.0}}}}"#), "{raw}");
    let cost = &v["extensions"]["cost"];
    assert_eq!(cost["requestedQueryCost"], 38); // ceil((2 + 250 × 3) / 20)
    assert!(cost["throttleStatus"]["currentlyAvailable"].is_i64());
    assert!(
        cost["throttleStatus"]["currentlyAvailable"]
            .as_i64()
            .unwrap()
            < 38
    );
    let st = shop.stats();
    assert_eq!(st.graphql_throttled, 1);
    assert_eq!(st.graphql_points_at.len(), 2);
}

#[tokio::test]
async fn graphql_max_cost_exceeded_for_a_big_nested_query() {
    let shop = FakeShopify::start(FakeShopifyConfig {
        orders: 10,
        ..Default::default()
    })
    .await;
    let raw = gql_raw(
        &shop,
        "2024-10",
        "{ orders(first: 250) { nodes { id lineItems(first: 250) { nodes { id } } } } }",
        json!({}),
    )
    .await;
    // node = 1 + (2 + 250 × 1) = 253; connection = 2 + 250 × 253 = 63252; ceil(/20) = 3163
    let expected = json!({"errors":[{"message":"Query cost is 3163, which exceeds the single query max cost limit (1000).\n\nSee https://shopify.dev/docs/api/usage/rate-limits for more information on how the\ncost of a query is calculated.\n\nTo query larger amounts of data with fewer limits, bulk operations should be used instead.\nSee https://shopify.dev/docs/api/usage/bulk-operations/queries for usage details.\n","extensions":{"code":"MAX_COST_EXCEEDED","cost":3163,"maxCost":1000,"documentation":"https://shopify.dev/api/usage/rate-limits"}}]});
    assert_eq!(raw, expected.to_string());
    assert_eq!(shop.stats().max_cost_exceeded, 1);
    let v = gql(&shop, "{ orders(first: 251) { nodes { id } } }", json!({})).await;
    assert_eq!(v["errors"][0]["extensions"]["code"], "BAD_REQUEST");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("first cannot exceed 250.")
    );
    let v = gql(&shop, "{ orders { nodes { id } } }", json!({})).await;
    assert_eq!(
        v["errors"][0]["message"],
        "you must provide one of first or last"
    );
}

#[tokio::test]
async fn graphql_undefined_field_and_parse_errors() {
    let shop = FakeShopify::start(FakeShopifyConfig {
        orders: 3,
        ..Default::default()
    })
    .await;
    let q = "query Q {\n  orders(first: 1) {\n    nodes {\n      id\n      definitelyNotAnOrderField\n    }\n  }\n}";
    let v = gql(&shop, q, json!({})).await;
    assert_eq!(
        v,
        json!({"errors":[{"message":"Field 'definitelyNotAnOrderField' doesn't exist on type 'Order'","locations":[{"line":5,"column":7}],"path":["query Q","orders","nodes","definitelyNotAnOrderField"],"extensions":{"code":"undefinedField","typeName":"Order","fieldName":"definitelyNotAnOrderField"}}]})
    );
    let v = gql(&shop, "{ orders(first: 1) {", json!({})).await;
    assert_eq!(v["errors"][0]["extensions"]["code"], "PARSE_ERROR");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("syntax error, ")
    );
    // raw application/graphql bodies, aliases, __typename, nested connections
    let r = client()
        .post(format!("{}/admin/api/2024-10/graphql.json", shop.url()))
        .header("X-Shopify-Access-Token", TOKEN)
        .header("content-type", "application/graphql")
        .body("{ o: orders(first: 2) { nodes { __typename gid: id lineItems(first: 1) { edges { node { id } } } customer { email } } } }")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let n = &v["data"]["o"]["nodes"][0];
    assert_eq!(n["__typename"], "Order");
    assert!(
        n["gid"]
            .as_str()
            .unwrap()
            .starts_with("gid://shopify/Order/")
    );
    assert_eq!(n["lineItems"]["edges"].as_array().unwrap().len(), 1);
}

async fn run_bulk(shop: &FakeShopify, version: &str, query: &str) -> Value {
    let m = "mutation Run($q: String!) { bulkOperationRunQuery(query: $q) { bulkOperation { id status } userErrors { field message code } } }";
    let v: Value =
        serde_json::from_str(&gql_raw(shop, version, m, json!({"q": query})).await).unwrap();
    v["data"]["bulkOperationRunQuery"].clone()
}

async fn poll_until_done(shop: &FakeShopify, id: &str) -> Value {
    let q = "query Poll($id: ID!) { node(id: $id) { ... on BulkOperation { id status errorCode objectCount rootObjectCount fileSize url partialDataUrl } } }";
    for _ in 0..200 {
        let v = gql(shop, q, json!({"id": id})).await;
        let op = v["data"]["node"].clone();
        if !matches!(
            op["status"].as_str(),
            Some("CREATED" | "RUNNING" | "CANCELING")
        ) {
            return op;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("bulk operation did not finish");
}

const BULK_QUERY: &str = "{ orders { edges { node { id name totalPriceSet { shopMoney { amount } } lineItems { edges { node { id sku quantity } } } } } } }";

#[tokio::test]
async fn bulk_lifecycle_yields_jsonl_with_parent_ids() {
    let shop = FakeShopify::start(FakeShopifyConfig {
        orders: 60,
        ..Default::default()
    })
    .await;
    let run = run_bulk(&shop, "2024-10", BULK_QUERY).await;
    assert_eq!(run["userErrors"], json!([]));
    assert_eq!(run["bulkOperation"]["status"], "CREATED");
    let id = run["bulkOperation"]["id"].as_str().unwrap().to_owned();
    // one at a time before 2026-01
    let second = run_bulk(&shop, "2024-10", BULK_QUERY).await;
    assert_eq!(second["bulkOperation"], Value::Null);
    assert_eq!(
        second["userErrors"],
        json!([{"field": null, "message": format!("A bulk query operation for this app and shop is already in progress: {id}."), "code": "OPERATION_IN_PROGRESS"}])
    );
    let op = poll_until_done(&shop, &id).await;
    assert_eq!(op["status"], "COMPLETED");
    let url = op["url"].as_str().unwrap();
    assert!(!url.starts_with(&shop.url()), "another origin");
    let r = reqwest::get(url).await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/jsonl");
    let body = r.text().await.unwrap();
    assert_eq!(op["fileSize"], json!(body.len().to_string()));
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(op["objectCount"], json!(lines.len().to_string()));
    assert_eq!(op["rootObjectCount"], json!("60"));
    let roots: HashSet<&str> = lines
        .iter()
        .filter(|l| l.get("__parentId").is_none())
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(roots.len(), 60);
    let mut child_before_parent = false;
    let mut seen_roots = HashSet::new();
    for (line, raw) in lines.iter().zip(body.lines()) {
        match line.get("__parentId") {
            Some(p) => {
                assert!(roots.contains(p.as_str().unwrap()));
                assert!(
                    raw.ends_with(&format!(",\"__parentId\":\"{}\"}}", p.as_str().unwrap())),
                    "last key: {raw}"
                );
                assert!(
                    line["id"]
                        .as_str()
                        .unwrap()
                        .starts_with("gid://shopify/LineItem/")
                );
                child_before_parent |= !seen_roots.contains(p.as_str().unwrap());
            }
            None => {
                assert!(line.get("lineItems").is_none());
                assert!(line["totalPriceSet"]["shopMoney"]["amount"].is_string());
                seen_roots.insert(line["id"].as_str().unwrap());
            }
        }
    }
    assert!(
        child_before_parent,
        "children are not always after their parent"
    );
    // from 2026-01 several may run at once
    let a = run_bulk(&shop, "2026-01", BULK_QUERY).await;
    let b = run_bulk(&shop, "2026-01", BULK_QUERY).await;
    assert_eq!(
        (a["userErrors"].clone(), b["userErrors"].clone()),
        (json!([]), json!([]))
    );
    // cancel
    let c = gql(&shop, "mutation($id: ID!) { bulkOperationCancel(id: $id) { bulkOperation { status } userErrors { message } } }", json!({"id": b["bulkOperation"]["id"]})).await;
    assert_eq!(
        c["data"]["bulkOperationCancel"]["bulkOperation"]["status"],
        "CANCELING"
    );
    let done = poll_until_done(&shop, b["bulkOperation"]["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "CANCELED");
    let st = shop.stats();
    assert_eq!((st.bulk_started, st.bulk_canceled, st.downloads), (3, 1, 1));
}

#[tokio::test]
async fn bulk_failure_and_empty_result() {
    let cfg = FakeShopifyConfig {
        orders: 20,
        bulk_fail: Some("INTERNAL_SERVER_ERROR".into()),
        ..Default::default()
    };
    let shop = FakeShopify::start(cfg).await;
    let run = run_bulk(&shop, "2024-10", BULK_QUERY).await;
    let op = poll_until_done(&shop, run["bulkOperation"]["id"].as_str().unwrap()).await;
    assert_eq!(
        (
            op["status"].as_str(),
            op["errorCode"].as_str(),
            op["url"].as_str()
        ),
        (Some("FAILED"), Some("INTERNAL_SERVER_ERROR"), None)
    );
    let partial = reqwest::get(op["partialDataUrl"].as_str().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(partial.lines().count() >= 10);
    let empty = FakeShopify::start(FakeShopifyConfig::default()).await;
    let run = run_bulk(&empty, "2024-10", BULK_QUERY).await;
    let op = poll_until_done(&empty, run["bulkOperation"]["id"].as_str().unwrap()).await;
    assert_eq!(
        (
            op["status"].as_str(),
            op["objectCount"].as_str(),
            op["url"].as_str()
        ),
        (Some("COMPLETED"), Some("0"), None)
    );
}

#[tokio::test]
async fn bulk_validation_errors() {
    let shop = FakeShopify::start(FakeShopifyConfig {
        orders: 5,
        ..Default::default()
    })
    .await;
    let cases = [
        (
            "{ orders { nodes { id } } }",
            "All connection fields in a bulk query must select their contents using 'edges' > 'node', e.g: 'orders { edges { node {'. Selecting via 'nodes' is not supported. Invalid connection fields: 'orders'.",
        ),
        (
            "{ node(id: \"gid://shopify/Order/1\") { id } }",
            "Bulk queries cannot contain a top level `node` field.",
        ),
        (
            "{ shop { name } }",
            "Bulk queries must contain at least one connection.",
        ),
        (
            "{ orders { edges { node { id lineItems { edges { node { id variants { edges { node { id } } } } } } } } } }",
            "Bulk queries cannot contain connections with a nesting depth greater than 2.",
        ),
        (
            "{ a: orders { edges { node { id } } } b: orders { edges { node { id } } } c: orders { edges { node { id } } } d: orders { edges { node { id } } } e: orders { edges { node { id } } } f: orders { edges { node { id } } } }",
            "Bulk queries cannot contain more than 5 connections.",
        ),
        (
            "{ orders { edges { node { name lineItems { edges { node { id } } } } } } }",
            "The parent 'node' field for a nested connection must select the 'id' field without an alias and must be of 'ID' return type. Connection fields without 'id': lineItems.",
        ),
        (
            "mutation { bulkOperationCancel(id: \"x\") { userErrors { message } } }",
            "Invalid operation type. Only `query` operations are supported.",
        ),
    ];
    for (q, msg) in cases {
        let r = run_bulk(&shop, "2024-10", q).await;
        assert_eq!(r["bulkOperation"], Value::Null, "{q}");
        assert_eq!(
            r["userErrors"],
            json!([{"field": ["query"], "message": msg, "code": "INVALID"}]),
            "{q}"
        );
    }
    assert_eq!(shop.stats().bulk_started, 0);
}

#[tokio::test]
async fn bulk_download_honours_range() {
    let shop = FakeShopify::start(FakeShopifyConfig {
        orders: 2000,
        ..Default::default()
    })
    .await;
    let run = run_bulk(&shop, "2024-10", BULK_QUERY).await;
    let op = poll_until_done(&shop, run["bulkOperation"]["id"].as_str().unwrap()).await;
    let url = op["url"].as_str().unwrap();
    let full = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    assert!(full.len() > 200_000, "several chunks: {}", full.len());
    let from = full.len() / 3 + 7;
    let r = client()
        .get(url)
        .header("range", format!("bytes={from}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(
        r.headers()["content-range"].to_str().unwrap(),
        format!("bytes {from}-{}/{}", full.len() - 1, full.len())
    );
    let tail = r.bytes().await.unwrap();
    assert_eq!(&tail[..], &full[from..]);
    let r = client()
        .get(url)
        .header("range", format!("bytes={}-", full.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 416);
}

#[tokio::test]
async fn faults_and_outage() {
    let shop = FakeShopify::start(FakeShopifyConfig {
        orders: 200,
        ..Default::default()
    })
    .await;
    let url = format!(
        "{}/admin/api/2024-10/orders.json?limit=250&status=any",
        shop.url()
    );
    shop.set_faults(Faults {
        rate: 1.0,
        kinds: vec![FaultKind::Status503],
    });
    let (status, _, _) = get(&url).await;
    assert_eq!(status, 503);
    shop.set_faults(Faults {
        rate: 1.0,
        kinds: vec![FaultKind::Drop],
    });
    let r = client()
        .get(&url)
        .header("X-Shopify-Access-Token", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.bytes().await.is_err(), "the body is cut");
    shop.set_faults(Faults {
        rate: 1.0,
        kinds: vec![FaultKind::Slow(Duration::from_millis(150))],
    });
    let t = Instant::now();
    assert_eq!(get(&url).await.0, 200);
    assert!(t.elapsed() >= Duration::from_millis(150));
    shop.set_faults(Faults::default());
    let st = shop.stats();
    assert_eq!(st.faults_injected, 3);
    assert_eq!(
        st.rest_accepted_at.len(),
        1,
        "faulted requests are not charged"
    );
    shop.fail_after(2);
    assert_eq!(get(&url).await.0, 200);
    assert_eq!(get(&url).await.0, 200);
    for _ in 0..3 {
        assert_eq!(get(&url).await.0, 500);
    }
    shop.fail_after(u64::MAX);
    assert_eq!(get(&url).await.0, 200);
}

#[tokio::test]
async fn touch_and_add_orders_feed_incremental_syncs() {
    let shop = FakeShopify::start(FakeShopifyConfig {
        orders: 500,
        ..Default::default()
    })
    .await;
    let at = chrono::DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let mut touched = shop.touch_orders(10, at);
    touched.extend(shop.add_orders(3, at));
    assert_eq!(touched.len(), 13);
    let (_, _, body) = get(&format!(
        "{}/admin/api/2024-10/orders.json?status=any&updated_at_min=2030-01-01T00:00:00Z&limit=250",
        shop.url()
    ))
    .await;
    let mut got = ids(&body, "orders");
    got.sort_unstable();
    touched.sort_unstable();
    assert_eq!(got, touched);
    assert_eq!(shop.orders().len(), 503);
}

#[tokio::test]
async fn five_thousand_orders_generate_deterministically() {
    let shop = FakeShopify::start(FakeShopifyConfig {
        orders: 5000,
        customers: 100,
        products: 50,
        seed: 9,
        ..Default::default()
    })
    .await;
    let orders = shop.orders();
    assert_eq!(orders.len(), 5000);
    let again = FakeShopify::start(FakeShopifyConfig {
        orders: 5000,
        customers: 100,
        products: 50,
        seed: 9,
        ..Default::default()
    })
    .await;
    assert_eq!(again.orders()[4321], orders[4321]);
    let o = &orders[17];
    assert!(o["id"].as_i64().unwrap() > 5_100_000_000_000);
    assert_eq!(
        o["admin_graphql_api_id"],
        json!(format!("gid://shopify/Order/{}", o["id"]))
    );
    assert!(o["total_price"].as_str().unwrap().contains('.'));
    assert!(o["tags"].is_string());
}
