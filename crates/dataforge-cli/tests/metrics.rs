//! `dataforge serve --metrics-addr`: the real binary serves Prometheus metrics, scraped over
//! HTTP and read with a Prometheus text-format parser (`prometheus-parse`), and answers
//! `/healthz` and `/readyz`.
//!
//! - a file → SQLite pipeline with a due interval: the runs counter, rows loaded (equal to the
//!   rows in the table), a stage histogram, the scheduler lag and process metrics;
//! - a Shopify pipeline against the local fake shop while the test keeps the shop's REST bucket
//!   full: the 429s it meets show in the throttling counter, its requests in the HTTP counter,
//!   and the run still succeeds once the bucket drains.

use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use dataforge_fake_shopify::{FakeShopify, FakeShopifyConfig};
use prometheus_parse::{Sample, Scrape, Value};

mod support;
use support::{runtime, write};

/// A `dataforge serve` child whose stderr (JSON logs) is collected; killed when dropped.
struct Serve {
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
    addr: SocketAddr,
}

impl Serve {
    /// Starts `dataforge serve DIR --metrics-addr 127.0.0.1:0` and waits for the bound address.
    fn start(dir: &Path, env: &[(&str, &str)]) -> Serve {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dataforge"));
        cmd.args([
            "--log-format",
            "json",
            "serve",
            "pipelines",
            "--metrics-addr",
            "127.0.0.1:0",
            "--grace",
            "5s",
        ])
        .current_dir(dir)
        .env("DATAFORGE_HOME", dir.join(".dataforge"))
        .env_remove("DATAFORGE_STATE_URL")
        .env_remove("DATAFORGE_LOG")
        .env_remove("OPENLINEAGE_URL")
        .env_remove("OPENLINEAGE_FILE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("serve starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let kept = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && v["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("metrics endpoint listening"))
                    && let Some(addr) = v["addr"].as_str().and_then(|a| a.parse().ok())
                {
                    let _ = tx.send(addr);
                }
                kept.lock().expect("logs").push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "serve did not log its metrics address:\n{}",
                    logs.lock().expect("logs").join("\n")
                );
            }
        };
        Serve { child, logs, addr }
    }

    fn logs(&self) -> String {
        self.logs.lock().expect("logs").join("\n")
    }

    /// `GET path`: the status and the body.
    fn get(&self, path: &str) -> (u16, String) {
        http_get(self.addr, path, &[])
    }

    fn scrape(&self) -> Scrape {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200, "{body}");
        Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text format")
    }

    /// Scrapes until `done` holds on the scrape (60 s at most).
    fn wait_for(&mut self, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let scrape = self.scrape();
            if done(&scrape) {
                return scrape;
            }
            if let Some(status) = self.child.try_wait().expect("wait") {
                panic!("serve exited ({status}) before {what}:\n{}", self.logs());
            }
            assert!(
                Instant::now() < until,
                "timed out waiting for {what}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 `GET` (the connection closes after the answer).
fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:.200}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The samples of `name` whose labels include `labels`.
fn samples<'a>(scrape: &'a Scrape, name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect()
}

/// The value of the counter or gauge `name` with `labels`, summed over the other labels.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(scrape, name, labels)
        .iter()
        .map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

/// How many observations the histogram `name` with `labels` has (its `+Inf` bucket).
fn histogram_count(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut buckets = samples(scrape, name, labels);
    buckets.extend(samples(scrape, &format!("{name}_bucket"), labels));
    let from_buckets: f64 = buckets
        .iter()
        .filter_map(|s| match &s.value {
            Value::Histogram(counts) => counts
                .iter()
                .find(|c| c.less_than.is_infinite())
                .map(|c| c.count),
            _ => None,
        })
        .sum();
    from_buckets.max(value(scrape, &format!("{name}_count"), labels))
}

/// A daily pipeline whose one due interval (catchup off) runs at once.
fn daily(dag_id: &str, source: serde_json::Value, destination: serde_json::Value) -> String {
    serde_json::to_string_pretty(&serde_json::json!({
        "dag_id": dag_id,
        "schedule_interval": "@daily",
        "start_date": "2025-01-01",
        "catchup": false,
        "source": source,
        "destination": destination,
    }))
    .expect("json")
}

fn sqlite_rows(path: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(path).expect("open sqlite");
    conn.query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
        r.get(0)
    })
    .expect("count")
}

#[test]
fn serve_exposes_run_stage_scheduler_and_process_metrics_and_health() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let rows = 37;
    let input: String = (0..rows)
        .map(|i| format!("{{\"id\": {i}, \"name\": \"n{i}\"}}\n"))
        .collect();
    let input = write(d, "in.jsonl", &input);
    let db = d.join("out.db");
    std::fs::create_dir_all(d.join("pipelines")).expect("mkdir");
    write(
        &d.join("pipelines"),
        "m1.json",
        &daily(
            "metrics_file",
            serde_json::json!({"type": "file", "path": input}),
            serde_json::json!({"type": "sqlite", "path": db, "table": "items",
                               "write_mode": "replace"}),
        ),
    );
    let mut serve = Serve::start(d, &[]);
    assert_eq!(serve.get("/healthz").0, 200);

    let ok = [("pipeline", "metrics_file"), ("status", "succeeded")];
    let scrape = serve.wait_for("a successful run", |s| {
        value(s, "dataforge_runs_total", &ok) >= 1.0
    });
    assert_eq!(sqlite_rows(&db, "items"), rows);
    let pipeline = [("pipeline", "metrics_file")];
    assert_eq!(
        value(&scrape, "dataforge_rows_loaded_total", &pipeline),
        rows as f64,
        "rows loaded = rows in the table"
    );
    assert_eq!(
        value(&scrape, "dataforge_rows_extracted_total", &pipeline),
        rows as f64
    );
    for stage in ["extract", "load"] {
        assert!(
            histogram_count(
                &scrape,
                "dataforge_stage_duration_seconds",
                &[("pipeline", "metrics_file"), ("stage", stage)]
            ) >= 1.0,
            "stage {stage} has no observation"
        );
    }
    assert!(histogram_count(&scrape, "dataforge_scheduler_lag_seconds", &pipeline) >= 1.0);
    assert_eq!(value(&scrape, "dataforge_runs_running", &pipeline), 0.0);
    assert_eq!(
        value(&scrape, "dataforge_run_retries_total", &pipeline),
        0.0
    );
    // CPU time may still round to 0 s; the others cannot be 0 in a live process.
    assert_eq!(
        samples(&scrape, "dataforge_process_cpu_seconds_total", &[]).len(),
        1
    );
    for name in [
        "dataforge_process_resident_memory_bytes",
        "dataforge_process_open_fds",
        "dataforge_process_start_time_seconds",
    ] {
        assert!(
            value(&scrape, name, &[]) > 0.0,
            "{name} is missing or zero in the scrape"
        );
    }
    // No metric carries a run id.
    let (_, body) = serve.get("/metrics");
    assert!(!body.contains("run_id"), "{body}");
    assert_eq!(serve.get("/readyz"), (200, "ready\n".to_owned()));
    assert_eq!(serve.get("/nope").0, 404);
}

#[test]
fn throttled_shopify_requests_show_in_the_http_metrics() {
    let rt = runtime();
    let token = "shpat_metrics_token";
    let fake = rt.block_on(FakeShopify::start(FakeShopifyConfig {
        token: token.to_owned(),
        orders: 30,
        rest_bucket_size: 2,
        rest_leak_per_sec: 1.0,
        ..Default::default()
    }));
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let db = d.join("shop.db");
    std::fs::create_dir_all(d.join("pipelines")).expect("mkdir");
    write(
        &d.join("pipelines"),
        "shop.json",
        &daily(
            "metrics_shop",
            serde_json::json!({"type": "shopify", "resource": "orders", "page_size": 250}),
            serde_json::json!({"type": "sqlite", "path": db, "table": "orders",
                               "write_mode": "replace"}),
        ),
    );
    // The test keeps the shop's REST bucket full until serve has met a 429.
    let shop: SocketAddr = fake
        .url()
        .trim_start_matches("http://")
        .parse()
        .expect("host:port");
    let filling = Arc::new(AtomicBool::new(true));
    let filler = {
        let filling = filling.clone();
        std::thread::spawn(move || {
            while filling.load(Ordering::SeqCst) {
                http_get(
                    shop,
                    "/admin/api/2026-10/orders.json?limit=1",
                    &[("X-Shopify-Access-Token", token)],
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let full = Instant::now() + Duration::from_secs(10);
    while fake.stats().rest_429 == 0 {
        assert!(Instant::now() < full, "the filler never filled the bucket");
        std::thread::sleep(Duration::from_millis(20));
    }
    let uri = fake.connection_uri();
    let mut serve = Serve::start(d, &[("DATAFORGE_CONN_SHOPIFY_DEFAULT", uri.as_str())]);
    let shopify = [("source_type", "shopify")];
    serve.wait_for("a throttled request", |s| {
        value(s, "dataforge_http_throttled_total", &shopify) >= 1.0
    });
    filling.store(false, Ordering::SeqCst);
    filler.join().expect("filler");
    let ok = [("pipeline", "metrics_shop"), ("status", "succeeded")];
    let scrape = serve.wait_for("the run to succeed", |s| {
        value(s, "dataforge_runs_total", &ok) >= 1.0
    });
    assert!(
        value(
            &scrape,
            "dataforge_http_throttled_total",
            &[("source_type", "shopify"), ("kind", "http_429")]
        ) >= 1.0
    );
    assert!(
        value(
            &scrape,
            "dataforge_http_requests_total",
            &[("source_type", "shopify"), ("status", "4xx")]
        ) >= 1.0
    );
    assert!(
        value(
            &scrape,
            "dataforge_http_requests_total",
            &[("source_type", "shopify"), ("status", "2xx")]
        ) >= 1.0
    );
    assert_eq!(
        value(
            &scrape,
            "dataforge_rows_loaded_total",
            &[("pipeline", "metrics_shop")]
        ),
        30.0
    );
    assert_eq!(sqlite_rows(&db, "orders"), 30);
    drop(serve);
    drop(fake);
}
