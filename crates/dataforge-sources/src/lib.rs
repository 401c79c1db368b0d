//! # dataforge-sources
//!
//! DataForge's built-in sources: `file` (JSONL, JSON array, CSV; paths and globs).
//!
//! Linking: name this crate somewhere in your binary (`use dataforge_sources as _;`) or call
//! [`register`]; a crate nothing references is not linked and its components vanish.
#![deny(missing_docs)]

pub mod file;

use dataforge_core::{Registry, RegistryError};

/// Adds every source of this crate to `registry` (for use without link-time registration).
///
/// # Errors
/// When a type name is already registered by another crate.
pub fn register(registry: &mut Registry) -> Result<(), RegistryError> {
    file::register(registry)?;
    Ok(())
}
