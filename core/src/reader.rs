//! Sans-IO archive reader: from the file's tail to any member.
//!
//! 1. The host reads the last [`TAIL_HINT`] bytes (or the whole file if smaller) and calls
//!    [`ArchiveIndex::open`] with them and the file's length. If the seek table is larger than
//!    what was given, [`Tail::Need`] says how many bytes from the end are needed.
//! 2. [`ArchiveIndex::manifest_range`] says which bytes hold `manifest.json` (the last data
//!    frame); the host reads them and calls [`ArchiveIndex::read_manifest`].
//! 3. For one member, [`ArchiveIndex::member_range`] gives the file bytes of its frames; the
//!    host decodes them frame by frame with [`ArchiveIndex::decode_frame`] and feeds a
//!    [`crate::tarstream::TarReader`]. Nothing else is decompressed.

use crate::codec::{Codec, MAX_FRAME_DECOMPRESSED};
use crate::error::{Error, Result};
use crate::manifest::{Manifest, MemberEntry, MANIFEST_NAME};
use crate::seek::{self, Footer, SeekEntry, FOOTER_LEN};
use crate::tarstream::{TarEvent, TarReader};
use crate::ustar::MemberKind;
use std::ops::Range;

/// How many bytes from the end a host should read first: enough for the seek table of
/// archives with up to ~5000 frames.
pub const TAIL_HINT: usize = 64 << 10;

/// One frame of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    /// Offset of the frame in the file.
    pub offset: u64,
    pub compressed: u32,
    pub decompressed: u32,
    pub checksum: u32,
}

impl FrameInfo {
    pub fn range(&self) -> Range<u64> {
        self.offset..self.offset + u64::from(self.compressed)
    }
}

/// Result of [`ArchiveIndex::open`].
#[derive(Debug)]
pub enum Tail {
    /// Call again with at least this many bytes from the end of the file.
    Need { bytes_from_end: u64 },
    /// The file's frame index.
    Index(ArchiveIndex),
}

/// Where everything is in an archive file, from its seek table.
#[derive(Debug, Clone)]
pub struct ArchiveIndex {
    pub file_len: u64,
    /// Every frame listed by the seek table, in file order.
    pub frames: Vec<FrameInfo>,
    /// Offset of the seek table frame.
    pub seek_table_offset: u64,
    /// Index of the manifest's frame (the last data frame); frames after it are trailer
    /// frames (parity), frames before it hold the members.
    pub manifest_frame: usize,
}

impl ArchiveIndex {
    /// Parse the seek table from the last `tail.len()` bytes of a file of `file_len` bytes.
    pub fn open(file_len: u64, tail: &[u8]) -> Result<Tail> {
        if tail.len() as u64 > file_len {
            return Err(Error::invalid("tail longer than the file"));
        }
        if file_len < (FOOTER_LEN + seek::SKIPPABLE_HEADER_LEN) as u64 {
            return Err(Error::not_archive(format!(
                "file is only {file_len} bytes long"
            )));
        }
        if tail.len() < FOOTER_LEN {
            return Ok(Tail::Need {
                bytes_from_end: FOOTER_LEN as u64,
            });
        }
        let footer: Footer = seek::parse_footer(&tail[tail.len() - FOOTER_LEN..], file_len)?;
        if (tail.len() as u64) < footer.table_len {
            return Ok(Tail::Need {
                bytes_from_end: footer.table_len,
            });
        }
        let table = &tail[tail.len() - footer.table_len as usize..];
        let entries = seek::parse(table, footer)?;
        Self::from_entries(file_len, &entries)
    }

    /// Build the index from seek-table entries obtained elsewhere (e.g. regenerated from the
    /// parity index when the file's own seek table is damaged).
    pub fn from_seek_entries(file_len: u64, entries: &[SeekEntry]) -> Result<ArchiveIndex> {
        match Self::from_entries(file_len, entries)? {
            Tail::Index(i) => Ok(i),
            Tail::Need { .. } => Err(Error::corrupted("seek entries do not describe the file")),
        }
    }

    fn from_entries(file_len: u64, entries: &[SeekEntry]) -> Result<Tail> {
        let table_len =
            seek::SKIPPABLE_HEADER_LEN as u64 + entries.len() as u64 * 12 + FOOTER_LEN as u64;
        let seek_table_offset = file_len - table_len;
        let mut frames = Vec::with_capacity(entries.len());
        let mut offset = 0u64;
        for (i, e) in entries.iter().enumerate() {
            if e.decompressed as usize > MAX_FRAME_DECOMPRESSED {
                return Err(Error::limit(
                    format!("frame {i}'s decompressed size"),
                    u64::from(e.decompressed),
                    MAX_FRAME_DECOMPRESSED as u64,
                ));
            }
            if e.compressed == 0 {
                return Err(Error::corrupted(format!(
                    "seek table lists frame {i} with size 0"
                )));
            }
            frames.push(FrameInfo {
                offset,
                compressed: e.compressed,
                decompressed: e.decompressed,
                checksum: e.checksum,
            });
            offset += u64::from(e.compressed);
            if offset > seek_table_offset {
                return Err(Error::corrupted(format!(
                    "seek table's frame {i} ends at byte {offset}, past the seek table at {seek_table_offset}"
                )));
            }
        }
        if offset != seek_table_offset {
            return Err(Error::corrupted(format!(
                "seek table frames cover {offset} bytes but the seek table starts at byte {seek_table_offset}"
            )));
        }
        let manifest_frame = frames
            .iter()
            .rposition(|f| f.decompressed > 0)
            .ok_or_else(|| Error::not_archive("the seek table lists no data frames"))?;
        Ok(Tail::Index(ArchiveIndex {
            file_len,
            frames,
            seek_table_offset,
            manifest_frame,
        }))
    }

    /// The data frames (members, then the manifest).
    pub fn data_frames(&self) -> &[FrameInfo] {
        &self.frames[..=self.manifest_frame]
    }

    /// Length of the data region (all data frames).
    pub fn data_region_len(&self) -> u64 {
        self.frames[self.manifest_frame].range().end
    }

    /// Length of the tar stream (sum of decompressed sizes).
    pub fn tar_len(&self) -> u64 {
        self.data_frames()
            .iter()
            .map(|f| u64::from(f.decompressed))
            .sum()
    }

    /// The file bytes of the manifest frame.
    pub fn manifest_range(&self) -> Range<u64> {
        self.frames[self.manifest_frame].range()
    }

    /// Decode frame `i` from its file bytes, checking its size and checksum.
    pub fn decode_frame(&self, i: usize, bytes: &[u8], codec: &dyn Codec) -> Result<Vec<u8>> {
        let f = self
            .frames
            .get(i)
            .ok_or_else(|| Error::invalid(format!("no frame {i}")))?;
        if bytes.len() as u64 != u64::from(f.compressed) {
            return Err(Error::invalid(format!(
                "frame {i} is {} bytes, {} given",
                f.compressed,
                bytes.len()
            )));
        }
        let data = codec
            .decompress(bytes, f.decompressed as usize)
            .map_err(|e| {
                let inner = match e {
                    Error::Corrupted { what } => what,
                    other => other.to_string(),
                };
                Error::corrupted(format!(
                    "frame {i} (bytes {}..{}): {inner}",
                    f.offset,
                    f.range().end
                ))
            })?;
        if seek::frame_checksum(&data) != f.checksum {
            return Err(Error::corrupted(format!(
                "frame {i} (bytes {}..{}) decodes but its checksum does not match the seek table",
                f.offset,
                f.range().end
            )));
        }
        Ok(data)
    }

    /// Decode and check the manifest from the bytes of [`Self::manifest_range`].
    pub fn read_manifest(&self, bytes: &[u8], codec: &dyn Codec) -> Result<Manifest> {
        let data = self.decode_frame(self.manifest_frame, bytes, codec)?;
        let mut tar = TarReader::new();
        let mut json = Vec::new();
        let mut seen = 0;
        tar.feed(&data, |ev| {
            match ev {
                TarEvent::Member { header, .. } => {
                    seen += 1;
                    if header.path != MANIFEST_NAME || header.kind != MemberKind::File || seen > 1 {
                        return Err(Error::corrupted(format!(
                            "the last data frame holds {:?}, not {MANIFEST_NAME}",
                            header.path
                        )));
                    }
                }
                TarEvent::Data(d) => json.extend_from_slice(d),
                TarEvent::MemberEnd | TarEvent::End => {}
            }
            Ok(())
        })?;
        tar.finish()?;
        let manifest = Manifest::from_json(&json)?;
        self.check_manifest(&manifest)?;
        Ok(manifest)
    }

    /// Check that the manifest's member table agrees with the seek table.
    pub fn check_manifest(&self, m: &Manifest) -> Result<()> {
        let mut next = 0u32;
        for e in &m.members {
            crate::ustar::check_path(&e.path)?;
            if let MemberKind::Link { target } = &e.kind {
                crate::ustar::check_path(target)?;
            }
            if e.first_frame != next || e.frame_count == 0 {
                return Err(Error::corrupted(format!(
                    "manifest puts {:?} at frames {}+{}, which does not follow the previous member",
                    e.path, e.first_frame, e.frame_count
                )));
            }
            next = e
                .first_frame
                .checked_add(e.frame_count)
                .ok_or_else(|| Error::corrupted("frame count overflow"))?;
        }
        if next as usize != self.manifest_frame || m.totals.frames as usize != self.manifest_frame {
            return Err(Error::corrupted(format!(
                "manifest describes {next} member frames but the seek table has {}",
                self.manifest_frame
            )));
        }
        Ok(())
    }

    /// Frame indices of a member.
    pub fn member_frames(&self, e: &MemberEntry) -> Range<usize> {
        e.first_frame as usize..(e.first_frame + e.frame_count) as usize
    }

    /// File bytes of a member's frames.
    pub fn member_range(&self, e: &MemberEntry) -> Range<u64> {
        let r = self.member_frames(e);
        self.frames[r.start].offset..self.frames[r.end - 1].range().end
    }
}

/// Open an archive held entirely in memory: index and manifest.
pub fn open_bytes(file: &[u8], codec: &dyn Codec) -> Result<(ArchiveIndex, Manifest)> {
    let index = match ArchiveIndex::open(file.len() as u64, file)? {
        Tail::Index(i) => i,
        Tail::Need { .. } => return Err(Error::not_archive("file too short")),
    };
    let r = index.manifest_range();
    let manifest = index.read_manifest(&file[r.start as usize..r.end as usize], codec)?;
    Ok((index, manifest))
}

/// Extract one member's content from an in-memory archive (hard links resolve to their
/// target's content). Checks the content's sha256 against the manifest.
pub fn read_member(
    file: &[u8],
    index: &ArchiveIndex,
    manifest: &Manifest,
    path: &str,
    codec: &dyn Codec,
) -> Result<Vec<u8>> {
    let mut e = manifest.member(path).ok_or_else(|| Error::NotFound {
        what: format!("member {path:?}"),
    })?;
    if let MemberKind::Link { target } = &e.kind {
        e = manifest
            .member(target)
            .ok_or_else(|| Error::corrupted(format!("link target {target:?} missing")))?;
    }
    let mut tar = TarReader::new();
    let mut out = Vec::new();
    let mut ended = false;
    for i in index.member_frames(e) {
        let r = index.frames[i].range();
        let data = index.decode_frame(i, &file[r.start as usize..r.end as usize], codec)?;
        tar.feed(&data, |ev| {
            match ev {
                TarEvent::Member { header, .. } if header.path != e.path => {
                    return Err(Error::corrupted(format!(
                        "frames of {:?} hold {:?}",
                        e.path, header.path
                    )))
                }
                TarEvent::Data(d) => out.extend_from_slice(d),
                TarEvent::MemberEnd => ended = true,
                _ => {}
            }
            Ok(())
        })?;
    }
    if !ended {
        return Err(Error::corrupted(format!(
            "member {:?} is cut short",
            e.path
        )));
    }
    let digest = crate::verify::sha256_hex(&out);
    if digest != e.sha256 {
        return Err(Error::corrupted(format!(
            "member {:?}: sha256 does not match the manifest",
            e.path
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::PureZstd;
    use crate::writer::{archive_to_vec, MemberMeta, WriterOptions, MIN_FRAME_SIZE};

    fn sample(frame_size: usize) -> (Vec<u8>, Manifest, Vec<u8>) {
        let big: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let mut opts = WriterOptions::files("arc_test", 1_700_000_000_000);
        opts.frame_size = frame_size;
        opts.codec = "ruzstd".into();
        let members = vec![
            (MemberMeta::file("a.txt", 5, 0o644, 1), &b"hello"[..]),
            (
                MemberMeta::file("dir/big.bin", big.len() as u64, 0o600, 2),
                &big[..],
            ),
            (MemberMeta::file("empty", 0, 0o644, 3), &b""[..]),
            (
                MemberMeta::link("dir/same.txt", "a.txt", 0o644, 4),
                &b""[..],
            ),
        ];
        let (file, m) = archive_to_vec(opts, &members, &PureZstd).unwrap();
        (file, m, big)
    }

    #[test]
    fn round_trip_members_manifest_and_frames() {
        let (file, m, big) = sample(MIN_FRAME_SIZE);
        let (index, manifest) = open_bytes(&file, &PureZstd).unwrap();
        assert_eq!(manifest, m);
        let paths: Vec<&str> = manifest.members.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "a.txt",
                "dir/big.bin",
                "empty",
                "dir/same.txt",
                "checksums.sha256"
            ]
        );
        // 1.2 MB in 64 KiB frames: the big member is split.
        assert!(manifest.member("dir/big.bin").unwrap().frame_count >= 18);
        assert_eq!(
            read_member(&file, &index, &manifest, "dir/big.bin", &PureZstd).unwrap(),
            big
        );
        assert_eq!(
            read_member(&file, &index, &manifest, "dir/same.txt", &PureZstd).unwrap(),
            b"hello"
        );
        assert_eq!(
            read_member(&file, &index, &manifest, "empty", &PureZstd).unwrap(),
            b""
        );
        let ck = read_member(&file, &index, &manifest, "checksums.sha256", &PureZstd).unwrap();
        assert!(String::from_utf8(ck)
            .unwrap()
            .contains(&format!("{}  a.txt\n", crate::verify::sha256_hex(b"hello"))));
        assert!(read_member(&file, &index, &manifest, "nope", &PureZstd).is_err());
        let report = crate::verify::verify_bytes(&file, &PureZstd).unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.bytes_decoded, index.tar_len());
    }

    #[test]
    fn tail_in_pieces() {
        let (file, _, _) = sample(MIN_FRAME_SIZE);
        let len = file.len() as u64;
        let need = match ArchiveIndex::open(len, &file[file.len() - 9..]).unwrap() {
            Tail::Need { bytes_from_end } => bytes_from_end,
            Tail::Index(_) => panic!("a 9-byte tail cannot hold the table"),
        };
        match ArchiveIndex::open(len, &file[file.len() - need as usize..]).unwrap() {
            Tail::Index(i) => assert_eq!(i.seek_table_offset + need, len),
            Tail::Need { .. } => panic!("still needs more"),
        }
    }

    fn tar_stream(file: &[u8]) -> Vec<u8> {
        let (index, _) = open_bytes(file, &PureZstd).unwrap();
        let mut out = Vec::new();
        for (i, f) in index.data_frames().iter().enumerate() {
            let r = f.range();
            out.extend(
                index
                    .decode_frame(i, &file[r.start as usize..r.end as usize], &PureZstd)
                    .unwrap(),
            );
        }
        out
    }

    #[test]
    fn every_flipped_byte_is_detected_never_panics() {
        let (file, _, _) = sample(MIN_FRAME_SIZE);
        // Flip one byte at many positions (every 97th byte, plus the whole tail).
        let tail_start = file.len().saturating_sub(400);
        for pos in (0..file.len()).step_by(97).chain(tail_start..file.len()) {
            let mut bad = file.clone();
            bad[pos] ^= 0x55;
            match crate::verify::verify_bytes(&bad, &PureZstd) {
                // A flip can leave every decoded byte unchanged (e.g. the offset of a match
                // that copies zeros from other zeros); then nothing was lost. Parity's shard
                // hashes catch those too.
                Ok(r) if r.ok => assert_eq!(tar_stream(&bad), tar_stream(&file), "flip at {pos}"),
                Ok(_) => {}
                Err(e) => {
                    let c = e.code();
                    assert!(
                        c == crate::ErrorCode::ArchiveCorrupted
                            || c == crate::ErrorCode::InvalidInput,
                        "{c:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn truncations_never_panic() {
        let (file, _, _) = sample(MIN_FRAME_SIZE);
        for cut in [0, 1, 8, 9, 100, file.len() / 2, file.len() - 1] {
            assert!(crate::verify::verify_bytes(&file[..cut], &PureZstd)
                .map(|r| !r.ok)
                .unwrap_or(true));
        }
        assert!(open_bytes(b"hello world, not an archive", &PureZstd).is_err());
    }

    fn with_table(body: &[u8], entries: &[crate::seek::SeekEntry]) -> Vec<u8> {
        let mut f = body.to_vec();
        f.extend_from_slice(&crate::seek::encode(entries));
        f
    }

    #[test]
    fn hostile_seek_tables_are_refused_before_allocating() {
        use crate::seek::SeekEntry;
        let body = vec![0x28u8; 100];
        let e = |c, d| SeekEntry {
            compressed: c,
            decompressed: d,
            checksum: 0,
        };
        let cases = [
            (
                "absurd decompressed size",
                with_table(&body, &[e(100, u32::MAX)]),
            ),
            (
                "frames past the table",
                with_table(&body, &[e(60, 10), e(60, 10)]),
            ),
            ("frames short of the table", with_table(&body, &[e(50, 10)])),
            (
                "zero-size frame",
                with_table(&body, &[e(0, 10), e(100, 10)]),
            ),
            ("no data frames", with_table(&body, &[e(100, 0)])),
        ];
        for (what, file) in cases {
            let err = match ArchiveIndex::open(file.len() as u64, &file) {
                Err(e) => e,
                Ok(_) => panic!("{what}: accepted"),
            };
            let c = err.code();
            assert!(
                c == crate::ErrorCode::ArchiveCorrupted || c == crate::ErrorCode::InvalidInput,
                "{what}: {c:?}"
            );
        }
        // Reserved descriptor bits and a wrong skippable magic.
        let mut f = with_table(&body, &[e(100, 10)]);
        let n = f.len();
        f[n - 5] |= 0x04;
        assert!(ArchiveIndex::open(n as u64, &f).is_err());
        let mut f = with_table(&body, &[e(100, 10)]);
        f[100] ^= 1;
        assert!(ArchiveIndex::open(f.len() as u64, &f).is_err());
    }
}
