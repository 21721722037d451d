//! zstd codecs behind one interface.
//!
//! * [`NativeZstd`] (feature `native-zstd`): the C libzstd through the `zstd` crate, levels 1
//!   to 22. The fast, default backend for native hosts.
//! * [`PureZstd`]: pure-Rust `ruzstd`, available everywhere, wasm included. It decodes every
//!   archive. Its encoder implements only its `Fastest` mode (about zstd level 1), so
//!   [`PureZstd::compress`] always uses that mode, whatever level is asked for; its output is
//!   standard zstd that either backend reads.
//!
//! Both produce and consume single, independent zstd frames: one call, one frame.

use crate::error::{Error, Result};

/// The largest number of bytes one frame may decode to. Seek-table entries claiming more are
/// refused before any allocation (decompression-bomb guard).
pub const MAX_FRAME_DECOMPRESSED: usize = 256 << 20;

/// Largest window a frame may ask the decoder to keep (bounds decoder memory).
pub const MAX_WINDOW: u64 = 128 << 20;

/// Lowest and highest zstd level accepted.
pub const MIN_LEVEL: i32 = 1;
pub const MAX_LEVEL: i32 = 22;

/// A zstd implementation: compress one frame, decompress one frame to a known size.
pub trait Codec: Send + Sync {
    /// Name shown in manifests and reports (`"zstd"` or `"ruzstd"`).
    fn name(&self) -> &'static str;

    /// Compress `data` into exactly one zstd frame (with content size and checksum).
    fn compress(&self, data: &[u8], level: i32) -> Result<Vec<u8>>;

    /// Decompress one frame that must decode to exactly `expected_len` bytes. Never allocates
    /// more than `expected_len`; a frame that would decode to more (a bomb) or less is an
    /// [`Error::Corrupted`].
    fn decompress(&self, frame: &[u8], expected_len: usize) -> Result<Vec<u8>>;
}

/// Check a level is within 1..=22.
pub fn check_level(level: i32) -> Result<()> {
    if (MIN_LEVEL..=MAX_LEVEL).contains(&level) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "compression level {level} is out of range; use 1 (fastest) to 22 (smallest)"
        )))
    }
}

fn check_expected(expected_len: usize) -> Result<()> {
    if expected_len > MAX_FRAME_DECOMPRESSED {
        return Err(Error::limit(
            "a frame's decompressed size",
            expected_len as u64,
            MAX_FRAME_DECOMPRESSED as u64,
        ));
    }
    Ok(())
}

/// The C libzstd backend.
#[cfg(feature = "native-zstd")]
#[derive(Debug, Default, Clone, Copy)]
pub struct NativeZstd;

#[cfg(feature = "native-zstd")]
impl Codec for NativeZstd {
    fn name(&self) -> &'static str {
        "zstd"
    }

    fn compress(&self, data: &[u8], level: i32) -> Result<Vec<u8>> {
        use zstd::zstd_safe::CParameter;
        check_level(level)?;
        let fail = |e: std::io::Error| Error::invalid(format!("zstd compression failed: {e}"));
        let mut c = zstd::bulk::Compressor::new(level).map_err(fail)?;
        c.set_parameter(CParameter::ChecksumFlag(true))
            .map_err(fail)?;
        c.set_parameter(CParameter::ContentSizeFlag(true))
            .map_err(fail)?;
        c.compress(data).map_err(fail)
    }

    fn decompress(&self, frame: &[u8], expected_len: usize) -> Result<Vec<u8>> {
        use zstd::zstd_safe::DParameter;
        check_expected(expected_len)?;
        let fail = |e: std::io::Error| Error::corrupted(format!("zstd frame does not decode: {e}"));
        let mut d = zstd::bulk::Decompressor::new().map_err(fail)?;
        d.set_parameter(DParameter::WindowLogMax(MAX_WINDOW.trailing_zeros()))
            .map_err(fail)?;
        // One byte of slack: a frame decoding to more than expected fills it and is caught.
        let mut out = Vec::with_capacity(expected_len + 1);
        let n = d.decompress_to_buffer(frame, &mut out).map_err(fail)?;
        if n != expected_len {
            return Err(Error::corrupted(format!(
                "zstd frame decodes to {}{n} bytes, the seek table says {expected_len}",
                if n > expected_len { "more than " } else { "" }
            )));
        }
        Ok(out)
    }
}

/// The pure-Rust backend (`ruzstd`).
#[derive(Debug, Default, Clone, Copy)]
pub struct PureZstd;

impl Codec for PureZstd {
    fn name(&self) -> &'static str {
        "ruzstd"
    }

    fn compress(&self, data: &[u8], level: i32) -> Result<Vec<u8>> {
        check_level(level)?;
        // Only `Fastest` and `Uncompressed` are implemented by ruzstd 0.9; the others panic.
        Ok(ruzstd::encoding::compress_to_vec(
            data,
            ruzstd::encoding::CompressionLevel::Fastest,
        ))
    }

    fn decompress(&self, frame: &[u8], expected_len: usize) -> Result<Vec<u8>> {
        check_expected(expected_len)?;
        let mut dec = ruzstd::decoding::FrameDecoder::new();
        dec.set_max_window_size(MAX_WINDOW);
        let mut out = vec![0u8; expected_len + 1];
        let n = dec
            .decode_all(frame, &mut out)
            .map_err(|e| Error::corrupted(format!("zstd frame does not decode: {e}")))?;
        if n != expected_len {
            return Err(Error::corrupted(format!(
                "zstd frame decodes to {}{n} bytes, the seek table says {expected_len}",
                if n > expected_len { "more than " } else { "" }
            )));
        }
        // ruzstd reads the frame's content checksum but does not compare it; libzstd does.
        if let (Some(stored), Some(computed)) =
            (dec.get_checksum_from_data(), dec.get_calculated_checksum())
        {
            if stored != computed {
                return Err(Error::corrupted(
                    "zstd frame content checksum does not match",
                ));
            }
        }
        out.truncate(n);
        Ok(out)
    }
}

/// The best codec this build has: native libzstd when compiled in, else ruzstd.
pub fn default_codec() -> &'static dyn Codec {
    #[cfg(feature = "native-zstd")]
    {
        &NativeZstd
    }
    #[cfg(not(feature = "native-zstd"))]
    {
        &PureZstd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut v = Vec::new();
        for i in 0..20_000u32 {
            v.extend_from_slice(
                format!("{i}|{:08x}|{{\"action\":\"SET\"}}\n", i * 7919).as_bytes(),
            );
        }
        v
    }

    #[test]
    fn pure_round_trip_and_bounds() {
        let data = sample();
        let f = PureZstd.compress(&data, 3).unwrap();
        assert!(f.len() < data.len() / 2);
        assert_eq!(PureZstd.decompress(&f, data.len()).unwrap(), data);
        // Claiming fewer bytes than the frame holds is refused (bomb guard), and more too.
        assert_eq!(
            PureZstd.decompress(&f, 100).unwrap_err().code(),
            crate::ErrorCode::ArchiveCorrupted
        );
        assert!(PureZstd.decompress(&f, data.len() + 5).is_err());
        assert!(PureZstd.decompress(&f, MAX_FRAME_DECOMPRESSED + 1).is_err());
        assert!(PureZstd.decompress(b"garbage!", 10).is_err());
    }

    #[cfg(feature = "native-zstd")]
    #[test]
    fn backends_read_each_other() {
        let data = sample();
        for level in [1, 3, 19] {
            let n = NativeZstd.compress(&data, level).unwrap();
            assert_eq!(PureZstd.decompress(&n, data.len()).unwrap(), data);
            assert_eq!(NativeZstd.decompress(&n, data.len()).unwrap(), data);
        }
        let p = PureZstd.compress(&data, 3).unwrap();
        assert_eq!(NativeZstd.decompress(&p, data.len()).unwrap(), data);
        assert!(NativeZstd.decompress(&p, 10).is_err());
        assert!(NativeZstd.decompress(&p, data.len() + 1).is_err());
        assert!(NativeZstd.compress(&data, 23).is_err());
        assert!(NativeZstd.compress(&data, 0).is_err());
    }

    #[test]
    fn empty_input_is_a_valid_frame() {
        let f = PureZstd.compress(b"", 1).unwrap();
        assert_eq!(PureZstd.decompress(&f, 0).unwrap(), b"");
    }
}
