//! # dataforge-destinations
//!
//! DataForge's built-in destinations: `file` (JSONL, CSV), `postgres` and `sqlite`.
//!
//! Linking: name this crate somewhere in your binary (`use dataforge_destinations as _;`) or
//! call [`register`]; a crate nothing references is not linked and its components vanish.
//!
//! Features (default: all three): `file`, `postgres` (tokio-postgres, rustls TLS through
//! `dataforge-hooks`) and `sqlite` (SQLite bundled, compiled from C). A destination whose
//! feature is off is not compiled, its dependencies are not built, and [`register`] and
//! link-time registration leave it out: a service that writes files only depends on
//! `dataforge-destinations = { version = "0.1", default-features = false, features = ["file"] }`.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "file")]
pub mod file;
#[cfg(any(feature = "file", feature = "postgres", feature = "sqlite"))]
pub mod on_empty;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub mod schema;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(any(feature = "file", feature = "postgres", feature = "sqlite"))]
pub mod target_lock;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub mod write_mode;

// `pub fn register(&mut Registry)`: every destination this build of the crate compiles
// (its enabled features): a component whose feature is off is not compiled, so not registered.
dataforge_core::component_crate!();
