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

// `pub fn register(&mut Registry)`: every destination this crate registers.
dataforge_core::component_crate!();
