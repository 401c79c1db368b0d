//! [`HttpClient`]: a reqwest client bound to a connection's base URL and credentials.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use dataforge_core::{Connection, SecretString};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use tracing::Instrument;
use tracing::field::Empty;
use url::Url;

use super::error::{HttpError, body_excerpt};
use super::pacer::Pacer;
use super::retry::{RetryBudget, RetryPolicy, parse_retry_after};

/// The `User-Agent` of every request: `DataForge/<version>`.
pub const USER_AGENT: &str = concat!(
    "DataForge/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/dataforge-rs/dataforge)"
);

/// The largest `max_retries` a connection URI may ask for.
const MAX_RETRIES_OPTION: u32 = 100;

/// Redirects followed at most, and only within the connection's origin (so credentials never
/// travel to another host).
const MAX_REDIRECTS: usize = 10;

/// How requests authenticate. The secret is a [`SecretString`]: `Debug` shows `**REDACTED**`.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum HttpAuth {
    /// No credentials.
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(SecretString),
    /// `Authorization: Basic …` from a user name and password.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: SecretString,
    },
    /// A header of the API's own, such as Shopify's `X-Shopify-Access-Token`.
    Header {
        /// The header's name.
        name: HeaderName,
        /// Its value.
        value: SecretString,
    },
    /// A query parameter such as Google's `key=`, added to each request's URL when it is sent
    /// (never to the URL that logs and errors show).
    Query {
        /// The parameter's name.
        name: String,
        /// Its value.
        value: SecretString,
    },
}

impl HttpAuth {
    /// A custom header carrying the secret (`X-Shopify-Access-Token`).
    ///
    /// # Errors
    /// [`HttpError::Invalid`] when `name` is not a valid header name.
    pub fn header(name: &str, value: SecretString) -> Result<Self, HttpError> {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| HttpError::Invalid {
            reason: format!("`{name}` is not a valid header name"),
        })?;
        Ok(Self::Header { name, value })
    }

    /// The credentials a connection URI carries: `https://user:password@host` is Basic,
    /// `https://TOKEN@host` (a user name only) or `?access_token=`/`?token=` is a bearer token,
    /// `?key=`/`?api_key=` a query key; none of these is [`HttpAuth::None`].
    pub fn from_connection(conn: &Connection) -> Self {
        let username = conn.username();
        if let Some(password) = conn.password() {
            return Self::Basic { username, password };
        }
        if !username.is_empty() {
            return Self::Bearer(SecretString::new(username));
        }
        for name in ["access_token", "token"] {
            if let Some(token) = conn.param(name) {
                return Self::Bearer(SecretString::new(token));
            }
        }
        for name in ["key", "api_key", "apikey"] {
            if let Some(key) = conn.param(name) {
                return Self::Query {
                    name: name.to_owned(),
                    value: SecretString::new(key),
                };
            }
        }
        Self::None
    }

    fn secret(&self) -> Option<&str> {
        match self {
            Self::None => None,
            Self::Bearer(s) => Some(s.expose()),
            Self::Basic { password, .. } => Some(password.expose()),
            Self::Header { value, .. } | Self::Query { value, .. } => Some(value.expose()),
        }
        .filter(|s| !s.is_empty())
    }

    /// `text` with the secret, should a server echo it, replaced by `***`.
    fn scrub(&self, text: String) -> String {
        match self.secret() {
            Some(secret) if text.contains(secret) => text.replace(secret, "***"),
            _ => text,
        }
    }

    /// `text` scrubbed of this secret and of a request's own bearer token.
    fn scrub_with(&self, text: String, bearer: Option<&SecretString>) -> String {
        let text = self.scrub(text);
        match bearer.map(SecretString::expose) {
            Some(token) if !token.is_empty() && text.contains(token) => text.replace(token, "***"),
            _ => text,
        }
    }

    /// The header the credentials travel in (bearer token or custom header), marked sensitive.
    fn header_value(&self) -> Result<Option<(HeaderName, HeaderValue)>, HttpError> {
        let (name, text) = match self {
            Self::Bearer(token) => (AUTHORIZATION, format!("Bearer {}", token.expose())),
            Self::Header { name, value } => (name.clone(), value.expose().to_owned()),
            Self::None | Self::Basic { .. } | Self::Query { .. } => return Ok(None),
        };
        let mut value = HeaderValue::from_str(&text).map_err(|_| HttpError::Invalid {
            reason: format!("the credentials are not a valid value of header `{name}`"),
        })?;
        value.set_sensitive(true);
        Ok(Some((name, value)))
    }
}

/// Builds an [`HttpClient`]; start with [`HttpClient::builder`].
pub struct HttpClientBuilder {
    base: Url,
    auth: HttpAuth,
    policy: RetryPolicy,
    budget: RetryBudget,
    connect_timeout: Duration,
    read_timeout: Duration,
    headers: HeaderMap,
    pacer: Option<Arc<dyn Pacer>>,
    source_type: &'static str,
}

impl fmt::Debug for HttpClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClientBuilder")
            .field("base", &self.base.as_str())
            .field("auth", &self.auth)
            .field("policy", &self.policy)
            .field("budget", &self.budget.remaining())
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("pacer", &self.pacer.is_some())
            .finish_non_exhaustive()
    }
}

impl HttpClientBuilder {
    /// The credentials (by default those of the connection URI, see
    /// [`HttpAuth::from_connection`]).
    pub fn auth(mut self, auth: HttpAuth) -> Self {
        self.auth = auth;
        self
    }

    /// How each request is retried (default [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The retry policy so far: the default with the connection's `max_retries`, unless set.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The run's retry budget (default unlimited).
    pub fn retry_budget(mut self, budget: RetryBudget) -> Self {
        self.budget = budget;
        self
    }

    /// The longest wait for a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The longest wait between two reads of a response (default 60 s).
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// A header sent with every request (an API version, `Accept`).
    pub fn default_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// A pacer awaited before every attempt and told of every response (default none).
    pub fn pacer(mut self, pacer: Arc<dyn Pacer>) -> Self {
        self.pacer = Some(pacer);
        self
    }

    /// The `source_type` label of this client's metrics (default `http`; `shopify`, `gsheet`).
    pub fn source_type(mut self, source_type: &'static str) -> Self {
        self.source_type = source_type;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`HttpError::Invalid`] when the TLS configuration or the client cannot be built.
    pub fn build(self) -> Result<HttpClient, HttpError> {
        let tls = tls_config()?;
        let origin = self.base.origin();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if attempt.url().origin() == origin {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let inner = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .user_agent(USER_AGENT)
            .default_headers(self.headers)
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            .gzip(true)
            .redirect(redirects)
            .build()
            .map_err(|e| HttpError::Invalid {
                reason: format!("HTTP client: {}", error_chain(&e)),
            })?;
        // Downloads go to any origin (pre-signed URLs), so they use a client of their own: no
        // default headers, redirects followed anywhere (no credentials travel), and no gzip
        // decoding, so that byte offsets (`Range`) count the bytes on the wire.
        let downloads = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config()?)
            .user_agent(USER_AGENT)
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            .gzip(false)
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
            .build()
            .map_err(|e| HttpError::Invalid {
                reason: format!("HTTP client: {}", error_chain(&e)),
            })?;
        Ok(HttpClient {
            inner,
            downloads,
            base: Arc::new(self.base),
            auth: Arc::new(self.auth),
            policy: self.policy,
            budget: self.budget,
            pacer: self.pacer,
            source_type: self.source_type,
        })
    }
}

/// An HTTP client for one connection: relative paths resolve against the connection's URL,
/// credentials are added to each request, transient failures are retried.
///
/// Cloning is cheap and shares the connection pool and the retry budget.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use dataforge_core::Connection;
/// use dataforge_hooks::http::{HttpClient, HttpRequest, RetryBudget};
/// let conn = Connection::parse("api", "https://TOKEN@api.example.com/v1/")?;
/// let client = HttpClient::builder(&conn)?.build()?.with_budget(RetryBudget::new(20));
/// let response = client.execute(HttpRequest::get("items").query("limit", "50")).await?;
/// assert!(response.status().is_success());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    /// The client of [`HttpClient::download`]: any origin, no credentials, no gzip.
    pub(super) downloads: reqwest::Client,
    base: Arc<Url>,
    auth: Arc<HttpAuth>,
    pub(super) policy: RetryPolicy,
    pub(super) budget: RetryBudget,
    pacer: Option<Arc<dyn Pacer>>,
    source_type: &'static str,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("base", &self.base.as_str())
            .field("auth", &self.auth)
            .field("policy", &self.policy)
            .field("budget", &self.budget.remaining())
            .field("pacer", &self.pacer.is_some())
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A builder for a client of `conn`, whose URI (`http` or `https`) gives the base URL; its
    /// user info and query string are credentials or options, never sent as part of the URL.
    /// Option `max_retries=N` (0–100) sets the per-request retry cap (default 5).
    ///
    /// # Errors
    /// [`HttpError::Invalid`] when the URI is not `http`/`https` or has no host, or
    /// `max_retries` is not a number from 0 to 100.
    pub fn builder(conn: &Connection) -> Result<HttpClientBuilder, HttpError> {
        let mut base = conn.expose_url().clone();
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(HttpError::Invalid {
                reason: format!(
                    "connection `{}` is not an http(s) URL with a host",
                    conn.conn_id()
                ),
            });
        }
        // Cannot fail for http(s) URLs with a host.
        let _ = base.set_username("");
        let _ = base.set_password(None);
        base.set_query(None);
        base.set_fragment(None);
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let mut policy = RetryPolicy::default();
        if let Some(text) = conn.param("max_retries") {
            policy.max_retries = text
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= MAX_RETRIES_OPTION)
                .ok_or_else(|| HttpError::Invalid {
                    reason: format!(
                        "connection `{}`: `max_retries` must be a whole number from 0 to \
                         {MAX_RETRIES_OPTION}, found `{text}`",
                        conn.conn_id()
                    ),
                })?;
        }
        Ok(HttpClientBuilder {
            base,
            auth: HttpAuth::from_connection(conn),
            policy,
            budget: RetryBudget::unlimited(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            headers: HeaderMap::new(),
            pacer: None,
            source_type: "http",
        })
    }

    /// This client drawing its retries from `budget` (one per run), sharing the connection pool
    /// and the pacer.
    pub fn with_budget(&self, budget: RetryBudget) -> Self {
        Self {
            budget,
            ..self.clone()
        }
    }

    /// This client paced by `pacer` (`None`: unpaced), sharing the connection pool and the
    /// retry budget.
    pub fn with_pacer(&self, pacer: Option<Arc<dyn Pacer>>) -> Self {
        Self {
            pacer,
            ..self.clone()
        }
    }

    /// The base URL (without credentials).
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The `source_type` label of this client's metrics.
    pub fn source_type(&self) -> &'static str {
        self.source_type
    }

    /// The retry budget requests draw from.
    pub fn budget(&self) -> &RetryBudget {
        &self.budget
    }

    /// `GET target` (see [`HttpClient::execute`]).
    ///
    /// # Errors
    /// As [`HttpClient::execute`].
    pub async fn get(&self, target: &str) -> Result<HttpResponse, HttpError> {
        self.execute(HttpRequest::get(target)).await
    }

    /// Sends a request, retrying 429, 5xx and transport failures by the retry policy and
    /// budget, and reads the whole body (a connection dropped mid-body is retried too).
    ///
    /// # Errors
    /// [`HttpError::Status`] for a status ≥ 400 (at once for 4xx other than 429, unless the
    /// request [accepts client errors](HttpRequest::accept_client_errors)),
    /// [`HttpError::Transport`] when no response came, [`HttpError::Invalid`] when the target
    /// is not on the connection's origin.
    pub async fn execute(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let mut url = self.resolve(&request.target)?;
        let auth_header = match &request.bearer {
            Some(token) => Some(HttpAuth::Bearer(token.clone()).header_value()?).flatten(),
            None => self.auth.header_value()?,
        };
        if !request.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&request.query);
        }
        let shown = shown_url(&url);
        let method = request.method.to_string();
        let mut schedule = self.policy.schedule();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let span = tracing::info_span!(
                "http.request",
                method = %request.method,
                path = %url.path(),
                attempt,
                status = Empty,
                bytes = Empty,
                ms = Empty,
            );
            if let Some(pacer) = &self.pacer {
                pacer.before_attempt().instrument(span.clone()).await;
            }
            let outcome = self
                .attempt(&request, &url, auth_header.as_ref())
                .instrument(span.clone())
                .await;
            let status = outcome.as_ref().ok().map(|r| r.status);
            super::metrics::record_attempt(self.source_type, status);
            let (error, retry_after) = match outcome {
                Ok(response) if response.status.as_u16() < 400 => return Ok(response),
                Ok(response)
                    if request.accept_client_errors
                        && response.status.is_client_error()
                        && response.status != StatusCode::TOO_MANY_REQUESTS =>
                {
                    return Ok(response);
                }
                Ok(response) => {
                    let status = response.status.as_u16();
                    let error = HttpError::Status {
                        method: method.clone(),
                        url: shown.clone(),
                        status,
                        attempts: attempt,
                        gave_up: String::new(),
                        body: self
                            .auth
                            .scrub_with(body_excerpt(&response.body), request.bearer.as_ref()),
                    };
                    if !error.is_retryable() {
                        return Err(error);
                    }
                    let retry_after = response
                        .headers
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, SystemTime::now()));
                    (error, retry_after)
                }
                Err(e) => {
                    let fatal = e.is_builder() || e.is_redirect();
                    let error = HttpError::Transport {
                        method: method.clone(),
                        url: shown.clone(),
                        reason: self
                            .auth
                            .scrub_with(error_chain(&e), request.bearer.as_ref()),
                        attempts: attempt,
                        gave_up: String::new(),
                        fatal,
                    };
                    if fatal {
                        return Err(error);
                    }
                    (error, None)
                }
            };
            let Some(backoff) = schedule.next() else {
                let why = if self.policy.max_retries == 0 {
                    String::new()
                } else {
                    format!("; retry cap of {} reached", self.policy.max_retries)
                };
                return Err(gave_up(error, why));
            };
            if !self.budget.try_take() {
                return Err(gave_up(error, "; the run's retry budget is spent".into()));
            }
            let delay = self.policy.delay(backoff, retry_after);
            span.in_scope(|| {
                tracing::warn!(
                    error = %error,
                    delay_ms = delay.as_millis() as u64,
                    "HTTP request failed; retrying"
                );
            });
            tokio::time::sleep(delay).await;
        }
    }

    /// One attempt: send, and read the whole body.
    async fn attempt(
        &self,
        request: &HttpRequest,
        url: &Url,
        auth_header: Option<&(HeaderName, HeaderValue)>,
    ) -> Result<HttpResponse, reqwest::Error> {
        let span = tracing::Span::current();
        let started = Instant::now();
        let mut url = url.clone();
        // A request's own bearer token replaces the client's credentials, the query key too.
        if let (HttpAuth::Query { name, value }, None) = (&*self.auth, &request.bearer) {
            url.query_pairs_mut().append_pair(name, value.expose());
        }
        let mut builder = self
            .inner
            .request(request.method.clone(), url)
            .headers(request.headers.clone());
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        if let Some((name, value)) = auth_header {
            builder = builder.header(name, value.clone());
        }
        if let (HttpAuth::Basic { username, password }, None) = (&*self.auth, &request.bearer) {
            builder = builder.basic_auth(username, Some(password.expose()));
        }
        let response = builder.send().await?;
        let status = response.status();
        span.record("status", status.as_u16());
        let headers = response.headers().clone();
        // The pacer learns from the head, even if the body is then cut short.
        if let Some(pacer) = &self.pacer {
            pacer.on_response(status, &headers);
        }
        let final_url = response.url().clone();
        let body = response.bytes().await;
        let ms = started.elapsed().as_millis() as u64;
        span.record("ms", ms);
        let body = body?;
        span.record("bytes", body.len() as u64);
        tracing::debug!(
            status = status.as_u16(),
            bytes = body.len(),
            ms,
            "HTTP response"
        );
        Ok(HttpResponse {
            status,
            headers,
            body,
            url: final_url,
        })
    }

    /// `target` as a URL on the connection's origin.
    fn resolve(&self, target: &str) -> Result<Url, HttpError> {
        let url = if target.starts_with("http://") || target.starts_with("https://") {
            Url::parse(target)
        } else {
            self.base.join(target.trim_start_matches('/'))
        }
        .map_err(|e| HttpError::Invalid {
            reason: format!("bad request target: {e}"),
        })?;
        if url.origin() != self.base.origin() {
            return Err(HttpError::Invalid {
                reason: format!(
                    "{} is not on the connection's origin {}",
                    shown_url(&url),
                    self.base.origin().ascii_serialization()
                ),
            });
        }
        Ok(url)
    }
}

/// A request: method, target (a path relative to the connection's URL, or an absolute URL on
/// its origin such as a `Link` target), query, headers and body.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    method: Method,
    target: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Option<Bytes>,
    /// A bearer token replacing the client's credentials for this request (`Debug` redacts it).
    bearer: Option<SecretString>,
    /// Whether a 4xx other than 429 is returned as a response rather than an error.
    accept_client_errors: bool,
}

impl HttpRequest {
    /// A request of `method` to `target`.
    pub fn new(method: Method, target: impl Into<String>) -> Self {
        Self {
            method,
            target: target.into(),
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: None,
            bearer: None,
            accept_client_errors: false,
        }
    }

    /// `GET target`.
    pub fn get(target: impl Into<String>) -> Self {
        Self::new(Method::GET, target)
    }

    /// Adds a query parameter.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Sets the body (sent again on each attempt).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Authenticates this request with `Authorization: Bearer <token>` instead of the client's
    /// credentials (a short-lived OAuth access token the caller refreshes). The header is marked
    /// sensitive, and the token is scrubbed from errors and never logged, as the client's own.
    pub fn bearer(mut self, token: SecretString) -> Self {
        self.bearer = Some(token);
        self
    }

    /// Returns a 4xx response other than 429 as `Ok` (never retried), so that the caller can
    /// read the API's whole error body; 429, 5xx and transport failures are still retried and,
    /// once retries are spent, still errors. The caller must not log the body unscrubbed.
    pub fn accept_client_errors(mut self) -> Self {
        self.accept_client_errors = true;
        self
    }

    /// The same request (method, headers, body) to another target, without query parameters:
    /// the next page of a `Link` walk.
    pub(crate) fn follow(&self, target: String) -> Self {
        Self {
            method: self.method.clone(),
            target,
            query: Vec::new(),
            headers: self.headers.clone(),
            body: self.body.clone(),
            bearer: self.bearer.clone(),
            accept_client_errors: self.accept_client_errors,
        }
    }
}

/// A response whose body has been read.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    url: Url,
}

impl HttpResponse {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body, decompressed.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The URL answered (after same-origin redirects), as it was sent: with a query `key` when
    /// the credentials are a query parameter, so never log it.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The target of the `Link` header's `rel="next"`, if any.
    pub fn next_link(&self) -> Option<String> {
        super::link::next_link(
            self.headers
                .get_all(reqwest::header::LINK)
                .iter()
                .filter_map(|v| v.to_str().ok()),
        )
    }
}

/// The rustls configuration of every client: ring, webpki roots, no client certificate.
pub(crate) fn tls_config() -> Result<rustls::ClientConfig, HttpError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::Invalid {
            reason: format!("TLS configuration: {e}"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

pub(super) fn gave_up(error: HttpError, why: String) -> HttpError {
    match error {
        HttpError::Status {
            method,
            url,
            status,
            attempts,
            body,
            ..
        } => HttpError::Status {
            method,
            url,
            status,
            attempts,
            gave_up: why,
            body,
        },
        HttpError::Transport {
            method,
            url,
            reason,
            attempts,
            fatal,
            ..
        } => HttpError::Transport {
            method,
            url,
            reason,
            attempts,
            gave_up: why,
            fatal,
        },
        other => other,
    }
}

/// A URL as logs and errors show it: origin and path, no user info, no query string.
pub(crate) fn shown_url(url: &Url) -> String {
    format!("{}{}", url.origin().ascii_serialization(), url.path())
}

/// A reqwest error and its sources, without the URL (whose query may hold a key).
pub(crate) fn error_chain(error: &reqwest::Error) -> String {
    // reqwest's Display names the URL; say the kind and the sources instead.
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connect error"
    } else if error.is_body() || error.is_decode() {
        "error reading the response body"
    } else if error.is_request() {
        "error sending the request"
    } else if error.is_redirect() {
        "redirect error"
    } else if error.is_builder() {
        "invalid request"
    } else {
        "HTTP error"
    };
    let mut out = kind.to_owned();
    let mut current = std::error::Error::source(error);
    while let Some(source) = current {
        out.push_str(": ");
        out.push_str(&source.to_string());
        current = source.source();
    }
    out
}
