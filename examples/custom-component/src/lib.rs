//! A downstream crate that adds its own components to DataForge: the source `sequence`, the
//! transform `uppercase` and the destination `markdown_table`.
//!
//! Everything comes from `dataforge-core`'s public API (imported from its root); the
//! `register_*!` macros submit the factories at link time and `component_crate!` generates
//! [`register`]. A binary that uses this crate must name it (`use my_crate as _;`), or call
//! [`register`], or the linker drops it with its registrations.

mod markdown_table;
mod sequence;
mod uppercase;

pub use markdown_table::{MarkdownTable, MarkdownTableConfig, MarkdownTableFactory};
pub use sequence::{Sequence, SequenceConfig, SequenceFactory};
pub use uppercase::{Uppercase, UppercaseConfig, UppercaseFactory};

dataforge_core::register_source!(SequenceFactory);
dataforge_core::register_transform!(UppercaseFactory);
dataforge_core::register_destination!(MarkdownTableFactory);

// `pub fn register(&mut Registry)`: the three components above, no list to keep.
dataforge_core::component_crate!();
