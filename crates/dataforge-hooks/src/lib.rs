//! # dataforge-hooks
//!
//! Connection URIs turned into clients: [`postgres`], PostgreSQL connect with TLS chosen by the
//! URI's `sslmode`, and [`http`], an HTTP client for API sources (retries with backoff,
//! `Retry-After`, a per-run retry budget, `Link` paging, pacing, resumable downloads), and
//! [`shopify`], the Shopify Admin API hook (REST and GraphQL within the shop's rate limits,
//! bulk operations), and [`google_sheets`], the Google Sheets API v4 hook (values by API key or
//! service account, whose RS256 JWT is signed with ring). All use rustls (no system OpenSSL).
//!
//! Features: `postgres` (default) compiles [`postgres`] and its TLS stack; `http` (default)
//! compiles [`http`] and reqwest; `shopify` (default, implies `http`) compiles [`shopify`];
//! `google_sheets` (default, implies `http`) compiles [`google_sheets`] and jsonwebtoken.
//! Without any this crate is empty and pulls no rustls.
//!
//! ```no_run
//! # #[cfg(feature = "postgres")]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use dataforge_core::Connection;
//! let conn = Connection::parse("pg", "postgres://loader@db:5432/warehouse?sslmode=require")?;
//! let client = dataforge_hooks::postgres::connect(&conn).await?;
//! client.simple_query("SELECT 1").await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "postgres")]
pub mod postgres;

#[cfg(feature = "http")]
pub mod http;

#[cfg(feature = "shopify")]
pub mod shopify;

#[cfg(feature = "google_sheets")]
pub mod google_sheets;

#[cfg(feature = "openlineage")]
pub mod openlineage;
