//! One file per subcommand.

pub mod airflow;
pub mod backfill;
pub mod components;
pub mod list;
pub mod plan;
pub mod replay;
pub mod run;
pub mod run_one;
pub mod runs;
pub mod schema;
pub mod serve;
pub mod test;
pub mod trigger;
pub mod validate;

use std::path::PathBuf;

use dataforge_core::config::Discovery;
use dataforge_core::{Registry, load_paths};

use crate::{EXIT_BAD_CONFIG, registry};

/// Loads pipeline files; prints every config error (stderr) and warning (log).
/// Returns the discovery, or the exit code when the registry itself is broken.
pub fn discover(paths: &[PathBuf]) -> Result<(Discovery, &'static Registry), u8> {
    let registry = match registry::builtin() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Err(EXIT_BAD_CONFIG);
        }
    };
    let found = load_paths(paths, registry);
    for w in &found.warnings {
        tracing::warn!("{w}");
    }
    for e in found.errors.issues() {
        eprintln!("{e}");
    }
    Ok((found, registry))
}
