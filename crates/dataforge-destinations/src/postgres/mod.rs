//! The `postgres` destination: binary `COPY` into a table, with atomic `replace`,
//! all-or-nothing `append`, `upsert` on a primary key, schema inference and evolution.
//!
//! ```json
//! {"type": "postgres", "conn_id": "postgres_default", "schema": "shop", "table": "orders",
//!  "write_mode": "upsert", "primary_key": ["id"], "columns": {"total_price": "NUMERIC(12,2)"}}
//! ```
//!
//! See [`load`] for how each write mode keeps its promises, and [`crate::schema`] for the
//! inference rules.

pub mod config;
mod copy;
mod ddl;
pub mod error;
pub mod load;
mod lock;
mod plan;
mod row_check;
mod state_table;
#[cfg(test)]
mod tests;

use dataforge_core::{
    ConfigErrors, DestinationFactory, Registry, RegistryError, registry::Registration,
};

pub use config::PostgresConfig;
pub use error::PostgresError;
pub use load::PostgresDestination;

/// Registers the `postgres` destination.
pub struct PostgresFactory;

impl DestinationFactory for PostgresFactory {
    const NAME: &'static str = "postgres";
    const DESCRIPTION: &'static str = "PostgreSQL table over binary COPY: replace (atomic), append or upsert, with schema inference";
    type Config = PostgresConfig;

    #[allow(refining_impl_trait)] // tests and embedders get the concrete type
    fn build(config: PostgresConfig) -> Result<PostgresDestination, ConfigErrors> {
        config.validate()?;
        Ok(PostgresDestination::new(config))
    }
}

dataforge_core::register_destination!(PostgresFactory);

/// Adds the `postgres` destination to `registry`.
///
/// # Errors
/// When another crate registered `postgres` already.
pub fn register(registry: &mut Registry) -> Result<(), RegistryError> {
    registry.register(Registration::destination::<PostgresFactory>(module_path!()))
}
