//! Benchmark support: generators of realistic inputs and helpers of the benchmark binaries.
//!
//! * [`walgen`]: a streaming generator of BRI write-ahead logs (valid pointer chains,
//!   realistic documents) and a writer of BRI data directories (`wal/NNNNNN.wal`).
//! * [`realism`]: compression ratios of generated WAL against the WAL BRI itself wrote.
//! * [`jsonw`]: the ordered JSON writer the generator uses (prints what `JSON.stringify` does).

pub mod jsonw;
pub mod realism;
pub mod walgen;
