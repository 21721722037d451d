//! Finding the parity index in a file whose tail may be damaged or truncated, sans IO.
//!
//! The locator scans the file backwards in chunks for two kinds of anchors:
//!
//! * the 16-byte end marker that closes every index frame (it announces the frame's length);
//! * the 40-byte header of a parity frame (it names its stripe, so the start of the parity
//!   region, which is the end of index copy 1, follows from its position).
//!
//! A candidate index frame is accepted only if its header hash is valid *and* it sits exactly
//! where its own contents say copy 1 or copy 2 must be, so an archive stored inside the data
//! region is never mistaken for this file's index. Then both copies are read and merged block
//! by block (each 256-byte body block is followed by its own hash).

use super::format::{
    decode_body, parse_end_marker, u32_at, u64_at, IndexHeader, ParityHeader, END_MARKER_LEN,
    INDEX_END_MAGIC, INDEX_HEADER_LEN, PARITY_FRAME_HEADER_LEN, PARITY_MAGIC,
};
use super::index::ParityIndex;
use super::layout::ParityLayout;
use super::{ParityError, ParityResult};
use crate::seek::SKIPPABLE_HEADER_LEN;
use std::collections::{BTreeSet, VecDeque};
use std::ops::Range;
use xxhash_rust::xxh64::xxh64;

/// Longest anchor pattern; consecutive scan chunks overlap by this much.
const OVERLAP: u64 = PARITY_FRAME_HEADER_LEN as u64;
/// First scan step.
const FIRST_STEP: u64 = 4 << 10;
/// Default scan chunk.
const DEFAULT_CHUNK: u64 = 64 << 10;

#[derive(Debug)]
enum Cand {
    /// A whole index frame candidate.
    Frame(Range<u64>),
    /// An index end marker expected to end at this offset (start of the parity region),
    /// with the layout read from the parity frame header that pointed there.
    EndAt(u64, ParityLayout),
    /// The seek table, by its (intact-looking) footer.
    Table(Range<u64>, crate::seek::Footer),
}

#[derive(Debug, Clone)]
enum Pending {
    Scan(Range<u64>),
    /// The first header of a candidate frame (the range is the whole frame).
    Frame(Range<u64>),
    /// The header replica of a candidate frame (the range is the whole frame).
    Replica(Range<u64>),
    End(Range<u64>, ParityLayout),
    Copy(usize, Range<u64>),
    Table(Range<u64>, crate::seek::Footer),
}

impl Pending {
    fn range(&self, file_len: u64) -> Range<u64> {
        match self {
            Pending::Scan(r) | Pending::End(r, _) | Pending::Copy(_, r) | Pending::Table(r, _) => {
                r.clone()
            }
            // A frame may be cut by a truncation: read what exists, the header may be there.
            // Only headers are read for candidates (a few bytes each, however many damaged
            // or forged anchors the file holds); whole copies only once one is accepted.
            Pending::Frame(r) => {
                r.start
                    ..(r.start + (SKIPPABLE_HEADER_LEN + INDEX_HEADER_LEN) as u64)
                        .min(r.end)
                        .min(file_len)
            }
            Pending::Replica(r) => {
                let end = r.end - END_MARKER_LEN as u64;
                end.saturating_sub(INDEX_HEADER_LEN as u64).max(r.start)..end
            }
        }
    }
}

struct Found {
    header: IndexHeader,
    ranges: [Range<u64>; 2],
    copies: [Option<Vec<u8>>; 2],
}

/// Sans-IO search for the parity index of a file of `file_len` bytes.
///
/// ```text
/// let mut loc = IndexLocator::new(file_len);
/// while let Some(r) = loc.next_request() {
///     let bytes = read_exactly(file, r.clone());   // r always lies inside the file
///     loc.supply(r.start, &bytes)?;
/// }
/// let index = loc.finish()?;                       // ParityIndex
/// ```
///
/// With an intact tail this reads the last chunk and the two index copies. With a damaged or
/// truncated tail it keeps scanning backwards, one chunk at a time (memory: one chunk plus
/// the index copies), until it finds an index end marker or a parity frame header.
pub struct IndexLocator {
    file_len: u64,
    chunk: u64,
    /// Anchors starting at or after this offset have been examined.
    scanned_from: u64,
    queue: VecDeque<Cand>,
    tried_frames: BTreeSet<(u64, u64)>,
    tried_ends: BTreeSet<u64>,
    pending: Option<Pending>,
    found: Option<Found>,
    done: Option<ParityResult<ParityIndex>>,
    /// Damaged or false anchors that were examined and rejected (for diagnostics).
    rejected: u64,
    /// Index lengths announced by intact end markers (a few, to pair with parity anchors).
    seen_lens: Vec<u64>,
    next_step: u64,
}

impl IndexLocator {
    pub fn new(file_len: u64) -> Self {
        Self::with_chunk_size(file_len, DEFAULT_CHUNK)
    }

    /// Like [`Self::new`] with another scan chunk size (at least 64 bytes).
    pub fn with_chunk_size(file_len: u64, chunk: u64) -> Self {
        IndexLocator {
            file_len,
            chunk: chunk.max(64),
            scanned_from: file_len,
            queue: VecDeque::new(),
            tried_frames: BTreeSet::new(),
            tried_ends: BTreeSet::new(),
            pending: None,
            found: None,
            done: None,
            rejected: 0,
            seen_lens: Vec::new(),
            next_step: FIRST_STEP,
        }
    }

    /// The file bytes needed next, or `None` when the search is over (call [`Self::finish`]).
    pub fn next_request(&mut self) -> Option<Range<u64>> {
        loop {
            if self.done.is_some() {
                return None;
            }
            if let Some(p) = &self.pending {
                return Some(p.range(self.file_len));
            }
            if let Some(found) = &mut self.found {
                let mut want = None;
                for c in 0..2 {
                    if found.copies[c].is_none() {
                        let r = &found.ranges[c];
                        let end = r.end.min(self.file_len);
                        if r.start >= end {
                            found.copies[c] = Some(Vec::new());
                        } else {
                            want = Some((c, r.start..end));
                            break;
                        }
                    }
                }
                match want {
                    Some((c, r)) => self.pending = Some(Pending::Copy(c, r)),
                    None => {
                        let found = self.found.take().expect("checked above");
                        self.done = Some(merge(found));
                    }
                }
                continue;
            }
            if let Some(c) = self.queue.pop_front() {
                match c {
                    Cand::Frame(r) => {
                        if r.start < self.file_len && self.tried_frames.insert((r.start, r.end)) {
                            self.pending = Some(Pending::Frame(r));
                        }
                    }
                    Cand::Table(r, f) => self.pending = Some(Pending::Table(r, f)),
                    Cand::EndAt(p0, layout) => {
                        if self.tried_ends.insert(p0) {
                            self.pending =
                                Some(Pending::End(p0 - END_MARKER_LEN as u64..p0, layout));
                        }
                    }
                }
                continue;
            }
            if self.scanned_from == 0 {
                self.done = Some(Err(ParityError::IndexNotFound {
                    reason: if self.rejected == 0 {
                        "no parity index or parity frame anywhere in the file".into()
                    } else {
                        format!(
                            "{} damaged or foreign parity structures found, none usable",
                            self.rejected
                        )
                    },
                }));
                continue;
            }
            // Start small (the seek table and index copy 2 are usually in the last few KiB)
            // and double up to the chunk size.
            let step = self.next_step.min(self.chunk);
            self.next_step = step.saturating_mul(2);
            let lo = self.scanned_from.saturating_sub(step);
            let hi = (self.scanned_from + OVERLAP).min(self.file_len);
            self.pending = Some(Pending::Scan(lo..hi));
        }
    }

    /// Give the locator the bytes of the range [`Self::next_request`] returned.
    pub fn supply(&mut self, offset: u64, bytes: &[u8]) -> crate::Result<()> {
        let Some(p) = self.pending.take() else {
            return Err(ParityError::invalid("the locator asked for no bytes").into());
        };
        let r = p.range(self.file_len);
        if offset != r.start || bytes.len() as u64 != r.end - r.start {
            let msg = format!(
                "the locator asked for bytes {}..{}, got {} bytes at {offset}",
                r.start,
                r.end,
                bytes.len()
            );
            self.pending = Some(p);
            return Err(ParityError::invalid(msg).into());
        }
        match p {
            Pending::Scan(r) => self.scan(r, bytes),
            Pending::Frame(r) => {
                let h = bytes.get(SKIPPABLE_HEADER_LEN..).unwrap_or(&[]);
                if !self.try_header(&r, h) && r.end <= self.file_len {
                    // The first header is damaged or cut: try the replica.
                    self.pending = Some(Pending::Replica(r));
                }
            }
            Pending::Replica(r) => {
                self.try_header(&r, bytes);
            }
            Pending::End(r, layout) => self.at_parity_start(r.end, &layout, bytes),
            Pending::Table(_, f) => self.check_table(bytes, f),
            Pending::Copy(c, _) => {
                if let Some(f) = &mut self.found {
                    f.copies[c] = Some(bytes.to_vec());
                }
            }
        }
        Ok(())
    }

    /// The index, once [`Self::next_request`] returned `None`.
    pub fn finish(self) -> crate::Result<ParityIndex> {
        match self.done {
            Some(r) => Ok(r?),
            None => Err(ParityError::invalid("the locator still needs bytes").into()),
        }
    }

    /// An intact seek table that lists no skippable frame means the file has no parity: stop
    /// instead of scanning the whole file.
    fn check_table(&mut self, table: &[u8], footer: crate::seek::Footer) {
        let Ok(entries) = crate::seek::parse(table, footer) else {
            return;
        };
        let sum: u64 = entries.iter().map(|e| u64::from(e.compressed)).sum();
        if !entries.is_empty()
            && sum + footer.table_len == self.file_len
            && entries.iter().all(|e| e.decompressed != 0)
        {
            self.done = Some(Err(ParityError::IndexNotFound {
                reason: "the file has no parity (its seek table lists no parity frames)".into(),
            }));
        }
    }

    fn scan(&mut self, r: Range<u64>, bytes: &[u8]) {
        if r.end == self.file_len && self.scanned_from == self.file_len && bytes.len() >= 9 {
            let tail = &bytes[bytes.len() - 9..];
            if let Ok(f) = crate::seek::parse_footer(tail, self.file_len) {
                let at = self.file_len - f.table_len;
                if f.table_len <= bytes.len() as u64 {
                    self.check_table(&bytes[bytes.len() - f.table_len as usize..], f);
                    if self.done.is_some() {
                        return;
                    }
                } else if f.table_len <= 64 << 20 {
                    self.queue.push_back(Cand::Table(at..self.file_len, f));
                }
            }
        }
        let limit = self.scanned_from;
        self.scanned_from = r.start;
        let full_stripe = |h: &ParityHeader| h.layout().parity_frame_len(usize::from(h.m));
        let mut q = (limit - r.start) as usize;
        while q > 0 {
            q -= 1;
            let at = r.start + q as u64;
            // Cheap one-byte filters first: the scan may cover much of a damaged file.
            let maybe_parity = bytes[q] == PARITY_MAGIC as u8;
            let maybe_end = bytes.get(q + 12) == Some(&(INDEX_END_MAGIC as u8));
            if !maybe_parity && !maybe_end {
                continue;
            }
            if q + END_MARKER_LEN <= bytes.len() && u32_at(bytes, q + 12) == INDEX_END_MAGIC {
                if let Some(len) = parse_end_marker(&bytes[q..]) {
                    if self.seen_lens.len() < 8 && !self.seen_lens.contains(&len) {
                        self.seen_lens.push(len);
                    }
                    let end = at + END_MARKER_LEN as u64;
                    if len <= end {
                        self.queue.push_back(Cand::Frame(end - len..end));
                    } else {
                        self.rejected += 1;
                    }
                }
            }
            if q + PARITY_FRAME_HEADER_LEN <= bytes.len() && u32_at(bytes, q) == PARITY_MAGIC {
                if let Some(h) = ParityHeader::decode(&bytes[q..]) {
                    let back = u128::from(h.stripe) * u128::from(full_stripe(&h));
                    match u64::try_from(u128::from(at).saturating_sub(back)) {
                        Ok(p0) if p0 >= END_MARKER_LEN as u64 => {
                            self.queue.push_back(Cand::EndAt(p0, h.layout()))
                        }
                        _ => self.rejected += 1,
                    }
                }
            }
        }
    }

    /// The parity region starts at `p0` (by a parity frame header). Index copy 1 ends there;
    /// with its length (from its end marker, or from any end marker seen) both copies'
    /// positions follow, so either one with an intact header can be used.
    fn at_parity_start(&mut self, p0: u64, layout: &ParityLayout, marker: &[u8]) {
        let lens = match parse_end_marker(marker) {
            Some(len) => vec![len],
            None => {
                self.rejected += 1;
                self.seen_lens.clone()
            }
        };
        for len in lens {
            let Some(d) = p0.checked_sub(len) else {
                continue;
            };
            self.queue.push_front(Cand::Frame(d..p0));
            let Some(pr) = checked_parity_len(layout, d) else {
                continue;
            };
            if let Some(c2) = p0.checked_add(pr) {
                if c2 < self.file_len {
                    self.queue
                        .push_front(Cand::Frame(c2..c2.saturating_add(len)));
                }
            }
        }
    }

    /// Try one header copy `h` of the candidate index frame `r`; true when accepted.
    fn try_header(&mut self, r: &Range<u64>, h: &[u8]) -> bool {
        let header = match IndexHeader::decode(h, r.end - r.start, self.file_len) {
            Ok(h) => h,
            Err(_) => {
                self.rejected += 1;
                return false;
            }
        };
        let Some(ranges) = copy_ranges(&header) else {
            self.rejected += 1;
            return false;
        };
        if !ranges.contains(r) {
            // A valid index, but not where it would be in this file: a foreign archive.
            self.rejected += 1;
            return false;
        }
        self.found = Some(Found {
            header,
            ranges,
            copies: [None, None],
        });
        self.queue.clear();
        true
    }
}

/// Length of the parity region for a data region of `d` bytes (`None` on overflow).
fn checked_parity_len(l: &ParityLayout, d: u64) -> Option<u64> {
    let full = u128::from(l.parity_frame_len(usize::from(l.m)));
    u64::try_from(u128::from(l.stripes(d)).checked_mul(full)?).ok()?;
    Some(l.parity_region_len(d))
}

/// Where both copies must be, by the index's own account (`None` on overflow).
fn copy_ranges(h: &IndexHeader) -> Option<[Range<u64>; 2]> {
    let l = &h.layout;
    let stripes = u128::from(l.stripes(h.data_len));
    let full = u128::from(l.parity_frame_len(usize::from(l.m)));
    let parity = stripes.checked_mul(full)?; // an upper bound is enough to reject overflow
    let i = u128::from(h.frame_len());
    let c1 = u128::from(h.data_len);
    u64::try_from(c1 + 2 * i + parity).ok()?;
    let p = l.parity_region_len(h.data_len);
    let c1 = h.data_len;
    let c2 = c1 + h.frame_len() + p;
    Some([c1..c1 + h.frame_len(), c2..c2 + h.frame_len()])
}

fn merge(found: Found) -> ParityResult<ParityIndex> {
    let h = &found.header;
    let mut body = Vec::with_capacity(h.body_len as usize);
    for b in 0..h.blocks() {
        let r = h.block_range(b);
        let good = found.copies.iter().flatten().find_map(|c| {
            let blk = c.get(r.clone())?;
            let sum = c.get(r.end..r.end + 8)?;
            (xxh64(blk, 0) == u64_at(sum, 0)).then_some(blk)
        });
        match good {
            Some(blk) => body.extend_from_slice(blk),
            None => {
                return Err(ParityError::IndexNotFound {
                    reason: format!(
                        "both copies of the parity index are damaged in body block {b} \
                         (bytes {}..{} of each copy)",
                        r.start,
                        r.end + 8
                    ),
                })
            }
        }
    }
    let (frames, hashes) = decode_body(h, &body);
    ParityIndex::from_parts(h.layout, h.data_len, frames, hashes, h.frame_len())
}
