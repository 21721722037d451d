//! Streaming parity encoder: data-region bytes in, parity frames out, memory bounded by one
//! stripe's parity (`m * shard_size`) plus one shard.

use super::format::{encode_index, shard_hash, ParityHeader, PARITY_FRAME_HEADER_LEN};
use super::gf::{mul_add_many, MulTable};
use super::index::ParityIndex;
use super::layout::ParityLayout;
use super::ParityError;
use crate::seek::SeekEntry;
use std::collections::VecDeque;
use std::sync::Arc;

/// Data shards buffered and multiplied into the parity together (one pass over the parity
/// per group instead of one per shard).
const GROUP: usize = 4;
/// Bytes per step across a group: the group's block stays in L1 while every parity buffer
/// is updated.
const ENCODE_BLOCK: usize = 32 << 10;

/// Computes the parity of a data region while it is written.
///
/// ```text
/// let mut enc = ParityEncoder::new(layout)?;
/// for chunk in data_region { out.write(chunk); enc.feed(chunk);
///     while let Some(f) = enc.poll_frame() { spill.write(&f) } }
/// let tail = enc.finish(&data_frame_entries)?;
/// out.write(&tail.head); copy spill to out; out.write(&tail.tail);
/// ```
pub struct ParityEncoder {
    layout: ParityLayout,
    /// `m` rows of `k` coefficients (row-major) of the encoding matrix's parity part.
    rows: Arc<Vec<u8>>,
    /// Complete shards of the current group, then the shard being filled.
    group: Vec<u8>,
    /// Complete shards in `group`.
    group_len: usize,
    /// Index within the stripe of the next shard to complete.
    shard_in_stripe: usize,
    stripe: u64,
    parity: Vec<Vec<u8>>,
    hashes: Vec<u64>,
    stripe_hashes: Vec<u64>,
    ready: VecDeque<Vec<u8>>,
    fed: u64,
}

/// What [`ParityEncoder::finish`] returns: the bytes that complete the file.
///
/// The finished file is: the data region, then [`head`](Self::head), then every frame
/// returned by [`ParityEncoder::poll_frame`] in order, then [`tail`](Self::tail).
#[derive(Debug, Clone)]
pub struct ParityTail {
    /// Index copy 1: written right after the data region, before the polled frames.
    pub head: Vec<u8>,
    /// Parity frames not yet polled, index copy 2, and the seek table (the last bytes).
    pub tail: Vec<u8>,
    /// Every entry of the seek table, in file order (data frames, index copy 1, parity
    /// frames, index copy 2).
    pub seek_entries: Vec<SeekEntry>,
    /// The decoded index (layout, data length, geometry) of the file just written.
    pub index: ParityIndex,
}

impl ParityEncoder {
    pub fn new(layout: ParityLayout) -> crate::Result<Self> {
        layout.validate()?;
        let rows = super::gf::shared_parity_rows(usize::from(layout.k), usize::from(layout.m));
        let s = layout.shard_size as usize;
        Ok(ParityEncoder {
            layout,
            rows,
            group: Vec::with_capacity(GROUP * s),
            group_len: 0,
            shard_in_stripe: 0,
            stripe: 0,
            parity: vec![vec![0u8; s]; usize::from(layout.m)],
            hashes: Vec::new(),
            stripe_hashes: Vec::with_capacity(usize::from(layout.k)),
            ready: VecDeque::new(),
            fed: 0,
        })
    }

    pub fn layout(&self) -> ParityLayout {
        self.layout
    }

    /// Bytes of the data region fed so far.
    pub fn data_len(&self) -> u64 {
        self.fed
    }

    /// Feed the next bytes of the data region, exactly as they are written to the file.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        self.fed += bytes.len() as u64;
        let s = self.layout.shard_size as usize;
        while !bytes.is_empty() {
            let filled = self.group.len() - self.group_len * s;
            let n = (s - filled).min(bytes.len());
            self.group.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if filled + n == s {
                self.shard_done();
            }
        }
    }

    /// Take the next complete parity frame, to be appended (after [`ParityTail::head`]) in
    /// the order returned.
    pub fn poll_frame(&mut self) -> Option<Vec<u8>> {
        self.ready.pop_front()
    }

    /// The last shard of `group` is complete (zero-padded if it is the data's last).
    fn shard_done(&mut self) {
        let s = self.layout.shard_size as usize;
        let start = self.group_len * s;
        self.group.resize(start + s, 0);
        self.stripe_hashes.push(shard_hash(&self.group[start..], s));
        self.group_len += 1;
        self.shard_in_stripe += 1;
        let stripe_full = self.shard_in_stripe == usize::from(self.layout.k);
        if self.group_len == GROUP || stripe_full {
            self.flush_group();
        }
        if stripe_full {
            self.emit_stripe();
        }
    }

    /// `parity_j ^= sum_g E[k+j][first + g] * shard_g` for the buffered group.
    fn flush_group(&mut self) {
        let s = self.layout.shard_size as usize;
        let k = usize::from(self.layout.k);
        let n = self.group_len;
        let first = self.shard_in_stripe - n;
        let tabs: Vec<Vec<MulTable>> = (0..self.parity.len())
            .map(|j| {
                (0..n)
                    .map(|g| MulTable::new(self.rows[j * k + first + g]))
                    .collect()
            })
            .collect();
        let mut at = 0;
        while at < s {
            let end = (at + ENCODE_BLOCK).min(s);
            let inputs: Vec<&[u8]> = (0..n)
                .map(|g| &self.group[g * s + at..g * s + end])
                .collect();
            for (j, p) in self.parity.iter_mut().enumerate() {
                mul_add_many(&tabs[j], &inputs, &mut p[at..end]);
            }
            at = end;
        }
        self.group.clear();
        self.group_len = 0;
    }

    fn emit_stripe(&mut self) {
        let ks = self.shard_in_stripe;
        let ms = self.layout.parity_for(ks);
        let s = self.layout.shard_size as usize;
        let header = ParityHeader {
            k: self.layout.k,
            m: self.layout.m,
            ms: ms as u16,
            shard_size: self.layout.shard_size,
            ks: ks as u32,
            stripe: self.stripe,
        };
        let mut frame = Vec::with_capacity(PARITY_FRAME_HEADER_LEN + ms * s);
        frame.extend_from_slice(&header.encode());
        self.hashes.append(&mut self.stripe_hashes);
        for p in &self.parity[..ms] {
            frame.extend_from_slice(p);
            self.hashes.push(shard_hash(p, s));
        }
        for p in &mut self.parity {
            p.fill(0);
        }
        self.ready.push_back(frame);
        self.shard_in_stripe = 0;
        self.stripe += 1;
    }

    /// Complete the parity after the last data-region byte was fed. `data_frames` are the
    /// seek-table entries of the data region's frames, in order; their compressed sizes must
    /// add up to the bytes fed.
    pub fn finish(mut self, data_frames: &[SeekEntry]) -> crate::Result<ParityTail> {
        let total: u64 = data_frames.iter().map(|e| u64::from(e.compressed)).sum();
        if total != self.fed {
            return Err(ParityError::invalid(format!(
                "the data frames add up to {total} bytes but {} bytes were fed",
                self.fed
            ))
            .into());
        }
        // Every frame length and the frame count must fit the u32 fields of the formats.
        let frames = data_frames.len() as u64 + 2 + self.layout.stripes(self.fed);
        let body =
            super::format::expected_body_len(&self.layout, self.fed, data_frames.len() as u64)
                .unwrap_or(u64::MAX);
        if frames > u64::from(u32::MAX) / 12 || body > u64::from(u32::MAX) / 2 {
            return Err(ParityError::invalid(format!(
                "{frames} frames and an index of {body} bytes: too large for the seek table; \
                 choose the layout from a closer size hint"
            ))
            .into());
        }
        if self.group.len() > self.group_len * self.layout.shard_size as usize {
            self.shard_done();
        }
        if self.group_len > 0 {
            self.flush_group();
        }
        if self.shard_in_stripe > 0 {
            self.emit_stripe();
        }
        let index_frame = encode_index(&self.layout, self.fed, data_frames, &self.hashes);
        let index = ParityIndex::from_parts(
            self.layout,
            self.fed,
            data_frames.to_vec(),
            std::mem::take(&mut self.hashes),
            index_frame.len() as u64,
        )?;
        let seek_entries = index.seek_entries();
        let seek_table = crate::seek::encode(&seek_entries);
        let mut tail = Vec::new();
        for f in self.ready.drain(..) {
            tail.extend_from_slice(&f);
        }
        tail.extend_from_slice(&index_frame);
        tail.extend_from_slice(&seek_table);
        Ok(ParityTail {
            head: index_frame,
            tail,
            seek_entries,
            index,
        })
    }
}
