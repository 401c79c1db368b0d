//! The HTTP metrics: requests by source type and status class, throttling by source type.
//!
//! Recorded through the `metrics` facade (a no-op until the application installs a recorder).
//! Labels are bounded: the source type (`shopify`, `gsheet`, `http`) and a status class or a
//! throttling kind, never a URL.

use metrics::{counter, describe_counter};
use reqwest::StatusCode;

/// HTTP attempts, by `source_type` and `status` class (`2xx` … `5xx`, or `error` when no
/// response came).
pub const HTTP_REQUESTS: &str = "dataforge_http_requests_total";
/// Requests an API throttled, by `source_type` and `kind` (`http_429`, or
/// `graphql_throttled` for Shopify's GraphQL `THROTTLED` answers).
pub const HTTP_THROTTLED: &str = "dataforge_http_throttled_total";

/// Describes the metrics above to the installed recorder.
pub fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP attempts, by source type and status class."
    );
    describe_counter!(
        HTTP_THROTTLED,
        "Requests an API throttled (HTTP 429, Shopify GraphQL THROTTLED), by source type."
    );
}

/// Counts one attempt that got `status` (`None`: no response).
pub(crate) fn record_attempt(source_type: &'static str, status: Option<StatusCode>) {
    let class = match status.map(|s| s.as_u16() / 100) {
        Some(1) => "1xx",
        Some(2) => "2xx",
        Some(3) => "3xx",
        Some(4) => "4xx",
        Some(5) => "5xx",
        _ => "error",
    };
    counter!(HTTP_REQUESTS, "source_type" => source_type, "status" => class).increment(1);
    if status == Some(StatusCode::TOO_MANY_REQUESTS) {
        record_throttled(source_type, "http_429");
    }
}

/// Counts one throttled request of kind `kind`.
pub(crate) fn record_throttled(source_type: &'static str, kind: &'static str) {
    counter!(HTTP_THROTTLED, "source_type" => source_type, "kind" => kind).increment(1);
}
