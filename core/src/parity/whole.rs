//! Whole-buffer verify and repair (tests, wasm, small files). Hosts streaming big files use
//! the same building blocks stripe by stripe: [`IndexLocator`], [`ParityIndex::stripe_plan`],
//! [`ParityIndex::check_stripe`], [`ParityIndex::rebuild_stripe`].

use super::index::{ParityIndex, StripePlan, StripeReport, StripeState};
use super::layout::ParityLayout;
use super::locate::IndexLocator;
use super::{merge_ranges, ParityError};
use serde::Serialize;
use std::borrow::Cow;
use std::ops::Range;

/// State of a copy of a metadata structure (index copy, seek table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CopyState {
    /// Byte-identical to what the index says it must be.
    Intact,
    /// Present but different (or cut short by a truncation).
    Damaged,
    /// Entirely beyond the end of a truncated file.
    Missing,
}

/// Verdict on a whole file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum OverallState {
    /// Every byte is as written.
    Intact,
    /// Damaged, and [`repair`] restores the original bytes.
    Repairable,
    /// Some data-region bytes are lost; [`ParityReport::lost`] says which.
    BeyondRepair,
    /// No usable parity index: the file has no parity, or both index copies are destroyed
    /// in the same place. Nothing can be said about the data region.
    IndexLost,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParityReport {
    pub state: OverallState,
    /// Length of the file examined.
    pub file_len: u64,
    /// Length of the file as written (when the index was found).
    pub expected_len: Option<u64>,
    pub layout: Option<ParityLayout>,
    /// Length of the data region (when the index was found).
    pub data_len: Option<u64>,
    /// One report per stripe, in order.
    pub stripes: Vec<StripeReport>,
    /// Index copy 1 (after the data) and copy 2 (before the seek table).
    pub index_copies: Vec<CopyState>,
    pub seek_table: Option<CopyState>,
    /// Bytes missing at the end (the file was truncated).
    pub missing_tail: u64,
    /// Bytes after the seek table that do not belong to the file.
    pub trailing_bytes: u64,
    /// Data-region byte ranges lost for good, merged and sorted.
    pub lost: Vec<Range<u64>>,
    /// Indices (in seek-table order) of the data frames that overlap `lost`: these frames
    /// cannot be decompressed; the tar members they carry are (partly) lost.
    pub lost_frames: Vec<usize>,
    /// Why the index could not be used (state `IndexLost`).
    pub message: Option<String>,
}

impl ParityReport {
    /// The report of a file without a usable parity index (`reason`: why).
    pub fn index_lost(file_len: u64, reason: impl Into<String>) -> Self {
        ParityReport {
            state: OverallState::IndexLost,
            file_len,
            expected_len: None,
            layout: None,
            data_len: None,
            stripes: Vec::new(),
            index_copies: Vec::new(),
            seek_table: None,
            missing_tail: 0,
            trailing_bytes: 0,
            lost: Vec::new(),
            lost_frames: Vec::new(),
            message: Some(reason.into()),
        }
    }

    /// Assemble the verdict from what a host checked stripe by stripe: every stripe's report
    /// (in order), the state of both index copies and of the seek table (see
    /// [`CopyState::of`]), and the file's length.
    pub fn assemble(
        index: &ParityIndex,
        file_len: u64,
        stripes: Vec<StripeReport>,
        index_copies: Vec<CopyState>,
        seek_table: CopyState,
    ) -> Self {
        let expected_len = index.file_len();
        let lost = merge_ranges(
            stripes
                .iter()
                .flat_map(|s| s.lost.iter().cloned())
                .collect(),
        );
        let state = if stripes.iter().any(|s| s.state == StripeState::BeyondRepair) {
            OverallState::BeyondRepair
        } else if stripes.iter().any(|s| s.state != StripeState::Intact)
            || index_copies.iter().any(|c| *c != CopyState::Intact)
            || seek_table != CopyState::Intact
            || file_len != expected_len
        {
            OverallState::Repairable
        } else {
            OverallState::Intact
        };
        ParityReport {
            state,
            file_len,
            expected_len: Some(expected_len),
            layout: Some(index.layout()),
            data_len: Some(index.data_len()),
            stripes,
            index_copies,
            seek_table: Some(seek_table),
            missing_tail: expected_len.saturating_sub(file_len),
            trailing_bytes: file_len.saturating_sub(expected_len),
            lost_frames: index.frames_touching(&lost),
            lost,
            message: None,
        }
    }

    /// Number of stripes that are not intact.
    pub fn damaged_stripes(&self) -> usize {
        self.stripes
            .iter()
            .filter(|s| s.state != StripeState::Intact)
            .count()
    }
}

/// Find the parity index in a whole file held in memory.
pub fn locate(file: &[u8]) -> crate::Result<ParityIndex> {
    let mut loc = IndexLocator::new(file.len() as u64);
    while let Some(r) = loc.next_request() {
        loc.supply(r.start, &file[r.start as usize..r.end as usize])?;
    }
    loc.finish()
}

/// The bytes of `r`, zero-filled beyond the end of `file`.
fn padded(file: &[u8], r: Range<u64>) -> Cow<'_, [u8]> {
    let len = file.len() as u64;
    if r.end <= len {
        return Cow::Borrowed(&file[r.start as usize..r.end as usize]);
    }
    let mut v = vec![0u8; (r.end - r.start) as usize];
    if r.start < len {
        v[..(len - r.start) as usize].copy_from_slice(&file[r.start as usize..]);
    }
    Cow::Owned(v)
}

impl CopyState {
    /// State of a structure expected at `range` with bytes `expected`, given the bytes
    /// `present` that the file holds of that range (shorter when the file ends inside it).
    pub fn of(present: &[u8], range: Range<u64>, file_len: u64, expected: &[u8]) -> CopyState {
        if range.start >= file_len {
            CopyState::Missing
        } else if range.end <= file_len && present == expected {
            CopyState::Intact
        } else {
            CopyState::Damaged
        }
    }
}

fn copy_state(file: &[u8], r: Range<u64>, expected: &[u8]) -> CopyState {
    let len = file.len() as u64;
    let present = &file[(r.start.min(len)) as usize..(r.end.min(len)) as usize];
    CopyState::of(present, r, len, expected)
}

/// Check a whole file: every stripe, both index copies, the seek table and the length.
/// Never fails: a file without a usable index gets state [`OverallState::IndexLost`].
pub fn verify(file: &[u8]) -> ParityReport {
    let file_len = file.len() as u64;
    let index = match locate(file) {
        Ok(i) => i,
        Err(e) => return ParityReport::index_lost(file_len, e.to_string()),
    };
    verify_with(file, &index)
}

/// [`verify`] with an index already located.
pub fn verify_with(file: &[u8], index: &ParityIndex) -> ParityReport {
    let file_len = file.len() as u64;
    let mut stripes = Vec::with_capacity(index.stripe_count() as usize);
    for s in 0..index.stripe_count() {
        let plan = index.stripe_plan(s).expect("s < stripe_count");
        let data = padded(file, plan.data.clone());
        let frame = padded(file, plan.parity.clone());
        stripes.push(
            index
                .check_stripe(s, &data, &frame)
                .expect("buffers follow the plan"),
        );
    }
    let canonical = index.index_frame();
    let index_copies = vec![
        copy_state(file, index.index_copy_range(0), &canonical),
        copy_state(file, index.index_copy_range(1), &canonical),
    ];
    let seek_table = copy_state(file, index.seek_table_range(), &index.seek_table());
    ParityReport::assemble(index, file_len, stripes, index_copies, seek_table)
}

/// Rebuild a whole file byte-identical to the file as written. `Err` with
/// [`ParityError::BeyondRepair`] (listing every lost data-region range) when some stripe has
/// more damaged shards than parity, or [`ParityError::IndexNotFound`] without a usable index.
/// Never returns bytes that differ from the original: every rebuilt shard is hash-checked.
pub fn repair(file: &[u8]) -> crate::Result<Vec<u8>> {
    let index = locate(file)?;
    repair_with(file, &index)
}

/// [`repair`] with an index already located.
pub fn repair_with(file: &[u8], index: &ParityIndex) -> crate::Result<Vec<u8>> {
    let total = index.file_len();
    let cap = usize::try_from(total)
        .map_err(|_| ParityError::invalid("the repaired file does not fit in memory"))?;
    let mut out = Vec::with_capacity(cap);
    out.extend_from_slice(&padded(file, 0..index.data_len()));
    let canonical = index.index_frame();
    out.extend_from_slice(&canonical);
    let mut first_bad: Option<(StripePlan, StripeReport)> = None;
    let mut lost = Vec::new();
    for s in 0..index.stripe_count() {
        let plan = index.stripe_plan(s)?;
        let mut frame = padded(file, plan.parity.clone()).into_owned();
        let data = &mut out[plan.data.start as usize..plan.data.end as usize];
        match index.rebuild_plan(&plan, data, &mut frame) {
            Ok(_) => {}
            Err(ParityError::BeyondRepair { .. }) => {
                let rep = index.check_stripe(s, data, &frame)?;
                lost.extend(rep.lost.iter().cloned());
                if first_bad.is_none() {
                    first_bad = Some((plan, rep));
                }
            }
            Err(e) => return Err(e.into()),
        }
        out.extend_from_slice(&frame);
    }
    if let Some((plan, rep)) = first_bad {
        return Err(ParityError::BeyondRepair {
            stripe: plan.stripe,
            damaged: rep.damaged(),
            parity: plan.parity_shards,
            lost: merge_ranges(lost),
        }
        .into());
    }
    out.extend_from_slice(&canonical);
    out.extend_from_slice(&index.seek_table());
    debug_assert_eq!(out.len() as u64, total);
    Ok(out)
}
