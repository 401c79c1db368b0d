//! The `sqlite` destination: a table in a local SQLite file, written in one transaction
//! (`replace` is atomic: `DELETE` and the inserts commit together), with the same schema
//! inference as `postgres` mapped to SQLite types.
//!
//! ```json
//! {"type": "sqlite", "path": "dataforge-quickstart.db", "table": "orders", "write_mode": "replace"}
//! ```

pub mod config;
pub mod error;
pub mod load;
mod plan;
mod state_table;
#[cfg(test)]
mod tests;

use dataforge_core::{
    ConfigErrors, DestinationFactory, Registry, RegistryError, registry::Registration,
};

pub use config::SqliteConfig;
pub use error::SqliteError;
pub use load::SqliteDestination;

/// Registers the `sqlite` destination.
pub struct SqliteFactory;

impl DestinationFactory for SqliteFactory {
    const NAME: &'static str = "sqlite";
    const DESCRIPTION: &'static str =
        "SQLite table in a local file: replace (atomic), append or upsert, with schema inference";
    type Config = SqliteConfig;

    #[allow(refining_impl_trait)] // tests and embedders get the concrete type
    fn build(config: SqliteConfig) -> Result<SqliteDestination, ConfigErrors> {
        config.validate()?;
        Ok(SqliteDestination::new(config))
    }
}

dataforge_core::register_destination!(SqliteFactory);

/// Adds the `sqlite` destination to `registry`.
///
/// # Errors
/// When another crate registered `sqlite` already.
pub fn register(registry: &mut Registry) -> Result<(), RegistryError> {
    registry.register(Registration::destination::<SqliteFactory>(module_path!()))
}
