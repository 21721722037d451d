//! Byte formats of the parity frame header and of the index frame (FORMAT.md §8).

use super::layout::ParityLayout;
use super::{ParityError, ParityResult};
use crate::seek::{SeekEntry, SKIPPABLE_HEADER_LEN};
use xxhash_rust::xxh64::{xxh64, Xxh64};

/// Skippable-frame magic of parity frames (one per stripe).
pub const PARITY_MAGIC: u32 = 0x184D_2A5B;
/// Skippable-frame magic of the parity index frames (two identical copies).
pub const INDEX_MAGIC: u32 = 0x184D_2A5C;
/// Last 4 bytes of every index frame ("BRIX" in ASCII).
pub const INDEX_END_MAGIC: u32 = 0x5849_5242;
/// Bytes of a parity frame before its first parity shard.
pub const PARITY_FRAME_HEADER_LEN: usize = 40;
/// Body block size of the index (each block is followed by its own hash).
pub const INDEX_BLOCK_SIZE: u32 = 256;
/// Format version written in parity and index frames.
pub const FORMAT_VERSION: u16 = 1;
/// The index header (stored after the skippable header and again before the end marker).
pub(crate) const INDEX_HEADER_LEN: usize = 56;
/// The end marker closing an index frame.
pub(crate) const END_MARKER_LEN: usize = 16;

pub(crate) fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// XXH64 (seed 0) of a shard: `bytes` followed by zeros up to `shard_size`.
pub(crate) fn shard_hash(bytes: &[u8], shard_size: usize) -> u64 {
    if bytes.len() >= shard_size {
        return xxh64(&bytes[..shard_size], 0);
    }
    static ZEROS: [u8; 4096] = [0; 4096];
    let mut h = Xxh64::new(0);
    h.update(bytes);
    let mut left = shard_size - bytes.len();
    while left > 0 {
        let n = left.min(ZEROS.len());
        h.update(&ZEROS[..n]);
        left -= n;
    }
    h.digest()
}

/// The fixed 40-byte header of a parity frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ParityHeader {
    pub k: u16,
    pub m: u16,
    pub ms: u16,
    pub shard_size: u32,
    pub ks: u32,
    pub stripe: u64,
}

impl ParityHeader {
    pub fn encode(&self) -> [u8; PARITY_FRAME_HEADER_LEN] {
        let mut h = [0u8; PARITY_FRAME_HEADER_LEN];
        let payload = (PARITY_FRAME_HEADER_LEN - SKIPPABLE_HEADER_LEN) as u64
            + u64::from(self.ms) * u64::from(self.shard_size);
        h[0..4].copy_from_slice(&PARITY_MAGIC.to_le_bytes());
        h[4..8].copy_from_slice(&(payload as u32).to_le_bytes());
        h[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        h[10..12].copy_from_slice(&self.k.to_le_bytes());
        h[12..14].copy_from_slice(&self.m.to_le_bytes());
        h[14..16].copy_from_slice(&self.ms.to_le_bytes());
        h[16..20].copy_from_slice(&self.shard_size.to_le_bytes());
        h[20..24].copy_from_slice(&self.ks.to_le_bytes());
        h[24..32].copy_from_slice(&self.stripe.to_le_bytes());
        let sum = xxh64(&h[0..32], 0);
        h[32..40].copy_from_slice(&sum.to_le_bytes());
        h
    }

    /// Parse and validate a header found while scanning (`b` holds at least 40 bytes).
    pub fn decode(b: &[u8]) -> Option<ParityHeader> {
        if b.len() < PARITY_FRAME_HEADER_LEN || u32_at(b, 0) != PARITY_MAGIC {
            return None;
        }
        if xxh64(&b[0..32], 0) != u64_at(b, 32) || u16_at(b, 8) != FORMAT_VERSION {
            return None;
        }
        let h = ParityHeader {
            k: u16_at(b, 10),
            m: u16_at(b, 12),
            ms: u16_at(b, 14),
            shard_size: u32_at(b, 16),
            ks: u32_at(b, 20),
            stripe: u64_at(b, 24),
        };
        let layout = h.layout();
        if layout.validate().is_err()
            || h.ks == 0
            || h.ks > u32::from(h.k)
            || usize::from(h.ms) != layout.parity_for(h.ks as usize)
        {
            return None;
        }
        // Re-encoding must give the same bytes (payload length included).
        if h.encode()[..] != b[..PARITY_FRAME_HEADER_LEN] {
            return None;
        }
        Some(h)
    }

    pub fn layout(&self) -> ParityLayout {
        ParityLayout {
            k: self.k,
            m: self.m,
            shard_size: self.shard_size,
            redundancy_percent: 0,
        }
    }
}

/// The fields of an index frame (everything except the body's content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexHeader {
    pub layout: ParityLayout,
    pub data_len: u64,
    pub data_frames: u64,
    pub body_len: u64,
}

impl IndexHeader {
    /// Body blocks.
    pub fn blocks(&self) -> usize {
        self.body_len.div_ceil(u64::from(INDEX_BLOCK_SIZE)) as usize
    }

    /// Whole frame length: skippable header, header, blocks with their hashes, header
    /// replica, end marker.
    pub fn frame_len(&self) -> u64 {
        (SKIPPABLE_HEADER_LEN + 2 * INDEX_HEADER_LEN + END_MARKER_LEN) as u64
            + self.body_len
            + 8 * self.blocks() as u64
    }

    /// Range (inside the frame) of body block `b`'s bytes; its XXH64 follows them.
    pub fn block_range(&self, b: usize) -> std::ops::Range<usize> {
        let bs = INDEX_BLOCK_SIZE as usize;
        let start = SKIPPABLE_HEADER_LEN + INDEX_HEADER_LEN + b * (bs + 8);
        let len = (self.body_len as usize - b * bs).min(bs);
        start..start + len
    }

    /// Range (inside the frame) of the header replica at the end.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn replica_range(&self) -> std::ops::Range<usize> {
        let end = self.frame_len() as usize - END_MARKER_LEN;
        end - INDEX_HEADER_LEN..end
    }

    /// Parse one 56-byte header copy (at frame offset 8, or its replica before the end
    /// marker) of a candidate frame of `frame_len` bytes; `file_len` bounds the sizes it may
    /// claim.
    pub fn decode(h: &[u8], frame_len: u64, file_len: u64) -> ParityResult<IndexHeader> {
        let bad = |what: &str| ParityError::corrupted(format!("index header: {what}"));
        if h.len() < INDEX_HEADER_LEN {
            return Err(bad("too short"));
        }
        if xxh64(&h[0..48], 0) != u64_at(h, 48) {
            return Err(bad("hash mismatch"));
        }
        if u16_at(h, 0) != FORMAT_VERSION {
            return Err(bad("unknown version"));
        }
        let layout = ParityLayout {
            k: u16_at(h, 2),
            m: u16_at(h, 4),
            redundancy_percent: h[6],
            shard_size: u32_at(h, 8),
        };
        if h[7] != 0 || u64_at(h, 40) != 0 || u32_at(h, 12) != INDEX_BLOCK_SIZE {
            return Err(bad("reserved field or block size wrong"));
        }
        layout.validate().map_err(|e| bad(&e.to_string()))?;
        let data_len = u64_at(h, 16);
        let data_frames = u64_at(h, 24);
        let body_len = u64_at(h, 32);
        if body_len > frame_len || data_len > file_len {
            return Err(bad("sizes larger than the file"));
        }
        let hd = IndexHeader {
            layout,
            data_len,
            data_frames,
            body_len,
        };
        if Some(body_len) != expected_body_len(&layout, data_len, data_frames) {
            return Err(bad("body length disagrees with the layout"));
        }
        if hd.frame_len() != frame_len {
            return Err(bad("frame length disagrees with the body length"));
        }
        Ok(hd)
    }
}

/// Body length implied by the layout: 12 bytes per data frame, 8 per shard hash.
pub(crate) fn expected_body_len(l: &ParityLayout, data_len: u64, data_frames: u64) -> Option<u64> {
    let stripes = l.stripes(data_len);
    let n = l.data_shards(data_len);
    let parity = if stripes == 0 {
        0
    } else {
        (stripes - 1).checked_mul(u64::from(l.m))? + l.stripe_shards(data_len, stripes - 1).1 as u64
    };
    data_frames
        .checked_mul(12)?
        .checked_add(n.checked_add(parity)?.checked_mul(8)?)
}

/// Encode a complete index frame.
pub(crate) fn encode_index(
    layout: &ParityLayout,
    data_len: u64,
    data_frames: &[SeekEntry],
    hashes: &[u64],
) -> Vec<u8> {
    let mut body = Vec::with_capacity(data_frames.len() * 12 + hashes.len() * 8);
    for e in data_frames {
        body.extend_from_slice(&e.compressed.to_le_bytes());
        body.extend_from_slice(&e.decompressed.to_le_bytes());
        body.extend_from_slice(&e.checksum.to_le_bytes());
    }
    for h in hashes {
        body.extend_from_slice(&h.to_le_bytes());
    }
    let mut head = Vec::with_capacity(INDEX_HEADER_LEN);
    head.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    head.extend_from_slice(&layout.k.to_le_bytes());
    head.extend_from_slice(&layout.m.to_le_bytes());
    head.push(layout.redundancy_percent);
    head.push(0);
    head.extend_from_slice(&layout.shard_size.to_le_bytes());
    head.extend_from_slice(&INDEX_BLOCK_SIZE.to_le_bytes());
    head.extend_from_slice(&data_len.to_le_bytes());
    head.extend_from_slice(&(data_frames.len() as u64).to_le_bytes());
    head.extend_from_slice(&(body.len() as u64).to_le_bytes());
    head.extend_from_slice(&0u64.to_le_bytes());
    let sum = xxh64(&head, 0);
    head.extend_from_slice(&sum.to_le_bytes());
    let blocks = body.len().div_ceil(INDEX_BLOCK_SIZE as usize);
    let frame_len =
        SKIPPABLE_HEADER_LEN + 2 * INDEX_HEADER_LEN + END_MARKER_LEN + body.len() + 8 * blocks;
    let mut f = Vec::with_capacity(frame_len);
    f.extend_from_slice(&INDEX_MAGIC.to_le_bytes());
    f.extend_from_slice(&((frame_len - SKIPPABLE_HEADER_LEN) as u32).to_le_bytes());
    f.extend_from_slice(&head);
    for chunk in body.chunks(INDEX_BLOCK_SIZE as usize) {
        f.extend_from_slice(chunk);
        f.extend_from_slice(&xxh64(chunk, 0).to_le_bytes());
    }
    f.extend_from_slice(&head);
    f.extend_from_slice(&end_marker(frame_len as u64));
    debug_assert_eq!(f.len(), frame_len);
    f
}

/// The 16-byte end marker of an index frame of `frame_len` bytes.
pub(crate) fn end_marker(frame_len: u64) -> [u8; END_MARKER_LEN] {
    let mut e = [0u8; END_MARKER_LEN];
    e[0..8].copy_from_slice(&frame_len.to_le_bytes());
    let check = xxh64(&e[0..8], 0) as u32;
    e[8..12].copy_from_slice(&check.to_le_bytes());
    e[12..16].copy_from_slice(&INDEX_END_MAGIC.to_le_bytes());
    e
}

/// Parse an end marker: the frame length it announces, if it is intact.
pub(crate) fn parse_end_marker(b: &[u8]) -> Option<u64> {
    if b.len() < END_MARKER_LEN || u32_at(b, 12) != INDEX_END_MAGIC {
        return None;
    }
    if xxh64(&b[0..8], 0) as u32 != u32_at(b, 8) {
        return None;
    }
    let len = u64_at(b, 0);
    // The smallest index frame (empty body) is 136 bytes.
    (len >= (SKIPPABLE_HEADER_LEN + 2 * INDEX_HEADER_LEN + END_MARKER_LEN) as u64).then_some(len)
}

/// Decode a merged, verified body into the data-frame entries and the shard hashes.
pub(crate) fn decode_body(h: &IndexHeader, body: &[u8]) -> (Vec<SeekEntry>, Vec<u64>) {
    let nf = h.data_frames as usize;
    let mut frames = Vec::with_capacity(nf);
    for i in 0..nf {
        let at = i * 12;
        frames.push(SeekEntry {
            compressed: u32_at(body, at),
            decompressed: u32_at(body, at + 4),
            checksum: u32_at(body, at + 8),
        });
    }
    let hashes = body[nf * 12..]
        .chunks_exact(8)
        .map(|c| u64_at(c, 0))
        .collect();
    (frames, hashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parity_header_round_trip_and_rejects_damage() {
        let h = ParityHeader {
            k: 10,
            m: 3,
            ms: 3,
            shard_size: 512,
            ks: 4,
            stripe: 7,
        };
        let b = h.encode();
        assert_eq!(ParityHeader::decode(&b), Some(h));
        assert_eq!(u32_at(&b, 4) as usize, 32 + 3 * 512);
        for i in 0..b.len() {
            let mut d = b;
            d[i] ^= 0x10;
            assert_eq!(ParityHeader::decode(&d), None, "byte {i}");
        }
        // A consistent hash over inconsistent fields is refused too.
        let bad = ParityHeader { ms: 2, ..h }.encode();
        assert_eq!(ParityHeader::decode(&bad), None);
    }

    #[test]
    fn shard_hash_pads_with_zeros() {
        let mut full = vec![7u8; 100];
        full.resize(5000, 0);
        assert_eq!(shard_hash(&[7u8; 100], 5000), xxh64(&full, 0));
        assert_eq!(shard_hash(&full, 5000), xxh64(&full, 0));
        assert_ne!(shard_hash(&[7u8; 100], 5000), shard_hash(&[7u8; 100], 5001));
    }

    #[test]
    fn index_round_trip_and_end_marker() {
        let l = ParityLayout::new(4, 2, 64).unwrap();
        let d = 64 * 9 + 3; // 10 shards: stripes of 4, 4, 2 -> parity 2, 2, 2
        let frames = [
            SeekEntry {
                compressed: 300,
                decompressed: 900,
                checksum: 1,
            },
            SeekEntry {
                compressed: d as u32 - 300,
                decompressed: 5,
                checksum: 2,
            },
        ];
        let hashes: Vec<u64> = (0..16).collect();
        let f = encode_index(&l, d, &frames, &hashes);
        let fl = f.len() as u64;
        let h = IndexHeader::decode(&f[8..64], fl, 1 << 20).unwrap();
        assert_eq!(h.frame_len(), fl);
        assert_eq!((h.data_len, h.layout, h.body_len), (d, l, 24 + 128));
        assert_eq!(h.blocks(), 1);
        // The replica before the end marker is the same header.
        assert_eq!(&f[h.replica_range()], &f[8..64]);
        assert_eq!(parse_end_marker(&f[f.len() - 16..]), Some(fl));
        let body = &f[h.block_range(0)];
        assert_eq!(u64_at(&f, h.block_range(0).end), xxh64(body, 0));
        let (fr, hs) = decode_body(&h, body);
        assert_eq!(fr, frames);
        assert_eq!(hs, hashes);
        // Wrong hash count for the layout is refused.
        let f2 = encode_index(&l, d, &frames, &hashes[..15]);
        assert!(IndexHeader::decode(&f2[8..64], f2.len() as u64, 1 << 20).is_err());
        // Every header byte is covered, and the frame length must agree.
        for i in 8..64 {
            let mut g = f.clone();
            g[i] ^= 1;
            assert!(
                IndexHeader::decode(&g[8..64], fl, 1 << 20).is_err(),
                "byte {i}"
            );
        }
        assert!(IndexHeader::decode(&f[8..64], fl + 1, 1 << 20).is_err());
        // A data length larger than the file is refused.
        assert!(IndexHeader::decode(&f[8..64], fl, d - 1).is_err());
        // Many blocks: each followed by its hash.
        let hashes: Vec<u64> = (0..16u64)
            .map(|x| x.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .collect();
        let many: Vec<SeekEntry> = (0..100)
            .map(|i| SeekEntry {
                compressed: if i == 0 { d as u32 - 99 } else { 1 },
                decompressed: 1,
                checksum: i,
            })
            .collect();
        let f = encode_index(&l, d, &many, &hashes);
        let h = IndexHeader::decode(&f[8..64], f.len() as u64, 1 << 20).unwrap();
        assert_eq!(h.blocks(), (1200 + 128usize).div_ceil(256));
        let mut body = Vec::new();
        for b in 0..h.blocks() {
            let r = h.block_range(b);
            assert_eq!(u64_at(&f, r.end), xxh64(&f[r.clone()], 0));
            body.extend_from_slice(&f[r]);
        }
        assert_eq!(decode_body(&h, &body), (many, hashes));
    }
}
