//! Sans-IO archive writer.
//!
//! Members go in (metadata, then content in chunks of any size); the writer turns them into a
//! tar stream cut into frames, hands each frame out as a [`FrameJob`] that the host compresses
//! on whatever thread it likes ([`FrameJob::run`]), takes the [`CompressedFrame`]s back in any
//! order, and gives out the file's bytes strictly in order ([`ArchiveWriter::next_output`]).
//! After [`ArchiveWriter::finish`] it adds `checksums.sha256`, then `manifest.json` (written
//! once every earlier frame is back, so it can record compressed sizes) with the tar
//! end-of-archive marker, and finally the seek table.
//!
//! Memory: the writer holds at most one frame being filled plus the jobs and finished frames
//! the host has not collected; a host that collects after every `write` keeps memory bounded
//! by (frames in flight x frame size), independent of the input size.
//!
//! ```
//! use bri_core::writer::{ArchiveWriter, MemberMeta, MemorySink, WriterOptions};
//! use bri_core::codec::PureZstd;
//! let mut w = ArchiveWriter::new(WriterOptions::files("arc_example", 0)).unwrap();
//! let mut sink = MemorySink::default();
//! w.add_file(MemberMeta::file("hello.txt", 5, 0o644, 0), b"hello", &PureZstd, &mut |o| sink.push(o)).unwrap();
//! w.finish().unwrap();
//! w.pump_inline(&PureZstd, &mut |o| sink.push(o)).unwrap();
//! assert!(w.is_done());
//! let file = sink.into_file().unwrap();
//! ```

use crate::checksums::{self, CHECKSUMS_NAME};
use crate::codec::{self, Codec};
use crate::error::{Error, Result};
use crate::manifest::{
    self, ArchiveKind, Compression, Integrity, Manifest, MemberEntry, Retention, Totals,
    MANIFEST_NAME,
};
use crate::parity::{ParityEncoder, ParityLayout};
use crate::seek::{self, SeekEntry};
use crate::ustar::{self, MemberHeader, MemberKind, BLOCK};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Default uncompressed bytes per frame.
pub const DEFAULT_FRAME_SIZE: usize = 4 << 20;
/// The frame size bri uses for a zstd level when none is given: twice the level's match
/// window (so that cutting the stream into independent frames loses few matches), at least
/// [`DEFAULT_FRAME_SIZE`] and at most 32 MiB. Window sizes are libzstd's for inputs over
/// 256 KiB: 512 KiB at level 1, 2 MiB at 3..=7, 4 MiB at 8..=16, 8 MiB at 17..=19, and 32 to
/// 128 MiB at 20..=22.
pub fn default_frame_size(level: i32) -> usize {
    let window_log: u32 = match level {
        ..=1 => 19,
        2 => 20,
        3..=7 => 21,
        8..=16 => 22,
        17..=19 => 23,
        20 => 25,
        21 => 26,
        _ => 27,
    };
    (2usize << window_log).clamp(DEFAULT_FRAME_SIZE, 32 << 20)
}

/// Smallest frame size accepted.
pub const MIN_FRAME_SIZE: usize = 64 << 10;
/// Largest frame size accepted.
pub const MAX_FRAME_SIZE: usize = 64 << 20;

/// Settings of one archive.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    pub archive_id: String,
    pub kind: ArchiveKind,
    pub name: Option<String>,
    /// "Now", from the host's clock, in Unix milliseconds.
    pub created_at_ms: i64,
    /// zstd level, 1..=22.
    pub level: i32,
    /// Uncompressed bytes per frame.
    pub frame_size: usize,
    /// Name of the codec the host compresses with (recorded in the manifest).
    pub codec: String,
    pub retention: Retention,
    pub bri: Option<serde_json::Value>,
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Reed-Solomon redundancy in percent of the data region (0 disables parity).
    pub redundancy_percent: u8,
    /// Expected size of the data region (e.g. the input size): tunes the parity shard size.
    pub size_hint: u64,
    /// Check every frame by decompressing it right after compression ([`FrameJob::run`]).
    pub round_trip: bool,
}

impl WriterOptions {
    /// Defaults for a file-set archive: level 3, 4 MiB frames, 10% parity, native codec name.
    pub fn files(archive_id: &str, created_at_ms: i64) -> Self {
        WriterOptions {
            archive_id: archive_id.to_string(),
            kind: ArchiveKind::Files,
            name: None,
            created_at_ms,
            level: 3,
            frame_size: DEFAULT_FRAME_SIZE,
            codec: codec::default_codec().name().to_string(),
            retention: Retention::default(),
            bri: None,
            extra: serde_json::Map::new(),
            redundancy_percent: crate::parity::DEFAULT_REDUNDANCY_PERCENT,
            size_hint: 0,
            round_trip: true,
        }
    }
}

/// Bytes the writer hands out, in order.
#[derive(Debug)]
pub enum Output {
    /// The next bytes of the data region: append to the file.
    Data(Vec<u8>),
    /// A parity frame: keep aside (a temporary file), in order, until [`Output::End`].
    Parity(Vec<u8>),
    /// The end: append `head`, then every [`Output::Parity`] chunk in order, then `tail`
    /// (which ends with the seek table). Without parity, `head` is empty and `tail` is the
    /// seek table.
    End { head: Vec<u8>, tail: Vec<u8> },
}

/// A member to add.
#[derive(Debug, Clone)]
pub struct MemberMeta {
    pub path: String,
    pub kind: MemberKind,
    /// Exact content length (0 for links and directories).
    pub size: u64,
    pub mode: u32,
    /// Seconds since the Unix epoch.
    pub mtime: u64,
}

impl MemberMeta {
    pub fn file(path: &str, size: u64, mode: u32, mtime: u64) -> Self {
        MemberMeta {
            path: path.to_string(),
            kind: MemberKind::File,
            size,
            mode,
            mtime,
        }
    }
    pub fn link(path: &str, target: &str, mode: u32, mtime: u64) -> Self {
        MemberMeta {
            path: path.to_string(),
            kind: MemberKind::Link {
                target: target.to_string(),
            },
            size: 0,
            mode,
            mtime,
        }
    }
}

/// Uncompressed bytes of one frame, to be compressed by the host.
#[derive(Debug)]
pub struct FrameJob {
    pub seq: u32,
    pub level: i32,
    pub data: Vec<u8>,
    /// Decompress the result and compare it with `data` before handing it back.
    pub round_trip: bool,
}

/// A frame compressed by the host, ready to be handed back with [`ArchiveWriter::submit`].
#[derive(Debug)]
pub struct CompressedFrame {
    pub seq: u32,
    pub bytes: Vec<u8>,
    pub decompressed: u32,
    pub checksum: u32,
}

impl FrameJob {
    /// Compress this job (pure CPU; call it on any thread). With `round_trip`, the frame is
    /// decompressed again and must give back exactly `data`: a codec fault is caught before
    /// a single byte of the frame is written.
    pub fn run(self, codec: &dyn Codec) -> Result<CompressedFrame> {
        let bytes = codec.compress(&self.data, self.level)?;
        if self.round_trip {
            let back = codec.decompress(&bytes, self.data.len())?;
            if back != self.data {
                return Err(Error::corrupted(format!(
                    "frame {}: the compressor's output does not decode to its input; nothing was written",
                    self.seq
                )));
            }
        }
        Ok(CompressedFrame {
            seq: self.seq,
            decompressed: self.data.len() as u32,
            checksum: frame_trailer_checksum(&bytes)
                .unwrap_or_else(|| seek::frame_checksum(&self.data)),
            bytes,
        })
    }
}

/// The content checksum a zstd frame carries in its last 4 bytes (the low 32 bits of XXH64,
/// the same value the seek table records), when its header says it has one. Saves hashing
/// every frame twice.
fn frame_trailer_checksum(frame: &[u8]) -> Option<u32> {
    // Frame header: magic (4), descriptor (1); bit 2 of the descriptor = checksum flag.
    if frame.len() < 9 || frame[..4] != seek::ZSTD_MAGIC.to_le_bytes() || frame[4] & 0x04 == 0 {
        return None;
    }
    let t = &frame[frame.len() - 4..];
    Some(u32::from_le_bytes([t[0], t[1], t[2], t[3]]))
}

struct Current {
    index: usize,
    size: u64,
    written: u64,
    hasher: Sha256,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Members,
    /// `finish` was called; the manifest job is issued once every earlier frame is back.
    AwaitManifest,
    ManifestIssued,
    Done,
}

/// The writer. See the module docs.
pub struct ArchiveWriter {
    opts: WriterOptions,
    frame: Vec<u8>,
    frame_owner: Vec<u32>,
    next_seq: u32,
    jobs: VecDeque<FrameJob>,
    finished: BTreeMap<u32, CompressedFrame>,
    next_out: u32,
    output: VecDeque<Output>,
    seek: Vec<SeekEntry>,
    parity: Option<ParityEncoder>,
    layout: Option<ParityLayout>,
    tar_offset: u64,
    members: Vec<MemberEntry>,
    digests: Vec<[u8; 32]>,
    by_path: HashMap<String, usize>,
    current: Option<Current>,
    phase: Phase,
    manifest: Option<Manifest>,
    compressed_bytes: u64,
}

impl ArchiveWriter {
    pub fn new(opts: WriterOptions) -> Result<Self> {
        codec::check_level(opts.level)?;
        if !(MIN_FRAME_SIZE..=MAX_FRAME_SIZE).contains(&opts.frame_size) {
            return Err(Error::invalid(format!(
                "frame size {} is outside {MIN_FRAME_SIZE}..={MAX_FRAME_SIZE} bytes",
                opts.frame_size
            )));
        }
        if opts.archive_id.is_empty() || opts.archive_id.len() > 200 {
            return Err(Error::invalid("archive id must be 1 to 200 characters"));
        }
        let layout = ParityLayout::choose(opts.size_hint, opts.redundancy_percent)?;
        let parity = layout.map(ParityEncoder::new).transpose()?;
        Ok(ArchiveWriter {
            parity,
            layout,
            frame: Vec::new(),
            frame_owner: Vec::new(),
            next_seq: 0,
            jobs: VecDeque::new(),
            finished: BTreeMap::new(),
            next_out: 0,
            output: VecDeque::new(),
            seek: Vec::new(),
            tar_offset: 0,
            members: Vec::new(),
            digests: Vec::new(),
            by_path: HashMap::new(),
            current: None,
            phase: Phase::Members,
            manifest: None,
            compressed_bytes: 0,
            opts,
        })
    }

    /// Start a member. Its content (exactly `meta.size` bytes) follows with [`Self::write`],
    /// then [`Self::end_member`].
    pub fn begin_member(&mut self, meta: MemberMeta) -> Result<()> {
        if self.phase != Phase::Members {
            return Err(Error::invalid("begin_member after finish"));
        }
        if self.current.is_some() {
            return Err(Error::invalid("begin_member while another member is open"));
        }
        if meta.path == CHECKSUMS_NAME || meta.path == MANIFEST_NAME {
            return Err(Error::invalid(format!(
                "{:?} is a reserved name inside archives; rename the file or archive its directory",
                meta.path
            )));
        }
        self.begin_inner(meta)
    }

    fn begin_inner(&mut self, meta: MemberMeta) -> Result<()> {
        ustar::check_path(&meta.path)?;
        if self.by_path.contains_key(&meta.path) {
            return Err(Error::invalid(format!("{:?} is added twice", meta.path)));
        }
        let mut link_digest = None;
        if let MemberKind::Link { target } = &meta.kind {
            match self.by_path.get(target) {
                Some(&i) if self.members[i].kind == MemberKind::File => {
                    link_digest = Some(self.digests[i])
                }
                _ => {
                    return Err(Error::invalid(format!(
                        "{:?} links to {target:?}, which is not an earlier regular member",
                        meta.path
                    )))
                }
            }
            if meta.size != 0 {
                return Err(Error::invalid("a hard link has no content (size 0)"));
            }
        }
        if meta.kind == MemberKind::Dir && meta.size != 0 {
            return Err(Error::invalid("a directory has no content (size 0)"));
        }
        // Every member starts a new frame.
        self.flush_frame();
        let header = ustar::encode_header(&MemberHeader {
            path: meta.path.clone(),
            kind: meta.kind.clone(),
            size: meta.size,
            mode: meta.mode,
            mtime: meta.mtime,
        })?;
        let index = self.members.len();
        self.members.push(MemberEntry {
            path: meta.path.clone(),
            kind: meta.kind.clone(),
            size: meta.size,
            mode: meta.mode & 0o7777,
            mtime: meta.mtime,
            sha256: String::new(),
            tar_offset: self.tar_offset,
            first_frame: self.next_seq,
            frame_count: 0,
            compressed_size: 0,
        });
        self.digests.push(link_digest.unwrap_or([0; 32]));
        self.by_path.insert(meta.path, index);
        self.push_tar(&header);
        self.current = Some(Current {
            index,
            size: meta.size,
            written: 0,
            hasher: Sha256::new(),
        });
        Ok(())
    }

    /// Content of the open member, in chunks of any size.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        let cur = self
            .current
            .as_mut()
            .ok_or_else(|| Error::invalid("write without an open member"))?;
        if cur.written + data.len() as u64 > cur.size {
            let path = self.members[cur.index].path.clone();
            return Err(Error::invalid(format!(
                "{path:?} grew while being archived: more than the {} bytes announced",
                cur.size
            )));
        }
        cur.written += data.len() as u64;
        cur.hasher.update(data);
        self.push_tar(data);
        Ok(())
    }

    /// Close the open member; its content must have been exactly `size` bytes.
    pub fn end_member(&mut self) -> Result<&MemberEntry> {
        let cur = self
            .current
            .take()
            .ok_or_else(|| Error::invalid("end_member without an open member"))?;
        if cur.written != cur.size {
            let path = self.members[cur.index].path.clone();
            return Err(Error::invalid(format!(
                "{path:?} changed while being archived: {} bytes read, {} announced",
                cur.written, cur.size
            )));
        }
        if self.members[cur.index].kind == MemberKind::File {
            self.digests[cur.index] = cur.hasher.finalize().into();
        }
        let pad = ustar::padding(cur.size);
        self.push_tar(&[0u8; BLOCK][..pad]);
        let m = &mut self.members[cur.index];
        m.sha256 = hex::encode(self.digests[cur.index]);
        Ok(&self.members[cur.index])
    }

    /// Add a whole member in one call and collect what is ready (convenience for small
    /// content; compresses inline with `codec`).
    pub fn add_file(
        &mut self,
        meta: MemberMeta,
        content: &[u8],
        codec: &dyn Codec,
        out: &mut dyn FnMut(Output),
    ) -> Result<()> {
        self.begin_member(meta)?;
        self.write(content)?;
        self.end_member()?;
        self.pump_inline(codec, out)
    }

    fn push_tar(&mut self, mut data: &[u8]) {
        self.tar_offset += data.len() as u64;
        while !data.is_empty() {
            let room = self.opts.frame_size - self.frame.len();
            let take = room.min(data.len());
            if self.frame.capacity() == 0 {
                self.frame
                    .reserve(self.opts.frame_size.min(take.max(BLOCK * 2)));
            }
            self.frame.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.frame.len() == self.opts.frame_size {
                self.flush_frame();
            }
        }
    }

    fn flush_frame(&mut self) {
        if self.frame.is_empty() {
            return;
        }
        let data = std::mem::take(&mut self.frame);
        let owner = self.members.len().saturating_sub(1) as u32;
        self.frame_owner.push(owner);
        if let Some(m) = self.members.last_mut() {
            m.frame_count += 1;
        }
        self.jobs.push_back(FrameJob {
            seq: self.next_seq,
            level: self.opts.level,
            data,
            round_trip: self.opts.round_trip,
        });
        self.next_seq += 1;
    }

    /// No more members: the writer adds `checksums.sha256`, then (once every frame is back)
    /// the manifest and the seek table.
    pub fn finish(&mut self) -> Result<()> {
        if self.phase != Phase::Members {
            return Err(Error::invalid("finish called twice"));
        }
        if self.current.is_some() {
            return Err(Error::invalid("finish while a member is open"));
        }
        let text = checksums::render(
            self.members
                .iter()
                .zip(self.digests.iter())
                .map(|(m, d)| (m.path.as_str(), d)),
        );
        let mtime = (self.opts.created_at_ms.max(0) / 1000) as u64;
        self.begin_inner(MemberMeta::file(
            CHECKSUMS_NAME,
            text.len() as u64,
            0o644,
            mtime,
        ))?;
        self.write(text.as_bytes())?;
        self.end_member()?;
        self.flush_frame();
        self.phase = Phase::AwaitManifest;
        self.maybe_issue_manifest()
    }

    fn maybe_issue_manifest(&mut self) -> Result<()> {
        if self.phase != Phase::AwaitManifest || self.next_out != self.next_seq {
            return Ok(());
        }
        let totals = Totals {
            members: self.members.len() as u64,
            content_bytes: self.members.iter().map(|m| m.size).sum(),
            compressed_bytes: self.compressed_bytes,
            frames: self.next_seq,
        };
        let o = &self.opts;
        let manifest = Manifest {
            format: manifest::FORMAT_NAME.to_string(),
            format_version: manifest::MANIFEST_VERSION,
            archive_id: o.archive_id.clone(),
            kind: o.kind,
            name: o.name.clone(),
            created_at: manifest::rfc3339_ms(o.created_at_ms),
            created_at_ms: o.created_at_ms,
            writer: format!("bri-core {}", crate::VERSION),
            retention: o.retention.clone(),
            compression: Compression {
                algorithm: "zstd".into(),
                level: o.level,
                frame_size: o.frame_size as u64,
                codec: o.codec.clone(),
            },
            integrity: Integrity {
                algorithm: "sha256".into(),
                frame_checksum: "xxh64-low32".into(),
            },
            error_correction: self.layout.map(|l| {
                serde_json::json!({
                    "algorithm": crate::parity::ALGORITHM,
                    "k": l.k,
                    "m": l.m,
                    "shardSize": l.shard_size,
                    "redundancy": l.redundancy_percent,
                })
            }),
            members: self.members.clone(),
            totals,
            bri: o.bri.clone(),
            extra: o.extra.clone(),
        };
        let json = manifest.to_json();
        if json.len() > manifest::MAX_MANIFEST {
            return Err(Error::limit(
                "manifest.json size",
                json.len() as u64,
                manifest::MAX_MANIFEST as u64,
            ));
        }
        // The manifest frame: header, JSON, padding and the end-of-archive marker, always one
        // frame whatever its size, so readers find it as the last data frame.
        let mtime = (o.created_at_ms.max(0) / 1000) as u64;
        let mut data = ustar::encode_header(&MemberHeader {
            path: MANIFEST_NAME.into(),
            kind: MemberKind::File,
            size: json.len() as u64,
            mode: 0o644,
            mtime,
        })?;
        data.extend_from_slice(&json);
        data.resize(
            data.len() + ustar::padding(json.len() as u64) + 2 * BLOCK,
            0,
        );
        self.tar_offset += data.len() as u64;
        self.frame_owner.push(u32::MAX);
        self.jobs.push_back(FrameJob {
            seq: self.next_seq,
            level: o.level,
            data,
            round_trip: o.round_trip,
        });
        self.next_seq += 1;
        self.manifest = Some(manifest);
        self.phase = Phase::ManifestIssued;
        Ok(())
    }

    /// The next frame to compress, if any.
    pub fn next_job(&mut self) -> Option<FrameJob> {
        self.jobs.pop_front()
    }

    /// Number of frames handed out with [`Self::next_job`] and not yet submitted back.
    pub fn in_flight(&self) -> usize {
        (self.next_seq - self.next_out) as usize - self.jobs.len() - self.finished.len()
    }

    /// Hand back a compressed frame (any order).
    pub fn submit(&mut self, frame: CompressedFrame) -> Result<()> {
        if frame.seq < self.next_out
            || frame.seq >= self.next_seq
            || self.finished.contains_key(&frame.seq)
        {
            return Err(Error::invalid(format!(
                "frame {} was not expected",
                frame.seq
            )));
        }
        self.finished.insert(frame.seq, frame);
        while let Some(f) = self.finished.remove(&self.next_out) {
            let compressed = f.bytes.len() as u64;
            self.seek.push(SeekEntry {
                compressed: u32::try_from(compressed)
                    .map_err(|_| Error::invalid("frame over 4 GiB"))?,
                decompressed: f.decompressed,
                checksum: f.checksum,
            });
            let owner = self.frame_owner[self.next_out as usize];
            if owner != u32::MAX {
                self.members[owner as usize].compressed_size += compressed;
                self.compressed_bytes += compressed;
            }
            if let Some(enc) = self.parity.as_mut() {
                enc.feed(&f.bytes);
                while let Some(p) = enc.poll_frame() {
                    self.output.push_back(Output::Parity(p));
                }
            }
            self.output.push_back(Output::Data(f.bytes));
            self.next_out += 1;
        }
        if self.phase == Phase::AwaitManifest {
            self.maybe_issue_manifest()?;
        }
        if self.phase == Phase::ManifestIssued && self.next_out == self.next_seq {
            let end = match self.parity.take() {
                Some(enc) => {
                    let t = enc.finish(&self.seek)?;
                    self.seek = t.seek_entries;
                    Output::End {
                        head: t.head,
                        tail: t.tail,
                    }
                }
                None => Output::End {
                    head: Vec::new(),
                    tail: seek::encode(&self.seek),
                },
            };
            self.output.push_back(end);
            self.phase = Phase::Done;
        }
        Ok(())
    }

    /// The next bytes of the file, in order (see [`Output`] for where each goes).
    pub fn next_output(&mut self) -> Option<Output> {
        self.output.pop_front()
    }

    /// Compress every pending job on this thread and pass all ready output to `out`.
    pub fn pump_inline(&mut self, codec: &dyn Codec, out: &mut dyn FnMut(Output)) -> Result<()> {
        loop {
            while let Some(job) = self.next_job() {
                let f = job.run(codec)?;
                self.submit(f)?;
            }
            while let Some(o) = self.next_output() {
                out(o);
            }
            if self.jobs.is_empty() {
                return Ok(());
            }
        }
    }

    /// The parity layout, if the archive carries parity.
    pub fn parity_layout(&self) -> Option<ParityLayout> {
        self.layout
    }

    /// True when every byte of the file has been handed out by [`Self::next_output`]
    /// (or is waiting there).
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Replace the `bri` and `extra` manifest sections before [`Self::finish`] (hosts learn
    /// some of them, like WAL statistics, only while streaming the members).
    pub fn set_metadata(
        &mut self,
        bri: Option<serde_json::Value>,
        extra: serde_json::Map<String, serde_json::Value>,
    ) -> Result<()> {
        if self.phase != Phase::Members {
            return Err(Error::invalid("set_metadata after finish"));
        }
        self.opts.bri = bri;
        self.opts.extra = extra;
        Ok(())
    }

    /// The manifest (available once the manifest frame was issued).
    pub fn manifest(&self) -> Option<&Manifest> {
        self.manifest.as_ref()
    }

    /// The seek table entries of the frames written so far (all frames once done).
    pub fn seek_entries(&self) -> &[SeekEntry] {
        &self.seek
    }
}

/// Collects [`Output`]s into one in-memory file (tests, test vectors, wasm).
#[derive(Debug, Default)]
pub struct MemorySink {
    data: Vec<u8>,
    parity: Vec<u8>,
    done: Option<Vec<u8>>,
}

impl MemorySink {
    pub fn push(&mut self, o: Output) {
        match o {
            Output::Data(b) => self.data.extend_from_slice(&b),
            Output::Parity(b) => self.parity.extend_from_slice(&b),
            Output::End { head, tail } => {
                let mut f = std::mem::take(&mut self.data);
                f.extend_from_slice(&head);
                f.extend_from_slice(&self.parity);
                f.extend_from_slice(&tail);
                self.done = Some(f);
            }
        }
    }

    /// The whole file, once [`Output::End`] was pushed.
    pub fn into_file(self) -> Option<Vec<u8>> {
        self.done
    }
}

/// Build a whole archive in memory from `(meta, content)` pairs (tests, test vectors, wasm).
pub fn archive_to_vec(
    opts: WriterOptions,
    members: &[(MemberMeta, &[u8])],
    codec: &dyn Codec,
) -> Result<(Vec<u8>, Manifest)> {
    let mut w = ArchiveWriter::new(opts)?;
    let mut sink = MemorySink::default();
    for (meta, content) in members {
        w.add_file(meta.clone(), content, codec, &mut |o| sink.push(o))?;
    }
    w.finish()?;
    w.pump_inline(codec, &mut |o| sink.push(o))?;
    let manifest = w
        .manifest
        .take()
        .ok_or_else(|| Error::invalid("archive not finished"))?;
    let file = sink
        .into_file()
        .ok_or_else(|| Error::invalid("archive not finished"))?;
    Ok((file, manifest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_size_follows_the_level_window() {
        assert_eq!(default_frame_size(1), DEFAULT_FRAME_SIZE);
        assert_eq!(default_frame_size(3), DEFAULT_FRAME_SIZE);
        assert_eq!(default_frame_size(9), 8 << 20);
        assert_eq!(default_frame_size(19), 16 << 20);
        assert_eq!(default_frame_size(22), 32 << 20);
    }

    #[test]
    fn trailer_checksum_equals_the_computed_one() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 97) as u8).collect();
        for codec in [
            &crate::codec::PureZstd as &dyn Codec,
            crate::codec::default_codec(),
        ] {
            let f = FrameJob {
                seq: 0,
                level: 3,
                data: data.clone(),
                round_trip: true,
            }
            .run(codec)
            .unwrap();
            assert_eq!(f.checksum, seek::frame_checksum(&data), "{}", codec.name());
        }
        assert_eq!(frame_trailer_checksum(b"short"), None);
    }
}
