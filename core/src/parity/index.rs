//! The decoded parity index: geometry of the whole file, per-stripe read plans, and the
//! stripe-wise check and rebuild operations.

use super::format::{
    encode_index, expected_body_len, shard_hash, ParityHeader, PARITY_FRAME_HEADER_LEN,
};
use super::gf;
use super::layout::ParityLayout;
use super::{merge_ranges, ParityError, ParityResult};
use crate::seek::{frame_checksum, SeekEntry, FOOTER_LEN, SKIPPABLE_HEADER_LEN};
use serde::Serialize;
use std::ops::Range;

/// Everything a reader needs to check and rebuild a file with parity.
///
/// Obtained from [`super::IndexLocator`] / [`super::locate`] (reading) or from
/// [`super::ParityTail::index`] (writing).
#[derive(Clone)]
pub struct ParityIndex {
    layout: ParityLayout,
    data_len: u64,
    data_frames: Vec<SeekEntry>,
    /// Per stripe: `k_s` data-shard hashes then `m_s` parity-shard hashes.
    hashes: Vec<u64>,
    index_len: u64,
}

impl std::fmt::Debug for ParityIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParityIndex")
            .field("layout", &self.layout)
            .field("data_len", &self.data_len)
            .field("data_frames", &self.data_frames.len())
            .field("stripes", &self.stripe_count())
            .field("index_len", &self.index_len)
            .finish()
    }
}

/// A part of a file with parity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum FileRegion {
    /// The zstd frames (the tar stream).
    Data,
    /// Index copy 0 (after the data region) or 1 (before the seek table).
    IndexCopy { copy: u8 },
    /// The parity frame of one stripe.
    Parity { stripe: u64 },
    /// The seek table (always the last bytes).
    SeekTable,
}

/// The file byte ranges that make up stripe `stripe`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StripePlan {
    pub stripe: u64,
    /// Data shards in this stripe (`k_s`).
    pub data_shards: usize,
    /// Parity shards in this stripe (`m_s`).
    pub parity_shards: usize,
    /// The stripe's data bytes (file offsets = data-region offsets).
    pub data: Range<u64>,
    /// The stripe's whole parity frame (header included).
    pub parity: Range<u64>,
}

/// Health of one stripe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StripeState {
    /// Every shard matches its hash.
    Intact,
    /// Some shards (or only the frame header) are damaged, no more than the parity rebuilds.
    Repairable,
    /// More shards are damaged than the stripe has parity shards.
    BeyondRepair,
}

/// What [`ParityIndex::check_stripe`] found in one stripe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StripeReport {
    pub stripe: u64,
    pub state: StripeState,
    pub data_shards: usize,
    pub parity_shards: usize,
    /// Indices (within the stripe, `0..data_shards`) of damaged data shards.
    pub damaged_data: Vec<u32>,
    /// Indices (`0..parity_shards`) of damaged parity shards.
    pub damaged_parity: Vec<u32>,
    /// The 40-byte parity frame header differs from what the layout says (always
    /// regenerable; not counted as a damaged shard).
    pub header_damaged: bool,
    /// Data-region byte ranges lost for good (only when beyond repair).
    pub lost: Vec<Range<u64>>,
}

impl StripeReport {
    /// Number of damaged shards (data and parity).
    pub fn damaged(&self) -> usize {
        self.damaged_data.len() + self.damaged_parity.len()
    }
}

impl ParityIndex {
    pub(crate) fn from_parts(
        layout: ParityLayout,
        data_len: u64,
        data_frames: Vec<SeekEntry>,
        hashes: Vec<u64>,
        index_len: u64,
    ) -> ParityResult<Self> {
        layout.validate()?;
        let total: u64 = data_frames.iter().map(|e| u64::from(e.compressed)).sum();
        if total != data_len {
            return Err(ParityError::corrupted(format!(
                "index lists data frames of {total} bytes for a data region of {data_len}"
            )));
        }
        let want = expected_body_len(&layout, data_len, data_frames.len() as u64);
        let have = Some(data_frames.len() as u64 * 12 + hashes.len() as u64 * 8);
        if want != have {
            return Err(ParityError::corrupted(
                "index holds the wrong number of shard hashes",
            ));
        }
        if data_frames.len() as u64 + 2 + layout.stripes(data_len) > u64::from(u32::MAX) {
            return Err(ParityError::corrupted(
                "more frames than a seek table can list",
            ));
        }
        Ok(ParityIndex {
            layout,
            data_len,
            data_frames,
            hashes,
            index_len,
        })
    }

    pub fn layout(&self) -> ParityLayout {
        self.layout
    }

    /// Length `D` of the data region.
    pub fn data_len(&self) -> u64 {
        self.data_len
    }

    /// Seek-table entries of the data region's frames.
    pub fn data_frames(&self) -> &[SeekEntry] {
        &self.data_frames
    }

    /// Indices (into [`Self::data_frames`]) of the data frames that overlap any of `ranges`
    /// (data-region offsets): the frames that cannot be decoded when those bytes are lost.
    pub fn frames_touching(&self, ranges: &[Range<u64>]) -> Vec<usize> {
        let mut out = Vec::new();
        let mut start = 0u64;
        for (i, f) in self.data_frames.iter().enumerate() {
            let end = start + u64::from(f.compressed);
            if ranges.iter().any(|r| r.start < end && start < r.end) {
                out.push(i);
            }
            start = end;
        }
        out
    }

    pub fn stripe_count(&self) -> u64 {
        self.layout.stripes(self.data_len)
    }

    /// Length of one index copy.
    pub fn index_len(&self) -> u64 {
        self.index_len
    }

    fn parity_start(&self) -> u64 {
        self.data_len + self.index_len
    }

    fn copy2_start(&self) -> u64 {
        self.parity_start() + self.layout.parity_region_len(self.data_len)
    }

    /// Length of the seek table.
    pub fn seek_table_len(&self) -> u64 {
        let frames = self.data_frames.len() as u64 + 2 + self.stripe_count();
        (SKIPPABLE_HEADER_LEN + FOOTER_LEN) as u64 + 12 * frames
    }

    /// Length of the intact file.
    pub fn file_len(&self) -> u64 {
        self.copy2_start() + self.index_len + self.seek_table_len()
    }

    /// Byte range of index copy `copy` (0 or 1).
    pub fn index_copy_range(&self, copy: u8) -> Range<u64> {
        let start = if copy == 0 {
            self.data_len
        } else {
            self.copy2_start()
        };
        start..start + self.index_len
    }

    /// Byte range of the seek table.
    pub fn seek_table_range(&self) -> Range<u64> {
        let start = self.copy2_start() + self.index_len;
        start..start + self.seek_table_len()
    }

    /// The regions of the intact file, in file order.
    pub fn regions(&self) -> Vec<(FileRegion, Range<u64>)> {
        let mut v = vec![
            (FileRegion::Data, 0..self.data_len),
            (FileRegion::IndexCopy { copy: 0 }, self.index_copy_range(0)),
        ];
        for s in 0..self.stripe_count() {
            v.push((
                FileRegion::Parity { stripe: s },
                self.stripe_plan_unchecked(s).parity,
            ));
        }
        v.push((FileRegion::IndexCopy { copy: 1 }, self.index_copy_range(1)));
        v.push((FileRegion::SeekTable, self.seek_table_range()));
        v
    }

    /// The canonical bytes of each index copy.
    pub fn index_frame(&self) -> Vec<u8> {
        encode_index(&self.layout, self.data_len, &self.data_frames, &self.hashes)
    }

    /// Every seek-table entry of the intact file, in file order.
    pub fn seek_entries(&self) -> Vec<SeekEntry> {
        let skip = |len: u64| SeekEntry {
            compressed: len as u32,
            decompressed: 0,
            checksum: frame_checksum(&[]),
        };
        let mut v = self.data_frames.clone();
        v.push(skip(self.index_len));
        for s in 0..self.stripe_count() {
            let (_, ms) = self.layout.stripe_shards(self.data_len, s);
            v.push(skip(self.layout.parity_frame_len(ms)));
        }
        v.push(skip(self.index_len));
        v
    }

    /// The canonical bytes of the seek table.
    pub fn seek_table(&self) -> Vec<u8> {
        crate::seek::encode(&self.seek_entries())
    }

    fn stripe_plan_unchecked(&self, s: u64) -> StripePlan {
        let l = &self.layout;
        let (ks, ms) = l.stripe_shards(self.data_len, s);
        let stripe_bytes = u64::from(l.k) * l.s();
        let start = s * stripe_bytes;
        let end = (start + stripe_bytes).min(self.data_len);
        let full = l.parity_frame_len(usize::from(l.m));
        let pstart = self.parity_start() + s * full;
        StripePlan {
            stripe: s,
            data_shards: ks,
            parity_shards: ms,
            data: start..end,
            parity: pstart..pstart + l.parity_frame_len(ms),
        }
    }

    /// Which file bytes form stripe `s`: read `plan.data` and `plan.parity` (zero-fill what
    /// lies beyond the end of a truncated file) and pass them to [`Self::check_stripe`] or
    /// [`Self::rebuild_stripe`].
    pub fn stripe_plan(&self, s: u64) -> crate::Result<StripePlan> {
        if s >= self.stripe_count() {
            return Err(ParityError::invalid(format!(
                "stripe {s} does not exist (the file has {})",
                self.stripe_count()
            ))
            .into());
        }
        Ok(self.stripe_plan_unchecked(s))
    }

    fn expected_header(&self, plan: &StripePlan) -> [u8; PARITY_FRAME_HEADER_LEN] {
        ParityHeader {
            k: self.layout.k,
            m: self.layout.m,
            ms: plan.parity_shards as u16,
            shard_size: self.layout.shard_size,
            ks: plan.data_shards as u32,
            stripe: plan.stripe,
        }
        .encode()
    }

    fn hash_base(&self, s: u64) -> usize {
        (s * (u64::from(self.layout.k) + u64::from(self.layout.m))) as usize
    }

    fn data_shard_range(&self, plan: &StripePlan, i: usize) -> Range<usize> {
        let s = self.layout.shard_size as usize;
        let len = (plan.data.end - plan.data.start) as usize;
        (i * s).min(len)..((i + 1) * s).min(len)
    }

    /// Locate the damaged shards of stripe `s`. `data` must be exactly `plan.data`'s bytes and
    /// `parity_frame` exactly `plan.parity`'s bytes.
    pub fn check_stripe(
        &self,
        s: u64,
        data: &[u8],
        parity_frame: &[u8],
    ) -> crate::Result<StripeReport> {
        let plan = self.stripe_plan(s)?;
        Ok(self.check_plan(&plan, data, parity_frame)?)
    }

    fn check_plan(
        &self,
        plan: &StripePlan,
        data: &[u8],
        frame: &[u8],
    ) -> ParityResult<StripeReport> {
        if data.len() as u64 != plan.data.end - plan.data.start
            || frame.len() as u64 != plan.parity.end - plan.parity.start
        {
            return Err(ParityError::invalid(format!(
                "stripe {}: buffers of {} and {} bytes, the plan needs {} and {}",
                plan.stripe,
                data.len(),
                frame.len(),
                plan.data.end - plan.data.start,
                plan.parity.end - plan.parity.start
            )));
        }
        let s = self.layout.shard_size as usize;
        let base = self.hash_base(plan.stripe);
        let mut damaged_data = Vec::new();
        for i in 0..plan.data_shards {
            if shard_hash(&data[self.data_shard_range(plan, i)], s) != self.hashes[base + i] {
                damaged_data.push(i as u32);
            }
        }
        let mut damaged_parity = Vec::new();
        for j in 0..plan.parity_shards {
            let at = PARITY_FRAME_HEADER_LEN + j * s;
            if shard_hash(&frame[at..at + s], s) != self.hashes[base + plan.data_shards + j] {
                damaged_parity.push(j as u32);
            }
        }
        let header_damaged = frame[..PARITY_FRAME_HEADER_LEN] != self.expected_header(plan);
        let damaged = damaged_data.len() + damaged_parity.len();
        let (state, lost) = if damaged > plan.parity_shards {
            let lost = damaged_data
                .iter()
                .map(|&i| {
                    let r = self.data_shard_range(plan, i as usize);
                    plan.data.start + r.start as u64..plan.data.start + r.end as u64
                })
                .collect();
            (StripeState::BeyondRepair, merge_ranges(lost))
        } else if damaged > 0 || header_damaged {
            (StripeState::Repairable, Vec::new())
        } else {
            (StripeState::Intact, Vec::new())
        };
        Ok(StripeReport {
            stripe: plan.stripe,
            state,
            data_shards: plan.data_shards,
            parity_shards: plan.parity_shards,
            damaged_data,
            damaged_parity,
            header_damaged,
            lost,
        })
    }

    /// Check stripe `s` and rebuild in place every damaged shard (and the frame header) in
    /// `data` and `parity_frame` (same contract as [`Self::check_stripe`]). Returns what was
    /// damaged before the rebuild; `Err` (REPAIR_IMPOSSIBLE, buffers untouched) when beyond
    /// repair. Every rebuilt shard is checked against its hash before it is written back.
    pub fn rebuild_stripe(
        &self,
        s: u64,
        data: &mut [u8],
        parity_frame: &mut [u8],
    ) -> crate::Result<StripeReport> {
        let plan = self.stripe_plan(s)?;
        Ok(self.rebuild_plan(&plan, data, parity_frame)?)
    }

    pub(crate) fn rebuild_plan(
        &self,
        plan: &StripePlan,
        data: &mut [u8],
        frame: &mut [u8],
    ) -> ParityResult<StripeReport> {
        let report = self.check_plan(plan, data, frame)?;
        match report.state {
            StripeState::Intact => return Ok(report),
            StripeState::BeyondRepair => {
                return Err(ParityError::BeyondRepair {
                    stripe: plan.stripe,
                    damaged: report.damaged(),
                    parity: plan.parity_shards,
                    lost: report.lost.clone(),
                })
            }
            StripeState::Repairable => {}
        }
        let sz = self.layout.shard_size as usize;
        if report.damaged() > 0 {
            let k = usize::from(self.layout.k);
            let mut dshards: Vec<Vec<u8>> = Vec::with_capacity(plan.data_shards);
            let mut dok = vec![true; plan.data_shards];
            for (i, ok) in dok.iter_mut().enumerate() {
                *ok = !report.damaged_data.contains(&(i as u32));
                let mut v = if *ok {
                    data[self.data_shard_range(plan, i)].to_vec()
                } else {
                    Vec::new()
                };
                v.resize(sz, 0);
                dshards.push(v);
            }
            let mut pshards: Vec<Vec<u8>> = Vec::with_capacity(plan.parity_shards);
            let mut pok = vec![true; plan.parity_shards];
            for (j, ok) in pok.iter_mut().enumerate() {
                *ok = !report.damaged_parity.contains(&(j as u32));
                let at = PARITY_FRAME_HEADER_LEN + j * sz;
                pshards.push(frame[at..at + sz].to_vec());
            }
            let rows = gf::shared_parity_rows(k, usize::from(self.layout.m));
            if !gf::reconstruct(&rows, k, &mut dshards, &dok, &mut pshards, &pok) {
                return Err(ParityError::corrupted(format!(
                    "stripe {}: the parity equations cannot be solved",
                    plan.stripe
                )));
            }
            let base = self.hash_base(plan.stripe);
            // Verify every rebuilt shard before touching the caller's buffers.
            for &i in &report.damaged_data {
                if shard_hash(&dshards[i as usize], sz) != self.hashes[base + i as usize] {
                    return Err(ParityError::corrupted(format!(
                        "stripe {}: rebuilt data shard {i} does not match its hash",
                        plan.stripe
                    )));
                }
            }
            for &j in &report.damaged_parity {
                let idx = base + plan.data_shards + j as usize;
                if shard_hash(&pshards[j as usize], sz) != self.hashes[idx] {
                    return Err(ParityError::corrupted(format!(
                        "stripe {}: rebuilt parity shard {j} does not match its hash",
                        plan.stripe
                    )));
                }
            }
            for &i in &report.damaged_data {
                let r = self.data_shard_range(plan, i as usize);
                let n = r.len();
                data[r].copy_from_slice(&dshards[i as usize][..n]);
            }
            for &j in &report.damaged_parity {
                let at = PARITY_FRAME_HEADER_LEN + j as usize * sz;
                frame[at..at + sz].copy_from_slice(&pshards[j as usize]);
            }
        }
        frame[..PARITY_FRAME_HEADER_LEN].copy_from_slice(&self.expected_header(plan));
        Ok(report)
    }
}
