//! Shopify Admin API: [`ShopifyHook`], REST pages and GraphQL queries within the shop's rate
//! limits, bulk operations and their downloads.
//!
//! - REST: [`ShopifyHook::rest_page`] fetches one page (`Link rel="next"` followed verbatim);
//!   requests are paced by `X-Shopify-Shop-Api-Call-Limit: used/size` so that the bucket never
//!   fills: size and leak come from the headers (leak `size / 20` per second until measured),
//!   never from constants. A 429 is still retried after its `Retry-After` (`2.0`).
//! - GraphQL: [`ShopifyHook::graphql`] waits until the cost bucket
//!   (`extensions.cost.throttleStatus`) admits the query, waits out `THROTTLED` answers, and
//!   returns `MAX_COST_EXCEEDED` at once as [`ShopifyError::MaxCostExceeded`].
//! - Bulk: [`ShopifyHook::bulk_run_query`], [`ShopifyHook::bulk_operation`] (polling),
//!   [`ShopifyHook::bulk_cancel`], and [`ShopifyHook::download`] of the result (streamed,
//!   resumed, without the token).
//! - All hooks of one app (token) on one shop in the process share one REST pacer and one
//!   GraphQL throttle.
//!
//! Waits are logged at debug level (`wait_ms`), GraphQL costs at debug level; the token is in
//! no log, error or `Debug` output.

mod bulk;
mod error;
mod graphql;
mod graphql_throttle;
mod hook;
mod registry;
mod rest;
mod rest_pacer;

pub use bulk::{BulkOperation, BulkStatus};
pub use error::ShopifyError;
pub use graphql::{GraphqlResponse, MAX_THROTTLED_RETRIES, QueryCost};
pub use hook::{DEFAULT_API_VERSION, ShopifyHook};
pub use rest::{CallLimit, RestPage, RestRequest};
