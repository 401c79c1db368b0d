//! [`ShopifyError`]: what went wrong with a Shopify request, and what to check. Never holds
//! the access token.

use dataforge_core::ComponentError;

use crate::http::HttpError;

/// Why a Shopify request failed. Each message names the shop and what to check; none contains
/// the access token (bodies quoted are scrubbed of it, URLs shown without query strings).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShopifyError {
    /// HTTP 401: the access token is invalid or was revoked.
    #[error(
        "shop {shop}: HTTP 401, the access token was refused (invalid or revoked); check the access token in {variable}"
    )]
    Unauthorized {
        /// The shop (`host[:port]`).
        shop: String,
        /// The environment variable of the connection (`DATAFORGE_CONN_<ID>`).
        variable: String,
    },
    /// HTTP 403: the app lacks an access scope.
    #[error(
        "shop {shop}: HTTP 403 for `{resource}`, the app lacks the access scope {scope}; grant it in the app's Admin API configuration{note}"
    )]
    MissingScope {
        /// The shop.
        shop: String,
        /// The REST resource (`orders`) or `graphql`.
        resource: String,
        /// The scope needed (`read_orders`), or a description when unknown.
        scope: String,
        /// More to check (orders older than 60 days need `read_all_orders`), or empty.
        note: String,
    },
    /// HTTP 404: the resource or the API version is unknown.
    #[error(
        "shop {shop}: HTTP 404 for `{resource}`, check that the resource exists and that the shop serves API version {api_version}"
    )]
    NotFound {
        /// The shop.
        shop: String,
        /// The REST resource or `graphql`.
        resource: String,
        /// The API version requested.
        api_version: String,
    },
    /// HTTP 402: the shop is frozen (unpaid bills).
    #[error(
        "shop {shop}: HTTP 402, the shop is frozen (unpaid); it answers again once its owner pays Shopify"
    )]
    ShopFrozen {
        /// The shop.
        shop: String,
    },
    /// HTTP 423: the shop is locked.
    #[error("shop {shop}: HTTP 423, the shop is locked; its owner must contact Shopify support")]
    ShopLocked {
        /// The shop.
        shop: String,
    },
    /// HTTP 400: the request was refused as malformed (such as filters sent with `page_info`).
    #[error("shop {shop}: HTTP 400, bad request for `{resource}`: {body}")]
    BadRequest {
        /// The shop.
        shop: String,
        /// The REST resource or `graphql`.
        resource: String,
        /// The start of the response body (≤ 300 characters).
        body: String,
    },
    /// GraphQL `THROTTLED` answers kept coming after the retries allowed.
    #[error(
        "shop {shop}: GraphQL query throttled {attempts} time(s){gave_up}; another app or pipeline may be using the shop's query cost budget"
    )]
    Throttled {
        /// The shop.
        shop: String,
        /// Attempts made.
        attempts: u32,
        /// Why retries stopped (the cap or the run's budget).
        gave_up: String,
    },
    /// GraphQL `MAX_COST_EXCEEDED`: the query costs more than a single query may; ask for
    /// fewer items per page. Never retried.
    #[error(
        "shop {shop}: GraphQL query cost {cost} exceeds the single query maximum of {max}; request fewer items per page"
    )]
    MaxCostExceeded {
        /// The shop.
        shop: String,
        /// The query's cost.
        cost: f64,
        /// The maximum cost of a single query.
        max: f64,
    },
    /// GraphQL errors other than throttling (an unknown field, a bad variable).
    #[error("shop {shop}: GraphQL errors: {}", messages.join("; "))]
    Graphql {
        /// The shop.
        shop: String,
        /// Each error's message, with its code in brackets when given.
        messages: Vec<String>,
    },
    /// A bulk operation is already running for this app on the shop.
    #[error(
        "shop {shop}: a bulk query is already in progress ({}); wait for it to finish or cancel it",
        id.as_deref().unwrap_or("id unknown")
    )]
    OperationInProgress {
        /// The shop.
        shop: String,
        /// The running operation's id, when the message names it.
        id: Option<String>,
    },
    /// `bulkOperationRunQuery` or `bulkOperationCancel` answered user errors.
    #[error("shop {shop}: bulk operation refused: {}", messages.join("; "))]
    BulkRejected {
        /// The shop.
        shop: String,
        /// Each user error: field, message and code.
        messages: Vec<String>,
    },
    /// No bulk operation has this id.
    #[error("shop {shop}: no bulk operation {id}; check the id")]
    BulkNotFound {
        /// The shop.
        shop: String,
        /// The id asked for.
        id: String,
    },
    /// Any other HTTP failure (5xx or transport after retries, 429 after retries, other 4xx).
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The response is not what the API documents.
    #[error("shop {shop}: unexpected response to {what}: {reason}")]
    InvalidResponse {
        /// The shop.
        shop: String,
        /// The request (`GraphQL query`, `orders`).
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The connection URI cannot be a Shopify connection.
    #[error("connection `{conn_id}`: {reason}")]
    InvalidConnection {
        /// The connection's id.
        conn_id: String,
        /// What is wrong, without the token.
        reason: String,
    },
}

impl ShopifyError {
    /// True when a later run may succeed: HTTP failures that are (429, 5xx, transport),
    /// throttling that outlasted the retries, and a bulk operation already in progress.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Http(e) => e.is_retryable(),
            Self::Throttled { .. } | Self::OperationInProgress { .. } => true,
            _ => false,
        }
    }
}

impl From<ShopifyError> for ComponentError {
    fn from(error: ShopifyError) -> Self {
        if error.is_retryable() {
            ComponentError::retryable(error)
        } else {
            ComponentError::fatal(error)
        }
    }
}

/// The access scope that reading a REST resource needs: `orders` → `read_orders`,
/// `inventory_items` → `read_inventory`, otherwise `read_<resource>`.
pub(crate) fn scope_of(resource: &str) -> String {
    let first = resource
        .trim_matches('/')
        .split('/')
        .next()
        .unwrap_or(resource);
    match first {
        "inventory_items" | "inventory_levels" => "read_inventory".into(),
        other => format!("read_{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_of_resources() {
        assert_eq!(scope_of("orders"), "read_orders");
        assert_eq!(scope_of("orders/count"), "read_orders");
        assert_eq!(scope_of("draft_orders"), "read_draft_orders");
        assert_eq!(scope_of("inventory_items"), "read_inventory");
        assert_eq!(scope_of("customers"), "read_customers");
    }
}
