//! [`ShopifyHook`]: a Shopify Admin API client for one shop, built from a connection.

use std::fmt;
use std::sync::Arc;

use dataforge_core::{Connection, EnvConnections, SecretString};

use super::error::{ShopifyError, scope_of};
use super::graphql_throttle::GraphqlThrottle;
use super::registry::{Throttles, throttles_for};
use crate::http::{ByteStream, HttpAuth, HttpClient, HttpError, Pacer, RetryBudget};

/// The Admin API version used when none is given: the current stable version (as of 2026-12).
pub const DEFAULT_API_VERSION: &str = "2026-10";

/// The header that carries the access token.
const TOKEN_HEADER: &str = "X-Shopify-Access-Token";

/// A Shopify Admin API client for one shop: REST pages paced by the call-limit bucket, GraphQL
/// queries admitted by the cost bucket, bulk operations, and downloads of their results.
///
/// Hooks of one app (access token) on one shop share their throttles process-wide, so that
/// several pipelines on one shop stay within its limits together. Cloning is cheap and shares
/// the connection pool, the throttles and the retry budget. `Debug` shows the shop and the API
/// version only; the token appears in no output, error or log.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use dataforge_core::Connection;
/// use dataforge_hooks::http::RetryBudget;
/// use dataforge_hooks::shopify::{RestRequest, ShopifyHook};
/// let conn = Connection::parse("shop", "https://:shpat_xxx@example.myshopify.com")?;
/// let hook = ShopifyHook::new(&conn, None)?.with_budget(RetryBudget::new(50));
/// let page = hook
///     .rest_page(RestRequest::first("orders", [("status", "any"), ("limit", "250")]))
///     .await?;
/// # let _ = page;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ShopifyHook {
    shop: Arc<str>,
    api_version: Arc<str>,
    /// `scheme://host[:port]`.
    origin: Arc<str>,
    /// The connection's environment variable, named in 401 errors.
    variable: Arc<str>,
    /// Paced by the REST bucket.
    rest: HttpClient,
    /// Unpaced: GraphQL has its own throttle, downloads none.
    graphql: HttpClient,
    throttles: Arc<Throttles>,
    /// The token, kept to scrub it from texts a server sends back.
    token: SecretString,
}

impl fmt::Debug for ShopifyHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShopifyHook")
            .field("shop", &self.shop)
            .field("api_version", &self.api_version)
            .finish_non_exhaustive()
    }
}

impl ShopifyHook {
    /// A hook from a connection URI `https://:TOKEN@shop.myshopify.com` (`http://` for local
    /// servers; the token as user name, `https://TOKEN@shop…`, is accepted too), for
    /// `api_version` (default [`DEFAULT_API_VERSION`]).
    ///
    /// # Errors
    /// [`ShopifyError::InvalidConnection`] when the URI is not http(s) with a host, carries no
    /// token, or the API version is malformed.
    pub fn new(conn: &Connection, api_version: Option<&str>) -> Result<Self, ShopifyError> {
        let invalid = |reason: String| ShopifyError::InvalidConnection {
            conn_id: conn.conn_id().to_owned(),
            reason,
        };
        const EXPECTED: &str = "expected https://:TOKEN@SHOP.myshopify.com";
        let (Some(host), true) = (conn.host(), matches!(conn.scheme(), "http" | "https")) else {
            return Err(invalid(format!(
                "a Shopify connection is an http(s) URL with a host; {EXPECTED}"
            )));
        };
        let token = conn
            .password()
            .map(|p| p.expose().to_owned())
            .filter(|p| !p.is_empty())
            .or_else(|| Some(conn.username()).filter(|u| !u.is_empty()))
            .ok_or_else(|| invalid(format!("no access token in the URI; {EXPECTED}")))?;
        let api_version = api_version.unwrap_or(DEFAULT_API_VERSION);
        if api_version.is_empty()
            || !api_version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(invalid(format!(
                "API version `{api_version}` is neither YYYY-MM nor `unstable`"
            )));
        }
        let shop = match conn.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let throttles = throttles_for(&shop, &token);
        let http_error = |e: HttpError| invalid(e.to_string());
        let token = SecretString::new(token);
        let auth = HttpAuth::header(TOKEN_HEADER, token.clone()).map_err(http_error)?;
        let graphql = HttpClient::builder(conn)
            .map_err(http_error)?
            .auth(auth)
            .source_type("shopify")
            .build()
            .map_err(http_error)?;
        let pacer: Arc<dyn Pacer> = throttles.rest.clone();
        let rest = graphql.with_pacer(Some(pacer));
        Ok(Self {
            origin: format!("{}://{shop}", conn.scheme()).into(),
            shop: shop.into(),
            api_version: api_version.into(),
            variable: EnvConnections::variable(conn.conn_id()).into(),
            rest,
            graphql,
            throttles,
            token,
        })
    }

    /// This hook drawing its retries from `budget` (one per run), sharing the connection pool
    /// and the throttles.
    pub fn with_budget(&self, budget: RetryBudget) -> Self {
        Self {
            rest: self.rest.with_budget(budget.clone()),
            graphql: self.graphql.with_budget(budget),
            ..self.clone()
        }
    }

    /// The shop: `host[:port]` (`example.myshopify.com`).
    pub fn shop(&self) -> &str {
        &self.shop
    }

    /// The Admin API version requested (`2026-10`).
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// Streams the body at `url` (a bulk result's pre-signed URL, on another host) without
    /// sending the access token, resuming with `Range` when the connection drops; see
    /// [`HttpClient::download`].
    ///
    /// # Errors
    /// [`ShopifyError::Http`] when the download cannot start after its retries (an expired
    /// URL answers 403); the stream yields [`crate::http::HttpError`]s.
    pub async fn download(&self, url: &str) -> Result<ByteStream, ShopifyError> {
        Ok(self.graphql.download(url).await?)
    }

    /// `text` with the token, should a server echo it, replaced by `***`.
    pub(crate) fn scrub(&self, text: String) -> String {
        let token = self.token.expose();
        if !token.is_empty() && text.contains(token) {
            text.replace(token, "***")
        } else {
            text
        }
    }

    /// `scheme://host[:port]`.
    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    /// The client of REST requests (paced).
    pub(crate) fn rest_client(&self) -> &HttpClient {
        &self.rest
    }

    /// The client of GraphQL requests (not paced by the REST bucket).
    pub(crate) fn graphql_client(&self) -> &HttpClient {
        &self.graphql
    }

    /// The GraphQL throttle of this app on this shop.
    pub(crate) fn graphql_throttle(&self) -> &GraphqlThrottle {
        &self.throttles.graphql
    }

    /// The error of a failed request to `resource` (`orders`, `graphql`): Shopify's meaning of
    /// 400, 401, 402, 403, 404 and 423, else the HTTP error.
    pub(crate) fn status_error(&self, error: HttpError, resource: &str) -> ShopifyError {
        let shop = self.shop.to_string();
        let resource = resource.to_owned();
        match error.status() {
            Some(400) => ShopifyError::BadRequest {
                shop,
                resource,
                body: match error {
                    HttpError::Status { body, .. } => body,
                    other => other.to_string(),
                },
            },
            Some(401) => ShopifyError::Unauthorized {
                shop,
                variable: self.variable.to_string(),
            },
            Some(402) => ShopifyError::ShopFrozen { shop },
            Some(403) => {
                let (scope, note) = if resource == "graphql" {
                    ("the query's fields need".to_owned(), String::new())
                } else {
                    let scope = scope_of(&resource);
                    let note = if scope == "read_orders" {
                        "; orders older than 60 days also need `read_all_orders`".to_owned()
                    } else {
                        String::new()
                    };
                    (format!("`{scope}`"), note)
                };
                ShopifyError::MissingScope {
                    shop,
                    resource,
                    scope,
                    note,
                }
            }
            Some(404) => ShopifyError::NotFound {
                shop,
                resource,
                api_version: self.api_version.to_string(),
            },
            Some(423) => ShopifyError::ShopLocked { shop },
            _ => ShopifyError::Http(error),
        }
    }
}
