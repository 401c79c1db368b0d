//! DataForge destinations.
