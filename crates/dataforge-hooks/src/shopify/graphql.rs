//! GraphQL queries: [`ShopifyHook::graphql`], [`GraphqlResponse`], [`QueryCost`].

use std::time::Duration;

use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde_json::Value;

use super::error::ShopifyError;
use super::graphql_throttle::GraphqlThrottle;
use super::hook::ShopifyHook;
use crate::http::HttpRequest;

/// Retries of one query answered `THROTTLED`, at most (each also takes one from the run's
/// retry budget).
pub const MAX_THROTTLED_RETRIES: u32 = 20;

/// The longest wait after a `THROTTLED` answer.
const MAX_THROTTLED_WAIT: Duration = Duration::from_secs(60);

/// A GraphQL answer without errors.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphqlResponse {
    /// The `data` object.
    pub data: Value,
    /// The warnings of `extensions.search[].warnings[]` (`field 00: Invalid search field for
    /// this query.`): the search ran with a different filter than written.
    pub search_warnings: Vec<String>,
    /// `extensions.cost`, when reported.
    pub cost: Option<QueryCost>,
}

/// A query's cost and the shop's cost bucket (`extensions.cost`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueryCost {
    /// `requestedQueryCost`: what admission required.
    pub requested: f64,
    /// `actualQueryCost`: what the bucket was charged (`None` when throttled).
    pub actual: Option<f64>,
    /// `throttleStatus.currentlyAvailable`.
    pub available: f64,
    /// `throttleStatus.maximumAvailable`.
    pub maximum: f64,
    /// `throttleStatus.restoreRate`, points per second.
    pub restore_rate: f64,
}

impl QueryCost {
    /// `extensions.cost` of a GraphQL response body, if complete.
    pub fn from_body(body: &Value) -> Option<Self> {
        let cost = body.get("extensions")?.get("cost")?;
        let status = cost.get("throttleStatus")?;
        Some(Self {
            requested: cost.get("requestedQueryCost")?.as_f64()?,
            actual: cost.get("actualQueryCost").and_then(Value::as_f64),
            available: status.get("currentlyAvailable")?.as_f64()?,
            maximum: status.get("maximumAvailable")?.as_f64()?,
            restore_rate: status.get("restoreRate")?.as_f64()?,
        })
    }
}

/// One entry of a response's `errors`.
#[derive(Debug, Clone)]
struct GraphqlError {
    message: String,
    code: Option<String>,
    extensions: Value,
}

impl GraphqlError {
    /// `message [CODE]`.
    fn describe(&self) -> String {
        match &self.code {
            Some(code) => format!("{} [{code}]", self.message.trim()),
            None => self.message.trim().to_owned(),
        }
    }
}

/// The `errors` of a body: an array of `{message, extensions{code}}`, or the REST-style
/// string or object some endpoints answer.
fn errors_of(body: &Value) -> Vec<GraphqlError> {
    match body.get("errors") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(errors)) => errors
            .iter()
            .map(|error| {
                let extensions = error.get("extensions").cloned().unwrap_or(Value::Null);
                GraphqlError {
                    message: match error.get("message") {
                        Some(Value::String(m)) => m.clone(),
                        _ => error.to_string(),
                    },
                    code: extensions
                        .get("code")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    extensions,
                }
            })
            .collect(),
        Some(Value::String(message)) => vec![GraphqlError {
            message: message.clone(),
            code: None,
            extensions: Value::Null,
        }],
        Some(other) => vec![GraphqlError {
            message: other.to_string(),
            code: None,
            extensions: Value::Null,
        }],
    }
}

/// `extensions.search[].warnings[]` as `field F: MESSAGE`.
fn search_warnings(body: &Value) -> Vec<String> {
    let Some(searches) = body
        .get("extensions")
        .and_then(|e| e.get("search"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    searches
        .iter()
        .filter_map(|search| search.get("warnings").and_then(Value::as_array))
        .flatten()
        .map(|warning| {
            let message = warning
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("(no message)");
            match warning.get("field").and_then(Value::as_str) {
                Some(field) => format!("field {field}: {message}"),
                None => message.to_owned(),
            }
        })
        .collect()
}

impl ShopifyHook {
    /// Runs a GraphQL query (`POST /admin/api/{version}/graphql.json`), admitted by the shop's
    /// cost bucket (shared by every hook of this app on the shop): a query waits until the
    /// estimate has the points it requested last time. `THROTTLED` answers are waited out
    /// (`(requested − available) / restoreRate` s) and retried, at most
    /// [`MAX_THROTTLED_RETRIES`] times and within the run's retry budget.
    ///
    /// ```no_run
    /// # async fn demo(hook: dataforge_hooks::shopify::ShopifyHook) -> Result<(), Box<dyn std::error::Error>> {
    /// let response = hook
    ///     .graphql(
    ///         "query($n: Int!) { orders(first: $n) { nodes { id } } }",
    ///         serde_json::json!({ "n": 50 }),
    ///     )
    ///     .await?;
    /// for warning in &response.search_warnings {
    ///     tracing::warn!(%warning, "search filter changed by Shopify");
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ShopifyError::MaxCostExceeded`] at once (ask for fewer items); [`ShopifyError::Throttled`]
    /// when throttling outlasts the retries; [`ShopifyError::Graphql`] for any other `errors`
    /// (not retried); the HTTP errors of [`ShopifyHook::rest_page`];
    /// [`ShopifyError::InvalidResponse`] when the body is not JSON or has no `data`.
    pub async fn graphql(
        &self,
        query: &str,
        variables: Value,
    ) -> Result<GraphqlResponse, ShopifyError> {
        let url = format!(
            "{}/admin/api/{}/graphql.json",
            self.origin(),
            self.api_version()
        );
        let body = serde_json::json!({ "query": query, "variables": variables }).to_string();
        let throttle = self.graphql_throttle();
        let key = GraphqlThrottle::key(query);
        let mut attempts: u32 = 0;
        loop {
            attempts += 1;
            let ticket = throttle.admit(key).await;
            let request = HttpRequest::new(Method::POST, url.as_str())
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body.clone());
            let response = self
                .graphql_client()
                .execute(request)
                .await
                .map_err(|e| self.status_error(e, "graphql"))?;
            let value: Value =
                serde_json::from_slice(response.body()).map_err(|e| self.invalid(e.to_string()))?;
            let cost = QueryCost::from_body(&value);
            ticket.settle(cost.as_ref());
            if let Some(cost) = &cost {
                tracing::debug!(
                    shop = %self.shop(),
                    requested = cost.requested,
                    actual = cost.actual,
                    available = cost.available,
                    maximum = cost.maximum,
                    restore_rate = cost.restore_rate,
                    "Shopify GraphQL cost"
                );
            }
            let errors = errors_of(&value);
            if errors.is_empty() {
                return self.success(value, cost);
            }
            if errors
                .iter()
                .any(|e| e.code.as_deref() == Some("THROTTLED"))
            {
                crate::http::metrics::record_throttled(
                    self.graphql_client().source_type(),
                    "graphql_throttled",
                );
                self.wait_out_throttling(attempts, cost.as_ref()).await?;
                continue;
            }
            if let Some(error) = errors
                .iter()
                .find(|e| e.code.as_deref() == Some("MAX_COST_EXCEEDED"))
            {
                let number = |name| error.extensions.get(name).and_then(Value::as_f64);
                return Err(ShopifyError::MaxCostExceeded {
                    shop: self.shop().to_owned(),
                    cost: number("cost").unwrap_or(f64::NAN),
                    max: number("maxCost").unwrap_or(f64::NAN),
                });
            }
            return Err(ShopifyError::Graphql {
                shop: self.shop().to_owned(),
                messages: errors.iter().map(|e| self.scrub(e.describe())).collect(),
            });
        }
    }

    /// The response of a body without errors.
    fn success(
        &self,
        mut value: Value,
        cost: Option<QueryCost>,
    ) -> Result<GraphqlResponse, ShopifyError> {
        let search_warnings = search_warnings(&value);
        match value.get_mut("data").map(Value::take) {
            Some(data) if !data.is_null() => Ok(GraphqlResponse {
                data,
                search_warnings,
                cost,
            }),
            _ => Err(self.invalid("no `data` and no `errors`".into())),
        }
    }

    /// After a `THROTTLED` answer: takes a retry (cap and budget) and waits
    /// `(requested − available) / restoreRate`.
    async fn wait_out_throttling(
        &self,
        attempts: u32,
        cost: Option<&QueryCost>,
    ) -> Result<(), ShopifyError> {
        let gave_up = if attempts > MAX_THROTTLED_RETRIES {
            Some(format!("; retry cap of {MAX_THROTTLED_RETRIES} reached"))
        } else if !self.graphql_client().budget().try_take() {
            Some("; the run's retry budget is spent".to_owned())
        } else {
            None
        };
        if let Some(gave_up) = gave_up {
            return Err(ShopifyError::Throttled {
                shop: self.shop().to_owned(),
                attempts,
                gave_up,
            });
        }
        let seconds = match cost {
            Some(c) if c.restore_rate > 0.0 => (c.requested - c.available) / c.restore_rate,
            _ => 1.0,
        };
        let wait = Duration::try_from_secs_f64(seconds.max(0.0))
            .unwrap_or(MAX_THROTTLED_WAIT)
            .min(MAX_THROTTLED_WAIT);
        tracing::debug!(
            shop = %self.shop(),
            wait_ms = wait.as_millis() as u64,
            attempt = attempts,
            "Shopify GraphQL throttled: waiting"
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }

    fn invalid(&self, reason: String) -> ShopifyError {
        ShopifyError::InvalidResponse {
            shop: self.shop().to_owned(),
            what: "a GraphQL query".into(),
            reason: self.scrub(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttled_body_parses_as_in_the_protocol_notes() {
        let body: Value = serde_json::from_str(
            r#"{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED","documentation":"https://shopify.dev/api/usage/rate-limits"}}],"extensions":{"cost":{"requestedQueryCost":862,"actualQueryCost":null,"throttleStatus":{"maximumAvailable":4000.0,"currentlyAvailable":572,"restoreRate":200.0}}}}"#,
        )
        .unwrap_or_default();
        let cost = QueryCost::from_body(&body);
        assert_eq!(
            cost,
            Some(QueryCost {
                requested: 862.0,
                actual: None,
                available: 572.0,
                maximum: 4000.0,
                restore_rate: 200.0
            })
        );
        let errors = errors_of(&body);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].code.as_deref(), Some("THROTTLED"));
        assert_eq!(errors[0].describe(), "Throttled [THROTTLED]");
    }

    #[test]
    fn search_warnings_read_as_field_and_message() {
        let body: Value = serde_json::from_str(
            r#"{"data":{},"extensions":{"search":[{"path":["orders"],"query":"updated_at:>=2026-01-01T00:00:00Z","parsed":{},"warnings":[{"field":"00","message":"Invalid search field for this query.","code":"invalid_field"}]}]}}"#,
        )
        .unwrap_or_default();
        assert_eq!(
            search_warnings(&body),
            ["field 00: Invalid search field for this query."]
        );
        assert!(search_warnings(&serde_json::json!({"data": {}})).is_empty());
    }
}
