//! DataForge sources.
