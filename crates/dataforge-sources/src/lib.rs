//! # dataforge-sources
//!
//! DataForge's built-in sources: `file` (JSONL, JSON array, CSV; paths and globs),
//! `shopify` (a Shopify store through REST, paged GraphQL or bulk operations; see [`shopify`])
//! and `gsheet` (Google Sheets ranges in chunks of rows; see [`gsheet`]).
//!
//! Features (default: all): `file`, `gsheet`, `shopify`. A source whose feature is off is not
//! compiled, its dependencies are not built, and [`register`] and link-time registration leave it out.
//!
//! Linking: name this crate somewhere in your binary (`use dataforge_sources as _;`) or call
//! [`register`]; a crate nothing references is not linked and its components vanish.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "file")]
pub mod file;
#[cfg(feature = "gsheet")]
pub mod gsheet;
#[cfg(any(feature = "file", feature = "shopify"))]
mod json_text;
#[cfg(feature = "shopify")]
pub mod shopify;

// `pub fn register(&mut Registry)`: every source this build of the crate compiles
// (its enabled features): a component whose feature is off is not compiled, so not registered.
dataforge_core::component_crate!();
