//! DataForge transforms.
