//! End-to-end tests: one binary, one module per area.
mod bri_engine;
mod format_vectors;
mod parity_archives;
