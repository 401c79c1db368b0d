//! `dataforge schema`: the JSON Schema of a pipeline file.

use crate::{EXIT_BAD_CONFIG, EXIT_OK, registry};

/// Prints the schema for the built-in components.
pub fn run() -> u8 {
    match registry::builtin() {
        Ok(r) => {
            let schema = dataforge_core::config::pipeline_schema(r);
            match serde_json::to_string_pretty(&schema) {
                Ok(text) => {
                    println!("{text}");
                    EXIT_OK
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    EXIT_BAD_CONFIG
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_BAD_CONFIG
        }
    }
}
