//! [`GoogleSheetsHook`]: a Google Sheets API v4 client for one connection.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use dataforge_core::{Connection, SecretString};
use url::Url;

use super::error::{CallContext, Credentials, SheetsError, classify};
use super::key_file::ServiceAccountKey;
use super::token::TokenSource;
use super::values::{
    RawBatch, RawSpreadsheet, SpreadsheetInfo, ValueOptions, ValueRange, path_segment,
};
use crate::http::{
    HttpAuth, HttpClient, HttpError, HttpRequest, HttpResponse, RetryBudget, RetryPolicy,
};

/// The API's origin when the connection names no `endpoint=`.
pub const DEFAULT_ENDPOINT: &str = "https://sheets.googleapis.com";

/// The fields `spreadsheets.get` asks for: the title and each tab's id, name, position and size.
const SPREADSHEET_FIELDS: &str =
    "properties.title,sheets.properties(sheetId,title,index,gridProperties(rowCount,columnCount))";

/// The shortest backoff before retrying a 429 or 5xx without `Retry-After`: Sheets' read quota
/// refills per minute, so sub-second retries would only spend the retries.
pub const MIN_RETRY_DELAY: Duration = Duration::from_secs(2);

/// The longest backoff between two attempts (a quota minute).
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

/// How requests authenticate.
#[derive(Clone)]
enum Auth {
    /// `?key=` on every request (the client adds it; kept here to scrub texts).
    ApiKey(SecretString),
    /// `Authorization: Bearer` with the service account's access token.
    ServiceAccount(TokenSource),
}

/// A Google Sheets API v4 client for one connection: spreadsheet metadata and values, by API
/// key or service account.
///
/// Service-account access tokens are cached (shared by clones) until 60 s before they expire,
/// refreshed one at a time, and refreshed once when the API answers 401. 429 and 5xx are
/// retried with backoff from [`MIN_RETRY_DELAY`] up to [`MAX_RETRY_DELAY`] (or `Retry-After`).
/// `Debug` shows the endpoint, the kind of credentials and the service account's email; the
/// API key, the access token and the private key appear in no output, error or log.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use dataforge_core::Connection;
/// use dataforge_hooks::google_sheets::{GoogleSheetsHook, ValueOptions};
/// use dataforge_hooks::http::RetryBudget;
/// let conn = Connection::parse("sheets", "google-sheets://?key_file=/etc/dataforge/sa.json")?;
/// let hook = GoogleSheetsHook::new(&conn)?.with_budget(RetryBudget::new(20));
/// let info = hook.spreadsheet("1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms").await?;
/// let tab = &info.sheets[0].title;
/// let range = hook
///     .values(
///         "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms",
///         &format!("'{tab}'!A1:E"),
///         ValueOptions::default(),
///     )
///     .await?;
/// println!("{} rows", range.values.len());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct GoogleSheetsHook {
    /// The API's base URL (`https://sheets.googleapis.com/`).
    endpoint: Arc<str>,
    api: HttpClient,
    auth: Auth,
}

impl fmt::Debug for GoogleSheetsHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("GoogleSheetsHook");
        s.field("endpoint", &self.endpoint);
        match &self.auth {
            Auth::ApiKey(_) => s.field("auth", &"api_key"),
            Auth::ServiceAccount(tokens) => s
                .field("auth", &"service_account")
                .field("client_email", &tokens.client_email()),
        };
        s.finish_non_exhaustive()
    }
}

/// The URI forms, quoted in connection errors.
const EXPECTED: &str = "expected google-sheets://?key=API_KEY or \
                        google-sheets://?key_file=/path/service-account.json";

impl GoogleSheetsHook {
    /// A hook from `google-sheets://?key=API_KEY` or
    /// `google-sheets://?key_file=/path/sa.json[&subject=user@domain]`, plus optional
    /// `endpoint=http://127.0.0.1:PORT` (default [`DEFAULT_ENDPOINT`]) and `max_retries=`.
    ///
    /// The key file is read and validated here (type `service_account`, `client_email`,
    /// `private_key` in PEM, `token_uri`; `private_key_id` optional); tokens are fetched from
    /// its `token_uri` when first needed.
    ///
    /// # Errors
    /// [`SheetsError::InvalidConnection`] for another scheme, neither or both of `key` and
    /// `key_file`, `subject` without `key_file`, a bad `endpoint` or `max_retries`;
    /// [`SheetsError::KeyFile`] naming the file and the missing or bad field (never the key).
    pub fn new(conn: &Connection) -> Result<Self, SheetsError> {
        let conn_id = conn.conn_id();
        let invalid = |reason: String| SheetsError::InvalidConnection {
            conn_id: conn_id.to_owned(),
            reason,
        };
        if conn.scheme() != "google-sheets" {
            return Err(invalid(format!(
                "a Google Sheets connection has the scheme google-sheets, not {}; {EXPECTED}",
                conn.scheme()
            )));
        }
        let key = conn.param("key").filter(|k| !k.is_empty());
        let key_file = conn.param("key_file").filter(|k| !k.is_empty());
        let subject = conn.param("subject").filter(|s| !s.is_empty());
        let max_retries = conn.param("max_retries");
        let endpoint = conn
            .param("endpoint")
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
        let builder = client_builder(conn_id, &endpoint, max_retries.as_deref())
            .map_err(|reason| invalid(format!("`endpoint`: {reason}")))?;
        let policy = RetryPolicy {
            min_delay: MIN_RETRY_DELAY,
            max_delay: MAX_RETRY_DELAY,
            ..builder.policy().clone()
        };
        let builder = builder.retry_policy(policy);
        let http_error = |e: HttpError| invalid(e.to_string());
        let (auth, api) = match (key, key_file) {
            (Some(key), None) => {
                if subject.is_some() {
                    return Err(invalid(
                        "`subject` (domain-wide delegation) needs a service account \
                         (`key_file=`), not an API key"
                            .into(),
                    ));
                }
                let key = SecretString::new(key);
                let api = builder
                    .auth(HttpAuth::Query {
                        name: "key".into(),
                        value: key.clone(),
                    })
                    .build()
                    .map_err(http_error)?;
                (Auth::ApiKey(key), api)
            }
            (None, Some(path)) => {
                let key = ServiceAccountKey::read(Path::new(&path))?;
                let token_client = client_builder(conn_id, &key.token_uri, max_retries.as_deref())
                    .map_err(|reason| SheetsError::KeyFile {
                        path: path.clone(),
                        reason: format!("`token_uri`: {reason}"),
                    })?
                    .auth(HttpAuth::None)
                    .build()
                    .map_err(http_error)?;
                let api = builder.auth(HttpAuth::None).build().map_err(http_error)?;
                let tokens = TokenSource::new(Arc::new(key), subject, token_client);
                (Auth::ServiceAccount(tokens), api)
            }
            (Some(_), Some(_)) => {
                return Err(invalid(format!(
                    "both `key` and `key_file` are given; keep one ({EXPECTED})"
                )));
            }
            (None, None) => {
                return Err(invalid(format!("no credentials; {EXPECTED}")));
            }
        };
        Ok(Self {
            endpoint: api.base_url().as_str().into(),
            api,
            auth,
        })
    }

    /// This hook drawing its retries (API and token requests) from `budget`, one per run,
    /// sharing the connection pool and the token cache.
    pub fn with_budget(&self, budget: RetryBudget) -> Self {
        Self {
            api: self.api.with_budget(budget.clone()),
            auth: match &self.auth {
                Auth::ApiKey(key) => Auth::ApiKey(key.clone()),
                Auth::ServiceAccount(tokens) => Auth::ServiceAccount(tokens.with_budget(budget)),
            },
            endpoint: self.endpoint.clone(),
        }
    }

    /// The service account's email (`None` with an API key).
    pub fn client_email(&self) -> Option<&str> {
        match &self.auth {
            Auth::ApiKey(_) => None,
            Auth::ServiceAccount(tokens) => Some(tokens.client_email()),
        }
    }

    /// The spreadsheet's title and tabs (`spreadsheets.get` with
    /// `fields=properties.title,sheets.properties(sheetId,title,index,gridProperties(rowCount,columnCount))`).
    ///
    /// # Errors
    /// [`SheetsError`]: not found, not shared, bad credentials, token refused, HTTP failures
    /// after retries, an unexpected answer.
    pub async fn spreadsheet(&self, spreadsheet_id: &str) -> Result<SpreadsheetInfo, SheetsError> {
        let request = HttpRequest::get(format!("v4/spreadsheets/{}", path_segment(spreadsheet_id)))
            .query("fields", SPREADSHEET_FIELDS);
        let context = self.context(spreadsheet_id, None);
        let response = self.call(request, context).await?;
        let raw: RawSpreadsheet = parse(&response, || {
            format!("spreadsheets.get of spreadsheet {spreadsheet_id}")
        })?;
        Ok(raw.into())
    }

    /// The values of `range` (A1 notation, `'My Sheet'!A1:C`; percent-encoded in the path) row
    /// by row: `GET /v4/spreadsheets/{id}/values/{range}` with `majorDimension=ROWS` and the
    /// render options. Rows are ragged; a range without data has no rows.
    ///
    /// # Errors
    /// As [`GoogleSheetsHook::spreadsheet`], and [`SheetsError::BadRange`] for a malformed
    /// range or an unknown tab.
    pub async fn values(
        &self,
        spreadsheet_id: &str,
        range: &str,
        options: ValueOptions,
    ) -> Result<ValueRange, SheetsError> {
        let mut request = HttpRequest::get(format!(
            "v4/spreadsheets/{}/values/{}",
            path_segment(spreadsheet_id),
            path_segment(range)
        ));
        for (name, value) in options.query() {
            request = request.query(name, value);
        }
        let response = self
            .call(request, self.context(spreadsheet_id, Some(range)))
            .await?;
        parse(&response, || {
            format!("values.get of spreadsheet {spreadsheet_id} range `{range}`")
        })
    }

    /// The values of several ranges in one request, in the order asked:
    /// `GET /v4/spreadsheets/{id}/values:batchGet?ranges=…&ranges=…`. No ranges, no request.
    ///
    /// # Errors
    /// As [`GoogleSheetsHook::values`].
    pub async fn batch_values(
        &self,
        spreadsheet_id: &str,
        ranges: &[String],
        options: ValueOptions,
    ) -> Result<Vec<ValueRange>, SheetsError> {
        if ranges.is_empty() {
            return Ok(Vec::new());
        }
        let mut request = HttpRequest::get(format!(
            "v4/spreadsheets/{}/values:batchGet",
            path_segment(spreadsheet_id)
        ));
        for range in ranges {
            request = request.query("ranges", range.as_str());
        }
        for (name, value) in options.query() {
            request = request.query(name, value);
        }
        let joined = ranges.join(", ");
        let response = self
            .call(request, self.context(spreadsheet_id, Some(&joined)))
            .await?;
        let raw: RawBatch = parse(&response, || {
            format!("values:batchGet of spreadsheet {spreadsheet_id} ranges `{joined}`")
        })?;
        Ok(raw.value_ranges)
    }

    /// What errors of a call about `spreadsheet_id` (and `range`) say.
    fn context<'a>(&'a self, spreadsheet_id: &'a str, range: Option<&'a str>) -> CallContext<'a> {
        CallContext {
            spreadsheet_id,
            range,
            credentials: match &self.auth {
                Auth::ApiKey(_) => Credentials::ApiKey,
                Auth::ServiceAccount(tokens) => Credentials::ServiceAccount(tokens.client_email()),
            },
        }
    }

    /// Sends `request` with the credentials (a service account's token refreshed once after a
    /// 401) and returns the successful response, or the error its answer means.
    async fn call(
        &self,
        request: HttpRequest,
        context: CallContext<'_>,
    ) -> Result<HttpResponse, SheetsError> {
        let request = request.accept_client_errors();
        let mut secrets = Vec::new();
        let response = match &self.auth {
            Auth::ApiKey(key) => {
                secrets.push(key.clone());
                self.api.execute(request).await?
            }
            Auth::ServiceAccount(tokens) => {
                let token = tokens.token(None).await?;
                secrets.push(token.secret.clone());
                let response = self
                    .api
                    .execute(request.clone().bearer(token.secret))
                    .await?;
                if response.status().as_u16() == 401 {
                    tracing::debug!(
                        client_email = tokens.client_email(),
                        generation = token.generation,
                        "access token refused (HTTP 401); refreshing it and retrying once"
                    );
                    let fresh = tokens.token(Some(token.generation)).await?;
                    secrets.push(fresh.secret.clone());
                    self.api.execute(request.bearer(fresh.secret)).await?
                } else {
                    response
                }
            }
        };
        if response.status().is_success() {
            return Ok(response);
        }
        let scrub = |mut text: String| {
            for secret in &secrets {
                let secret = secret.expose();
                if !secret.is_empty() && text.contains(secret) {
                    text = text.replace(secret, "***");
                }
            }
            text
        };
        Err(classify(
            response.status().as_u16(),
            response.body(),
            context,
            &scrub,
        ))
    }
}

/// The JSON body of `response` as `T`, or [`SheetsError::InvalidResponse`] about `what`.
fn parse<T: serde::de::DeserializeOwned>(
    response: &HttpResponse,
    what: impl FnOnce() -> String,
) -> Result<T, SheetsError> {
    serde_json::from_slice(response.body()).map_err(|e| SheetsError::InvalidResponse {
        what: what(),
        reason: format!("not the JSON the API documents ({e})"),
    })
}

/// A client builder for the origin (and path) of `url`, with the connection's `max_retries`.
/// The error says what is wrong with `url`, without quoting a query string.
fn client_builder(
    conn_id: &str,
    url: &str,
    max_retries: Option<&str>,
) -> Result<crate::http::HttpClientBuilder, String> {
    let mut parsed = Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!(
            "`{}` is not an http(s) URL with a host",
            crate::http::shown_url(&parsed)
        ));
    }
    parsed.set_query(None);
    parsed.set_fragment(None);
    if let Some(n) = max_retries {
        parsed.query_pairs_mut().append_pair("max_retries", n);
    }
    let conn = Connection::parse(conn_id, parsed.as_str()).map_err(|e| e.to_string())?;
    HttpClient::builder(&conn)
        .map(|b| b.source_type("gsheet"))
        .map_err(|e| e.to_string())
}
