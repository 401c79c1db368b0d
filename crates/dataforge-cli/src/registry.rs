//! The components this binary links.

// Naming each component crate links it, so its `inventory` registrations are found
// (a crate nothing references is dropped by the linker: see dataforge-core's `registry` docs).
use dataforge_destinations as _;
use dataforge_sources as _;
use dataforge_transforms as _;

use dataforge_core::{Registry, RegistryError};

/// The registry of every built-in component.
///
/// # Errors
/// A duplicate or an empty registry (a linking mistake).
pub fn builtin() -> Result<&'static Registry, RegistryError> {
    Registry::global()
}
