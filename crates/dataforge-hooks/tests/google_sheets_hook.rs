//! `dataforge_hooks::google_sheets` against local HTTP/1.1 servers: a token endpoint that
//! verifies the service account's JWT with the test key's public half, and a Sheets API.
#![cfg(feature = "google_sheets")]
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dataforge_core::{ComponentError, Connection, Retry};
use dataforge_hooks::google_sheets::{
    DateTimeRender, GoogleSheetsHook, SheetsError, ValueOptions, ValueRender,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// Test-only keys (tests/fixtures/README.md).
const PRIVATE_KEY: &str = include_str!("fixtures/sheets-test-key.pem");
const PUBLIC_KEY: &str = include_str!("fixtures/sheets-test-key.pub.pem");
const OTHER_PRIVATE_KEY: &str = include_str!("fixtures/sheets-test-other-key.pem");

const API_KEY: &str = "AIzaTEST_KEY_MUST_NOT_LEAK";
const EMAIL: &str = "reader@test-project.iam.gserviceaccount.com";
const SCOPE: &str = "https://www.googleapis.com/auth/spreadsheets.readonly";
const SHEET: &str = "1AbC-sheet_ID";
/// Issued tokens start with this.
const TOKEN_PREFIX: &str = "ya29.TOKEN_MUST_NOT_LEAK_";

/// A request as the server read it.
#[derive(Debug, Clone)]
struct Request {
    head: String,
    body: Vec<u8>,
}

impl Request {
    fn target(&self) -> &str {
        self.head.split(' ').nth(1).unwrap_or_default()
    }

    fn path(&self) -> &str {
        self.target().split('?').next().unwrap_or_default()
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }

    /// The decoded query parameters.
    fn query(&self) -> Vec<(String, String)> {
        let query = self.target().split_once('?').map(|(_, q)| q).unwrap_or("");
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }

    fn bearer(&self) -> Option<String> {
        self.header("authorization")
            .and_then(|v| v.strip_prefix("Bearer ").map(str::to_owned))
    }
}

fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    out.into_bytes()
}

fn ok(body: Value) -> Vec<u8> {
    reply(200, &[], &body.to_string())
}

/// A Google RPC error envelope.
fn rpc(code: u16, status: &str, message: &str, reason: Option<&str>) -> Vec<u8> {
    let mut error = json!({"code": code, "message": message, "status": status});
    if let Some(reason) = reason {
        error["details"] = json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com"}]);
    }
    reply(code, &[], &json!({ "error": error }).to_string())
}

type Handler = dyn Fn(usize, &Request) -> Vec<u8> + Send + Sync;

struct Server {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    /// Serves request `n` (0-based) with `handler(n, request)`, one connection per request.
    async fn start(handler: impl Fn(usize, &Request) -> Vec<u8> + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let handler: Arc<Handler> = Arc::new(handler);
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
                    let mut request = Request {
                        head: String::from_utf8_lossy(&data[..head_end]).into_owned(),
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
                    let bytes = handler(n, &request);
                    let _ = socket.write_all(&bytes).await;
                    let _ = socket.flush().await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self { addr, requests }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

/// A token endpoint at `/token` that verifies each JWT (RS256 signature by the test key's
/// public half, `kid`, `iss`, `scope`, `aud`, `exp - iat ≤ 3600`) and issues
/// `ya29.TOKEN_MUST_NOT_LEAK_<n>` valid `expires_in` seconds; an invalid JWT gets Google's
/// `invalid_grant` answer.
struct TokenServer {
    server: Server,
    issued: Arc<Mutex<Vec<String>>>,
}

impl TokenServer {
    async fn start(expires_in: u64) -> Self {
        let issued = Arc::new(Mutex::new(Vec::<String>::new()));
        let tokens = issued.clone();
        let audience = Arc::new(Mutex::new(String::new()));
        let aud = audience.clone();
        let server = Server::start(move |_, request| {
            let form: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
                .into_owned()
                .collect();
            let field = |name: &str| {
                form.iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let refuse = |description: &str| {
                reply(
                    400,
                    &[],
                    &json!({"error": "invalid_grant", "error_description": description})
                        .to_string(),
                )
            };
            if request.path() != "/token"
                || request.header("content-type").as_deref()
                    != Some("application/x-www-form-urlencoded")
                || field("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer"
            {
                return reply(
                    400,
                    &[],
                    r#"{"error":"unsupported_grant_type","error_description":"Invalid grant_type: "}"#,
                );
            }
            let assertion = field("assertion");
            let mut validation = Validation::new(Algorithm::RS256);
            validation.set_audience(&[aud.lock().unwrap().as_str()]);
            validation.set_issuer(&[EMAIL]);
            validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
            let key = DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes()).unwrap();
            let Ok(data) = jsonwebtoken::decode::<Value>(&assertion, &key, &validation) else {
                return refuse("Invalid JWT Signature.");
            };
            let claims = data.claims;
            let lifetime = claims["exp"].as_u64().unwrap_or(0) as i64
                - claims["iat"].as_u64().unwrap_or(0) as i64;
            if data.header.kid.as_deref() != Some("test-kid")
                || claims["scope"] != SCOPE
                || !(1..=3600).contains(&lifetime)
            {
                return refuse(
                    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
                );
            }
            let mut issued = tokens.lock().unwrap();
            let token = format!("{TOKEN_PREFIX}{}", issued.len() + 1);
            issued.push(token.clone());
            ok(json!({"access_token": token, "expires_in": expires_in, "token_type": "Bearer"}))
        })
        .await;
        *audience.lock().unwrap() = format!("{}/token", server.url());
        Self { server, issued }
    }

    fn token_uri(&self) -> String {
        format!("{}/token", self.server.url())
    }

    /// The latest token issued.
    fn latest(&self) -> Option<String> {
        self.issued.lock().unwrap().last().cloned()
    }

    /// True when `token` was issued (any generation).
    fn knows(&self, token: &str) -> bool {
        self.issued.lock().unwrap().iter().any(|t| t == token)
    }
}

/// A key file for the test service account, signed with `private_key`.
fn key_file(dir: &tempfile::TempDir, token_uri: &str, private_key: &str) -> String {
    let path = dir.path().join("sa.json");
    let file = json!({
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": "test-kid",
        "private_key": private_key,
        "client_email": EMAIL,
        "client_id": "1234567890",
        "token_uri": token_uri,
    });
    std::fs::write(&path, file.to_string()).unwrap();
    path.display().to_string()
}

/// A service-account hook on `api`, getting its tokens from `tokens`.
fn sa_hook(dir: &tempfile::TempDir, api: &Server, tokens: &TokenServer) -> GoogleSheetsHook {
    let path = key_file(dir, &tokens.token_uri(), PRIVATE_KEY);
    let conn = Connection::parse(
        "sheets",
        &format!(
            "google-sheets://?key_file={}&endpoint={}",
            enc(&path),
            enc(&api.url())
        ),
    )
    .unwrap();
    GoogleSheetsHook::new(&conn).unwrap()
}

fn key_hook(api: &Server, extra: &str) -> GoogleSheetsHook {
    let conn = Connection::parse(
        "sheets",
        &format!(
            "google-sheets://?key={API_KEY}&endpoint={}{extra}",
            enc(&api.url())
        ),
    )
    .unwrap();
    GoogleSheetsHook::new(&conn).unwrap()
}

fn enc(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// An API server that serves values only for a token `tokens` issued: ranges echo back with
/// two rows, `spreadsheets.get` a title and two tabs; a wrong token gets 401.
async fn api_for(tokens: &TokenServer) -> Server {
    let issued = tokens.issued.clone();
    Server::start(move |_, request| {
        let authorized = request
            .bearer()
            .is_some_and(|t| issued.lock().unwrap().contains(&t));
        if !authorized {
            return rpc(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials.",
                None,
            );
        }
        sheets(request)
    })
    .await
}

/// The Sheets API's answers for an authorized request.
fn sheets(request: &Request) -> Vec<u8> {
    let path = request.path().to_owned();
    let base = format!("/v4/spreadsheets/{SHEET}");
    if path == base {
        return ok(json!({
            "properties": {"title": "Budget 2026"},
            "sheets": [
                {"properties": {"sheetId": 0, "title": "My Sheet", "index": 0, "gridProperties": {"rowCount": 1000, "columnCount": 26}}},
                {"properties": {"sheetId": 42, "title": "Other", "index": 1, "gridProperties": {"rowCount": 5, "columnCount": 3}}}
            ]
        }));
    }
    if path == format!("{base}/values:batchGet") {
        let ranges: Vec<Value> = request
            .query()
            .into_iter()
            .filter(|(k, _)| k == "ranges")
            .map(|(_, range)| json!({"range": range, "majorDimension": "ROWS", "values": [["x"]]}))
            .collect();
        return ok(json!({"spreadsheetId": SHEET, "valueRanges": ranges}));
    }
    if let Some(range) = path.strip_prefix(&format!("{base}/values/")) {
        let range = url::form_urlencoded::parse(format!("r={range}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        if range == "Empty!A1:B2" {
            return ok(json!({"range": range, "majorDimension": "ROWS"}));
        }
        return ok(json!({
            "range": range,
            "majorDimension": "ROWS",
            "values": [["name", "amount", "paid"], ["Ada", 12.5, true]]
        }));
    }
    rpc(404, "NOT_FOUND", "Requested entity was not found.", None)
}

/// Many API calls, one token request: the token is cached; paths, query and auth are as the
/// API documents.
#[tokio::test]
async fn service_account_fetches_one_token_for_many_calls() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = TokenServer::start(3599).await;
    let api = api_for(&tokens).await;
    let hook = sa_hook(&dir, &api, &tokens);
    assert_eq!(hook.client_email(), Some(EMAIL));

    let info = hook.spreadsheet(SHEET).await.unwrap();
    assert_eq!(info.title.as_deref(), Some("Budget 2026"));
    assert_eq!(info.sheets.len(), 2);
    assert_eq!(
        (
            info.sheets[1].sheet_id,
            info.sheets[1].title.as_str(),
            info.sheets[1].index,
            info.sheets[1].row_count,
            info.sheets[1].column_count
        ),
        (42, "Other", 1, 5, 3)
    );
    for _ in 0..5 {
        let range = hook
            .values(SHEET, "'My Sheet'!A1:C", ValueOptions::default())
            .await
            .unwrap();
        assert_eq!(range.range, "'My Sheet'!A1:C");
        assert_eq!(
            range.values[1],
            vec![json!("Ada"), json!(12.5), json!(true)]
        );
    }
    let empty = hook
        .values(SHEET, "Empty!A1:B2", ValueOptions::default())
        .await
        .unwrap();
    assert!(empty.values.is_empty());
    let batch = hook
        .batch_values(
            SHEET,
            &["Other!A:C".to_owned(), "'My Sheet'!B2".to_owned()],
            ValueOptions {
                value_render: ValueRender::Formula,
                date_time_render: DateTimeRender::SerialNumber,
            },
        )
        .await
        .unwrap();
    let names: Vec<&str> = batch.iter().map(|r| r.range.as_str()).collect();
    assert_eq!(names, ["Other!A:C", "'My Sheet'!B2"]);
    assert!(
        hook.batch_values(SHEET, &[], ValueOptions::default())
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(tokens.server.count(), 1, "one token request");
    let token_request = &tokens.server.requests()[0];
    assert!(token_request.head.starts_with("POST /token "));
    let requests = api.requests();
    assert_eq!(requests.len(), 8);
    assert!(
        requests
            .iter()
            .all(|r| r.bearer() == tokens.latest() && !r.target().contains("key="))
    );
    // spreadsheets.get asks for the fields it reads.
    let fields = requests[0].query();
    assert_eq!(
        fields,
        [(
            "fields".to_owned(),
            "properties.title,sheets.properties(sheetId,title,index,gridProperties(rowCount,columnCount))".to_owned()
        )]
    );
    // The range is one percent-encoded path segment; the options are the query.
    assert_eq!(
        requests[1].target(),
        format!(
            "/v4/spreadsheets/{SHEET}/values/%27My%20Sheet%27%21A1%3AC?majorDimension=ROWS&valueRenderOption=UNFORMATTED_VALUE&dateTimeRenderOption=FORMATTED_STRING"
        )
    );
    let batch_query = requests[7].query();
    assert_eq!(
        requests[7].path(),
        format!("/v4/spreadsheets/{SHEET}/values:batchGet")
    );
    assert_eq!(
        batch_query,
        [
            ("ranges", "Other!A:C"),
            ("ranges", "'My Sheet'!B2"),
            ("majorDimension", "ROWS"),
            ("valueRenderOption", "FORMULA"),
            ("dateTimeRenderOption", "SERIAL_NUMBER"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
}

/// A token that expires in 61 s is used for 1 s (refreshed 60 s early), then replaced; clones
/// share the cache.
#[tokio::test]
async fn the_token_is_refreshed_when_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = TokenServer::start(61).await;
    let api = api_for(&tokens).await;
    let hook = sa_hook(&dir, &api, &tokens);
    let clone = hook.clone();
    hook.values(SHEET, "A1:B2", ValueOptions::default())
        .await
        .unwrap();
    clone
        .values(SHEET, "A1:B2", ValueOptions::default())
        .await
        .unwrap();
    assert_eq!(tokens.server.count(), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    clone
        .values(SHEET, "A1:B2", ValueOptions::default())
        .await
        .unwrap();
    assert_eq!(tokens.server.count(), 2);
    let sent: Vec<Option<String>> = api.requests().iter().map(Request::bearer).collect();
    assert_eq!(sent[0], sent[1]);
    assert_eq!(sent[2], tokens.latest());
    assert_ne!(sent[1], sent[2]);
}

/// Concurrent first calls wait for one token request.
#[tokio::test]
async fn concurrent_calls_share_one_token_request() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = TokenServer::start(3599).await;
    let api = api_for(&tokens).await;
    let hook = sa_hook(&dir, &api, &tokens);
    let calls = (0..6).map(|_| hook.values(SHEET, "A1", ValueOptions::default()));
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    assert_eq!(tokens.server.count(), 1);
    assert_eq!(api.count(), 6);
}

/// A 401 (a token revoked early) gets one fresh token and one retry.
#[tokio::test]
async fn a_401_refreshes_the_token_and_retries_once() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = TokenServer::start(3599).await;
    let issued = tokens.issued.clone();
    // The first token is refused, later ones accepted.
    let api = Server::start(move |_, request| {
        let first = issued.lock().unwrap().first().cloned();
        if request.bearer().is_none() || request.bearer() == first {
            return rpc(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials.",
                None,
            );
        }
        sheets(request)
    })
    .await;
    let hook = sa_hook(&dir, &api, &tokens);
    let range = hook
        .values(SHEET, "A1:C", ValueOptions::default())
        .await
        .unwrap();
    assert_eq!(range.values.len(), 2);
    assert_eq!(tokens.server.count(), 2);
    assert_eq!(api.count(), 2);
    // The fresh token is kept.
    hook.values(SHEET, "A1:C", ValueOptions::default())
        .await
        .unwrap();
    assert_eq!((tokens.server.count(), api.count()), (2, 3));
}

/// A 401 for the fresh token too: exactly one retry, then the credentials are refused.
#[tokio::test]
async fn a_second_401_is_credentials_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = TokenServer::start(3599).await;
    let api = Server::start(|_, _| {
        rpc(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
            None,
        )
    })
    .await;
    let hook = sa_hook(&dir, &api, &tokens);
    let error = hook
        .values(SHEET, "A1:C", ValueOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, SheetsError::CredentialsRefused { .. }),
        "{error}"
    );
    assert!(error.to_string().contains(EMAIL), "{error}");
    assert_eq!((tokens.server.count(), api.count()), (2, 2));
    let component: ComponentError = error.into();
    assert_eq!(component.retry(), Retry::Fatal);
}

/// An API key travels as `key=`; an invalid one is Google's 400, reported as such.
#[tokio::test]
async fn an_invalid_api_key_is_reported() {
    let api = Server::start(|_, _| {
        rpc(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            Some("API_KEY_INVALID"),
        )
    })
    .await;
    let hook = key_hook(&api, "");
    assert_eq!(hook.client_email(), None);
    let error = hook
        .values(SHEET, "Sheet1!A1:B2", ValueOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, SheetsError::InvalidApiKey { .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("the API key is not valid"),
        "{error}"
    );
    let request = &api.requests()[0];
    assert!(
        request
            .query()
            .contains(&("key".to_owned(), API_KEY.to_owned()))
    );
    assert_eq!(request.header("authorization"), None);
    assert_eq!(api.count(), 1, "a 400 is not retried");
}

/// 403 PERMISSION_DENIED names the service account to share the sheet with; with an API key it
/// says the sheet is not public.
#[tokio::test]
async fn a_sheet_not_shared_names_the_client_email() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = TokenServer::start(3599).await;
    let api = Server::start(|_, _| {
        rpc(
            403,
            "PERMISSION_DENIED",
            "The caller does not have permission",
            None,
        )
    })
    .await;
    let error = sa_hook(&dir, &api, &tokens)
        .spreadsheet(SHEET)
        .await
        .unwrap_err();
    assert!(matches!(error, SheetsError::NotShared { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains(&format!("the spreadsheet is not shared with {EMAIL}")),
        "{error}"
    );
    let error = key_hook(&api, "").spreadsheet(SHEET).await.unwrap_err();
    assert!(
        error.to_string().contains("the spreadsheet is not public"),
        "{error}"
    );
}

/// 404 names the spreadsheet, and for a values call the tab too.
#[tokio::test]
async fn not_found_names_the_spreadsheet_and_the_tab() {
    let api =
        Server::start(|_, _| rpc(404, "NOT_FOUND", "Requested entity was not found.", None)).await;
    let hook = key_hook(&api, "");
    let error = hook.spreadsheet("missing-id").await.unwrap_err();
    assert!(
        matches!(error, SheetsError::NotFound { range: None, .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("spreadsheet missing-id not found"),
        "{error}"
    );
    let error = hook
        .values("missing-id", "Gone!A1", ValueOptions::default())
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("missing-id") && text.contains("`Gone!A1`"),
        "{text}"
    );
}

/// 429 without `Retry-After` is retried after a backoff of seconds (the quota refills per
/// minute), then succeeds.
#[tokio::test]
async fn quota_429_is_retried_after_seconds_then_succeeds() {
    let api = Server::start(|n, request| {
        if n == 0 {
            rpc(
                429,
                "RESOURCE_EXHAUSTED",
                "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user' of service 'sheets.googleapis.com' for consumer 'project_number:1'.",
                Some("RATE_LIMIT_EXCEEDED"),
            )
        } else {
            sheets(request)
        }
    })
    .await;
    let hook = key_hook(&api, "");
    let started = Instant::now();
    let range = hook
        .values(SHEET, "A1:C", ValueOptions::default())
        .await
        .unwrap();
    assert_eq!(range.values.len(), 2);
    assert_eq!(api.count(), 2);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// 429 with no retry left is a retryable error for the runner.
#[tokio::test]
async fn quota_429_without_retries_left_is_retryable() {
    let api = Server::start(|_, _| {
        rpc(
            429,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded",
            Some("RATE_LIMIT_EXCEEDED"),
        )
    })
    .await;
    let error = key_hook(&api, "&max_retries=0")
        .values(SHEET, "A1", ValueOptions::default())
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert_eq!(ComponentError::from(error).retry(), Retry::Retryable);
    assert_eq!(api.count(), 1);
}

/// A deleted or rotated key: the token endpoint's `invalid_grant` is reported with Google's
/// description and what to do; the API is never called.
#[tokio::test]
async fn invalid_grant_is_reported_with_its_description() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = TokenServer::start(3599).await;
    let api = api_for(&tokens).await;
    let path = key_file(&dir, &tokens.token_uri(), OTHER_PRIVATE_KEY);
    let conn = Connection::parse(
        "sheets",
        &format!(
            "google-sheets://?key_file={}&endpoint={}",
            enc(&path),
            enc(&api.url())
        ),
    )
    .unwrap();
    let hook = GoogleSheetsHook::new(&conn).unwrap();
    let error = hook.spreadsheet(SHEET).await.unwrap_err();
    let SheetsError::Token {
        token_uri,
        error: code,
        description,
        ..
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(token_uri, &tokens.token_uri());
    assert_eq!(code, "invalid_grant");
    assert_eq!(description, "Invalid JWT Signature.");
    let text = error.to_string();
    assert!(text.contains("deleted or rotated"), "{text}");
    assert_eq!(api.count(), 0);
    assert!(!error.is_retryable());
}

/// Connection URIs: the errors name what is wrong (and the key file), never the key.
#[tokio::test]
async fn bad_connections_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (format!("https://x?key={API_KEY}"), "scheme google-sheets"),
        (
            "google-sheets://?endpoint=http://127.0.0.1:9".to_owned(),
            "no credentials",
        ),
        (
            format!("google-sheets://?key={API_KEY}&key_file=/x.json"),
            "both `key` and `key_file`",
        ),
        (
            format!("google-sheets://?key={API_KEY}&subject=u@example.com"),
            "`subject`",
        ),
        (
            format!("google-sheets://?key={API_KEY}&endpoint=ftp://x"),
            "`endpoint`",
        ),
        (
            format!("google-sheets://?key={API_KEY}&max_retries=lots"),
            "max_retries",
        ),
        (
            "google-sheets://?key_file=/nonexistent/sa.json".to_owned(),
            "/nonexistent/sa.json",
        ),
    ];
    for (uri, expected) in cases {
        let error = GoogleSheetsHook::new(&Connection::parse("sheets", &uri).unwrap()).unwrap_err();
        let text = format!("{error} {error:?}");
        assert!(text.contains(expected), "{uri}: {text}");
        assert!(!text.contains("MUST_NOT_LEAK"), "{text}");
    }
    // A key file without client_email: named, with the file.
    let path = dir.path().join("incomplete.json");
    std::fs::write(
        &path,
        json!({"type": "service_account", "private_key": PRIVATE_KEY, "token_uri": "https://oauth2.googleapis.com/token"}).to_string(),
    )
    .unwrap();
    let conn = Connection::parse(
        "sheets",
        &format!(
            "google-sheets://?key_file={}",
            enc(&path.display().to_string())
        ),
    )
    .unwrap();
    let error = GoogleSheetsHook::new(&conn).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains(&path.display().to_string()) && text.contains("`client_email`"),
        "{text}"
    );
    assert!(
        !text.contains("PRIVATE KEY") && !text.contains(private_key_body()),
        "{text}"
    );
}

/// A line of the private key's body, to look for in outputs.
fn private_key_body() -> &'static str {
    PRIVATE_KEY.lines().nth(1).unwrap()
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

/// The API key, the issued tokens and the private key never show in `Debug`, errors or TRACE
/// logs, even when servers echo the request (query and headers) in their error messages.
#[tokio::test]
async fn no_secret_leaks() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    static ECHOES: AtomicU64 = AtomicU64::new(0);
    // Every error echoes the request line and headers (key and token included).
    let echo = |n: usize, request: &Request| {
        ECHOES.fetch_add(1, Ordering::SeqCst);
        let head = request.head.replace(['\r', '\n'], " ");
        match n % 5 {
            0 => rpc(503, "UNAVAILABLE", &head, None),
            1 => rpc(400, "INVALID_ARGUMENT", &head, Some("API_KEY_INVALID")),
            2 => rpc(400, "FAILED_PRECONDITION", &head, None),
            3 => rpc(
                403,
                "PERMISSION_DENIED",
                &format!("{head} has not been used in project 1"),
                None,
            ),
            _ => rpc(409, "ABORTED", &head, None),
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let tokens = TokenServer::start(3599).await;
    let api = Server::start(move |n, request| {
        if n % 2 == 0 {
            echo(n / 2, request)
        } else {
            echo(n / 2 + 2, request)
        }
    })
    .await;
    let key = key_hook(&api, "&max_retries=0");
    let sa = sa_hook(&dir, &api, &tokens).with_budget(dataforge_hooks::http::RetryBudget::new(0));
    let debug = format!("{key:?} {sa:?}");
    assert!(
        debug.contains("api_key") && debug.contains("service_account"),
        "{debug}"
    );
    assert!(
        debug.contains(EMAIL) && debug.contains(&api.url()),
        "{debug}"
    );
    let mut outputs = vec![debug];
    for _ in 0..3 {
        for hook in [&key, &sa] {
            let error = hook
                .values(SHEET, "A1:C", ValueOptions::default())
                .await
                .unwrap_err();
            outputs.push(format!("{error} {error:?}"));
        }
    }
    // A token endpoint that echoes the assertion in its description.
    let echo_tokens = Server::start(|_, request| {
        let body = String::from_utf8_lossy(&request.body).into_owned();
        reply(
            400,
            &[],
            &json!({"error": "invalid_grant", "error_description": body}).to_string(),
        )
    })
    .await;
    let path = key_file(&dir, &format!("{}/token", echo_tokens.url()), PRIVATE_KEY);
    let conn = Connection::parse(
        "sheets",
        &format!(
            "google-sheets://?key_file={}&endpoint={}",
            enc(&path),
            enc(&api.url())
        ),
    )
    .unwrap();
    let error = GoogleSheetsHook::new(&conn)
        .unwrap()
        .spreadsheet(SHEET)
        .await
        .unwrap_err();
    assert!(matches!(error, SheetsError::Token { .. }), "{error}");
    let assertion = url::form_urlencoded::parse(&echo_tokens.requests()[0].body)
        .find(|(k, _)| k == "assertion")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    outputs.push(format!("{error} {error:?}"));

    let logs = captured.text();
    assert!(
        logs.contains("service account access token fetched"),
        "{logs}"
    );
    assert!(logs.contains("expires_in_s=3599"), "{logs}");
    assert!(ECHOES.load(Ordering::SeqCst) > 0);
    // The servers did get the secrets.
    assert!(api.requests().iter().any(|r| r.target().contains(API_KEY)));
    assert!(
        api.requests()
            .iter()
            .any(|r| r.bearer().is_some_and(|t| tokens.knows(&t)))
    );
    // The echoes reached the errors, scrubbed.
    assert!(
        outputs.iter().filter(|o| o.contains("***")).count() >= 3,
        "{outputs:#?}"
    );
    assert!(
        outputs.last().unwrap().contains("assertion=***"),
        "{outputs:#?}"
    );
    for text in outputs.iter().chain([&logs]) {
        assert!(!text.contains(API_KEY), "API key leaked: {text}");
        assert!(!text.contains(TOKEN_PREFIX), "token leaked: {text}");
        assert!(
            !text.contains(private_key_body()),
            "private key leaked: {text}"
        );
        assert!(!text.contains(&assertion), "assertion leaked: {text}");
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}
