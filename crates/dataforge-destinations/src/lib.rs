//! # dataforge-destinations
//!
//! DataForge's built-in destinations: `file` (JSONL, CSV), `postgres` and `sqlite`.
//!
//! Linking: name this crate somewhere in your binary (`use dataforge_destinations as _;`) or
//! call [`register`]; a crate nothing references is not linked and its components vanish.
#![deny(missing_docs)]

pub mod file;
pub mod on_empty;
pub mod postgres;
pub mod schema;
pub mod sqlite;
pub mod target_lock;
pub mod write_mode;

use dataforge_core::{Registry, RegistryError};

/// Adds every destination of this crate to `registry` (for use without link-time registration).
///
/// # Errors
/// When a type name is already registered by another crate.
pub fn register(registry: &mut Registry) -> Result<(), RegistryError> {
    file::register(registry)?;
    postgres::register(registry)?;
    sqlite::register(registry)?;
    Ok(())
}
