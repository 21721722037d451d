//! Reed-Solomon parity over the archive's data region (erasure coding, verify, repair).
//!
//! The byte layout is specified in `FORMAT.md §8`. In short, a file with parity is
//!
//! ```text
//! [data region: D bytes of zstd frames]
//! [index copy 1]          skippable frame 0x184D2A5C, at offset D
//! [parity frame 0..n-1]   skippable frames 0x184D2A5B, one per stripe, fixed size
//! [index copy 2]          byte-identical to copy 1
//! [seek table]            skippable frame 0x184D2A5E (crate::seek), always last
//! ```
//!
//! * The data region is cut into shards of `shard_size` bytes (the last one zero-padded);
//!   `k` consecutive shards form a stripe, protected by `m` Reed-Solomon parity shards over
//!   GF(2^8). The last stripe may hold `k_s < k` data shards; it then stores only
//!   `m_s = min(m, max(ceil(k_s * m / k), ceil(4096 / S) + 1))` parity shards (the missing
//!   data shards count as zeros; the floor keeps a 4 KiB burst repairable).
//! * The index (layout, data length, every shard's XXH64, and the seek-table entries of the
//!   data frames) is stored twice, its header twice in each copy, and every 256-byte body
//!   block with its own hash, so two damaged copies are merged.
//!   The seek table is a pure function of the index, so it is regenerated, never trusted.
//! * Damaged shards are located by their hashes, never guessed.
//!
//! # Host recipes
//!
//! **Writing** (single pass, memory: one stripe's parity plus the index's shard hashes):
//!
//! ```text
//! let layout = ParityLayout::choose(expected_data_len, redundancy_percent)?;  // None: no parity
//! let mut enc = ParityEncoder::new(layout)?;
//! for every byte chunk of the data region, in file order:
//!     out.write(chunk); enc.feed(chunk);
//!     while let Some(frame) = enc.poll_frame() { spill.write(&frame) }   // temp file
//! let tail = enc.finish(&data_frame_seek_entries)?;   // sizes must add up to the bytes fed
//! out.write(&tail.head); copy spill into out; out.write(&tail.tail);  // tail ends with the seek table
//! ```
//!
//! `tail.seek_entries` is the complete seek table content (already encoded at the end of
//! `tail.tail`); `layout` goes into the manifest (`errorCorrection`), together with
//! [`ALGORITHM`].
//!
//! **Verifying** a file of `len` bytes with bounded memory:
//!
//! ```text
//! let mut loc = IndexLocator::new(len);
//! while let Some(r) = loc.next_request() { loc.supply(r.start, &read(r))? }
//! let index = loc.finish()?;                     // Err: no parity / index lost
//! for s in 0..index.stripe_count() {
//!     let plan = index.stripe_plan(s)?;          // read zero-fills beyond the end of the file
//!     let report = index.check_stripe(s, &read(plan.data), &read(plan.parity))?;
//! }
//! compare read(index.index_copy_range(0|1)) with index.index_frame(),
//! read(index.seek_table_range()) with index.seek_table(), len with index.file_len().
//! ```
//!
//! **Repairing**: copy the file to a temporary file; for each stripe whose report is not
//! intact, `index.rebuild_stripe(s, &mut data, &mut parity)?` and write both buffers back at
//! `plan.data.start` / `plan.parity.start`; write `index.index_frame()` at both copy ranges
//! and `index.seek_table()` at `index.seek_table_range()`; set the length to
//! `index.file_len()`; fsync and rename. Only damaged stripes are read twice or written.
//! `index.frames_touching(&lost)` maps lost ranges to data frames (hence to tar members).
//!
//! Tests and wasm use the whole-buffer [`verify`] and [`repair`].

mod encoder;
mod format;
mod gf;
mod index;
mod layout;
mod locate;
mod whole;

#[cfg(test)]
mod tests;

pub use encoder::{ParityEncoder, ParityTail};
pub use format::{
    INDEX_BLOCK_SIZE, INDEX_END_MAGIC, INDEX_MAGIC, PARITY_FRAME_HEADER_LEN, PARITY_MAGIC,
};
pub use index::{FileRegion, ParityIndex, StripePlan, StripeReport, StripeState};
pub use layout::{ParityLayout, DEFAULT_REDUNDANCY_PERCENT, MAX_SHARD_SIZE, MIN_SHARD_SIZE};
pub use locate::IndexLocator;
pub use whole::{
    locate, repair, repair_with, verify, verify_with, CopyState, OverallState, ParityReport,
};

use crate::error::ErrorCode;

/// Name of the error-correction scheme, for the manifest's `errorCorrection.algorithm`.
pub const ALGORITHM: &str = "reed-solomon-gf256";
use std::ops::Range;

/// Errors of the parity layer; converted into [`crate::Error::Parity`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParityError {
    /// More shards of a stripe are damaged than its parity can rebuild.
    #[error(
        "stripe {stripe}: {damaged} shards damaged, only {parity} can be rebuilt; \
         lost data-region bytes: {}",
        fmt_ranges(lost)
    )]
    BeyondRepair {
        /// First stripe beyond repair.
        stripe: u64,
        /// Damaged shards in that stripe.
        damaged: usize,
        /// Parity shards of that stripe (the most it can rebuild).
        parity: usize,
        /// Every data-region byte range that is lost (all stripes), merged and sorted.
        lost: Vec<Range<u64>>,
    },

    /// No usable parity index was found (the file has no parity, or every copy is damaged
    /// beyond what the two copies can rebuild together).
    #[error("no usable parity index: {reason}")]
    IndexNotFound { reason: String },

    /// Parity structures are inconsistent or hostile (sizes outside limits, out of the file).
    #[error("parity data is corrupted: {what}")]
    Corrupted { what: String },

    /// A caller passed something unusable (bad layout, wrong buffer length, ...).
    #[error("invalid parity input: {message}")]
    InvalidInput { message: String },
}

impl ParityError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ParityError::BeyondRepair { .. } => ErrorCode::RepairImpossible,
            ParityError::IndexNotFound { .. } => ErrorCode::RepairImpossible,
            ParityError::Corrupted { .. } => ErrorCode::ArchiveCorrupted,
            ParityError::InvalidInput { .. } => ErrorCode::InvalidInput,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        ParityError::InvalidInput {
            message: message.into(),
        }
    }

    pub(crate) fn corrupted(what: impl Into<String>) -> Self {
        ParityError::Corrupted { what: what.into() }
    }
}

/// `Result` of the parity layer.
pub type ParityResult<T> = std::result::Result<T, ParityError>;

fn fmt_ranges(r: &[Range<u64>]) -> String {
    if r.is_empty() {
        return "none".to_string();
    }
    let mut s = String::new();
    for (i, x) in r.iter().enumerate() {
        if i == 8 {
            s.push_str(&format!(", ... ({} ranges in all)", r.len()));
            break;
        }
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&format!("{}..{}", x.start, x.end));
    }
    s
}

/// Merge sorted-or-not ranges into a sorted list of disjoint, non-adjacent ranges.
pub(crate) fn merge_ranges(mut v: Vec<Range<u64>>) -> Vec<Range<u64>> {
    v.retain(|r| r.start < r.end);
    v.sort_by_key(|r| r.start);
    let mut out: Vec<Range<u64>> = Vec::with_capacity(v.len());
    for r in v {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}
