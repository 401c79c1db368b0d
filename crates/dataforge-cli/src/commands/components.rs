//! `dataforge components`: the registered component types.

use crate::{EXIT_BAD_CONFIG, EXIT_OK, registry};

/// Prints `kind  name  description`, sorted by kind then name.
pub fn run() -> u8 {
    let registry = match registry::builtin() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_CONFIG;
        }
    };
    let width = registry.iter().map(|r| r.name.len()).max().unwrap_or(0);
    for r in registry.iter() {
        println!(
            "{:<12} {:<width$}  {}",
            r.kind.to_string(),
            r.name,
            r.description
        );
    }
    EXIT_OK
}
