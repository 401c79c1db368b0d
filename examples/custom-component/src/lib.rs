//! A downstream crate that adds its own components to DataForge:
//! the transform `uppercase` and the destination `markdown_table`.
//!
//! Everything comes from `dataforge-core`'s public API; the `register_*!` macros submit the
//! factories at link time. A binary that uses this crate must name it (`use my_crate as _;`),
//! or call [`register`], or the linker drops it with its registrations.

mod markdown_table;
mod uppercase;

pub use markdown_table::{MarkdownTable, MarkdownTableConfig, MarkdownTableFactory};
pub use uppercase::{Uppercase, UppercaseConfig, UppercaseFactory};

use dataforge_core::registry::Registration;
use dataforge_core::{Registry, RegistryError};

dataforge_core::register_transform!(UppercaseFactory);
dataforge_core::register_destination!(MarkdownTableFactory);

/// Adds this crate's components to `registry` without link-time registration.
///
/// # Errors
/// When another crate registered the same names.
pub fn register(registry: &mut Registry) -> Result<(), RegistryError> {
    registry.register(Registration::transform::<UppercaseFactory>(module_path!()))?;
    registry.register(Registration::destination::<MarkdownTableFactory>(
        module_path!(),
    ))
}
