//! The `file` component (being written).

use dataforge_core::{Registry, RegistryError};

/// Adds this component to `registry`.
pub(crate) fn register(_registry: &mut Registry) -> Result<(), RegistryError> {
    Ok(())
}
