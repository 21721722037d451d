//! The zstd seekable format's seek table, and zstd skippable frames.
//!
//! The seek table is the last thing in every archive: a skippable frame (magic `0x184D2A5E`)
//! whose payload is one entry per frame of the file, in file order, followed by a 9-byte
//! footer. Layout (all integers little-endian), as in the zstd seekable format:
//!
//! ```text
//! u32 skippable magic 0x184D2A5E | u32 payload length
//! entries: u32 compressed size | u32 decompressed size | u32 checksum (if flag)
//! footer:  u32 number of frames  | u8 descriptor (bit 7: checksums) | u32 0x8F92EAB1
//! ```
//!
//! bri lists *every* frame of the file here, skippable ones included (decompressed size 0), so
//! that the compressed sizes add up exactly to the seek table's offset. The checksum is the
//! low 32 bits of XXH64 (seed 0) of the frame's decompressed bytes.

use crate::error::{Error, Result};

/// Magic number of the seek table's skippable frame.
pub const SEEK_TABLE_MAGIC: u32 = 0x184D_2A5E;
/// Magic number ending the seek table footer.
pub const SEEKABLE_MAGIC: u32 = 0x8F92_EAB1;
/// Length of the seek table footer.
pub const FOOTER_LEN: usize = 9;
/// Length of a skippable frame header (magic + length).
pub const SKIPPABLE_HEADER_LEN: usize = 8;
/// Magic number of a regular zstd frame.
pub const ZSTD_MAGIC: u32 = 0xFD2F_B528;

/// One frame of the file as the seek table describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeekEntry {
    /// Bytes the frame occupies in the file.
    pub compressed: u32,
    /// Bytes the frame decodes to (0 for skippable frames).
    pub decompressed: u32,
    /// Low 32 bits of XXH64 of the decompressed bytes.
    pub checksum: u32,
}

/// The checksum the seek table records for a frame's decompressed bytes.
pub fn frame_checksum(decompressed: &[u8]) -> u32 {
    xxhash_rust::xxh64::xxh64(decompressed, 0) as u32
}

/// True for the magic numbers zstd reserves for skippable frames (`0x184D2A50..=0x184D2A5F`).
pub fn is_skippable_magic(magic: u32) -> bool {
    magic & 0xFFFF_FFF0 == 0x184D_2A50
}

/// Build a skippable frame with the given magic and payload.
pub fn skippable_frame(magic: u32, payload: &[u8]) -> Result<Vec<u8>> {
    if !is_skippable_magic(magic) {
        return Err(Error::invalid(format!(
            "{magic:#x} is not a skippable-frame magic"
        )));
    }
    let len = u32::try_from(payload.len())
        .map_err(|_| Error::invalid("skippable frame payload larger than 4 GiB"))?;
    let mut out = Vec::with_capacity(SKIPPABLE_HEADER_LEN + payload.len());
    out.extend_from_slice(&magic.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// Encode a seek table (with checksums) for `entries`.
pub fn encode(entries: &[SeekEntry]) -> Vec<u8> {
    let payload_len = entries.len() * 12 + FOOTER_LEN;
    let mut out = Vec::with_capacity(SKIPPABLE_HEADER_LEN + payload_len);
    out.extend_from_slice(&SEEK_TABLE_MAGIC.to_le_bytes());
    out.extend_from_slice(&(payload_len as u32).to_le_bytes());
    for e in entries {
        out.extend_from_slice(&e.compressed.to_le_bytes());
        out.extend_from_slice(&e.decompressed.to_le_bytes());
        out.extend_from_slice(&e.checksum.to_le_bytes());
    }
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    out.push(0x80);
    out.extend_from_slice(&SEEKABLE_MAGIC.to_le_bytes());
    out
}

/// What the 9-byte footer says about the seek table before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    pub frames: u32,
    pub checksums: bool,
    /// Length of the whole seek-table frame, header and footer included.
    pub table_len: u64,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parse the last 9 bytes of a file. `file_len` bounds the table size it may claim.
pub fn parse_footer(footer: &[u8], file_len: u64) -> Result<Footer> {
    if footer.len() != FOOTER_LEN {
        return Err(Error::not_archive("file too short for a seek table"));
    }
    if u32_at(footer, 5) != SEEKABLE_MAGIC {
        return Err(Error::not_archive(
            "no zstd seek table at the end of the file (last 4 bytes are not 0x8F92EAB1)",
        ));
    }
    let frames = u32_at(footer, 0);
    let desc = footer[4];
    if desc & 0x7C != 0 {
        return Err(Error::corrupted(format!(
            "seek table descriptor {desc:#04x} has reserved bits set"
        )));
    }
    let checksums = desc & 0x80 != 0;
    let entry = if checksums { 12u64 } else { 8 };
    let table_len = SKIPPABLE_HEADER_LEN as u64 + u64::from(frames) * entry + FOOTER_LEN as u64;
    if table_len > file_len {
        return Err(Error::corrupted(format!(
            "seek table claims {frames} frames ({table_len} bytes) in a file of {file_len} bytes"
        )));
    }
    Ok(Footer {
        frames,
        checksums,
        table_len,
    })
}

/// Parse a whole seek-table frame (as located by [`parse_footer`]).
pub fn parse(table: &[u8], footer: Footer) -> Result<Vec<SeekEntry>> {
    if table.len() as u64 != footer.table_len {
        return Err(Error::invalid("seek table slice has the wrong length"));
    }
    if u32_at(table, 0) != SEEK_TABLE_MAGIC {
        return Err(Error::corrupted(
            "seek table frame does not start with 0x184D2A5E",
        ));
    }
    let payload = u32_at(table, 4) as u64;
    if payload + SKIPPABLE_HEADER_LEN as u64 != footer.table_len {
        return Err(Error::corrupted(format!(
            "seek table frame length {payload} disagrees with its footer ({} frames)",
            footer.frames
        )));
    }
    let step = if footer.checksums { 12 } else { 8 };
    let mut entries = Vec::with_capacity(footer.frames as usize);
    let mut at = SKIPPABLE_HEADER_LEN;
    for _ in 0..footer.frames {
        entries.push(SeekEntry {
            compressed: u32_at(table, at),
            decompressed: u32_at(table, at + 4),
            checksum: if footer.checksums {
                u32_at(table, at + 8)
            } else {
                0
            },
        });
        at += step;
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let entries = vec![
            SeekEntry {
                compressed: 10,
                decompressed: 512,
                checksum: 7,
            },
            SeekEntry {
                compressed: 20,
                decompressed: 0,
                checksum: frame_checksum(b""),
            },
        ];
        let t = encode(&entries);
        assert_eq!(t.len(), 8 + 24 + 9);
        let f = parse_footer(&t[t.len() - 9..], 1000).unwrap();
        assert_eq!(
            f,
            Footer {
                frames: 2,
                checksums: true,
                table_len: t.len() as u64
            }
        );
        assert_eq!(parse(&t, f).unwrap(), entries);
    }

    #[test]
    fn footer_claiming_more_than_the_file_is_refused() {
        let t = encode(&[SeekEntry {
            compressed: 1,
            decompressed: 1,
            checksum: 1,
        }]);
        let e = parse_footer(&t[t.len() - 9..], 20).unwrap_err();
        assert_eq!(e.code(), crate::ErrorCode::ArchiveCorrupted);
        let mut bad = t[t.len() - 9..].to_vec();
        bad[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse_footer(&bad, 1 << 30).is_err());
    }

    #[test]
    fn xxh64_of_empty_matches_reference_value() {
        // XXH64("", 0) = 0xEF46DB3751D8E999 (reference value of the xxHash spec).
        assert_eq!(frame_checksum(b""), 0x51D8_E999);
    }

    #[test]
    fn skippable_magic_range() {
        assert!(is_skippable_magic(0x184D2A50));
        assert!(is_skippable_magic(0x184D2A5F));
        assert!(!is_skippable_magic(ZSTD_MAGIC));
    }
}
