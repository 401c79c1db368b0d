//! `dataforge_hooks::shopify` against local HTTP/1.1 servers: a leaky-bucket REST server, a
//! GraphQL server with a cost bucket, and a download host that drops connections.
#![cfg(feature = "shopify")]
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dataforge_core::{ComponentError, Connection, Retry};
use dataforge_hooks::http::RetryBudget;
use dataforge_hooks::shopify::{
    BulkStatus, DEFAULT_API_VERSION, RestRequest, ShopifyError, ShopifyHook,
};
use futures::TryStreamExt as _;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

const TOKEN: &str = "shpat_TOKEN_MUST_NOT_LEAK_42";

/// A request as the server read it.
#[derive(Debug, Clone)]
struct Request {
    /// Request line and headers.
    head: String,
    body: Vec<u8>,
}

impl Request {
    /// The request line's target (`/admin/api/2026-10/orders.json?limit=1`).
    fn target(&self) -> &str {
        self.head.split(' ').nth(1).unwrap_or_default()
    }

    /// A header's value (name case-insensitive).
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// What the server does with one request.
enum Reply {
    /// Writes these bytes, then closes.
    Raw(Vec<u8>),
    /// Waits, then writes these bytes and closes.
    Later(Duration, Vec<u8>),
}

/// `reply` sent after `delay` (the request was handled at once).
fn later(delay: Duration, reply: Reply) -> Reply {
    match reply {
        Reply::Raw(bytes) | Reply::Later(_, bytes) => Reply::Later(delay, bytes),
    }
}

fn reply(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    Reply::Raw(out)
}

/// A response whose headers promise `promised` body bytes but which closes after `body`.
fn cut(status: u16, headers: &[(&str, &str)], body: &[u8], promised: usize) -> Reply {
    let mut out = format!("HTTP/1.1 {status} X\r\nContent-Length: {promised}\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    Reply::Raw(out)
}

struct Server {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    /// Serves request `n` (0-based) with `handler(n, request)`, one connection per request,
    /// connections served concurrently.
    async fn start(handler: impl Fn(usize, &Request) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let handler = Arc::new(handler);
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let (seen, handler) = (seen.clone(), handler.clone());
                tokio::spawn(async move {
                    let mut data = Vec::new();
                    let mut buf = [0u8; 8192];
                    let head_end = loop {
                        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => data.extend_from_slice(&buf[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
                    let mut request = Request {
                        head,
                        body: data[head_end..].to_vec(),
                    };
                    let length: usize = request
                        .header("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    while request.body.len() < length {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.body.extend_from_slice(&buf[..n]),
                        }
                    }
                    let n = {
                        let mut seen = seen.lock().unwrap();
                        seen.push(request.clone());
                        seen.len() - 1
                    };
                    let bytes = match handler(n, &request) {
                        Reply::Raw(bytes) => bytes,
                        Reply::Later(delay, bytes) => {
                            tokio::time::sleep(delay).await;
                            bytes
                        }
                    };
                    let _ = socket.write_all(&bytes).await;
                    let _ = socket.flush().await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self { addr, requests }
    }

    fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// A Shopify connection to this server.
    fn conn(&self, token: &str) -> Connection {
        Connection::parse("shop", &format!("http://:{token}@{}", self.addr)).unwrap()
    }

    fn hook(&self) -> ShopifyHook {
        ShopifyHook::new(&self.conn(TOKEN), None).unwrap()
    }
}

/// Shopify's REST bucket: `size` requests, leaking `leak` per second, pass or fail.
struct LeakyBucket {
    size: f64,
    leak: f64,
    level: f64,
    at: Instant,
    ok: usize,
    rejected: usize,
}

impl LeakyBucket {
    fn new(size: f64, leak: f64) -> Arc<Mutex<Self>> {
        Arc::new(Mutex::new(Self {
            size,
            leak,
            level: 0.0,
            at: Instant::now(),
            ok: 0,
            rejected: 0,
        }))
    }

    /// Admits a request or answers 429 with `Retry-After: 1.0`; the call-limit header always.
    fn hit(&mut self) -> Reply {
        let now = Instant::now();

        self.level = (self.level - self.leak * now.duration_since(self.at).as_secs_f64()).max(0.0);
        self.at = now;
        let admitted = self.level + 1.0 <= self.size;
        if admitted {
            self.level += 1.0;
            self.ok += 1;
        } else {
            self.rejected += 1;
        }
        let limit = format!("{}/{}", self.level.ceil() as u32, self.size as u32);
        if admitted {
            reply(
                200,
                &[("X-Shopify-Shop-Api-Call-Limit", &limit)],
                b"{\"orders\":[]}",
            )
        } else {
            reply(
                429,
                &[
                    ("X-Shopify-Shop-Api-Call-Limit", &limit),
                    ("Retry-After", "1.0"),
                ],
                b"{\"errors\":\"Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service.\"}",
            )
        }
    }
}

/// A REST server whose every request hits `bucket`.
async fn rest_server(bucket: Arc<Mutex<LeakyBucket>>) -> Server {
    Server::start(move |_, _| bucket.lock().unwrap().hit()).await
}

/// Everything a subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Captures this thread's tracing output at `level` until the guard drops.
    fn start(level: tracing::Level) -> (Self, tracing::subscriber::DefaultGuard) {
        let captured = Self::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (captured, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

async fn fetch_pages(hook: &ShopifyHook, n: usize) {
    for _ in 0..n {
        hook.rest_page(RestRequest::first("orders", [("limit", "250")]))
            .await
            .unwrap();
    }
}

/// 200 requests against a bucket of 40 that leaks 40/s, not the 2/s (size / 20) a Shopify
/// bucket of 40 leaks: the pacer learns the leak from the headers, sends at nearly the allowed
/// rate and almost never hits 429.
#[tokio::test]
async fn rest_pacing_sustains_the_leak_rate_with_almost_no_429() {
    let bucket = LeakyBucket::new(40.0, 40.0);
    let server = rest_server(bucket.clone()).await;
    let hook = server.hook();
    let started = Instant::now();
    let mut durations = Vec::new();
    for _ in 0..200 {
        let sent = Instant::now();
        fetch_pages(&hook, 1).await;
        durations.push(sent.elapsed().as_millis() as u64);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (ok, rejected) = {
        let b = bucket.lock().unwrap();
        (b.ok, b.rejected)
    };
    assert_eq!(ok, 200);
    assert!(
        (rejected as f64) < 0.01 * (ok + rejected) as f64,
        "{rejected} of {} requests answered 429",
        ok + rejected
    );
    // In `elapsed` the bucket allows its size plus the leak.
    let allowed = 40.0 + 40.0 * elapsed;
    assert!(
        200.0 / allowed >= 0.9,
        "200 requests in {elapsed:.2} s: {:.0}% of the {allowed:.0} allowed",
        100.0 * 200.0 / allowed
    );
    // The pacer did wait (about 25 ms a request once the bucket is full)…
    let paced = durations.iter().filter(|&&ms| ms >= 10).count();
    assert!(paced >= 100, "{paced} paced requests: {durations:?}");
    // …and its correction kicked in: at the assumed 2/s, each time the bucket is full means a
    // wait of 500 ms (every 20 requests); once the 40/s is learned, no more such waits.
    let long = durations.iter().filter(|&&ms| ms >= 250).count();
    assert!(long <= 3, "{long} long waits: {durations:?}");
}

/// `workers` concurrent callers of `hook`, `each` pages apiece.
async fn fetch_concurrently(hook: &ShopifyHook, workers: usize, each: usize) {
    futures::future::join_all((0..workers).map(|_| fetch_pages(hook, each))).await;
}

/// A REST server whose every request hits `bucket` on arrival and is answered 50 ms later,
/// so that many requests are in flight at once.
async fn slow_rest_server(bucket: Arc<Mutex<LeakyBucket>>) -> Server {
    Server::start(move |_, _| later(Duration::from_millis(50), bucket.lock().unwrap().hit())).await
}

/// Two hooks (two pipelines) on one shop with one token share the pacer: with 4 callers
/// each, and 50 ms answers, they keep together within the bucket. Hooks of two tokens (two
/// apps) do not share, so on a server that counts them in one bucket they overshoot: the
/// check can fail.
#[tokio::test]
async fn hooks_on_one_shop_share_the_pacer() {
    let bucket = LeakyBucket::new(40.0, 40.0);
    let server = slow_rest_server(bucket.clone()).await;
    let (a, b) = (server.hook(), server.hook());
    let started = Instant::now();
    tokio::join!(fetch_concurrently(&a, 4, 25), fetch_concurrently(&b, 4, 25));
    let elapsed = started.elapsed().as_secs_f64();
    let (ok, rejected) = {
        let b = bucket.lock().unwrap();
        (b.ok, b.rejected)
    };
    assert_eq!(ok, 200);
    assert!(rejected <= 1, "{rejected} answered 429");
    assert!(
        200.0 / (40.0 + 40.0 * elapsed) >= 0.85,
        "{elapsed:.2} s: {:.0}%",
        100.0 * 200.0 / (40.0 + 40.0 * elapsed)
    );

    // Control: separate pacers fill one bucket twice over.
    let bucket = LeakyBucket::new(40.0, 40.0);
    let server = slow_rest_server(bucket.clone()).await;
    let a = ShopifyHook::new(&server.conn("shpat_APP_ONE"), None).unwrap();
    let b = ShopifyHook::new(&server.conn("shpat_APP_TWO"), None).unwrap();
    tokio::join!(fetch_concurrently(&a, 25, 1), fetch_concurrently(&b, 25, 1));
    let rejected = bucket.lock().unwrap().rejected;
    assert!(rejected >= 5, "only {rejected} answered 429");
}

/// A GraphQL server: a cost bucket of `max` points restoring `rate`/s; every query requests
/// `cost` points except queries containing `expensive`, which exceed the single-query maximum.
struct CostBucket {
    max: f64,
    rate: f64,
    available: f64,
    at: Instant,
    throttled: usize,
}

impl CostBucket {
    fn new(max: f64, rate: f64, available: f64) -> Arc<Mutex<Self>> {
        Arc::new(Mutex::new(Self {
            max,
            rate,
            available,
            at: Instant::now(),
            throttled: 0,
        }))
    }

    fn answer(&mut self, request: &Request, cost: f64) -> Reply {
        let body = request.json();
        let query = body["query"].as_str().unwrap_or_default();
        if query.contains("expensive") {
            return reply(
                200,
                &[("Content-Type", "application/json")],
                br#"{"errors":[{"message":"Query cost is 1293, which exceeds the single query max cost limit (1000).\n\nSee https://shopify.dev/docs/api/usage/rate-limits for more information on how the\ncost of a query is calculated.\n\nTo query larger amounts of data with fewer limits, bulk operations should be used instead.\nSee https://shopify.dev/docs/api/usage/bulk-operations/queries for usage details.\n","extensions":{"code":"MAX_COST_EXCEEDED","cost":1293,"maxCost":1000,"documentation":"https://shopify.dev/api/usage/rate-limits"}}]}"#,
            );
        }
        let now = Instant::now();
        self.available =
            (self.available + self.rate * now.duration_since(self.at).as_secs_f64()).min(self.max);
        self.at = now;
        let status = |available: f64| json!({"maximumAvailable": self.max, "currentlyAvailable": available.floor() as i64, "restoreRate": self.rate});
        if self.available < cost {
            self.throttled += 1;
            let body = json!({
                "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                "extensions": {"cost": {"requestedQueryCost": cost, "actualQueryCost": null, "throttleStatus": status(self.available)}}
            });
            return reply(200, &[], body.to_string().as_bytes());
        }
        self.available -= cost;
        let data = if query.contains("bulkOperationRunQuery") {
            json!({"bulkOperationRunQuery": {"bulkOperation": null, "userErrors": [{"field": null, "message": "A bulk query operation for this app and shop is already in progress: gid://shopify/BulkOperation/7749099028786.", "code": "OPERATION_IN_PROGRESS"}]}})
        } else if query.contains("node(id:") {
            json!({"node": {"id": body["variables"]["id"], "status": "COMPLETED", "errorCode": null, "objectCount": "1432", "rootObjectCount": "1432", "url": "https://storage.example/r.jsonl?sig=1", "partialDataUrl": null}})
        } else {
            json!({"orders": {"nodes": [{"id": "gid://shopify/Order/1"}]}})
        };
        let body = json!({
            "data": data,
            "extensions": {
                "cost": {"requestedQueryCost": cost, "actualQueryCost": cost, "throttleStatus": status(self.available)},
                "search": [{"path": ["orders"], "query": "updated_at:>=2026-01-01T00:00:00Z", "parsed": {}, "warnings": [{"field": "00", "message": "Invalid search field for this query.", "code": "invalid_field"}]}]
            }
        });
        reply(200, &[], body.to_string().as_bytes())
    }
}

async fn graphql_server(bucket: Arc<Mutex<CostBucket>>, cost: f64) -> Server {
    Server::start(move |_, request| {
        assert!(
            request
                .target()
                .ends_with(&format!("/admin/api/{DEFAULT_API_VERSION}/graphql.json")),
            "{}",
            request.head
        );
        assert_eq!(
            request.header("content-type").as_deref(),
            Some("application/json")
        );
        assert_eq!(
            request.header("x-shopify-access-token").as_deref(),
            Some(TOKEN)
        );
        bucket.lock().unwrap().answer(request, cost)
    })
    .await
}

/// THROTTLED (HTTP 200, no data) is waited out for (requested − available) / restoreRate and
/// retried; MAX_COST_EXCEEDED is returned at once, never retried.
#[tokio::test]
async fn throttled_is_waited_out_and_max_cost_is_not_retried() {
    // 100 of 1000 available, restoring 500/s; the query requests 300: wait 0.4 s.
    let bucket = CostBucket::new(1000.0, 500.0, 100.0);
    let server = graphql_server(bucket.clone(), 300.0).await;
    let hook = server.hook();
    let started = Instant::now();
    let response = hook
        .graphql("query { orders(first: 50) { nodes { id } } }", json!({}))
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(server.count(), 2);
    assert_eq!(bucket.lock().unwrap().throttled, 1);
    assert!(elapsed >= Duration::from_millis(390), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert_eq!(
        response.data["orders"]["nodes"][0]["id"],
        "gid://shopify/Order/1"
    );
    assert_eq!(
        response.search_warnings,
        ["field 00: Invalid search field for this query."]
    );
    let cost = response.cost.unwrap();
    assert_eq!(
        (cost.requested, cost.maximum, cost.restore_rate),
        (300.0, 1000.0, 500.0)
    );
    // The variables went along.
    let sent = server.requests()[0].json();
    assert_eq!(sent["variables"], json!({}));

    let before = server.count();
    let error = hook
        .graphql(
            "query { expensive: orders(first: 250) { nodes { id } } }",
            json!({}),
        )
        .await
        .unwrap_err();
    assert_eq!(server.count(), before + 1);
    let ShopifyError::MaxCostExceeded { cost, max, .. } = &error else {
        panic!("{error}")
    };
    assert_eq!((*cost, *max), (1293.0, 1000.0));
    assert!(error.to_string().contains("1293"), "{error}");
    assert_eq!(ComponentError::from(error).retry(), Retry::Fatal);
}

/// Throttling that outlasts the run's retry budget ends in `Throttled`, retryable later.
#[tokio::test]
async fn throttling_stops_at_the_retry_budget() {
    // Never enough points: the query requests 2000 of a bucket of 1000 (restoring 10000/s).
    let bucket = CostBucket::new(1000.0, 10000.0, 0.0);
    let server = graphql_server(bucket.clone(), 2000.0).await;
    let hook = server.hook().with_budget(RetryBudget::new(2));
    let error = tokio::time::timeout(
        Duration::from_secs(10),
        hook.graphql("query { orders { nodes { id } } }", json!({})),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert!(
        matches!(error, ShopifyError::Throttled { attempts: 3, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("retry budget"), "{error}");
    assert_eq!(server.count(), 3);
    assert_eq!(ComponentError::from(error).retry(), Retry::Retryable);
}

/// Queries whose cost is known wait for the cost bucket instead of being throttled: 20
/// queries of 300 points against 1000 restoring 2000/s.
#[tokio::test]
async fn graphql_queries_are_admitted_by_the_cost_bucket() {
    let bucket = CostBucket::new(1000.0, 2000.0, 1000.0);
    let server = graphql_server(bucket.clone(), 300.0).await;
    let hook = server.hook();
    let started = Instant::now();
    for _ in 0..20 {
        hook.graphql("query { orders(first: 100) { nodes { id } } }", json!({}))
            .await
            .unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let throttled = bucket.lock().unwrap().throttled;
    assert_eq!(throttled, 0, "{throttled} throttled");
    // (20 × 300 − 1000) / 2000 = 2.5 s at best.
    assert!(elapsed >= 2.3, "{elapsed:.2} s: too fast for the bucket");
    assert!(elapsed < 4.0, "{elapsed:.2} s");
}

#[tokio::test]
async fn bulk_in_progress_and_polling() {
    let bucket = CostBucket::new(1000.0, 1000.0, 1000.0);
    let server = graphql_server(bucket, 10.0).await;
    let hook = server.hook();
    let error = hook
        .bulk_run_query("{ orders { edges { node { id } } } }")
        .await
        .unwrap_err();
    let ShopifyError::OperationInProgress { id, .. } = &error else {
        panic!("{error}")
    };
    assert_eq!(
        id.as_deref(),
        Some("gid://shopify/BulkOperation/7749099028786")
    );
    let sent = server.requests()[0].json();
    assert_eq!(
        sent["variables"]["q"],
        "{ orders { edges { node { id } } } }"
    );
    assert!(
        sent["query"]
            .as_str()
            .unwrap()
            .contains("userErrors { field message code }")
    );

    let op = hook
        .bulk_operation("gid://shopify/BulkOperation/1")
        .await
        .unwrap();
    assert_eq!(op.status, BulkStatus::Completed);
    assert!(op.status.is_finished());
    assert_eq!(op.object_count, 1432);
    assert_eq!(
        op.url.as_deref(),
        Some("https://storage.example/r.jsonl?sig=1")
    );
}

/// 401, 402, 403, 404, 423 and 400: each its own message, after exactly one request.
#[tokio::test]
async fn client_errors_say_what_to_check_after_one_request() {
    let cases: [(u16, &str, &[&str]); 6] = [
        (
            401,
            "orders",
            &["401", "DATAFORGE_CONN_SHOP", "invalid or revoked"],
        ),
        (402, "orders", &["402", "frozen"]),
        (
            403,
            "orders",
            &["403", "`read_orders`", "read_all_orders", "60 days"],
        ),
        (403, "inventory_items", &["`read_inventory`"]),
        (404, "orderz", &["404", "orderz", DEFAULT_API_VERSION]),
        (423, "orders", &["423", "locked"]),
    ];
    for (status, resource, expected) in cases {
        let server = Server::start(move |_, _| {
            reply(
                status,
                &[("X-Shopify-Shop-Api-Call-Limit", "1/40")],
                b"{\"errors\":\"no\"}",
            )
        })
        .await;
        let error = server
            .hook()
            .rest_page(RestRequest::first(resource, [("status", "any")]))
            .await
            .unwrap_err();
        assert_eq!(server.count(), 1, "{status}");
        let text = error.to_string();
        assert!(text.contains(&server.addr.to_string()), "{text}");
        for part in expected {
            assert!(text.contains(part), "{status}: `{part}` not in: {text}");
        }
        assert_eq!(ComponentError::from(error).retry(), Retry::Fatal);
    }

    // 400 quotes the body (a page_info cursor sent with filters).
    let body = r#"{"errors":{"updated_at_min":"updated_at_min cannot be passed when page_info is present."}}"#;
    let server = Server::start(move |_, _| reply(400, &[], body.as_bytes())).await;
    let next = format!(
        "http://{}/admin/api/2026-10/orders.json?page_info=abc&updated_at_min=x",
        server.addr
    );
    let error = server
        .hook()
        .rest_page(RestRequest::Next(next))
        .await
        .unwrap_err();
    assert_eq!(server.count(), 1);
    assert!(matches!(error, ShopifyError::BadRequest { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("cannot be passed when page_info"),
        "{error}"
    );
    assert!(error.to_string().contains("`orders`"), "{error}");
}

/// The first page's URL and filters, then the `Link` URL verbatim; the call limit reported.
#[tokio::test]
async fn rest_pages_follow_the_link_verbatim() {
    let server = Server::start(|n, request| {
        let link = format!(
            "<http://{}/admin/api/2026-10/orders.json?limit=2&page_info=eyJ>; rel=\"next\"",
            request.header("host").unwrap()
        );
        match n {
            0 => {
                assert_eq!(
                    request.target(),
                    "/admin/api/2026-10/orders.json?status=any&limit=2"
                );
                reply(
                    200,
                    &[("X-Shopify-Shop-Api-Call-Limit", "1/40"), ("Link", &link)],
                    b"{\"orders\":[1,2]}",
                )
            }
            _ => {
                assert_eq!(
                    request.target(),
                    "/admin/api/2026-10/orders.json?limit=2&page_info=eyJ"
                );
                reply(
                    200,
                    &[("X-Shopify-Shop-Api-Call-Limit", "2/40")],
                    b"{\"orders\":[3]}",
                )
            }
        }
    })
    .await;
    let hook = server.hook();
    let page = hook
        .rest_page(RestRequest::first(
            "orders",
            [("status", "any"), ("limit", "2")],
        ))
        .await
        .unwrap();
    assert_eq!(&page.body[..], b"{\"orders\":[1,2]}");
    assert_eq!(page.call_limit.map(|c| (c.used, c.size)), Some((1, 40)));
    let page = hook
        .rest_page(RestRequest::Next(page.next.unwrap()))
        .await
        .unwrap();
    assert_eq!(page.next, None);
    assert_eq!(&page.body[..], b"{\"orders\":[3]}");
    assert_eq!(server.count(), 2);
}

/// The token never shows in `Debug`, errors or TRACE logs, even when servers echo it.
#[tokio::test]
async fn the_token_never_leaks() {
    let (captured, _guard) = Captured::start(tracing::Level::TRACE);
    let shows = |text: &str| text.contains(TOKEN) || text.contains("MUST_NOT_LEAK");
    // Every answer echoes the request head, token included.
    let server = Server::start(|n, request| {
        let echo = request.head.replace(['"', '\\', '\r', '\n'], " ");
        match n {
            0 => reply(503, &[], echo.as_bytes()),
            1 => reply(401, &[], echo.as_bytes()),
            2 => reply(400, &[], echo.as_bytes()),
            3 => reply(200, &[], format!("{{\"errors\":[{{\"message\":\"{echo}\",\"extensions\":{{\"code\":\"undefinedField\"}}}}]}}").as_bytes()),
            _ => reply(200, &[], format!("{{\"data\":{{\"bulkOperationRunQuery\":{{\"bulkOperation\":null,\"userErrors\":[{{\"field\":[\"query\"],\"message\":\"{echo}\",\"code\":\"INVALID\"}}]}}}}}}").as_bytes()),
        }
    })
    .await;
    let hook = server.hook();
    assert!(!shows(&format!("{hook:?}")), "{hook:?}");
    assert!(format!("{hook:?}").contains(DEFAULT_API_VERSION));
    let mut errors = vec![
        hook.rest_page(RestRequest::first("orders", [("status", "any")]))
            .await
            .unwrap_err(),
    ];
    errors.push(
        hook.rest_page(RestRequest::first("orders", [("status", "any")]))
            .await
            .unwrap_err(),
    );
    errors.push(
        hook.graphql("query { shop { x } }", json!({}))
            .await
            .unwrap_err(),
    );
    errors.push(
        hook.bulk_run_query("{ orders { nodes { id } } }")
            .await
            .unwrap_err(),
    );
    assert!(
        matches!(errors[0], ShopifyError::Unauthorized { .. }),
        "{}",
        errors[0]
    );
    assert!(
        matches!(errors[1], ShopifyError::BadRequest { .. }),
        "{}",
        errors[1]
    );
    assert!(
        matches!(errors[2], ShopifyError::Graphql { .. }),
        "{}",
        errors[2]
    );
    assert!(
        matches!(errors[3], ShopifyError::BulkRejected { .. }),
        "{}",
        errors[3]
    );
    for error in &errors {
        assert!(!shows(&error.to_string()), "{error}");
        assert!(!shows(&format!("{error:?}")), "{error:?}");
    }
    // The servers did get the token, and the echoes were scrubbed.
    assert!(server.requests().iter().all(|r| r.head.contains(TOKEN)));
    assert!(errors[1].to_string().contains("***"), "{}", errors[1]);
    assert!(errors[3].to_string().contains("***"), "{}", errors[3]);
    // A bad connection does not show it either.
    let conn = Connection::parse("shop", &format!("ftp://:{TOKEN}@x.myshopify.com")).unwrap();
    let error = ShopifyHook::new(&conn, None).unwrap_err();
    assert!(
        !shows(&error.to_string()) && !shows(&format!("{error:?}")),
        "{error:?}"
    );
    let logs = captured.text();
    assert!(logs.contains("http.request"), "{logs}");
    assert!(!shows(&logs), "{logs}");
}

#[test]
fn connections_need_a_token_and_http() {
    let ok = |uri: &str| ShopifyHook::new(&Connection::parse("s", uri).unwrap(), Some("2026-07"));
    let hook = ok("https://:shpat_x@example.myshopify.com").unwrap();
    assert_eq!(hook.shop(), "example.myshopify.com");
    assert_eq!(hook.api_version(), "2026-07");
    assert_eq!(
        ok("http://shpat_x@127.0.0.1:8080").unwrap().shop(),
        "127.0.0.1:8080"
    );
    for bad in [
        "https://example.myshopify.com",
        "postgres://:shpat_x@example.myshopify.com",
        "https://:shpat_x@example.myshopify.com?max_retries=lots",
        "https://:shpat_x@example.myshopify.com?max_retries=101",
    ] {
        let error = ok(bad).unwrap_err();
        assert!(
            matches!(error, ShopifyError::InvalidConnection { .. }),
            "{error}"
        );
    }
    let conn = Connection::parse("s", "https://:t@example.myshopify.com").unwrap();
    assert_eq!(
        ShopifyHook::new(&conn, None).unwrap().api_version(),
        DEFAULT_API_VERSION
    );
}

/// 5 MB of bytes no two megabytes alike.
fn payload() -> Arc<Vec<u8>> {
    let mut state: u32 = 12345;
    Arc::new(
        (0..5 * 1024 * 1024)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 24) as u8
            })
            .collect(),
    )
}

/// The `N` of `Range: bytes=N-`.
fn range_start(request: &Request) -> Option<usize> {
    request
        .header("range")?
        .strip_prefix("bytes=")?
        .strip_suffix('-')?
        .parse()
        .ok()
}

/// A download dropped twice mid-body resumes with `Range` (a 206 server) or by skipping what
/// came (a server that ignores `Range`): the bytes equal the original, and the download host
/// gets no token.
#[tokio::test]
async fn downloads_resume_after_drops_and_send_no_token() {
    let data = payload();
    let total = data.len();
    for honours_range in [true, false] {
        let body = data.clone();
        let download_host = Server::start(move |n, request| {
            let start = if honours_range {
                range_start(request).unwrap_or(0)
            } else {
                0
            };
            let rest = &body[start..];
            // The first two answers stop after 1.5 MB more than the request asked from.
            let sent = if n < 2 {
                (1_500_000).min(rest.len())
            } else {
                rest.len()
            };
            if start > 0 {
                let range = format!("bytes {start}-{}/{total}", total - 1);
                cut(
                    206,
                    &[("Content-Range", &range), ("ETag", "\"v1\"")],
                    &rest[..sent],
                    rest.len(),
                )
            } else {
                cut(200, &[("ETag", "\"v1\"")], &rest[..sent], rest.len())
            }
        })
        .await;
        // The shop is another server: the download goes to another origin.
        let shop = Server::start(|_, _| reply(500, &[], b"")).await;
        let hook = shop.hook();
        let url = format!(
            "http://{}/results/bulk.jsonl?X-Goog-Signature=abc",
            download_host.addr
        );
        let stream = hook.download(&url).await.unwrap();
        let received: Vec<u8> = stream
            .try_fold(Vec::new(), |mut all, chunk| async move {
                all.extend_from_slice(&chunk);
                Ok(all)
            })
            .await
            .unwrap();
        assert_eq!(received.len(), total, "range honoured: {honours_range}");
        assert!(received == *data, "range honoured: {honours_range}");
        let requests = download_host.requests();
        assert_eq!(requests.len(), 3);
        assert_eq!(range_start(&requests[0]), None);
        // Resumed from exactly what had come.
        if honours_range {
            assert_eq!(range_start(&requests[1]), Some(1_500_000));
            assert_eq!(range_start(&requests[2]), Some(3_000_000));
        } else {
            assert_eq!(range_start(&requests[1]), Some(1_500_000));
            assert_eq!(range_start(&requests[2]), Some(1_500_000));
        }
        for request in &requests {
            let head = request.head.to_ascii_lowercase();
            assert!(!head.contains("x-shopify-access-token"), "{head}");
            assert!(!head.contains("authorization"), "{head}");
            assert!(!request.head.contains(TOKEN), "{}", request.head);
            assert!(request.target().contains("X-Goog-Signature=abc"));
        }
        assert_eq!(shop.count(), 0);
    }
}

/// A download that keeps failing stops at the retry cap; its error shows no query string.
#[tokio::test]
async fn download_errors_hide_the_signature() {
    let host = Server::start(|_, _| reply(403, &[], b"<Error>AccessDenied</Error>")).await;
    let shop = Server::start(|_, _| reply(500, &[], b"")).await;
    let url = format!("http://{}/r.jsonl?X-Goog-Signature=SIGNATURE", host.addr);
    let Err(error) = shop.hook().download(&url).await else {
        panic!("an expired URL downloads")
    };
    assert_eq!(host.count(), 1);
    let text = error.to_string();
    assert!(text.contains("403") && text.contains("/r.jsonl"), "{text}");
    assert!(!text.contains("SIGNATURE"), "{text}");
}
