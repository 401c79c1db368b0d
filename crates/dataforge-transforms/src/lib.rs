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
pub mod fill_null;
pub mod filter;
pub mod flatten;
pub mod hash;
mod key;
mod names;
pub mod rename;
mod rows;
pub mod select;
mod shape;
pub mod string;
#[cfg(test)]
mod test_support;
pub mod validate;

pub use error::TransformError;

// `pub fn register(&mut Registry)`: every transform this crate registers.
dataforge_core::component_crate!();

#[cfg(test)]
mod tests {
    use dataforge_core::{ComponentKind, Registry};

    const NAMES: [&str; 13] = [
        "add_column",
        "cast",
        "deduplicate",
        "drop_columns",
        "explode",
        "fill_null",
        "filter",
        "flatten",
        "hash",
        "rename_columns",
        "select_columns",
        "string",
        "validate",
    ];

    #[test]
    fn register_adds_every_transform() {
        let mut r = Registry::new();
        super::register(&mut r).expect("registers");
        assert_eq!(r.names(ComponentKind::Transform), NAMES);
        super::register(&mut r).expect("registering again is a no-op");
    }

    #[test]
    fn inventory_and_register_agree() {
        let mut r = Registry::from_inventory().expect("linked");
        assert_eq!(r.names(ComponentKind::Transform), NAMES);
        super::register(&mut r).expect("same modules: no duplicate");
    }

    #[test]
    fn every_config_has_a_schema_and_description() {
        let mut r = Registry::new();
        super::register(&mut r).expect("registers");
        for reg in r.iter() {
            assert!(!reg.description.is_empty(), "{}", reg.name);
            let schema = reg.schema().to_value();
            assert_eq!(schema["type"], "object", "{}", reg.name);
            assert_eq!(
                schema["additionalProperties"], false,
                "{} denies unknown fields",
                reg.name
            );
        }
    }
}
