//! Skeleton of the wasm-bindgen wrapper over `bri-core` (issue 8 builds it out).
//!
//! It depends on `bri-core` without default features, so it needs no C toolchain: this crate
//! building for `wasm32-unknown-unknown` is what CI uses to prove that core stays sans-IO and
//! pure Rust.

/// Version of the core library this wrapper was built with.
pub fn core_version() -> &'static str {
    bri_core::VERSION
}
