//! # dataforge-transforms
//!
//! DataForge's transform library (being written).
//!
//! Linking: name this crate somewhere in your binary (`use dataforge_transforms as _;`) or call
//! [`register`]; a crate nothing references is not linked and its components vanish.
#![deny(missing_docs)]

use dataforge_core::{Registry, RegistryError};

/// Adds every transform of this crate to `registry` (for use without link-time registration).
///
/// # Errors
/// When a type name is already registered by another crate.
pub fn register(_registry: &mut Registry) -> Result<(), RegistryError> {
    Ok(())
}
