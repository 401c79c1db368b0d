//! DataForge hooks.
