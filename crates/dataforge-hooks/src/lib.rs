//! # dataforge-hooks
//!
//! Connection URIs turned into clients. Today: [`postgres`], PostgreSQL connect with TLS chosen
//! by the URI's `sslmode` (rustls; no system OpenSSL).
//!
//! Features: `postgres` (default) compiles [`postgres`] and its TLS stack; without it this
//! crate is empty and pulls no rustls.
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
