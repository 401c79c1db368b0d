//! # dataforge-sources
//!
//! DataForge's built-in sources: `file` (JSONL, JSON array, CSV; paths and globs).
//!
//! Features (default: all): `file`. A source whose feature is off is not compiled, its
//! dependencies are not built, and [`register`] and link-time registration leave it out.
//!
//! Linking: name this crate somewhere in your binary (`use dataforge_sources as _;`) or call
//! [`register`]; a crate nothing references is not linked and its components vanish.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "file")]
pub mod file;

use dataforge_core::{Registry, RegistryError};

/// Adds every source this build of the crate compiles (its enabled features) to `registry`
/// (for use without link-time registration).
///
/// # Errors
/// When a type name is already registered by another crate.
pub fn register(registry: &mut Registry) -> Result<(), RegistryError> {
    #[cfg(feature = "file")]
    file::register(registry)?;
    let _ = registry; // with no source feature there is nothing to add
    Ok(())
}
