//! `dataforge_hooks::http` against a local HTTP/1.1 server that writes raw responses.
#![cfg(feature = "http")]
#![allow(clippy::unwrap_used)]

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use dataforge_core::{ComponentError, Connection, Retry, SecretString};
use dataforge_hooks::http::{
    HttpAuth, HttpClient, HttpError, HttpRequest, RetryBudget, RetryPolicy,
};
use futures::TryStreamExt as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

const TOKEN: &str = "shpat_SECRET_TOKEN_123";

/// What the server does with one request.
enum Reply {
    /// Writes these bytes, then closes.
    Raw(Vec<u8>),
    /// Closes without answering.
    Close,
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

fn ok(body: &str) -> Reply {
    reply(200, &[], body.as_bytes())
}

/// A response cut short: the headers promise 100 bytes, 7 come, then the socket closes.
fn dropped() -> Reply {
    Reply::Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial".to_vec())
}

struct Server {
    addr: SocketAddr,
    /// The head (request line and headers) of each request received.
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Serves request `n` (0-based) with `handler(n, head, addr)`, one connection per request.
    async fn start(
        handler: impl Fn(usize, &str, SocketAddr) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                if head.is_empty() {
                    continue;
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let n = {
                    let mut seen = seen.lock().unwrap();
                    seen.push(head.clone());
                    seen.len() - 1
                };
                if let Reply::Raw(bytes) = handler(n, &head, addr) {
                    let _ = socket.write_all(&bytes).await;
                    let _ = socket.flush().await;
                }
                let _ = socket.shutdown().await;
            }
        });
        Self { addr, requests }
    }

    fn url(&self) -> String {
        format!("http://{}/api/", self.addr)
    }

    fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    fn request(&self, n: usize) -> String {
        self.requests.lock().unwrap()[n].clone()
    }
}

/// Tiny delays: tests run in CI.
fn fast(max_retries: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        min_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        ..RetryPolicy::default()
    }
}

/// A backoff of 30 s a retry: a test that finishes in seconds shows `Retry-After` won.
fn thirty_second_backoff() -> RetryPolicy {
    RetryPolicy {
        min_delay: Duration::from_secs(30),
        max_delay: Duration::from_secs(30),
        ..fast(3)
    }
}

fn client(uri: &str, policy: RetryPolicy) -> HttpClient {
    let conn = Connection::parse("api", uri).unwrap();
    HttpClient::builder(&conn)
        .unwrap()
        .retry_policy(policy)
        .build()
        .unwrap()
}

#[tokio::test]
async fn retry_after_seconds_as_a_float_string_is_honoured() {
    let server = Server::start(|n, _, _| match n {
        0 => reply(429, &[("Retry-After", "0.2")], b"slow down"),
        _ => ok("done"),
    })
    .await;
    // A backoff of 30 s would time the test out: the 0.2 s of Retry-After wins.
    let policy = thirty_second_backoff();
    let client = client(&server.url(), policy);
    let started = Instant::now();
    let response = tokio::time::timeout(Duration::from_secs(10), client.get("orders.json"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.text(), "done");
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(server.count(), 2);
}

#[tokio::test]
async fn retry_after_http_date_is_honoured() {
    // A date already past: no wait at all instead of the 30 s backoff.
    let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(3600));
    let server = Server::start(move |n, _, _| match n {
        0 => reply(429, &[("Retry-After", &past)], b""),
        _ => ok("done"),
    })
    .await;
    let policy = thirty_second_backoff();
    let client = client(&server.url(), policy);
    let response = tokio::time::timeout(Duration::from_secs(10), client.get("orders.json"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.text(), "done");
    assert_eq!(server.count(), 2);

    // A date one second ahead (HTTP dates have whole seconds): waited, then done.
    let server = Server::start(|n, _, _| match n {
        0 => {
            let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_millis(1500));
            reply(503, &[("Retry-After", &date)], b"")
        }
        _ => ok("done"),
    })
    .await;
    let client = self::client(&server.url(), fast(3));
    let started = Instant::now();
    assert_eq!(client.get("x").await.unwrap().text(), "done");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn server_errors_are_retried_then_succeed() {
    let server = Server::start(|n, _, _| match n {
        0 => reply(500, &[], b"oops"),
        1 => reply(502, &[], b"bad gateway"),
        2 => reply(503, &[], b"unavailable"),
        _ => ok("done"),
    })
    .await;
    let response = client(&server.url(), fast(5))
        .get("orders.json")
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text(), "done");
    assert_eq!(server.count(), 4);
}

#[tokio::test]
async fn dropped_connections_are_retried() {
    let server = Server::start(|n, _, _| match n {
        0 => Reply::Close,
        1 => dropped(),
        _ => ok("done"),
    })
    .await;
    let response = client(&server.url(), fast(5))
        .get("orders.json")
        .await
        .unwrap();
    assert_eq!(response.text(), "done");
    assert_eq!(server.count(), 3);
}

#[tokio::test]
async fn connect_errors_are_retried_up_to_the_cap() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let error = client(&format!("http://{addr}/"), fast(2))
        .get("x")
        .await
        .unwrap_err();
    assert!(matches!(error, HttpError::Transport { .. }), "{error}");
    assert_eq!(error.attempts(), 3);
    assert!(error.is_retryable());
    assert!(
        error.to_string().contains("retry cap of 2 reached"),
        "{error}"
    );
}

#[tokio::test]
async fn client_errors_are_never_retried() {
    for status in [401, 403, 404] {
        let server = Server::start(move |_, _, _| reply(status, &[], b"{\"errors\":\"no\"}")).await;
        let error = client(&server.url(), fast(5))
            .get("orders.json")
            .await
            .unwrap_err();
        assert_eq!(server.count(), 1, "{status}");
        assert_eq!(error.status(), Some(status));
        assert_eq!(error.attempts(), 1);
        assert!(!error.is_retryable());
        let text = error.to_string();
        assert!(text.contains(&format!("HTTP {status}")), "{text}");
        assert!(text.contains("/api/orders.json"), "{text}");
        assert!(text.contains("{\"errors\":\"no\"}"), "{text}");
        assert_eq!(ComponentError::from(error).retry(), Retry::Fatal);
    }
}

#[tokio::test]
async fn per_request_cap_stops_retries() {
    let long_body = "x".repeat(1000);
    let server = Server::start(move |_, _, _| reply(503, &[], long_body.as_bytes())).await;
    let error = client(&server.url(), fast(2))
        .get("orders.json")
        .await
        .unwrap_err();
    assert_eq!(server.count(), 3);
    assert_eq!(error.attempts(), 3);
    assert!(
        error.to_string().contains("retry cap of 2 reached"),
        "{error}"
    );
    // The body excerpt is cut.
    let HttpError::Status { body, .. } = &error else {
        panic!("{error}")
    };
    assert!(body.chars().count() <= 301, "{}", body.len());
    assert_eq!(ComponentError::from(error).retry(), Retry::Retryable);
}

#[tokio::test]
async fn per_run_budget_stops_retries_across_requests() {
    let server = Server::start(|_, _, _| reply(503, &[], b"down")).await;
    let budget = RetryBudget::new(3);
    let client = client(&server.url(), fast(5)).with_budget(budget.clone());
    // The first request spends the whole budget: 1 attempt + 3 retries.
    let error = client.get("a").await.unwrap_err();
    assert_eq!(error.attempts(), 4);
    assert!(
        error.to_string().contains("retry budget is spent"),
        "{error}"
    );
    // The second gets no retry at all.
    let error = client.get("b").await.unwrap_err();
    assert_eq!(error.attempts(), 1);
    assert_eq!(server.count(), 5);
    assert_eq!(budget.remaining(), Some(0));
}

#[tokio::test]
async fn gzip_is_decoded_and_the_user_agent_sent() {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(b"{\"orders\":[]}").unwrap();
    let gz = encoder.finish().unwrap();
    let server = Server::start(move |_, _, _| {
        reply(
            200,
            &[
                ("Content-Encoding", "gzip"),
                ("Content-Type", "application/json"),
            ],
            &gz,
        )
    })
    .await;
    let response = client(&server.url(), fast(0))
        .get("orders.json")
        .await
        .unwrap();
    assert_eq!(response.text(), "{\"orders\":[]}");
    let head = server.request(0).to_ascii_lowercase();
    assert!(head.starts_with("get /api/orders.json http/1.1"), "{head}");
    assert!(head.contains("accept-encoding: gzip"), "{head}");
    assert!(
        head.contains(&format!(
            "user-agent: dataforge/{}",
            env!("CARGO_PKG_VERSION")
        )),
        "{head}"
    );
}

/// Everything the subscriber writes, at TRACE level.
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

#[tokio::test]
async fn the_token_never_shows_in_debug_errors_or_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // The server echoes the request head in its error body, token included.
    let server = Server::start(|n, head, _| match n {
        0 | 2 => reply(500, &[], head.as_bytes()),
        _ => reply(401, &[], head.as_bytes()),
    })
    .await;
    let shows = |text: &str| text.contains(TOKEN) || text.contains("SECRET_TOKEN");
    let auths = [
        HttpAuth::header("X-Shopify-Access-Token", SecretString::new(TOKEN)).unwrap(),
        HttpAuth::Bearer(SecretString::new(TOKEN)),
    ];
    let mut sent = 0;
    for auth in auths {
        let conn = Connection::parse("shop", &server.url()).unwrap();
        let client = HttpClient::builder(&conn)
            .unwrap()
            .auth(auth)
            .retry_policy(fast(3))
            .build()
            .unwrap();
        assert!(!shows(&format!("{client:?}")), "{client:?}");
        let error = client
            .execute(HttpRequest::get("orders.json").query("status", "any"))
            .await
            .unwrap_err();
        assert_eq!(error.status(), Some(401));
        assert!(!shows(&error.to_string()), "{error}");
        assert!(!shows(&format!("{error:?}")), "{error:?}");
        assert!(error.to_string().contains("***"), "{error}");
        sent += 2;
        // The server did get the token.
        assert!(server.request(sent - 1).contains(TOKEN));
    }

    // A query key from the connection URI: sent, never shown.
    let uri = format!("http://{}/api/?key={TOKEN}", server.addr);
    let conn = Connection::parse("sheets", &uri).unwrap();
    let client = HttpClient::builder(&conn)
        .unwrap()
        .retry_policy(fast(0))
        .build()
        .unwrap();
    assert!(!shows(&format!("{client:?}")), "{client:?}");
    let error = client.get("values/A1").await.unwrap_err();
    assert!(!shows(&error.to_string()), "{error}");
    assert!(!shows(&format!("{error:?}")), "{error:?}");
    assert!(server.request(sent).contains(&format!("key={TOKEN}")));

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("http.request"), "{logs}");
    assert!(
        logs.contains("status=500") && logs.contains("attempt=2"),
        "{logs}"
    );
    assert!(!shows(&logs), "{logs}");
}

#[tokio::test]
async fn link_next_pages_come_in_order() {
    let server = Server::start(|n, head, addr| {
        let next = |page: u32| {
            format!(
                "<http://{addr}/api/orders.json?page_info=p{page}>; rel=\"next\", <http://{addr}/api/orders.json?page_info=p0>; rel=\"previous\""
            )
        };
        match n {
            0 => {
                assert!(head.starts_with("GET /api/orders.json?status=any&limit=2 "), "{head}");
                reply(200, &[("Link", &next(2))], b"page 1")
            }
            1 => {
                assert!(head.starts_with("GET /api/orders.json?page_info=p2 "), "{head}");
                // A transient failure in the middle of the walk is retried.
                reply(502, &[], b"")
            }
            2 => reply(200, &[("Link", &next(3))], b"page 2"),
            _ => {
                assert!(head.starts_with("GET /api/orders.json?page_info=p3 "), "{head}");
                reply(200, &[("Link", &format!("<http://{addr}/api/orders.json?page_info=p2>; rel=\"previous\""))], b"page 3")
            }
        }
    })
    .await;
    let client = client(&server.url(), fast(2));
    let first = HttpRequest::get("/orders.json")
        .query("status", "any")
        .query("limit", "2");
    let pages: Vec<String> = client
        .pages(first)
        .map_ok(|page| page.text())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages, ["page 1", "page 2", "page 3"]);
    assert_eq!(server.count(), 4);
}

#[tokio::test]
async fn links_off_the_connections_origin_are_refused() {
    let server = Server::start(|_, _, _| {
        reply(
            200,
            &[("Link", "<http://evil.example/steal>; rel=\"next\"")],
            b"page 1",
        )
    })
    .await;
    let client = client(&server.url(), fast(0));
    let results: Vec<_> =
        futures::StreamExt::collect::<Vec<_>>(client.pages(HttpRequest::get("x"))).await;
    assert_eq!(results.len(), 2);
    assert!(results[0].is_ok());
    let Err(error) = &results[1] else { panic!() };
    assert!(matches!(error, HttpError::Invalid { .. }), "{error}");
    assert_eq!(server.count(), 1);
}
