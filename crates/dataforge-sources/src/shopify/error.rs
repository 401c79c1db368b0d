//! Errors of the `shopify` source's pure parts: bulk JSONL, saved cursor state, bulk queries.

use dataforge_core::ComponentError;

/// What can go wrong turning Shopify data or saved state into records and queries.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShopifySourceError {
    /// A line of a bulk operation's JSONL is not valid JSON.
    #[error("bulk JSONL line {line}: invalid JSON: {message}")]
    InvalidJson {
        /// The line number in the download, from 1.
        line: u64,
        /// The parser's message, with the column in the line.
        message: String,
    },
    /// A JSON integer literal beyond the largest decimal: refused rather than rounded.
    #[error(
        "bulk JSONL line {line}: the integer {number} ({digits} digits, column \
         {column}) is beyond the largest decimal (79228162514264337593543950335): refused rather \
         than rounded to a float"
    )]
    IntegerTooLarge {
        /// The line number in the download, from 1.
        line: u64,
        /// The byte column within the line, from 1.
        column: u64,
        /// The literal, cut after 40 characters.
        number: String,
        /// Its number of digits.
        digits: usize,
    },
    /// A line of a bulk operation's JSONL is JSON but not an object.
    #[error("bulk JSONL line {line}: expected a JSON object, found {found}")]
    NotAnObject {
        /// The line number in the download, from 1.
        line: u64,
        /// What was found instead.
        found: &'static str,
    },
    /// The incremental state saved by an earlier run is not in the shape this version writes.
    #[error(
        "the saved incremental state under `{key}` is unreadable ({message}); \
         delete it to start again from `incremental.start`"
    )]
    BadState {
        /// The state key.
        key: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The search filter could not be put into the user's bulk query.
    #[error("cannot add the incremental filter to the bulk query: {message}")]
    BulkQuery {
        /// Why.
        message: String,
    },
    /// A request to the shop failed (the hook's error names the shop and what to check).
    #[error("reading `{resource}` through {api}")]
    Api {
        /// The resource read.
        resource: String,
        /// `rest`, `graphql` or `bulk`.
        api: &'static str,
        /// The hook's error.
        #[source]
        source: Box<dataforge_hooks::shopify::ShopifyError>,
    },
    /// A page did not have the shape of a list response.
    #[error("`{resource}` page {page}: {message}")]
    BadPage {
        /// The resource read.
        resource: String,
        /// The page number, from 1.
        page: u64,
        /// What is wrong with it.
        message: String,
    },
    /// The bulk operation ended without a result.
    #[error(
        "bulk operation {operation} ended {status}{}{}",
        error_code.as_ref().map(|c| format!(" with error code {c}")).unwrap_or_default(),
        if *partial { " (Shopify kept partial data; the load does not use it, so nothing half-loaded is committed)" } else { "" }
    )]
    BulkFailed {
        /// The operation's id.
        operation: String,
        /// Its final status (`FAILED`, `CANCELED`, `EXPIRED`).
        status: String,
        /// Shopify's error code (`ACCESS_DENIED`, `INTERNAL_SERVER_ERROR`, `TIMEOUT`).
        error_code: Option<String>,
        /// Whether Shopify offered a partial result.
        partial: bool,
    },
    /// Another bulk query runs on the shop and `on_bulk_in_progress` is `fail`.
    #[error(
        "a bulk query operation is already running on {shop} ({operation}); \
         wait for it, cancel it, or set `on_bulk_in_progress: \"wait\"`"
    )]
    BulkInProgress {
        /// The shop.
        shop: String,
        /// The running operation's id.
        operation: String,
    },
    /// The bulk operation ran longer than the load waits.
    #[error("bulk operation {operation} still running after {}", humantime::format_duration(*waited))]
    BulkTimedOut {
        /// The operation's id.
        operation: String,
        /// How long the load waited.
        waited: std::time::Duration,
    },
}

impl From<ShopifySourceError> for ComponentError {
    fn from(e: ShopifySourceError) -> Self {
        // A failed request may succeed later, as the hook says; bad data, bad state and bad
        // queries come back the same on a retry.
        if let ShopifySourceError::Api { source, .. } = &e
            && source.is_retryable()
        {
            return ComponentError::retryable(e);
        }
        ComponentError::fatal(e)
    }
}
