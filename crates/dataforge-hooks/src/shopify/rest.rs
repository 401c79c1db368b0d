//! REST pages: [`RestRequest`], [`RestPage`], [`CallLimit`] and [`ShopifyHook::rest_page`].

use bytes::Bytes;
use reqwest::header::HeaderMap;

use super::error::ShopifyError;
use super::hook::ShopifyHook;
use crate::http::HttpRequest;

/// The header of the REST call-limit bucket: `used/size`.
pub(crate) const CALL_LIMIT_HEADER: &str = "x-shopify-shop-api-call-limit";

/// A REST page to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestRequest {
    /// The first page: `GET {shop}/admin/api/{version}/{resource}.json?{params}`.
    First {
        /// The resource path without `.json` (`orders`, `orders/count`, `customers`).
        resource: String,
        /// The query parameters (filters, `limit`), sent on the first page only.
        params: Vec<(String, String)>,
    },
    /// A later page: the `Link` header's `rel="next"` URL, followed verbatim.
    Next(String),
}

impl RestRequest {
    /// The first page of `resource` with `params`.
    pub fn first<K: Into<String>, V: Into<String>>(
        resource: impl Into<String>,
        params: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self::First {
            resource: resource.into(),
            params: params
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The resource asked for (`orders`), also for a `Next` URL
    /// (`…/admin/api/2026-10/orders.json?page_info=…` → `orders`).
    pub fn resource(&self) -> String {
        match self {
            Self::First { resource, .. } => clean_resource(resource).to_owned(),
            Self::Next(url) => {
                let path = url::Url::parse(url)
                    .map(|u| u.path().to_owned())
                    .unwrap_or_else(|_| url.split('?').next().unwrap_or_default().to_owned());
                let rest = match path.split_once("/admin/api/") {
                    // Skip the version segment.
                    Some((_, rest)) => rest.split_once('/').map_or(rest, |(_, r)| r),
                    None => path.as_str(),
                };
                clean_resource(rest).to_owned()
            }
        }
    }
}

/// A resource path without slashes around it or a `.json` suffix.
fn clean_resource(resource: &str) -> &str {
    let resource = resource.trim_matches('/');
    resource.strip_suffix(".json").unwrap_or(resource)
}

/// One REST page: the body as received, the next page's URL, the bucket's state.
#[derive(Debug, Clone)]
pub struct RestPage {
    /// The response body (JSON such as `{"orders":[…]}`).
    pub body: Bytes,
    /// The `Link` header's `rel="next"` URL; `None` on the last page.
    pub next: Option<String>,
    /// The `X-Shopify-Shop-Api-Call-Limit` header, when present.
    pub call_limit: Option<CallLimit>,
}

/// The REST call-limit bucket as a response reports it: `used/size` (`32/40`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimit {
    /// Requests in the bucket.
    pub used: u32,
    /// The bucket's size.
    pub size: u32,
}

impl CallLimit {
    /// Parses `used/size` (`"32/40"`); `None` when malformed.
    pub fn parse(value: &str) -> Option<Self> {
        let (used, size) = value.trim().split_once('/')?;
        Some(Self {
            used: used.trim().parse().ok()?,
            size: size.trim().parse().ok()?,
        })
    }

    /// The `X-Shopify-Shop-Api-Call-Limit` header of a response, if present and well formed.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        Self::parse(headers.get(CALL_LIMIT_HEADER)?.to_str().ok()?)
    }
}

impl ShopifyHook {
    /// Fetches one REST page, paced by the shop's call-limit bucket (shared by every hook of
    /// this app on the shop) and retried on 429, 5xx and transport failures.
    ///
    /// ```no_run
    /// # async fn demo(hook: dataforge_hooks::shopify::ShopifyHook) -> Result<(), Box<dyn std::error::Error>> {
    /// use dataforge_hooks::shopify::RestRequest;
    /// let mut request = RestRequest::first("orders", [("status", "any"), ("limit", "250")]);
    /// loop {
    ///     let page = hook.rest_page(request).await?;
    ///     // parse page.body
    ///     match page.next {
    ///         Some(next) => request = RestRequest::Next(next),
    ///         None => break,
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ShopifyError::Unauthorized`] (401), [`ShopifyError::ShopFrozen`] (402),
    /// [`ShopifyError::MissingScope`] (403), [`ShopifyError::NotFound`] (404),
    /// [`ShopifyError::ShopLocked`] (423), [`ShopifyError::BadRequest`] (400), none retried;
    /// [`ShopifyError::Http`] for the rest (after retries).
    pub async fn rest_page(&self, request: RestRequest) -> Result<RestPage, ShopifyError> {
        let resource = request.resource();
        let http_request = match request {
            RestRequest::First { params, .. } => {
                let url = format!(
                    "{}/admin/api/{}/{resource}.json",
                    self.origin(),
                    self.api_version()
                );
                params
                    .into_iter()
                    .fold(HttpRequest::get(url), |r, (k, v)| r.query(k, v))
            }
            RestRequest::Next(url) => HttpRequest::get(url),
        };
        let response = self
            .rest_client()
            .execute(http_request)
            .await
            .map_err(|e| self.status_error(e, &resource))?;
        Ok(RestPage {
            next: response.next_link(),
            call_limit: CallLimit::from_headers(response.headers()),
            body: response.body().clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_limit_parses() {
        assert_eq!(
            CallLimit::parse("32/40"),
            Some(CallLimit { used: 32, size: 40 })
        );
        assert_eq!(
            CallLimit::parse(" 1 / 400 "),
            Some(CallLimit { used: 1, size: 400 })
        );
        assert_eq!(CallLimit::parse("32"), None);
        assert_eq!(CallLimit::parse("a/40"), None);
    }

    #[test]
    fn resources_of_requests() {
        assert_eq!(
            RestRequest::first("/orders.json", [("a", "b")]).resource(),
            "orders"
        );
        assert_eq!(
            RestRequest::Next(
                "https://s.myshopify.com/admin/api/2026-10/draft_orders.json?page_info=x".into()
            )
            .resource(),
            "draft_orders"
        );
        assert_eq!(
            RestRequest::Next("https://s.myshopify.com/admin/api/2026-10/orders/count.json".into())
                .resource(),
            "orders/count"
        );
    }
}
