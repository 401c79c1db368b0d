//! # dataforge-sources
//!
//! DataForge's built-in sources: `file` (JSONL, JSON array, CSV; paths and globs).
//!
//! Linking: name this crate somewhere in your binary (`use dataforge_sources as _;`) or call
//! [`register`]; a crate nothing references is not linked and its components vanish.
#![deny(missing_docs)]

pub mod file;

// `pub fn register(&mut Registry)`: every source this crate registers.
dataforge_core::component_crate!();
