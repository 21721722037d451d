//! # bri-core
//!
//! The sans-IO heart of bri-archive: the archive file format, the zstd codecs, checksums,
//! Reed-Solomon parity, the manifest, and the BRI WAL engine, all as pure transforms of bytes.
//!
//! **This crate never touches a file, a socket, a clock, a thread or the environment.** Hosts
//! (the `bri` CLI, the Node module, the wasm inspector) read bytes from wherever they live and
//! feed them in; they take bytes, values and events out and write them wherever they go. Where
//! an operation needs the time (an archive's `createdAt`), the host passes it in. Where work can
//! run in parallel (compressing independent frames), core hands out self-contained jobs and the
//! host decides which thread runs them.
//!
//! Every API that may see large inputs is incremental, so hosts stream files of any size with
//! memory bounded by the frame size:
//!
//! * [`writer::ArchiveWriter`]: members in (path, mode, mtime, bytes in chunks), frame jobs out
//!   ([`writer::FrameJob`], compressed by the host on any thread), file bytes out in order.
//! * [`reader::ArchiveIndex`]: parse the tail of a file (seek table), then fetch and decode
//!   only the frames of the manifest or of one member.
//! * [`tarstream::TarReader`]: validate and split a decompressed tar stream into members.
//!
//! The crate builds for `wasm32-unknown-unknown` with `default-features = false` (pure-Rust
//! `ruzstd` codec only); the default `native-zstd` feature adds the C libzstd backend.
//!
//! The byte layout is specified in `FORMAT.md` at the repository root.

pub mod bri;
pub mod checksums;
pub mod codec;
pub mod error;
pub mod manifest;
pub mod parity;
pub mod reader;
pub mod seek;
pub mod tarstream;
pub mod ustar;
pub mod verify;
pub mod writer;

pub use error::{Error, ErrorCode, Result};

/// Version of this crate, recorded in every manifest as the writer.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
