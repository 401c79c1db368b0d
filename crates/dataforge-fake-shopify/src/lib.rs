//! A local fake of the Shopify Admin API (REST, GraphQL and bulk operations) for DataForge's
//! tests and benchmarks.
//!
//! [`FakeShopify::start`] binds two listeners on `127.0.0.1`: the API
//! (`/admin/api/{version}/{resource}.json`, `/admin/api/{version}/graphql.json`) and a second
//! origin that serves bulk-operation downloads (like `storage.googleapis.com` does for Shopify).
//! Records are generated deterministically from [`FakeShopifyConfig::seed`]; only a few numbers
//! per record are stored, bodies are rebuilt on demand, so a million orders fit in a few dozen MB
//! and bulk downloads are generated while they stream.
//!
//! The behaviour follows the protocol notes the DataForge Shopify client is written against:
//! exact error bodies, the REST leaky bucket with `X-Shopify-Shop-Api-Call-Limit` and float
//! `Retry-After`, `Link`-header cursor pagination whose `page_info` keeps the first request's
//! filters, the GraphQL cost bucket with `THROTTLED` / `MAX_COST_EXCEEDED`, search-syntax warnings
//! for unquoted timestamps, bulk operations with `__parentId` JSONL, and injected faults.
//!
//! # GraphQL query cost (this fake's formula)
//!
//! Real Shopify does not publish its exact formula and large pages cost far less than the
//! documented linear rule; clients must read `extensions.cost` and never compute it. The fake uses:
//!
//! - scalar and enum fields cost 0, an object field costs 1 plus the cost of its selection;
//! - node cost = 1 + the cost of the node's selection (nested objects as above, and for each
//!   nested connection `2 + first × its node cost`, `first` defaulting to 10 inside a node);
//! - connection cost = 2 + `first` (or `last`) × node cost;
//! - `requestedQueryCost` = ceil(sum of the root connections' costs / 20), at least 1
//!   (250 flat orders: ceil(252 / 20) = 13; with three money bags ≈ 13 × 7 = 88);
//! - `node(id:)`, `bulkOperation(id:)`, `currentBulkOperation` cost 1, mutations 10;
//! - `actualQueryCost` uses the same formula with the number of nodes actually returned;
//! - a request whose requested cost exceeds 1000 gets `MAX_COST_EXCEEDED` and is not charged;
//!   admission compares the requested cost with `currentlyAvailable` (else `THROTTLED`), then the
//!   bucket is charged the actual cost and restores `graphql_restore_per_sec` points per second.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() {
//! use dataforge_fake_shopify::{FakeShopify, FakeShopifyConfig};
//!
//! let shop = FakeShopify::start(FakeShopifyConfig { orders: 500, ..Default::default() }).await;
//! let uri = shop.connection_uri(); // "http://:shpat_fake_token@127.0.0.1:PORT"
//! assert_eq!(shop.orders().len(), 500);
//! # let _ = uri;
//! # }
//! ```

mod bulk;
mod data;
mod graphql;
mod rest;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::data::{Resource, Store};

/// How the fake shop behaves. Build with struct-update syntax from [`Default`].
#[derive(Clone, Debug)]
pub struct FakeShopifyConfig {
    /// The access token clients must send as `X-Shopify-Access-Token` (default `shpat_fake_token`).
    pub token: String,
    /// Number of generated orders (default 0).
    pub orders: usize,
    /// Number of generated customers (default 0).
    pub customers: usize,
    /// Number of generated products (default 0).
    pub products: usize,
    /// Seed of the generated data: the same seed gives the same records.
    pub seed: u64,
    /// REST leaky-bucket size (default 40).
    pub rest_bucket_size: u32,
    /// REST leak rate in requests per second (default `rest_bucket_size / 20`, i.e. 2).
    pub rest_leak_per_sec: f64,
    /// GraphQL bucket (`maximumAvailable`, default 2000.0).
    pub graphql_bucket: f64,
    /// GraphQL `restoreRate` in points per second (default 100.0).
    pub graphql_restore_per_sec: f64,
    /// Injected faults (default none).
    pub faults: Faults,
    /// Granted access scopes; `None` grants all, else e.g. `["read_products"]` makes orders 403.
    pub scopes: Option<Vec<String>>,
    /// Whether the shop is usable, frozen (402) or locked (423).
    pub shop_state: ShopState,
    /// Time a bulk operation takes from `CREATED` to `COMPLETED` (default 300 ms).
    pub bulk_duration: Duration,
    /// `Some(code)` makes every bulk operation end `FAILED` with that `errorCode` and a
    /// `partialDataUrl` (e.g. `INTERNAL_SERVER_ERROR`).
    pub bulk_fail: Option<String>,
    /// Latency added to every response (default 0).
    pub latency: Duration,
}

impl Default for FakeShopifyConfig {
    fn default() -> Self {
        FakeShopifyConfig {
            token: "shpat_fake_token".to_owned(),
            orders: 0,
            customers: 0,
            products: 0,
            seed: 42,
            rest_bucket_size: 40,
            rest_leak_per_sec: 2.0,
            graphql_bucket: 2000.0,
            graphql_restore_per_sec: 100.0,
            faults: Faults::default(),
            scopes: None,
            shop_state: ShopState::Active,
            bulk_duration: Duration::from_millis(300),
            bulk_fail: None,
            latency: Duration::ZERO,
        }
    }
}

/// Random faults applied to every request (REST, GraphQL, bulk polls, downloads).
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Probability in `0.0..=1.0` that a request is faulted.
    pub rate: f64,
    /// The kinds to choose from (uniformly at random); empty = no faults.
    pub kinds: Vec<FaultKind>,
}

/// One kind of injected fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// HTTP 500 `{"errors":"Internal Server Error"}`.
    Status500,
    /// HTTP 502 (plain-text body).
    Status502,
    /// HTTP 503, half of the time with `Retry-After: 1.0`.
    Status503,
    /// Status 200 and headers, part of the body, then the connection is aborted.
    Drop,
    /// Wait this long, then answer normally.
    Slow(Duration),
}

/// The shop's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ShopState {
    /// Normal.
    #[default]
    Active,
    /// Frozen for non-payment: 402 `{"errors":"Unavailable Shop"}`.
    Frozen,
    /// Locked: 423 `{"errors":"This shop is unavailable"}`.
    Locked,
}

/// A snapshot of what the fake saw.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// All requests, both listeners, faulted ones included.
    pub requests: u64,
    /// REST requests that reached the REST handler (not faulted).
    pub rest_requests: u64,
    /// GraphQL requests that reached the GraphQL handler (not faulted).
    pub graphql_requests: u64,
    /// REST 429 answers.
    pub rest_429: u64,
    /// GraphQL `THROTTLED` answers.
    pub graphql_throttled: u64,
    /// GraphQL `MAX_COST_EXCEEDED` answers.
    pub max_cost_exceeded: u64,
    /// Faults injected (statuses, drops, slow answers, `fail_after` 500s).
    pub faults_injected: u64,
    /// Bulk operations created.
    pub bulk_started: u64,
    /// Bulk operations canceled.
    pub bulk_canceled: u64,
    /// Bulk downloads served (full or ranged).
    pub downloads: u64,
    /// Time since start of each REST request admitted by the bucket.
    pub rest_accepted_at: Vec<Duration>,
    /// Time since start and actual cost charged of each GraphQL request.
    pub graphql_points_at: Vec<(Duration, f64)>,
    /// Highest REST bucket fill seen.
    pub max_rest_used: u32,
    /// 401 answers (missing or wrong token).
    pub auth_failures: u64,
    /// 401 answers where a token was sent but was wrong.
    pub tokens_seen_invalid: u64,
}

/// Marks a request whose response will be cut (a `Drop` fault): it must not charge the bucket.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dropping;

pub(crate) struct RestBucket {
    pub(crate) used: f64,
    pub(crate) at: Instant,
}

pub(crate) struct GqlBucket {
    pub(crate) available: f64,
    pub(crate) at: Instant,
}

/// State shared by the handlers.
pub(crate) struct Shared {
    pub(crate) config: FakeShopifyConfig,
    pub(crate) store: Store,
    pub(crate) start: Instant,
    pub(crate) stats: Mutex<Stats>,
    faults: Mutex<Faults>,
    fault_rng: Mutex<fastrand::Rng>,
    /// (threshold, API requests counted since `fail_after`).
    fail_after: Mutex<(u64, u64)>,
    pub(crate) rest_bucket: Mutex<RestBucket>,
    pub(crate) gql_bucket: Mutex<GqlBucket>,
    pub(crate) bulk: Mutex<bulk::BulkState>,
    pub(crate) api_base: String,
    pub(crate) download_base: String,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn stats(&self) -> MutexGuard<'_, Stats> {
        lock(&self.stats)
    }

    /// `None` if the token is right, else the 401 answer.
    pub(crate) fn check_token(&self, headers: &axum::http::HeaderMap) -> Option<Response> {
        let sent = headers
            .get("x-shopify-access-token")
            .and_then(|v| v.to_str().ok());
        if sent == Some(self.config.token.as_str()) {
            return None;
        }
        let mut st = self.stats();
        st.auth_failures += 1;
        if sent.is_some() {
            st.tokens_seen_invalid += 1;
        }
        Some(json_error(
            StatusCode::UNAUTHORIZED,
            r#"{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}"#,
        ))
    }

    /// `None` if the shop is active, else its 402/423 answer.
    pub(crate) fn check_shop(&self) -> Option<Response> {
        match self.config.shop_state {
            ShopState::Active => None,
            ShopState::Frozen => Some(json_error(
                StatusCode::PAYMENT_REQUIRED,
                r#"{"errors":"Unavailable Shop"}"#,
            )),
            ShopState::Locked => Some(json_error(
                StatusCode::LOCKED,
                r#"{"errors":"This shop is unavailable"}"#,
            )),
        }
    }

    pub(crate) fn has_scope(&self, scope: &str) -> bool {
        self.config
            .scopes
            .as_ref()
            .is_none_or(|s| s.iter().any(|x| x == scope))
    }
}

/// A response with a fixed JSON body.
pub(crate) fn json_error(status: StatusCode, body: &'static str) -> Response {
    json_response(status, body.to_owned())
}

/// A response with a JSON body.
pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

/// A running fake shop; it shuts down when dropped.
pub struct FakeShopify {
    shared: Arc<Shared>,
    addr: std::net::SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeShopify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeShopify")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl Drop for FakeShopify {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl FakeShopify {
    /// Generates the data and starts both listeners on `127.0.0.1:0`.
    ///
    /// # Panics
    ///
    /// If the loopback listeners cannot be bound (a test environment problem).
    pub async fn start(config: FakeShopifyConfig) -> FakeShopify {
        let api = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake API listener");
        let dl = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake download listener");
        let addr = api.local_addr().expect("local address of the API listener");
        let dl_addr = dl
            .local_addr()
            .expect("local address of the download listener");
        let store = Store::new(
            config.seed,
            config.orders,
            config.customers,
            config.products,
        );
        let now = Instant::now();
        let shared = Arc::new(Shared {
            store,
            start: now,
            stats: Mutex::new(Stats::default()),
            faults: Mutex::new(config.faults.clone()),
            fault_rng: Mutex::new(fastrand::Rng::with_seed(config.seed ^ 0x5EED)),
            fail_after: Mutex::new((u64::MAX, 0)),
            rest_bucket: Mutex::new(RestBucket { used: 0.0, at: now }),
            gql_bucket: Mutex::new(GqlBucket {
                available: config.graphql_bucket,
                at: now,
            }),
            bulk: Mutex::new(bulk::BulkState::default()),
            api_base: format!("http://{addr}"),
            download_base: format!("http://{dl_addr}"),
            config,
        });
        let api_router = Router::new()
            .route(
                "/admin/api/{version}/{*rest}",
                axum::routing::get(rest::handle).post(graphql::handle),
            )
            .fallback(|| async { json_error(StatusCode::NOT_FOUND, r#"{"errors":"Not Found"}"#) })
            .layer(axum::middleware::from_fn_with_state(
                shared.clone(),
                api_faults,
            ))
            .with_state(shared.clone());
        let dl_router = Router::new()
            .route("/bulk/{file}", axum::routing::get(bulk::download))
            .layer(axum::middleware::from_fn_with_state(
                shared.clone(),
                download_faults,
            ))
            .with_state(shared.clone());
        let t1 = tokio::spawn(async move {
            let _ = axum::serve(api, api_router).await;
        });
        let t2 = tokio::spawn(async move {
            let _ = axum::serve(dl, dl_router).await;
        });
        FakeShopify {
            shared,
            addr,
            tasks: vec![t1, t2],
        }
    }

    /// The API origin, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A DataForge connection URI carrying the token as password: `http://:TOKEN@127.0.0.1:PORT`.
    pub fn connection_uri(&self) -> String {
        format!("http://:{}@{}", self.shared.config.token, self.addr)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.shared.stats().clone()
    }

    /// Zeroes the counters.
    pub fn reset_stats(&self) {
        *self.shared.stats() = Stats::default();
    }

    /// Replaces the injected faults.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.shared.faults) = faults;
    }

    /// After `requests` more API requests, every API request answers 500 (an outage);
    /// `fail_after(u64::MAX)` ends it.
    pub fn fail_after(&self, requests: u64) {
        *lock(&self.shared.fail_after) = (requests, 0);
    }

    /// All stored orders, REST-shaped (every status), ascending by id.
    pub fn orders(&self) -> Vec<serde_json::Value> {
        let metas = self.shared.store.metas(Resource::Orders);
        metas
            .iter()
            .enumerate()
            .map(|(i, m)| self.shared.store.rest(Resource::Orders, i, m))
            .collect()
    }

    /// Sets `updated_at` of `n` orders (deterministically spread over the id range) to `at`;
    /// returns their ids.
    pub fn touch_orders(&self, n: usize, at: DateTime<Utc>) -> Vec<i64> {
        self.shared.store.touch_orders(n, at)
    }

    /// Adds `n` open orders created and updated at `at`; returns their ids.
    pub fn add_orders(&self, n: usize, at: DateTime<Utc>) -> Vec<i64> {
        self.shared.store.add_orders(n, at)
    }
}

enum Decision {
    Pass,
    Answer(Response),
    Slow(Duration),
    Drop,
}

fn decide(s: &Shared, api: bool) -> Decision {
    s.stats().requests += 1;
    if api {
        let mut fa = lock(&s.fail_after);
        if fa.0 != u64::MAX {
            if fa.1 >= fa.0 {
                drop(fa);
                s.stats().faults_injected += 1;
                return Decision::Answer(json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    r#"{"errors":"Internal Server Error"}"#,
                ));
            }
            fa.1 += 1;
        }
    }
    let faults = lock(&s.faults).clone();
    if faults.kinds.is_empty() || faults.rate <= 0.0 {
        return Decision::Pass;
    }
    let (roll, kind, half) = {
        let mut r = lock(&s.fault_rng);
        (
            r.f64(),
            faults.kinds[r.usize(..faults.kinds.len())].clone(),
            r.bool(),
        )
    };
    if roll >= faults.rate {
        return Decision::Pass;
    }
    s.stats().faults_injected += 1;
    match kind {
        FaultKind::Status500 => Decision::Answer(json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"errors":"Internal Server Error"}"#,
        )),
        FaultKind::Status502 => {
            Decision::Answer((StatusCode::BAD_GATEWAY, "502 Bad Gateway").into_response())
        }
        FaultKind::Status503 => {
            let mut r =
                (StatusCode::SERVICE_UNAVAILABLE, "503 Service Unavailable").into_response();
            if half {
                r.headers_mut()
                    .insert("retry-after", HeaderValue::from_static("1.0"));
            }
            Decision::Answer(r)
        }
        FaultKind::Slow(d) => Decision::Slow(d),
        FaultKind::Drop => Decision::Drop,
    }
}

async fn api_faults(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    apply_faults(s, req, next, true).await
}

async fn download_faults(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    apply_faults(s, req, next, false).await
}

async fn apply_faults(s: Arc<Shared>, mut req: Request, next: Next, api: bool) -> Response {
    if !s.config.latency.is_zero() {
        tokio::time::sleep(s.config.latency).await;
    }
    match decide(&s, api) {
        Decision::Pass => next.run(req).await,
        Decision::Answer(r) => r,
        Decision::Slow(d) => {
            tokio::time::sleep(d).await;
            next.run(req).await
        }
        Decision::Drop => {
            req.extensions_mut().insert(Dropping);
            let resp = next.run(req).await;
            let len = resp
                .headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok());
            let cut = match len {
                Some(n) if n > 1 => n / 2,
                Some(_) => 0,
                None => 16 * 1024,
            };
            let (parts, body) = resp.into_parts();
            let stream = futures::stream::unfold(
                (body.into_data_stream(), cut, false),
                |(mut inner, rem, done)| async move {
                    if done {
                        return None;
                    }
                    if rem == 0 {
                        // let hyper flush the status, headers and partial body first
                        tokio::time::sleep(Duration::from_millis(30)).await;
                        let e = std::io::Error::other("fault injected: connection dropped");
                        return Some((Err(e), (inner, 0, true)));
                    }
                    match inner.next().await {
                        Some(Ok(mut b)) => {
                            b.truncate(rem);
                            let left = rem - b.len();
                            Some((Ok(b), (inner, left, false)))
                        }
                        Some(Err(e)) => Some((Err(std::io::Error::other(e)), (inner, 0, true))),
                        None => {
                            tokio::time::sleep(Duration::from_millis(30)).await;
                            let e = std::io::Error::other("fault injected: connection dropped");
                            Some((Err(e), (inner, 0, true)))
                        }
                    }
                },
            );
            Response::from_parts(parts, Body::from_stream(stream))
        }
    }
}
