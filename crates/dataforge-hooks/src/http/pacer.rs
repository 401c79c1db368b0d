//! [`Pacer`]: a hook that paces a client's requests (a rate limiter fed by the responses).

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

/// Paces a client's requests: awaited before every attempt (retries included), told of every
/// response (errors included).
///
/// Installed with [`HttpClientBuilder::pacer`](super::HttpClientBuilder::pacer) or
/// [`HttpClient::with_pacer`](super::HttpClient::with_pacer); an API's rate limiter (such as
/// Shopify's call-limit bucket) implements it. Downloads
/// ([`HttpClient::download`](super::HttpClient::download)) are not paced.
#[dataforge_core::async_trait]
pub trait Pacer: Send + Sync + 'static {
    /// Waits until the next attempt may be sent (and reserves its slot).
    async fn before_attempt(&self);

    /// Learns from a response received (any status, 429 included); not called when no response
    /// came (a transport failure).
    fn on_response(&self, status: StatusCode, headers: &HeaderMap);
}
