//! A local fake of the Google Sheets API v4 (read side) and of Google's OAuth 2 token endpoint,
//! for DataForge's tests.
//!
//! [`FakeSheets::start`] binds one listener on `127.0.0.1:0` serving
//!
//! - `POST /token` — the service-account JWT-bearer grant (RFC 7523), verifying the RS256
//!   assertion against the committed test key pair ([`FakeSheets::private_key_pem`]);
//! - `GET /v4/spreadsheets/{id}` — spreadsheet metadata (tabs and their grid sizes);
//! - `GET /v4/spreadsheets/{id}/values/{range}` — `values.get`;
//! - `GET /v4/spreadsheets/{id}/values:batchGet?ranges=…&ranges=…` — `values.batchGet`.
//!
//! The behaviour follows the protocol notes DataForge's Google Sheets client is written against
//! (`shared/protocols.md`, sections 2 and 3): ragged rows (each row stops at its last non-empty
//! cell, empty cells before it are `""`, trailing empty rows are left out, `values` is absent
//! when the range holds no data), `FORMATTED_VALUE` as the default render option and
//! `SERIAL_NUMBER` as the default date-time option (ignored with `FORMATTED_VALUE`), the
//! response `range` naming the whole requested range in sheet-qualified A1, and the exact error
//! bodies: invalid API key → 400 `API_KEY_INVALID`, no credentials → 403, unknown or expired
//! bearer token → 401 `UNAUTHENTICATED`, not shared / not public → 403 `PERMISSION_DENIED`,
//! unknown spreadsheet → 404, bad range or unknown tab → 400 `Unable to parse range: …`,
//! API disabled → 403 `SERVICE_DISABLED`, quota → 429 `RESOURCE_EXHAUSTED` (no `Retry-After`).
//!
//! # Choices where Google's behaviour is not pinned down
//!
//! - `gridProperties.rowCount` is exactly the tab's row count (a literal tab: the number of row
//!   vectors given; a generated tab: its data rows + 1 header row), never padded to 1000 like a
//!   new Google sheet; `columnCount` is the longest literal row / the generated column count. An
//!   empty tab still reports 1 × 1.
//! - A read range reaching past the grid is clipped to it, and the echoed `range` is the
//!   clipped one (`Sheet1!A1:Z99999` on a 10 × 3 tab echoes `Sheet1!A1:C10`); open-ended ranges
//!   (`A:C`, `A2:C`, `2:5`, a bare tab title) are closed at the grid's edge the same way. A
//!   range that starts wholly outside the grid echoes the request and has no `values`.
//! - A bare word is a tab title when a tab has that exact title, else A1 on the first tab.
//! - The `fields` parameter of the metadata call is ignored (the answer is a superset of
//!   `spreadsheetId,properties.title,sheets.properties`).
//! - Token endpoint messages other than `Invalid JWT Signature.` and the short-lived-token
//!   message are this fake's wording (Google's are unconfirmed): wrong `aud` →
//!   `invalid_grant` / `Invalid JWT: Failed audience check.`, unknown `iss` → `invalid_grant` /
//!   `Invalid grant: account not found`, no Sheets scope → `invalid_scope`.
//! - The quota counts API requests that passed authentication, over a rolling 60 s window.
//!
//! Not emulated: writes, R1C1 notation, named ranges, `includeGridData`, the Drive API,
//! `access_token=` query parameters, domain-wide delegation (`sub` is ignored), token scopes
//! beyond the check at issue time, locales other than `en_US`.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() {
//! use dataforge_fake_gsheets::{FakeSheets, FakeSheetsConfig, Rows, Sheet};
//! use serde_json::json;
//!
//! let fake = FakeSheets::start(FakeSheetsConfig::default()).await;
//! fake.add_spreadsheet("sheet-1", "Orders", vec![Sheet {
//!     title: "Sheet1".into(),
//!     rows: Rows::Literal(vec![vec![json!("id"), json!("total")], vec![json!(1), json!(9.5)]]),
//! }]);
//! fake.add_spreadsheet("big", "Big", vec![Sheet {
//!     title: "Data".into(),
//!     rows: Rows::Generated { rows: 200_000, columns: 8 },
//! }]);
//! // GET {endpoint}/v4/spreadsheets/sheet-1/values/Sheet1!A1:B2?key=AIzaFAKE_KEY
//! let _ = (fake.endpoint(), fake.token_uri());
//! # }
//! ```

mod a1;
mod api;
mod auth;
pub mod cell;

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tokio::task::JoinHandle;

use crate::cell::Cell;

/// The committed throwaway test private key (PKCS#8 PEM, 2048-bit RSA).
const PRIVATE_KEY_PEM: &str = include_str!("../keys/test-service-account.pem");
/// Its public key (SPKI PEM).
const PUBLIC_KEY_PEM: &str = include_str!("../keys/test-service-account.pub.pem");
/// The `private_key_id` of the key file (and the `kid` a JWT may carry).
const PRIVATE_KEY_ID: &str = "f4e3d2c1b0a9f8e7d6c5b4a3928170615f4e3d2c";
/// The project of the key file and of the error bodies.
const PROJECT_ID: &str = "fake-project";

/// How the fake behaves. Build with struct-update syntax from [`Default`].
#[derive(Clone, Debug)]
pub struct FakeSheetsConfig {
    /// The API key accepted as `?key=` (default `AIzaFAKE_KEY`).
    pub api_key: String,
    /// Whether API-key callers may read ("anyone with the link"; default `true`); `false` →
    /// 403 `The caller does not have permission` for key callers.
    pub public: bool,
    /// The service account allowed to get tokens
    /// (default `loader@fake-project.iam.gserviceaccount.com`).
    pub service_account_email: String,
    /// Whether the spreadsheets are shared with the service account (default `true`); `false` →
    /// 403 `PERMISSION_DENIED` for bearer callers.
    pub shared_with_service_account: bool,
    /// Lifetime of issued access tokens, also their `expires_in` (default 3600 s).
    pub token_ttl: Duration,
    /// Whether the Sheets API is enabled in the project (default `true`); `false` → 403
    /// `SERVICE_DISABLED`.
    pub api_enabled: bool,
    /// API requests allowed per rolling minute (default `None`, unlimited); beyond → 429
    /// `RESOURCE_EXHAUSTED` without `Retry-After`.
    pub quota_per_minute: Option<u32>,
    /// Injected faults on API requests (default none; `/token` is never faulted).
    pub faults: Faults,
}

impl Default for FakeSheetsConfig {
    fn default() -> Self {
        FakeSheetsConfig {
            api_key: "AIzaFAKE_KEY".to_owned(),
            public: true,
            service_account_email: "loader@fake-project.iam.gserviceaccount.com".to_owned(),
            shared_with_service_account: true,
            token_ttl: Duration::from_secs(3600),
            api_enabled: true,
            quota_per_minute: None,
            faults: Faults::default(),
        }
    }
}

/// Random faults applied to API requests.
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
    /// HTTP 500 `{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}`.
    Status500,
    /// HTTP 503 `{"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE"}}`.
    Status503,
    /// Status 200 and headers, part of the body, then the connection is aborted.
    Drop,
    /// Wait this long, then answer normally.
    Slow(Duration),
}

/// One tab of a spreadsheet.
#[derive(Clone, Debug)]
pub struct Sheet {
    /// The tab's title (`Sheet1`, `My Sheet`, …).
    pub title: String,
    /// Its cells.
    pub rows: Rows,
}

/// The cells of a tab.
#[derive(Clone, Debug)]
pub enum Rows {
    /// Rows of cells in the JSON forms described in [`cell`] (numbers, booleans, strings,
    /// `null`/`""` for empty, objects for formatted numbers, dates and formulas).
    Literal(Vec<Vec<serde_json::Value>>),
    /// A deterministic tab computed on demand (never stored): row 1 is the header `col_a`,
    /// `col_b`, …, followed by `rows` data rows. Data columns cycle through six kinds: an integer
    /// id (row number − 1 in column A), a money amount formatted `$#,##0.00`, a string
    /// `item-{row}-{col}`, a boolean, a date-time serial formatted `yyyy-mm-dd hh:mm:ss` in
    /// 2024, and a float `row × 0.25`. No cell is empty.
    Generated {
        /// Data rows below the header (the tab's `rowCount` is `rows + 1`).
        rows: u64,
        /// Columns (`columnCount`).
        columns: u32,
    },
}

/// A snapshot of what the fake saw.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// `POST /token` requests.
    pub token_requests: u64,
    /// Token requests answered with an error.
    pub token_rejections: u64,
    /// Access tokens issued.
    pub tokens_issued: u64,
    /// API requests (`/v4/…`), faulted ones included.
    pub api_requests: u64,
    /// Metadata requests (`GET /v4/spreadsheets/{id}`) that reached the handler.
    pub spreadsheet_gets: u64,
    /// `values.get` requests that reached the handler.
    pub values_gets: u64,
    /// `values.batchGet` requests that reached the handler.
    pub batch_gets: u64,
    /// Every range of successful `values.get` / `values.batchGet` answers, as requested.
    pub ranges_served: Vec<String>,
    /// Rows in the `values` of successful answers (all ranges, all requests).
    pub rows_served: u64,
    /// Most rows in one answer (summed over a batch's ranges).
    pub max_rows_in_one_response: u64,
    /// 400 answers from the API (bad key, bad range).
    pub status_400: u64,
    /// 401 answers (unknown or expired bearer token).
    pub status_401: u64,
    /// 403 answers (no credentials, permission, API disabled).
    pub status_403: u64,
    /// 404 answers (unknown spreadsheet).
    pub status_404: u64,
    /// 429 answers (quota).
    pub status_429: u64,
    /// Faults injected (statuses, drops, slow answers).
    pub faults_injected: u64,
}

/// A tab as stored.
pub(crate) struct Tab {
    pub(crate) title: String,
    pub(crate) sheet_id: i64,
    data: TabData,
}

enum TabData {
    Literal(Vec<Vec<Cell>>),
    Generated { rows: u64, columns: u32 },
}

impl Tab {
    /// `gridProperties.rowCount` (at least 1).
    pub(crate) fn row_count(&self) -> u64 {
        match &self.data {
            TabData::Literal(rows) => (rows.len() as u64).max(1),
            TabData::Generated { rows, .. } => rows + 1,
        }
    }

    /// `gridProperties.columnCount` (at least 1).
    pub(crate) fn column_count(&self) -> u32 {
        match &self.data {
            TabData::Literal(rows) => (rows.iter().map(Vec::len).max().unwrap_or(0) as u32).max(1),
            TabData::Generated { columns, .. } => (*columns).max(1),
        }
    }

    pub(crate) fn is_generated(&self) -> bool {
        matches!(self.data, TabData::Generated { .. })
    }

    /// The cell at 0-based `row`, `col`.
    pub(crate) fn cell(&self, row: u64, col: u32) -> Cow<'_, Cell> {
        match &self.data {
            TabData::Literal(rows) => rows
                .get(row as usize)
                .and_then(|r| r.get(col as usize))
                .map_or(Cow::Owned(Cell::Empty), Cow::Borrowed),
            TabData::Generated { rows, columns } => {
                if row <= *rows && col < *columns {
                    Cow::Owned(cell::generated(row, col))
                } else {
                    Cow::Owned(Cell::Empty)
                }
            }
        }
    }
}

/// A spreadsheet as stored.
pub(crate) struct Spreadsheet {
    pub(crate) title: String,
    pub(crate) tabs: Vec<Arc<Tab>>,
}

/// State shared by the handlers.
pub(crate) struct Shared {
    pub(crate) config: FakeSheetsConfig,
    pub(crate) token_uri: String,
    pub(crate) spreadsheets: Mutex<HashMap<String, Arc<Spreadsheet>>>,
    /// Live access tokens and when they expire.
    pub(crate) tokens: Mutex<HashMap<String, Instant>>,
    /// Times of the API requests admitted in the last minute.
    pub(crate) quota: Mutex<VecDeque<Instant>>,
    pub(crate) stats: Mutex<Stats>,
    faults: Mutex<Faults>,
    rng: Mutex<fastrand::Rng>,
    pub(crate) decoding_key: jsonwebtoken::DecodingKey,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn stats(&self) -> MutexGuard<'_, Stats> {
        lock(&self.stats)
    }

    pub(crate) fn random_token(&self) -> String {
        let mut rng = lock(&self.rng);
        let s: String = std::iter::repeat_with(|| rng.alphanumeric())
            .take(48)
            .collect();
        format!("ya29.fake-{s}")
    }
}

/// A response with a JSON body.
pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    r
}

/// A running fake; it shuts down when dropped.
pub struct FakeSheets {
    shared: Arc<Shared>,
    addr: std::net::SocketAddr,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for FakeSheets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeSheets")
            .field("endpoint", &self.endpoint())
            .finish_non_exhaustive()
    }
}

impl Drop for FakeSheets {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeSheets {
    /// Starts the listener on `127.0.0.1:0`.
    ///
    /// # Panics
    ///
    /// If the loopback listener cannot be bound (a test environment problem) or the committed
    /// public key does not parse.
    pub async fn start(config: FakeSheetsConfig) -> FakeSheets {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Sheets listener");
        let addr = listener
            .local_addr()
            .expect("local address of the listener");
        let decoding_key = jsonwebtoken::DecodingKey::from_rsa_pem(PUBLIC_KEY_PEM.as_bytes())
            .expect("the committed test public key parses");
        let shared = Arc::new(Shared {
            faults: Mutex::new(config.faults.clone()),
            config,
            token_uri: format!("http://{addr}/token"),
            spreadsheets: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            quota: Mutex::new(VecDeque::new()),
            stats: Mutex::new(Stats::default()),
            rng: Mutex::new(fastrand::Rng::with_seed(0x5EED_5EE7)),
            decoding_key,
        });
        let api = Router::new()
            .route("/v4/spreadsheets/{*rest}", axum::routing::get(api::handle))
            .layer(axum::middleware::from_fn_with_state(
                shared.clone(),
                api_faults,
            ));
        let router = Router::new()
            .route("/token", axum::routing::post(auth::token))
            .merge(api)
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        FakeSheets { shared, addr, task }
    }

    /// Adds (or replaces) a spreadsheet. Tabs get `sheetId` 0 for the first and deterministic
    /// other ids for the rest, `index` in the given order.
    pub fn add_spreadsheet(&self, id: &str, title: &str, sheets: Vec<Sheet>) {
        let tabs = sheets
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let sheet_id = if i == 0 {
                    0
                } else {
                    let h = s.title.bytes().fold(0x811c_9dc5_u64, |h, b| {
                        (h ^ u64::from(b)).wrapping_mul(0x0100_0193)
                    });
                    ((h % 2_000_000_000) + 1) as i64
                };
                let data = match s.rows {
                    Rows::Literal(rows) => TabData::Literal(
                        rows.iter()
                            .map(|r| r.iter().map(Cell::from_json).collect())
                            .collect(),
                    ),
                    Rows::Generated { rows, columns } => TabData::Generated { rows, columns },
                };
                Arc::new(Tab {
                    title: s.title,
                    sheet_id,
                    data,
                })
            })
            .collect();
        lock(&self.shared.spreadsheets).insert(
            id.to_owned(),
            Arc::new(Spreadsheet {
                title: title.to_owned(),
                tabs,
            }),
        );
    }

    /// The API base, `http://127.0.0.1:PORT` (paths `/v4/…`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The token endpoint, `http://127.0.0.1:PORT/token` (the JWT `aud` it accepts).
    pub fn token_uri(&self) -> String {
        self.shared.token_uri.clone()
    }

    /// The public half of the test key pair (SPKI PEM).
    pub fn public_key_pem(&self) -> &str {
        PUBLIC_KEY_PEM
    }

    /// The private half of the test key pair (PKCS#8 PEM, `-----BEGIN PRIVATE KEY-----`).
    pub fn private_key_pem(&self) -> &str {
        PRIVATE_KEY_PEM
    }

    /// The `private_key_id` of the key file (a JWT's `kid`, if sent, must equal it).
    pub fn private_key_id(&self) -> &str {
        PRIVATE_KEY_ID
    }

    /// Writes `fake-service-account.json` into `dir`, shaped like a Google service-account key
    /// file (`type`, `project_id`, `private_key_id`, `private_key`, `client_email`, `client_id`,
    /// `auth_uri`, `token_uri` = [`FakeSheets::token_uri`], …) and returns its path.
    ///
    /// # Panics
    ///
    /// If the file cannot be written.
    pub fn write_key_file(&self, dir: &Path) -> PathBuf {
        let email = &self.shared.config.service_account_email;
        let body = serde_json::json!({
            "type": "service_account",
            "project_id": PROJECT_ID,
            "private_key_id": PRIVATE_KEY_ID,
            "private_key": PRIVATE_KEY_PEM,
            "client_email": email,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri(),
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": format!(
                "https://www.googleapis.com/robot/v1/metadata/x509/{}",
                email.replace('@', "%40")
            ),
            "universe_domain": "googleapis.com",
        });
        let path = dir.join("fake-service-account.json");
        let text = serde_json::to_string_pretty(&body).unwrap_or_default();
        std::fs::write(&path, text).expect("write the fake service-account key file");
        path
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.shared.stats().clone()
    }

    /// Zeroes the counters.
    pub fn reset_stats(&self) {
        *self.shared.stats() = Stats::default();
    }

    /// Invalidates every issued access token: the next API call with one gets 401.
    pub fn expire_tokens(&self) {
        lock(&self.shared.tokens).clear();
    }

    /// Forgets the requests counted against `quota_per_minute`, as if the rolling minute had
    /// passed: the next API request is admitted again (for tests that want one or two 429s
    /// without waiting a minute).
    pub fn reset_quota(&self) {
        lock(&self.shared.quota).clear();
    }

    /// Replaces the injected faults.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.shared.faults) = faults;
    }
}

enum Decision {
    Pass,
    Answer(Response),
    Slow(Duration),
    Drop,
}

fn decide(s: &Shared) -> Decision {
    s.stats().api_requests += 1;
    let faults = lock(&s.faults).clone();
    if faults.kinds.is_empty() || faults.rate <= 0.0 {
        return Decision::Pass;
    }
    let (roll, kind) = {
        let mut r = lock(&s.rng);
        (r.f64(), faults.kinds[r.usize(..faults.kinds.len())].clone())
    };
    if roll >= faults.rate {
        return Decision::Pass;
    }
    s.stats().faults_injected += 1;
    match kind {
        FaultKind::Status500 => Decision::Answer(json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}"#
                .to_owned(),
        )),
        FaultKind::Status503 => Decision::Answer(json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE"}}"#
                .to_owned(),
        )),
        FaultKind::Slow(d) => Decision::Slow(d),
        FaultKind::Drop => Decision::Drop,
    }
}

/// Counts error statuses of API answers.
fn count_status(s: &Shared, status: StatusCode) {
    let mut st = s.stats();
    match status.as_u16() {
        400 => st.status_400 += 1,
        401 => st.status_401 += 1,
        403 => st.status_403 += 1,
        404 => st.status_404 += 1,
        429 => st.status_429 += 1,
        _ => {}
    }
}

async fn api_faults(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    match decide(&s) {
        Decision::Pass => {
            let r = next.run(req).await;
            count_status(&s, r.status());
            r
        }
        Decision::Answer(r) => r,
        Decision::Slow(d) => {
            tokio::time::sleep(d).await;
            let r = next.run(req).await;
            count_status(&s, r.status());
            r
        }
        Decision::Drop => {
            let resp = next.run(req).await;
            let (parts, body) = resp.into_parts();
            // half of a known-size body, else the first 16 KiB of a streamed one
            let cut = match axum::body::HttpBody::size_hint(&body).exact() {
                Some(n) if n > 1 => (n / 2) as usize,
                Some(_) => 0,
                None => 16 * 1024,
            };
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
