//! # dataforge-transforms
//!
//! DataForge's transform library.
//!
//! Linking: name this crate somewhere in your binary (`use dataforge_transforms as _;`) or call
//! [`register`]; a crate nothing references is not linked and its components vanish.
#![deny(missing_docs)]

pub mod add_column;
pub mod cast;
pub mod config;
pub mod deduplicate;
pub mod drop;
pub mod error;
pub mod explode;
pub mod expr;
pub mod filter;
pub mod flatten;
pub mod rename;
mod rows;
pub mod select;
mod state;
#[cfg(test)]
mod test_support;

pub use error::TransformError;

use dataforge_core::{Registry, RegistryError};

/// Adds every transform of this crate to `registry` (for use without link-time registration).
///
/// # Errors
/// When a type name is already registered by another crate.
pub fn register(registry: &mut Registry) -> Result<(), RegistryError> {
    use dataforge_core::registry::Registration as R;
    for r in [R::transform::<rename::RenameColumnsFactory>(
        "dataforge_transforms::rename",
    )] {
        registry.register(r)?;
    }
    Ok(())
}
