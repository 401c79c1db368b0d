//! # dataforge-hooks
//!
//! Connection URIs turned into clients. Today: [`postgres`], PostgreSQL connect with TLS chosen
//! by the URI's `sslmode` (rustls; no system OpenSSL).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use dataforge_core::Connection;
//! let conn = Connection::parse("pg", "postgres://loader@db:5432/warehouse?sslmode=require")?;
//! let client = dataforge_hooks::postgres::connect(&conn).await?;
//! client.simple_query("SELECT 1").await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod postgres;
