//! Errors of the `shopify` source's pure parts: bulk JSONL, saved cursor state, bulk queries.

use dataforge_core::ComponentError;

/// What can go wrong turning Shopify data or saved state into records and queries.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShopifySourceError {
    /// A line of a bulk operation's JSONL is not valid JSON.
    #[error("shopify source: bulk JSONL line {line}: invalid JSON: {message}")]
    InvalidJson {
        /// The line number in the download, from 1.
        line: u64,
        /// The parser's message, with the column in the line.
        message: String,
    },
    /// A JSON integer literal beyond the largest decimal: refused rather than rounded.
    #[error(
        "shopify source: bulk JSONL line {line}: the integer {number} ({digits} digits, column \
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
    #[error("shopify source: bulk JSONL line {line}: expected a JSON object, found {found}")]
    NotAnObject {
        /// The line number in the download, from 1.
        line: u64,
        /// What was found instead.
        found: &'static str,
    },
    /// The incremental state saved by an earlier run is not in the shape this version writes.
    #[error(
        "shopify source: the saved incremental state under `{key}` is unreadable ({message}); \
         delete it to start again from `incremental.start`"
    )]
    BadState {
        /// The state key.
        key: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The search filter could not be put into the user's bulk query.
    #[error("shopify source: cannot add the incremental filter to the bulk query: {message}")]
    BulkQuery {
        /// Why.
        message: String,
    },
}

impl From<ShopifySourceError> for ComponentError {
    fn from(e: ShopifySourceError) -> Self {
        // Bad data, bad state and bad queries come back the same on a retry.
        ComponentError::fatal(e)
    }
}
