//! Stripe geometry: how the data region is cut into shards and stripes.

use super::{ParityError, ParityResult};
use serde::Serialize;

/// Default redundancy (`errorCorrection.redundancy`), in percent of the data region.
pub const DEFAULT_REDUNDANCY_PERCENT: u8 = 10;
/// Smallest shard size [`ParityLayout::choose`] picks and any reader accepts.
pub const MIN_SHARD_SIZE: u32 = 64;
/// Largest shard size any reader accepts (bounds the memory of one stripe).
pub const MAX_SHARD_SIZE: u32 = 16 << 20;
/// Smallest shard size chosen automatically.
const CHOSEN_MIN_SHARD: u64 = 512;
/// Largest shard size chosen automatically (a full stripe of 220 shards is then 55 MiB).
const CHOSEN_MAX_SHARD: u64 = 256 << 10;
/// Burst every stripe should survive when `m` allows (a disk sector of 4 KiB).
const BURST_FLOOR: usize = 4096;
/// Stripes [`ParityLayout::choose`] aims for (the shard size is cut to get them, down to
/// the minimum shard size).
const CHOSEN_STRIPES: u64 = 8;
/// Data shards per stripe chosen automatically (reduced when `k + m` would exceed 256).
const CHOSEN_K: u32 = 200;

/// The Reed-Solomon layout of one archive: `k` data shards + `m` parity shards per stripe,
/// each `shard_size` bytes, over GF(2^8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParityLayout {
    /// Data shards per full stripe (1..=255).
    pub k: u16,
    /// Parity shards per full stripe (1..=255, `k + m <= 256`).
    pub m: u16,
    /// Bytes per shard.
    pub shard_size: u32,
    /// The redundancy the layout was chosen for, in percent (informational).
    pub redundancy_percent: u8,
}

impl ParityLayout {
    /// The layout for an archive whose data region is expected to be about `size_hint`
    /// bytes, at `redundancy_percent` (1..=100). `Ok(None)` when `redundancy_percent` is 0
    /// (parity disabled).
    ///
    /// The hint only tunes the shard size: any true data length works with the layout. An
    /// underestimate gives smaller shards (a bigger index), an overestimate bigger ones.
    pub fn choose(size_hint: u64, redundancy_percent: u8) -> crate::Result<Option<Self>> {
        if redundancy_percent == 0 {
            return Ok(None);
        }
        if redundancy_percent > 100 {
            return Err(ParityError::invalid(format!(
                "redundancy of {redundancy_percent}% is more than the supported 100%"
            ))
            .into());
        }
        let p = u32::from(redundancy_percent);
        let mut k = CHOSEN_K;
        let mut m = (k * p).div_ceil(100);
        while k + m > 256 {
            k -= 1;
            m = (k * p).div_ceil(100);
        }
        // Aim for about CHOSEN_STRIPES stripes rather than one: each stripe rebuilds up to m
        // shards, so spreading the archive over several stripes lets scattered damage (bit
        // rot in many places) be repaired, while a shard stays large enough for one 4 KiB
        // burst to touch at most two shards.
        let per_shard = size_hint.div_ceil(u64::from(k) * CHOSEN_STRIPES).max(1);
        let shard = per_shard
            .checked_next_power_of_two()
            .unwrap_or(CHOSEN_MAX_SHARD)
            .clamp(CHOSEN_MIN_SHARD, CHOSEN_MAX_SHARD);
        Ok(Some(ParityLayout {
            k: k as u16,
            m: m as u16,
            shard_size: shard as u32,
            redundancy_percent,
        }))
    }

    /// An explicit layout (tests, benchmarks, tuning).
    pub fn new(k: u16, m: u16, shard_size: u32) -> crate::Result<Self> {
        let percent = (u32::from(m) * 100).div_ceil(u32::from(k.max(1))).min(255) as u8;
        let l = ParityLayout {
            k,
            m,
            shard_size,
            redundancy_percent: percent,
        };
        l.validate()?;
        Ok(l)
    }

    /// Check the limits every reader enforces.
    pub(crate) fn validate(&self) -> ParityResult<()> {
        if self.k == 0 || self.m == 0 || u32::from(self.k) + u32::from(self.m) > 256 {
            return Err(ParityError::invalid(format!(
                "k = {}, m = {}: need k >= 1, m >= 1 and k + m <= 256",
                self.k, self.m
            )));
        }
        if !(MIN_SHARD_SIZE..=MAX_SHARD_SIZE).contains(&self.shard_size) {
            return Err(ParityError::invalid(format!(
                "shard size {} is outside {MIN_SHARD_SIZE}..={MAX_SHARD_SIZE}",
                self.shard_size
            )));
        }
        Ok(())
    }

    pub(crate) fn s(&self) -> u64 {
        u64::from(self.shard_size)
    }

    /// Number of data shards for a data region of `data_len` bytes.
    pub fn data_shards(&self, data_len: u64) -> u64 {
        data_len.div_ceil(self.s())
    }

    /// Number of stripes for a data region of `data_len` bytes.
    pub fn stripes(&self, data_len: u64) -> u64 {
        self.data_shards(data_len).div_ceil(u64::from(self.k))
    }

    /// `(k_s, m_s)`: data and parity shards of stripe `s` (`s < stripes(data_len)`).
    pub fn stripe_shards(&self, data_len: u64, s: u64) -> (usize, usize) {
        let n = self.data_shards(data_len);
        let k = u64::from(self.k);
        let ks = n.saturating_sub(s.saturating_mul(k)).min(k) as usize;
        (ks, self.parity_for(ks))
    }

    /// Parity shards stored for a stripe of `ks` data shards:
    /// `min(m, max(ceil(ks * m / k), ceil(4096 / S) + 1))`. Full stripes store `m`; a short
    /// last stripe stores its share, but (when `m` allows) never fewer than a 4 KiB burst can
    /// damage, so small archives survive a lost disk sector.
    pub fn parity_for(&self, ks: usize) -> usize {
        let m = usize::from(self.m);
        let share = (ks * m).div_ceil(usize::from(self.k));
        let burst = BURST_FLOOR.div_ceil(self.shard_size as usize) + 1;
        share.max(burst).min(m)
    }

    /// Size of a parity frame holding `ms` parity shards.
    pub fn parity_frame_len(&self, ms: usize) -> u64 {
        super::format::PARITY_FRAME_HEADER_LEN as u64 + ms as u64 * self.s()
    }

    /// Total size of all parity frames for a data region of `data_len` bytes.
    pub fn parity_region_len(&self, data_len: u64) -> u64 {
        let stripes = self.stripes(data_len);
        if stripes == 0 {
            return 0;
        }
        let (_, m_last) = self.stripe_shards(data_len, stripes - 1);
        (stripes - 1) * self.parity_frame_len(usize::from(self.m)) + self.parity_frame_len(m_last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_redundancy_disables_parity() {
        assert_eq!(ParityLayout::choose(1 << 30, 0).unwrap(), None);
    }

    #[test]
    fn default_layout_is_ten_percent() {
        let l = ParityLayout::choose(10 << 30, DEFAULT_REDUNDANCY_PERCENT)
            .unwrap()
            .unwrap();
        assert_eq!((l.k, l.m), (200, 20));
        assert_eq!(l.shard_size, 256 << 10);
        let small = ParityLayout::choose(100_000, 10).unwrap().unwrap();
        assert_eq!(small.shard_size, 512);
        let tiny = ParityLayout::choose(0, 10).unwrap().unwrap();
        assert_eq!(tiny.shard_size, 512);
        // About 8 stripes: 50 MiB / (200 x 8) -> 32 KiB shards, 10 MiB -> 8 KiB.
        let mid = ParityLayout::choose(50 << 20, 10).unwrap().unwrap();
        assert_eq!(mid.shard_size, 32 << 10);
        let mid = ParityLayout::choose(10 << 20, 10).unwrap().unwrap();
        assert_eq!(mid.shard_size, 8 << 10);
    }

    #[test]
    fn every_percent_fits_gf256() {
        for p in 1..=100u8 {
            let l = ParityLayout::choose(1 << 20, p).unwrap().unwrap();
            assert!(u32::from(l.k) + u32::from(l.m) <= 256, "{p}: {l:?}");
            let real = f64::from(l.m) / f64::from(l.k) * 100.0;
            assert!(
                real >= f64::from(p) && real < f64::from(p) + 1.0,
                "{p}: {real}"
            );
            l.validate().unwrap();
        }
        assert!(ParityLayout::choose(1, 101).is_err());
    }

    #[test]
    fn explicit_layout_limits() {
        assert!(ParityLayout::new(0, 1, 512).is_err());
        assert!(ParityLayout::new(1, 0, 512).is_err());
        assert!(ParityLayout::new(200, 57, 512).is_err());
        assert!(ParityLayout::new(200, 56, 512).is_ok());
        assert!(ParityLayout::new(4, 2, 63).is_err());
        assert!(ParityLayout::new(4, 2, MAX_SHARD_SIZE + 1).is_err());
    }

    #[test]
    fn geometry_of_the_last_stripe() {
        let l = ParityLayout::new(10, 3, 100).unwrap();
        assert_eq!(l.data_shards(0), 0);
        assert_eq!(l.stripes(0), 0);
        assert_eq!(l.parity_region_len(0), 0);
        // 2 full stripes + 1 stripe of 4 shards (the last one 1 byte long).
        let d = 2 * 10 * 100 + 301;
        assert_eq!(l.data_shards(d), 24);
        assert_eq!(l.stripes(d), 3);
        assert_eq!(l.stripe_shards(d, 0), (10, 3));
        // Short last stripe: its share would be 2, but a 4 KiB burst reaches 42 shards of
        // 100 bytes, so it keeps all m = 3.
        assert_eq!(l.stripe_shards(d, 2), (4, 3));
        assert_eq!(l.parity_region_len(d), 3 * (40 + 300));
        let big = ParityLayout::new(10, 4, 4096).unwrap();
        assert_eq!(big.parity_for(1), 2);
        assert_eq!(big.parity_for(5), 2);
        assert_eq!(big.parity_for(6), 3);
        assert_eq!(big.parity_for(10), 4);
        let dflt = ParityLayout::new(200, 20, 512).unwrap();
        assert_eq!(dflt.parity_for(10), 9);
        assert_eq!(dflt.parity_for(100), 10);
    }
}
