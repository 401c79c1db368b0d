//! The `shopify` source against the local fake shop (`dataforge-fake-shopify`): how much of the
//! allowed rate the REST pacer and the GraphQL cost throttle use, and how fast a bulk
//! operation's JSONL is loaded.
//!
//! ```text
//! cargo bench -p dataforge-benches --bench shopify
//! DATAFORGE_BENCH_SHOPIFY=rest,graphql,bulk DATAFORGE_BENCH_SHOPIFY_ROUNDS=2 \
//! DATAFORGE_BENCH_SHOPIFY_STEADY_SECS=20 DATAFORGE_BENCH_SHOPIFY_BULK_ORDERS=1000000 \
//!     cargo bench -p dataforge-benches --bench shopify
//! ```
//!
//! - **REST**: a shop with a Plus-like bucket (400 requests, leaking 20/s) and enough orders
//!   for `size + leak × STEADY_SECS` pages of 25; the source runs in process into memory. From
//!   the fake's `rest_accepted_at`: the steady-state rate (admissions after the bucket first
//!   filled, over the time they span) as a share of the leak rate, the 429s, and all requests
//!   over the run's wall time against the most the bucket allows in it (`size + leak × wall`).
//! - **GraphQL**: the same with the cost bucket (1000 points restoring 50/s) and the built-in
//!   orders query in pages of 100 (its cost is read from the fake first): points charged per
//!   second after the bucket first ran dry, as a share of the restore rate; `THROTTLED` count.
//! - **Bulk**: a shop with 1,000,000 orders; `api: bulk` → `select_columns` → `file` (JSONL),
//!   through the release `dataforge` binary as a child process (built by this bench), so its
//!   peak RSS (`peak_rss_bytes` of the run report) is its own. The fake runs in this process and
//!   generates the JSONL as it streams, on the same cores, so the fake is also timed alone: the
//!   same bulk operation, its JSONL downloaded by a plain HTTP client that only counts lines.
//!
//! Set `DATAFORGE_BENCH_SHOPIFY_PERF=FILE` to run the bulk child under `perf record -o FILE`.
#![allow(clippy::print_stdout)] // a bench prints its results

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use dataforge_core::test_utils::CollectingDestination;
use dataforge_core::{Pipeline, RunOptions, StaticConnections};
use dataforge_destinations as _;
use dataforge_fake_shopify::{FakeShopify, FakeShopifyConfig};
use dataforge_sources::shopify::{ShopifySource, ShopifySourceConfig};
use dataforge_transforms as _;

/// The REST bucket of a Plus shop: 400 requests, leaking its size every 20 s.
const REST_SIZE: u32 = 400;
const REST_LEAK: f64 = 20.0;
const REST_PAGE: usize = 25;
/// The older documented GraphQL bucket: 1000 points restoring 50/s (maximum = 20 × restore).
const GQL_BUCKET: f64 = 1000.0;
const GQL_RESTORE: f64 = 50.0;
const GQL_PAGE: usize = 100;
/// The source's built-in bulk query for orders (`queries.rs`), for the fake-alone download.
const ORDER_FIELDS: &str = "id legacyResourceId name email createdAt updatedAt processedAt \
    closedAt cancelledAt closed cancelReason currencyCode displayFinancialStatus \
    displayFulfillmentStatus tags note test totalPriceSet { shopMoney { amount currencyCode } } \
    subtotalPriceSet { shopMoney { amount currencyCode } } totalTaxSet { shopMoney { amount \
    currencyCode } } customer { id legacyResourceId email firstName lastName }";
const API: &str = "2024-10";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn dataforge_binary() -> PathBuf {
    let root = workspace_root();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-q", "-p", "dataforge-cli"])
        .current_dir(&root)
        .status()
        .expect("cargo build the dataforge CLI");
    assert!(status.success(), "building the dataforge CLI failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    target.join("release").join("dataforge")
}

/// Runs a `shopify` source config into memory; returns the rows and the wall seconds.
async fn run_source(fake: &FakeShopify, source: serde_json::Value) -> (usize, f64) {
    let config: ShopifySourceConfig = serde_json::from_value(source).expect("source config");
    let source = ShopifySource::from_config(config).expect("source");
    let destination = CollectingDestination::new();
    let pipeline = Pipeline::builder("bench_shopify")
        .source(source)
        .destination(destination.clone())
        .build()
        .expect("pipeline");
    let options = RunOptions {
        connections: Arc::new(
            StaticConnections::new()
                .with("shopify_default", &fake.connection_uri())
                .expect("connection"),
        ),
        ..RunOptions::in_memory()
    };
    let started = Instant::now();
    let report = pipeline.run(&options).await;
    let seconds = started.elapsed().as_secs_f64();
    assert!(report.is_success(), "run failed: {:?}", report.error);
    (destination.rows().len(), seconds)
}

/// What the admissions to a bucket say about the pacing.
#[derive(Clone, Copy, Debug)]
struct Pacing {
    /// Admissions (REST) or points charged (GraphQL), in all.
    total: f64,
    /// Admitted requests.
    requests: usize,
    /// 429s or `THROTTLED`.
    rejected: u64,
    /// When the bucket first filled (s since the fake started), and the admission's index.
    steady_from: f64,
    steady_index: usize,
    /// Seconds from then to the last admission.
    steady_seconds: f64,
    /// Units per second admitted after `steady_from`, over the allowed rate.
    steady_share: f64,
    /// The pipeline's wall seconds.
    wall: f64,
    /// `total` over the most the bucket allows in `wall`: `capacity + rate × wall`.
    overall_share: f64,
    /// `true` when the bucket never filled and the first `capacity` units count as the burst.
    fallback: bool,
}

/// Replays the fake's bucket over `events` (time since start, units charged) to find where
/// the burst ends: the first admission after which the next would not fit (the client must
/// wait from there on). The steady state is every later admission.
fn pacing(events: &[(f64, f64)], capacity: f64, rate: f64, wall: f64, rejected: u64) -> Pacing {
    let total: f64 = events.iter().map(|e| e.1).sum();
    let biggest = events.iter().map(|e| e.1).fold(0.0, f64::max);
    let mut used = 0.0_f64;
    let mut at = 0.0_f64;
    let mut full = None;
    for (i, &(t, w)) in events.iter().enumerate() {
        used = (used - rate * (t - at)).max(0.0) + w;
        at = t;
        // The clients keep a slot free (REST) or wait for the whole cost (GraphQL).
        if used + biggest + 1.0 > capacity {
            full = Some(i);
            break;
        }
    }
    let fallback = full.is_none();
    let k = full.unwrap_or_else(|| {
        let mut sum = 0.0;
        events
            .iter()
            .position(|e| {
                sum += e.1;
                sum >= capacity
            })
            .unwrap_or(0)
    });
    let (t_k, t_last) = (
        events.get(k).map_or(0.0, |e| e.0),
        events.last().map_or(0.0, |e| e.0),
    );
    let after: f64 = events.iter().skip(k + 1).map(|e| e.1).sum();
    let steady_seconds = t_last - t_k;
    let steady_share = if steady_seconds > 0.0 {
        after / steady_seconds / rate
    } else {
        f64::NAN
    };
    Pacing {
        total,
        requests: events.len(),
        rejected,
        steady_from: t_k,
        steady_index: k,
        steady_seconds,
        steady_share,
        wall,
        overall_share: total / (capacity + rate * wall),
        fallback,
    }
}

async fn rest_round(steady: f64) -> Pacing {
    let pages = (f64::from(REST_SIZE) + REST_LEAK * steady).ceil() as usize;
    let orders = pages * REST_PAGE;
    let fake = FakeShopify::start(FakeShopifyConfig {
        orders,
        rest_bucket_size: REST_SIZE,
        rest_leak_per_sec: REST_LEAK,
        ..FakeShopifyConfig::default()
    })
    .await;
    let (rows, wall) = run_source(
        &fake,
        serde_json::json!({"resource": "orders", "page_size": REST_PAGE}),
    )
    .await;
    assert_eq!(rows, orders, "every order once");
    let st = fake.stats();
    let events: Vec<(f64, f64)> = st
        .rest_accepted_at
        .iter()
        .map(|d| (d.as_secs_f64(), 1.0))
        .collect();
    pacing(&events, f64::from(REST_SIZE), REST_LEAK, wall, st.rest_429)
}

/// The actual cost of one full page of the built-in orders query, read from the fake.
async fn graphql_page_cost() -> f64 {
    let fake = FakeShopify::start(FakeShopifyConfig {
        orders: GQL_PAGE,
        ..FakeShopifyConfig::default()
    })
    .await;
    run_source(
        &fake,
        serde_json::json!({"resource": "orders", "api": "graphql", "page_size": GQL_PAGE}),
    )
    .await;
    fake.stats()
        .graphql_points_at
        .iter()
        .map(|p| p.1)
        .fold(0.0, f64::max)
}

async fn graphql_round(steady: f64, page_cost: f64) -> Pacing {
    let pages = ((GQL_BUCKET + GQL_RESTORE * steady) / page_cost).ceil() as usize;
    let orders = pages * GQL_PAGE;
    let fake = FakeShopify::start(FakeShopifyConfig {
        orders,
        graphql_bucket: GQL_BUCKET,
        graphql_restore_per_sec: GQL_RESTORE,
        ..FakeShopifyConfig::default()
    })
    .await;
    let (rows, wall) = run_source(
        &fake,
        serde_json::json!({"resource": "orders", "api": "graphql", "page_size": GQL_PAGE}),
    )
    .await;
    assert_eq!(rows, orders, "every order once");
    let st = fake.stats();
    let events: Vec<(f64, f64)> = st
        .graphql_points_at
        .iter()
        .map(|(d, p)| (d.as_secs_f64(), *p))
        .collect();
    pacing(&events, GQL_BUCKET, GQL_RESTORE, wall, st.graphql_throttled)
}

/// The fake alone: a bulk operation of the built-in orders query, then its JSONL downloaded by
/// a plain client that counts lines.
#[derive(Clone, Copy, Debug)]
struct FakeAlone {
    /// From the mutation to `COMPLETED` (the fake generates the file once to size it).
    operation_seconds: f64,
    download_seconds: f64,
    lines: u64,
    bytes: u64,
}

/// The fake alone, and what it served: the JSONL and the origin it was served from.
struct Downloaded {
    alone: FakeAlone,
    body: axum::body::Bytes,
    origin: String,
}

async fn graphql_post(
    client: &reqwest::Client,
    fake: &FakeShopify,
    query: &str,
) -> serde_json::Value {
    let body = serde_json::json!({ "query": query }).to_string();
    let text = client
        .post(format!("{}/admin/api/{API}/graphql.json", fake.url()))
        .header("X-Shopify-Access-Token", "shpat_fake_token")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("graphql request")
        .text()
        .await
        .expect("graphql body");
    serde_json::from_str(&text).expect("graphql json")
}

async fn fake_alone(fake: &FakeShopify) -> Downloaded {
    // reqwest is built with `rustls-no-provider` (dataforge-hooks' choice) and wants one even
    // for plain HTTP; a second install is refused, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let bulk = format!("{{ orders {{ edges {{ node {{ {ORDER_FIELDS} }} }} }} }}");
    let mutation = format!(
        "mutation {{ bulkOperationRunQuery(query: \"{bulk}\") {{ bulkOperation {{ id status }} \
         userErrors {{ field message }} }} }}"
    );
    let started = Instant::now();
    let v = graphql_post(&client, fake, &mutation).await;
    assert!(
        v["data"]["bulkOperationRunQuery"]["userErrors"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "bulk operation refused: {v}"
    );
    let url = loop {
        let v = graphql_post(
            &client,
            fake,
            "{ currentBulkOperation { id status url objectCount } }",
        )
        .await;
        let op = &v["data"]["currentBulkOperation"];
        match op["status"].as_str() {
            Some("COMPLETED") => break op["url"].as_str().expect("url").to_owned(),
            Some("CREATED" | "RUNNING") | None => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Some(other) => panic!("bulk operation ended {other}: {v}"),
        }
    };
    let operation_seconds = started.elapsed().as_secs_f64();
    let origin = url
        .split_once("/bulk/")
        .map(|(o, _)| o.to_owned())
        .expect("a download URL");
    let started = Instant::now();
    let mut response = client.get(url).send().await.expect("download");
    assert!(response.status().is_success(), "{}", response.status());
    let (mut lines, mut bytes) = (0u64, 0u64);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.expect("download chunk") {
        bytes += chunk.len() as u64;
        lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        body.extend_from_slice(&chunk);
    }
    Downloaded {
        alone: FakeAlone {
            operation_seconds,
            download_seconds: started.elapsed().as_secs_f64(),
            lines,
            bytes,
        },
        body: body.into(),
        origin,
    }
}

/// A proxy in front of the fake that passes GraphQL through and serves every bulk download
/// from memory (the JSONL the fake served before): DataForge's rate without the fake's.
struct Replay {
    client: reqwest::Client,
    api: String,
    /// The fake's download origin, and this proxy's, swapped in the GraphQL answers.
    from: String,
    to: String,
    body: axum::body::Bytes,
}

/// Starts the proxy; returns its connection URI.
async fn start_replay(fake: &FakeShopify, data: &Downloaded) -> String {
    use axum::extract::{Path as UrlPath, State};
    use axum::response::IntoResponse as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the replay proxy");
    let addr = listener.local_addr().expect("proxy address");
    let state = Arc::new(Replay {
        client: reqwest::Client::new(),
        api: fake.url(),
        from: format!("{}/bulk/", data.origin),
        to: format!("http://{addr}/bulk/"),
        body: data.body.clone(),
    });
    let graphql = |State(r): State<Arc<Replay>>,
                   UrlPath(rest): UrlPath<String>,
                   headers: axum::http::HeaderMap,
                   body: axum::body::Bytes| async move {
        let mut req = r
            .client
            .post(format!("{}/admin/api/{rest}", r.api))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = headers.get("x-shopify-access-token") {
            req = req.header("x-shopify-access-token", token.as_bytes());
        }
        let response = req.send().await.expect("the fake answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("the fake's body");
        let mut out = (
            axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::OK),
            text.replace(&r.from, &r.to),
        )
            .into_response();
        out.headers_mut().insert(
            "content-type",
            axum::http::HeaderValue::from_static("application/json; charset=utf-8"),
        );
        out
    };
    let download = |State(r): State<Arc<Replay>>| async move {
        let mut out = axum::body::Body::from(r.body.clone()).into_response();
        out.headers_mut().insert(
            "content-type",
            axum::http::HeaderValue::from_static("application/jsonl"),
        );
        out
    };
    let app = axum::Router::new()
        .route("/admin/api/{*rest}", axum::routing::post(graphql))
        .route("/bulk/{file}", axum::routing::get(download))
        .with_state(state);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://:shpat_fake_token@{addr}")
}

/// CPU seconds of this process (user + system) and of its waited-for children, from
/// `/proc/self/stat`; zeros where that is not readable.
fn cpu_seconds(ticks_per_second: f64) -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<f64> = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .map(|f| f.parse().unwrap_or(0.0))
                .collect()
        })
        .unwrap_or_default();
    // After the command name: state is field 3; utime, stime, cutime, cstime are 14 to 17.
    let at = |n: usize| fields.get(n - 3).copied().unwrap_or(0.0);
    (
        (at(14) + at(15)) / ticks_per_second,
        (at(16) + at(17)) / ticks_per_second,
    )
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// One bulk load through the CLI.
#[derive(Clone, Copy, Debug)]
struct BulkRun {
    wall: f64,
    /// From the start to the source's "bulk operation completed; downloading" line.
    until_download: f64,
    rows: u64,
    extract_seconds: f64,
    peak_rss: u64,
    /// CPU seconds of the dataforge process, and of this process (the fake) meanwhile.
    cpu_dataforge: f64,
    cpu_fake: f64,
}

fn bulk_run(bin: &Path, dir: &Path, uri: &str, name: &str, ticks: f64) -> BulkRun {
    let out = dir.join(format!("orders_{name}.jsonl"));
    let p = serde_json::json!({
        "dag_id": "bench_shopify_bulk",
        "schedule_interval": null,
        "start_date": "2026-01-01",
        "source": {"type": "shopify", "resource": "orders", "api": "bulk"},
        "transforms": [
            {"type": "select_columns", "columns": ["id", "name", "email", "updatedAt", "totalPriceSet"]}
        ],
        "destination": {"type": "file", "path": out, "format": "jsonl", "write_mode": "replace"},
    });
    let file = dir.join("bulk.json");
    let report = dir.join(format!("bulk_{name}.report.json"));
    std::fs::write(&file, serde_json::to_vec_pretty(&p).expect("json")).expect("write pipeline");
    let mut cmd = match std::env::var_os("DATAFORGE_BENCH_SHOPIFY_PERF") {
        Some(data) => {
            let mut c = Command::new("perf");
            c.args(["record", "-F", "999", "-o"])
                .arg(PathBuf::from(data).with_extension(format!("{name}.data")))
                .arg("--")
                .arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.arg("run")
        .arg(&file)
        .arg("--report")
        .arg(&report)
        .env("DATAFORGE_CONN_SHOPIFY_DEFAULT", uri)
        .env("DATAFORGE_HOME", dir.join("home"))
        .env("DATAFORGE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let (cpu_self0, cpu_children0) = cpu_seconds(ticks);
    let started = Instant::now();
    let mut child = cmd.spawn().expect("run dataforge");
    let mut until_download = f64::NAN;
    let mut log = Vec::new();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if until_download.is_nan() && line.contains("bulk operation completed") {
                until_download = started.elapsed().as_secs_f64();
            }
            log.push(line);
        }
    }
    let status = child.wait().expect("wait for dataforge");
    let wall = started.elapsed().as_secs_f64();
    let (cpu_self1, cpu_children1) = cpu_seconds(ticks);
    assert!(
        status.success(),
        "dataforge run failed:\n{}",
        log.join("\n")
    );
    let text = std::fs::read_to_string(&report).expect("report");
    let v: serde_json::Value = serde_json::from_str(&text).expect("report json");
    let r = v.get(0).unwrap_or(&v);
    let _ = std::fs::remove_file(&out);
    BulkRun {
        wall,
        until_download,
        rows: r["rows_loaded"].as_u64().unwrap_or(0),
        extract_seconds: r["seconds"]["extract"].as_f64().unwrap_or(f64::NAN),
        peak_rss: r["peak_rss_bytes"].as_u64().unwrap_or(0),
        cpu_dataforge: cpu_children1 - cpu_children0,
        cpu_fake: cpu_self1 - cpu_self0,
    }
}

fn range(values: impl IntoIterator<Item = f64>, fmt: impl Fn(f64) -> String) -> String {
    let v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    match v.len() {
        0 => "n/a".to_owned(),
        _ if (hi - lo).abs() < f64::EPSILON => fmt(lo),
        _ => format!("{}–{}", fmt(lo), fmt(hi)),
    }
}

fn print_pacing(name: &str, unit: &str, rate: f64, runs: &[Pacing]) {
    for (i, p) in runs.iter().enumerate() {
        println!(
            "{name} round {}: {:.0} {unit} in {} requests over {:.1} s; bucket full at {:.1} s \
             (admission {}{}); steady {:.1} s at {:.2} {unit}/s = {:.1}% of {rate} {unit}/s; \
             overall {:.1}% of the most allowed in the run; {} rejected",
            i + 1,
            p.total,
            p.requests,
            p.wall,
            p.steady_from,
            p.steady_index + 1,
            if p.fallback {
                ", never full: first bucket's worth skipped"
            } else {
                ""
            },
            p.steady_seconds,
            p.steady_share * rate,
            p.steady_share * 100.0,
            p.overall_share * 100.0,
            p.rejected,
        );
    }
}

fn main() {
    let parts =
        std::env::var("DATAFORGE_BENCH_SHOPIFY").unwrap_or_else(|_| "rest,graphql,bulk".into());
    let want = |p: &str| parts.split(',').any(|x| x.trim() == p);
    let rounds: usize = env_or("DATAFORGE_BENCH_SHOPIFY_ROUNDS", 2).max(1);
    let steady: f64 = env_or("DATAFORGE_BENCH_SHOPIFY_STEADY_SECS", 20.0);
    let bulk_orders: usize = env_or("DATAFORGE_BENCH_SHOPIFY_BULK_ORDERS", 1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut table: Vec<[String; 3]> = Vec::new();

    if want("rest") {
        let runs: Vec<Pacing> = (0..rounds)
            .map(|_| rt.block_on(rest_round(steady)))
            .collect();
        print_pacing("REST", "requests", REST_LEAK, &runs);
        table.push([
            format!(
                "REST steady state (bucket {REST_SIZE}, leak {REST_LEAK}/s, pages of {REST_PAGE})"
            ),
            range(runs.iter().map(|p| p.steady_share * 100.0), |x| {
                format!("{x:.1}%")
            }),
            "≥ 95% of the leak rate".to_owned(),
        ]);
        table.push([
            "REST whole run: requests / (size + leak × wall)".to_owned(),
            range(runs.iter().map(|p| p.overall_share * 100.0), |x| {
                format!("{x:.1}%")
            }),
            format!(
                "{} requests in {} s",
                range(runs.iter().map(|p| p.requests as f64), |x| format!(
                    "{x:.0}"
                )),
                range(runs.iter().map(|p| p.wall), |x| format!("{x:.1}"))
            ),
        ]);
        table.push([
            "REST 429s".to_owned(),
            range(runs.iter().map(|p| p.rejected as f64), |x| {
                format!("{x:.0}")
            }),
            "0".to_owned(),
        ]);
    }

    if want("graphql") {
        let cost = rt.block_on(graphql_page_cost());
        println!("GraphQL: a page of {GQL_PAGE} orders (built-in query) costs {cost} points");
        let runs: Vec<Pacing> = (0..rounds)
            .map(|_| rt.block_on(graphql_round(steady, cost)))
            .collect();
        print_pacing("GraphQL", "points", GQL_RESTORE, &runs);
        table.push([
            format!("GraphQL steady state (bucket {GQL_BUCKET}, restore {GQL_RESTORE}/s, {cost} points a page)"),
            range(runs.iter().map(|p| p.steady_share * 100.0), |x| format!("{x:.1}%")),
            "≥ 95% of the restore rate".to_owned(),
        ]);
        table.push([
            "GraphQL whole run: points / (bucket + restore × wall)".to_owned(),
            range(runs.iter().map(|p| p.overall_share * 100.0), |x| {
                format!("{x:.1}%")
            }),
            format!(
                "{} points in {} s",
                range(runs.iter().map(|p| p.total), |x| format!("{x:.0}")),
                range(runs.iter().map(|p| p.wall), |x| format!("{x:.1}"))
            ),
        ]);
        table.push([
            "GraphQL THROTTLED".to_owned(),
            range(runs.iter().map(|p| p.rejected as f64), |x| {
                format!("{x:.0}")
            }),
            "0".to_owned(),
        ]);
    }

    if want("bulk") {
        let bin = dataforge_binary();
        let ticks = clock_ticks();
        let dir = tempfile::tempdir().expect("tempdir");
        let started = Instant::now();
        let fake = rt.block_on(FakeShopify::start(FakeShopifyConfig {
            orders: bulk_orders,
            ..FakeShopifyConfig::default()
        }));
        println!(
            "bulk: a shop of {bulk_orders} orders generated in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let n = bulk_orders as f64;
        let mut alone = Vec::new();
        let mut live = Vec::new();
        let mut replayed = Vec::new();
        for round in 0..rounds {
            let data = rt.block_on(fake_alone(&fake));
            let a = data.alone;
            assert_eq!(a.lines, bulk_orders as u64, "one line per order");
            println!(
                "bulk round {}: fake alone: operation {:.2} s, download {:.2} s ({:.0} lines/s, {:.0} MB/s, {:.0} B/line)",
                round + 1,
                a.operation_seconds,
                a.download_seconds,
                a.lines as f64 / a.download_seconds,
                a.bytes as f64 / a.download_seconds / 1e6,
                a.bytes as f64 / a.lines as f64
            );
            alone.push(a);
            let uri = rt.block_on(start_replay(&fake, &data));
            for (what, uri, runs) in [
                ("live", fake.connection_uri(), &mut live),
                ("replayed", uri, &mut replayed),
            ] {
                let r = bulk_run(&bin, dir.path(), &uri, &format!("{what}_{round}"), ticks);
                assert_eq!(r.rows, bulk_orders as u64, "dataforge loaded every order");
                let download = r.wall - r.until_download;
                println!(
                    "bulk round {} ({what}): dataforge {:.0} rows/s over the run ({:.2} s wall, {:.2} s until the download), \
                     {:.0} rows/s over the download ({download:.2} s), {:.0} rows/s over extract ({:.2} s); \
                     CPU: dataforge {:.2} s ({:.0} rows per CPU-second), this process {:.2} s; peak RSS {:.1} MB",
                    round + 1,
                    n / r.wall,
                    r.wall,
                    r.until_download,
                    n / download,
                    n / r.extract_seconds,
                    r.extract_seconds,
                    r.cpu_dataforge,
                    n / r.cpu_dataforge,
                    r.cpu_fake,
                    r.peak_rss as f64 / 1e6
                );
                runs.push(r);
            }
        }
        for (what, runs) in [
            ("from the fake (generated while it streams)", &live),
            ("from memory (the same JSONL, replayed)", &replayed),
        ] {
            table.push([
                format!("bulk {bulk_orders} orders → select_columns → file, {what}: rows / wall"),
                range(runs.iter().map(|r| n / r.wall / 1e3), |x| {
                    format!("{x:.0} k rows/s")
                }),
                format!(
                    "{} s waiting for the operation",
                    range(runs.iter().map(|r| r.until_download), |x| format!("{x:.1}"))
                ),
            ]);
            table.push([
                "— rows / download phase (after COMPLETED); rows / extract seconds".to_owned(),
                format!(
                    "{}; {}",
                    range(
                        runs.iter().map(|r| n / (r.wall - r.until_download) / 1e3),
                        |x| { format!("{x:.0} k rows/s") }
                    ),
                    range(runs.iter().map(|r| n / r.extract_seconds / 1e3), |x| {
                        format!("{x:.0} k rows/s")
                    })
                ),
                "≥ 500 k rows/s".to_owned(),
            ]);
            table.push([
                "— CPU seconds: dataforge; this process (the fake, the proxy)".to_owned(),
                format!(
                    "{}; {}",
                    range(runs.iter().map(|r| r.cpu_dataforge), |x| format!("{x:.2}")),
                    range(runs.iter().map(|r| r.cpu_fake), |x| format!("{x:.2}"))
                ),
                format!(
                    "dataforge: {} k rows per CPU-second",
                    range(runs.iter().map(|r| n / r.cpu_dataforge / 1e3), |x| format!(
                        "{x:.0}"
                    ))
                ),
            ]);
            table.push([
                "— peak RSS".to_owned(),
                range(runs.iter().map(|r| r.peak_rss as f64 / 1e6), |x| {
                    format!("{x:.1} MB")
                }),
                "< 100 MB".to_owned(),
            ]);
        }
        table.push([
            "the fake alone: its download, lines counted by a plain client".to_owned(),
            range(alone.iter().map(|a| n / a.download_seconds / 1e3), |x| {
                format!("{x:.0} k lines/s")
            }),
            format!(
                "operation {} s, download {} s",
                range(alone.iter().map(|a| a.operation_seconds), |x| format!(
                    "{x:.1}"
                )),
                range(alone.iter().map(|a| a.download_seconds), |x| format!(
                    "{x:.1}"
                ))
            ),
        ]);
    }

    println!();
    println!("| measure ({rounds} rounds) | result | goal / note |");
    println!("| --- | --- | --- |");
    for [a, b, c] in &table {
        println!("| {a} | {b} | {c} |");
    }
}
