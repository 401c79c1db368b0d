//! HTTP client for API sources: reqwest with rustls, retries with backoff, `Link` paging.
//!
//! - [`HttpClient`] is built from a [`Connection`](dataforge_core::Connection): its URI is the
//!   base URL, and its credentials ([`HttpAuth`]) are applied to every request and never
//!   printed (`Debug`, errors and logs show the path only).
//! - [`RetryPolicy`] retries connect errors, timeouts, dropped connections, 429 and 5xx with
//!   exponential backoff and jitter (`backon`), honouring `Retry-After`; a [`RetryBudget`]
//!   shared by all requests of a run caps the retries of the run. Other 4xx are never retried.
//! - [`next_link`] / [`parse_link_header`] read RFC 8288 `Link` headers, and
//!   [`HttpClient::pages`] follows `rel="next"` as a stream of pages.
//! - A [`Pacer`] (an API's rate limiter) is awaited before every attempt and told of every
//!   response.
//! - [`HttpClient::download`] streams a body from any origin without credentials, resuming
//!   with `Range` when the connection drops.
//!
//! Every attempt is counted in [`metrics::HTTP_REQUESTS`] (429s in [`metrics::HTTP_THROTTLED`])
//! under the client's [source type](HttpClientBuilder::source_type), and runs in a `tracing` span `http.request` with `method`, `path` (no query
//! string), `attempt`, `status`, `bytes` and `ms`.

mod client;
mod download;
mod error;
mod link;
pub mod metrics;
mod pacer;
mod pages;
mod retry;

#[cfg(feature = "google_sheets")]
pub(crate) use client::shown_url;
pub use client::{HttpAuth, HttpClient, HttpClientBuilder, HttpRequest, HttpResponse, USER_AGENT};
#[cfg(feature = "openlineage")]
pub(crate) use client::{error_chain, tls_config};
pub use download::ByteStream;
pub use error::HttpError;
#[cfg(feature = "google_sheets")]
pub(crate) use error::body_excerpt;
pub use link::{LinkValue, next_link, parse_link_header};
pub use pacer::Pacer;
pub use retry::{RetryBudget, RetryPolicy, parse_retry_after};
