//! The `shopify` source's building blocks: reads a Shopify store's Admin API resources
//! (orders, customers, products, …) through REST, paged GraphQL, or a GraphQL bulk operation.
//!
//! ```json
//! {"type": "shopify", "conn_id": "shopify_default", "resource": "orders", "params": {"status": "any"}}
//! ```
//! - `conn_id` (default `shopify_default`): `DATAFORGE_CONN_<ID>` =
//!   `https://:ACCESS_TOKEN@my-shop.myshopify.com`.
//! - `resource`: a REST list resource (`orders`, `customers`, `products`, `draft_orders`,
//!   `inventory_items`, …).
//! - `api`: `rest` (default; `Link`-header pages, filters in `params`, `status=any` added for
//!   orders, `limit` = `page_size`, `fields` = what the pipeline reads when it reads only some
//!   fields: see `dataforge_core::Projection`), `graphql` (cursor pages; built-in queries for orders,
//!   customers and products, or your own `query` with `$first`, `$after`, `$query`) or `bulk`
//!   (one bulk operation, then its JSONL download; nested connections arrive as their own rows
//!   with `__parentId`). `on_bulk_in_progress`: `wait` (default) or `fail`.
//! - `page_size` (1–250, default 250), `api_version` (`YYYY-MM` quarterly, or `unstable`).
//! - `incremental`: `{"cursor_field": "updated_at", "lookback": "5m", "start": "2024-01-01T00:00:00Z"}`
//!   loads only records changed since the last committed run, each version once (see
//!   `incremental.rs`).
//!
//! A bulk query Shopify would refuse is a config error, found before any request, with
//! Shopify's own message (`bulk_query.rs`).
//!
//! Files: `config.rs` (keys and validation), `bulk_query.rs` (GraphQL checks), `queries.rs`
//! (built-in queries and search filters), `bulk_jsonl.rs` (JSONL download → records on the
//! workers), `incremental.rs` (cursor and boundary), `error.rs`. `source.rs` (the
//! [`ShopifySource`]: connection, cursor, dispatch), `rest.rs`, `graphql.rs` and `bulk.rs` (the
//! drivers over `dataforge_hooks::shopify::ShopifyHook`).

mod bulk;
mod bulk_jsonl;
mod bulk_query;
mod config;
mod error;
mod graphql;
mod incremental;
mod queries;
mod rest;
mod source;

use dataforge_core::{ConfigErrors, Source, SourceFactory};

pub use config::{IncrementalConfig, OnBulkInProgress, ShopifyApi, ShopifySourceConfig};
pub use error::ShopifySourceError;
pub use source::ShopifySource;

/// Registers the `shopify` source.
pub struct ShopifySourceFactory;

impl SourceFactory for ShopifySourceFactory {
    const NAME: &'static str = "shopify";
    const DESCRIPTION: &'static str =
        "Reads a Shopify store's orders, customers, products, … (REST, GraphQL or bulk operations)";
    type Config = ShopifySourceConfig;

    fn build(config: ShopifySourceConfig) -> Result<impl Source, ConfigErrors> {
        ShopifySource::from_config(config)
    }
}

impl ShopifySource {
    /// Validates `config` and builds the source (no I/O: the shop is called by `extract`).
    ///
    /// # Errors
    /// Every problem in the config, each at its key.
    pub fn from_config(config: ShopifySourceConfig) -> Result<Self, ConfigErrors> {
        config.validate().map(ShopifySource::new)
    }
}

dataforge_core::register_source!(ShopifySourceFactory);
