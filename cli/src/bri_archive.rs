//! Archives of a live BRI data directory, chained without gaps, and restores from them.
//!
//! **Chain.** Each archive covers the WAL lines after the previous archive of the same
//! instance and timeline, up to the last complete line of the data directory: archive N starts
//! at the line (and the byte of the segment) where archive N-1 ended. Its `snapshot.jss` member
//! is the state at that line (computed by replaying the previous archive, so BRI need not
//! cooperate), and its manifest's `bri` section records the line range, the time range, the
//! chain anchor (the pointer before its first line) and head, and the byte range of every
//! segment it holds. A segment can be split over two archives: the growing last segment is cut
//! at its last `\n`; the rest waits for the next archive.
//!
//! **Restore.** The state at the chosen point is one archive's snapshot plus its WAL up to the
//! point. The restored directory holds it as a version-1 `snapshot.jss` with `walLine` 0 and an
//! empty `wal/`: BRI loads exactly that state under Node and under Bun (no line numbering to
//! disagree on), with no stale `cold/` file, and the `txn/` logs only when restoring the latest
//! point. The directory is built beside the target, fsynced, and swapped in; the old one is kept
//! as `<target>.bak-<time>` unless `clean`. The restore starts a new timeline in the store, so
//! archives taken afterwards chain from the restored state and never mix with the old history.

use crate::db::{key_from_env, DataDir};
use crate::error::CliError;
use crate::files::{self, CreateOptions, Planned, Source};
use crate::fsutil;
use bri_core::bri::{
    self, read_snapshot, replay::ReplayOptions, write_snapshot_v1, write_snapshot_v1_encrypted,
    BriError, Key, State, WalEngine,
};
use bri_core::codec;
use bri_core::manifest::{ArchiveKind, Manifest, Retention};
use bri_core::tarstream::{TarEvent, TarReader};
use bri_core::writer::{MemberMeta, WriterOptions};
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Name of the file in the archive store that records the instance and its current timeline.
pub const INSTANCE_FILE: &str = "bri-instance.json";

/// The `bri` section of a BRI archive's manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BriInfo {
    pub instance_id: String,
    /// Restores start a new timeline; archives chain only within one.
    pub timeline: u32,
    /// The archive's snapshot is the state after this line (0: before the first line).
    pub start_line: u64,
    /// Last line the archive holds (= `start_line` when it holds none).
    pub end_line: u64,
    pub first_timestamp: Option<u64>,
    pub last_timestamp: Option<u64>,
    /// Pointer of line `start_line` ("" at the chain's origin); `None` when unknown.
    pub anchor: Option<String>,
    /// Pointer of line `end_line`.
    pub head: Option<String>,
    pub segments: Vec<SegmentPortion>,
    /// Documents and collections in the archive's snapshot.
    pub snapshot_documents: u64,
    pub snapshot_collections: u64,
    /// Entries per action in the archive's WAL lines.
    pub actions: std::collections::BTreeMap<String, u64>,
    pub entries: u64,
    pub encrypted: bool,
    /// Open-transaction logs archived with it (`txn/` members).
    pub txn: Vec<String>,
}

/// The part of one WAL segment an archive holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SegmentPortion {
    pub name: String,
    /// Byte offset of the portion in the segment.
    pub offset: u64,
    pub length: u64,
    pub first_line: u64,
    pub last_line: u64,
}

/// `bri-instance.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    pub instance_id: String,
    pub timeline: u32,
}

/// An archive found in the store.
#[derive(Debug, Clone)]
pub struct Listed {
    pub path: PathBuf,
    pub manifest: Manifest,
    pub bri: BriInfo,
    pub bytes: u64,
}

/// The local archive store: a directory of `<archiveId>.bri.zst` files.
#[derive(Debug, Clone)]
pub struct Store {
    pub dir: PathBuf,
}

impl Store {
    pub fn new(dir: &Path) -> Store {
        Store {
            dir: dir.to_path_buf(),
        }
    }

    /// The instance record, created (atomically) on first use.
    pub fn instance(&self) -> Result<Instance, CliError> {
        let p = self.dir.join(INSTANCE_FILE);
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| CliError::Config(format!("{} is not valid: {e}", p.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let inst = Instance {
                    instance_id: format!("inst_{:016x}", rand::random::<u64>()),
                    timeline: 1,
                };
                self.save_instance(&inst)?;
                Ok(inst)
            }
            Err(e) => Err(CliError::io(format!("reading {}", p.display()), e)),
        }
    }

    pub fn save_instance(&self, inst: &Instance) -> Result<(), CliError> {
        fs::create_dir_all(&self.dir)
            .map_err(|e| CliError::io(format!("creating {}", self.dir.display()), e))?;
        let p = self.dir.join(INSTANCE_FILE);
        let tmp = fsutil::temp_sibling(&p);
        let body = serde_json::to_vec_pretty(inst).unwrap_or_default();
        let mut guard = fsutil::TempGuard(Some(tmp.clone()));
        {
            use std::io::Write;
            let mut f = fsutil::create_new(&tmp)?;
            f.write_all(&body)
                .and_then(|_| f.sync_all())
                .map_err(|e| CliError::io(format!("writing {}", tmp.display()), e))?;
        }
        fsutil::publish(&tmp, &p, true)?;
        guard.disarm();
        Ok(())
    }

    /// Every readable BRI archive in the store, oldest first (by timeline, then line range).
    /// Temporary files (names starting with `.`) are never listed.
    pub fn list(&self) -> Result<Vec<Listed>, CliError> {
        let mut out = Vec::new();
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(CliError::io(format!("listing {}", self.dir.display()), e)),
        };
        for ent in rd.flatten() {
            let name = ent.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !name.ends_with(".bri.zst") {
                continue;
            }
            let path = ent.path();
            let Ok(o) = files::open_archive(&path) else {
                continue;
            };
            let Ok(manifest) = o.manifest else { continue };
            if manifest.kind != ArchiveKind::Bri {
                continue;
            }
            let Some(bri) = manifest
                .bri
                .clone()
                .and_then(|v| serde_json::from_value::<BriInfo>(v).ok())
            else {
                continue;
            };
            out.push(Listed {
                path,
                bytes: o.len,
                manifest,
                bri,
            });
        }
        out.sort_by(|a, b| {
            (a.bri.timeline, a.bri.start_line, a.bri.end_line).cmp(&(
                b.bri.timeline,
                b.bri.start_line,
                b.bri.end_line,
            ))
        });
        Ok(out)
    }

    /// Archives of one instance and timeline, oldest first.
    pub fn chain(&self, inst: &Instance) -> Result<Vec<Listed>, CliError> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|a| a.bri.instance_id == inst.instance_id && a.bri.timeline == inst.timeline)
            .collect())
    }
}

/// Stream one member's content out of an archive file (bounded memory: one frame).
pub fn read_member_stream(
    path: &Path,
    member: &str,
    on_chunk: &mut dyn FnMut(&[u8]) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let mut o = files::open_archive(path)?;
    let manifest = o.manifest?;
    let e = manifest
        .member(member)
        .cloned()
        .ok_or_else(|| CliError::NotFound(format!("{member} is not in {}", path.display())))?;
    let codec = codec::default_codec();
    let mut tar = TarReader::new();
    tar.resync(e.tar_offset);
    let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
    let mut ended = false;
    let mut buf = Vec::new();
    for i in o.index.member_frames(&e) {
        let f = o.index.frames[i];
        buf.resize(f.compressed as usize, 0);
        o.file
            .seek(SeekFrom::Start(f.offset))
            .and_then(|_| o.file.read_exact(&mut buf))
            .map_err(|e| CliError::io(format!("reading {}", path.display()), e))?;
        let data = o.index.decode_frame(i, &buf, codec)?;
        let mut err = None;
        tar.feed(&data, |ev| {
            match ev {
                TarEvent::Data(d) => {
                    sha2::Digest::update(&mut hasher, d);
                    if let Err(e) = on_chunk(d) {
                        err = Some(e);
                    }
                }
                TarEvent::MemberEnd => ended = true,
                _ => {}
            }
            Ok(())
        })?;
        if let Some(e) = err {
            return Err(e);
        }
    }
    if !ended || hex::encode(sha2::Digest::finalize(hasher)) != e.sha256 {
        return Err(bri_core::Error::Corrupted {
            what: format!("{member} in {} does not match its checksum", path.display()),
        }
        .into());
    }
    Ok(())
}

/// The state at the end of an archive (or at `until_time`): its snapshot plus its WAL.
pub fn archive_state(
    a: &Listed,
    key: Option<&Key>,
    until_time: Option<u64>,
) -> Result<(State, u64, Option<u64>), CliError> {
    let mut snap_bytes = Vec::new();
    read_member_stream(&a.path, "snapshot.jss", &mut |c| {
        snap_bytes.extend_from_slice(c);
        Ok(())
    })?;
    let snap = read_snapshot(&snap_bytes, key)?;
    let opts = ReplayOptions {
        first_line_after: a.bri.start_line,
        anchor: a.bri.anchor.clone(),
        unanchored: a.bri.anchor.is_none(),
        until_time,
        ..ReplayOptions::default()
    };
    let mut engine = WalEngine::new(snap.state, opts, key.cloned());
    for seg in &a.bri.segments {
        engine.begin_segment(&seg.name)?;
        read_member_stream(&a.path, &format!("wal/{}", seg.name), &mut |c| {
            Ok(engine.feed(c)?)
        })?;
        // A portion that does not end a segment still ends a line: the archive cut it there.
        engine.end_segment()?;
    }
    let out = engine.finish()?;
    if out.chain.checked && !out.chain.valid {
        return Err(CliError::History(format!(
            "{}: the archived WAL's pointer chain is broken at line {} ({} broken links); the archive was not written from one history",
            a.manifest.archive_id,
            out.chain.broken.first().map(|b| b.line).unwrap_or(0),
            out.chain.broken_count
        )));
    }
    Ok((
        out.state,
        out.last_applied_line.max(a.bri.start_line),
        out.last_applied_timestamp,
    ))
}

/// Settings of `bri archive create` for a data directory.
#[derive(Debug, Clone)]
pub struct BriCreateOptions {
    pub data_dir: PathBuf,
    pub store: PathBuf,
    pub write: CreateOptions,
    pub retention: Retention,
}

/// What `bri archive create` did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BriCreateSummary {
    /// `None` when there was nothing new to archive.
    pub archive: Option<PathBuf>,
    pub archive_id: Option<String>,
    pub bri: Option<BriInfo>,
    pub archive_bytes: u64,
    pub input_bytes: u64,
    pub seconds: f64,
}

/// Where the next archive starts.
struct Start {
    line: u64,
    anchor: Option<String>,
    state: State,
    /// Segment name and byte offset of the first byte to archive.
    segment: Option<String>,
    offset: u64,
}

/// Count lines of a byte range (BRI's counting: every `\n` ends a line; a non-empty
/// unterminated tail is a line too when `tail_counts`), and the pointer field of the last line.
fn scan_lines(
    path: &Path,
    offset: u64,
    length: u64,
    tail_counts: bool,
) -> Result<(u64, Option<String>), CliError> {
    let mut f =
        File::open(path).map_err(|e| CliError::io(format!("opening {}", path.display()), e))?;
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| CliError::io(format!("reading {}", path.display()), e))?;
    let mut left = length;
    let mut buf = vec![0u8; 1 << 20];
    let mut lines = 0u64;
    let mut line = Vec::new();
    let mut last_ptr = None;
    while left > 0 {
        let want = buf.len().min(left as usize);
        let n = f
            .read(&mut buf[..want])
            .map_err(|e| CliError::io(format!("reading {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        left -= n as u64;
        for &b in &buf[..n] {
            if b == b'\n' {
                lines += 1;
                if let Some(p) = pointer_of(&line) {
                    last_ptr = Some(p);
                }
                line.clear();
            } else if line.len() < 64 {
                line.push(b);
            }
        }
    }
    if tail_counts && !line.is_empty() {
        lines += 1;
    }
    Ok((lines, last_ptr))
}

fn pointer_of(line: &[u8]) -> Option<String> {
    let mut parts = line.splitn(3, |&b| b == b'|');
    let ts = parts.next()?;
    let p = parts.next()?;
    parts.next()?;
    (!ts.is_empty()
        && ts.iter().all(u8::is_ascii_digit)
        && p.len() == 8
        && p.iter().all(u8::is_ascii_hexdigit))
    .then(|| String::from_utf8_lossy(p).into_owned())
}

/// Offset just past the last `\n` of a file of `len` bytes (0 when it has none).
fn complete_len(path: &Path, len: u64) -> Result<u64, CliError> {
    let mut f =
        File::open(path).map_err(|e| CliError::io(format!("opening {}", path.display()), e))?;
    let mut end = len;
    let mut buf = vec![0u8; 64 << 10];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let n = (end - start) as usize;
        f.seek(SeekFrom::Start(start))
            .and_then(|_| f.read_exact(&mut buf[..n]))
            .map_err(|e| CliError::io(format!("reading {}", path.display()), e))?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// Where the first archive of a timeline starts: line 0 with an empty state when the WAL is
/// complete from line 1 (or with snapshot.jss's state when its walLine is 0, as after a
/// restore), else at snapshot.jss's walLine with its state (earlier segments are gone).
fn first_start(
    dd: &DataDir,
    snapshot: Option<&[u8]>,
    key: Option<&Key>,
) -> Result<Start, CliError> {
    let snap = snapshot.map(|b| read_snapshot(b, key)).transpose()?;
    let cold_state = |state: State| crate::db::with_cold_documents(dd, state);
    let first_seg = dd.segments.first().map(|(n, _)| n.clone());
    if let Some(s) = &snap {
        if s.wal_line == 0 {
            return Ok(Start {
                line: 0,
                anchor: Some(String::new()),
                state: cold_state(s.state.clone())?,
                segment: first_seg,
                offset: 0,
            });
        }
    }
    // Is the WAL complete from line 1? Its first entry must chain from "".
    let mut engine = WalEngine::new(
        State::new(),
        ReplayOptions {
            apply: false,
            until_line: Some(1),
            ..ReplayOptions::default()
        },
        key.cloned(),
    );
    let mut complete = true;
    if let Some((name, path)) = dd.segments.first() {
        let (lines, _) = scan_lines(
            path,
            0,
            fs::metadata(path).map(|m| m.len()).unwrap_or(0),
            true,
        )?;
        if lines > 0 {
            engine.begin_segment(name)?;
            let mut f = File::open(path)
                .map_err(|e| CliError::io(format!("opening {}", path.display()), e))?;
            let mut buf = vec![0u8; 64 << 10];
            let n = f
                .read(&mut buf)
                .map_err(|e| CliError::io(format!("reading {}", path.display()), e))?;
            let first_line_end = buf[..n]
                .iter()
                .position(|&b| b == b'\n')
                .map(|i| i + 1)
                .unwrap_or(n);
            engine.feed(&buf[..first_line_end])?;
            engine.end_segment()?;
            complete = engine.finish()?.chain.complete_from_line_1 != Some(false);
        }
    }
    match (complete, snap) {
        (true, _) | (false, None) => Ok(Start {
            line: 0,
            anchor: Some(String::new()),
            state: State::new(),
            segment: first_seg,
            offset: 0,
        }),
        (false, Some(s)) => {
            // Find where line walLine ends and its pointer.
            let mut line = 0u64;
            for (i, (name, path)) in dd.segments.iter().enumerate() {
                let len = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                let last = i + 1 == dd.segments.len();
                let (n, _) = scan_lines(path, 0, len, !last)?;
                if line + n >= s.wal_line {
                    let need = s.wal_line - line;
                    let (offset, ptr) = offset_after_lines(path, need)?;
                    return Ok(Start {
                        line: s.wal_line,
                        anchor: ptr,
                        state: cold_state(s.state)?,
                        segment: Some(name.clone()),
                        offset,
                    });
                }
                line += n;
            }
            Err(BriError::InvalidInput {
                message: format!(
                    "snapshot.jss says walLine {} but the WAL has only {line} lines",
                    s.wal_line
                ),
            }
            .into())
        }
    }
}

/// Byte offset just after the first `n` lines of a segment, and the pointer of line `n`.
fn offset_after_lines(path: &Path, n: u64) -> Result<(u64, Option<String>), CliError> {
    if n == 0 {
        return Ok((0, None));
    }
    let data =
        fs::read(path).map_err(|e| CliError::io(format!("reading {}", path.display()), e))?;
    let mut seen = 0;
    let mut start = 0;
    for (i, &b) in data.iter().enumerate() {
        if b == b'\n' {
            seen += 1;
            if seen == n {
                return Ok(((i + 1) as u64, pointer_of(&data[start..i])));
            }
            start = i + 1;
        }
    }
    Ok((data.len() as u64, pointer_of(&data[start..])))
}

/// Archive what is new in `opts.data_dir` into the store. Works while BRI is running: the
/// segment list is read once, `snapshot.jss` once, and the growing last segment is cut at its
/// last complete line.
pub fn create(opts: &BriCreateOptions, bar: &ProgressBar) -> Result<BriCreateSummary, CliError> {
    let started = std::time::Instant::now();
    let store = Store::new(&opts.store);
    fs::create_dir_all(&store.dir)
        .map_err(|e| CliError::io(format!("creating {}", store.dir.display()), e))?;
    let inst = store.instance()?;
    let dd = DataDir::scan(&opts.data_dir)?;
    let key = key_from_env()?;
    let snapshot_bytes = match &dd.snapshot {
        Some(p) => {
            Some(fs::read(p).map_err(|e| CliError::io(format!("reading {}", p.display()), e))?)
        }
        None => None,
    };
    let encrypted = snapshot_bytes
        .as_deref()
        .map(bri::snapshot::is_encrypted_snapshot)
        .unwrap_or(false);
    if encrypted && key.is_none() {
        return Err(CliError::KeyRequired("archiving an encrypted database needs BRI_ENCRYPTION_KEY (64 hex characters): the archive's snapshot is computed from the decrypted WAL and stored encrypted".into()));
    }
    let chain = store.chain(&inst)?;
    let start = match chain.last() {
        Some(prev) => {
            let (state, _, _) = archive_state(prev, key.as_ref(), None)?;
            let (segment, offset) = match prev.bri.segments.last() {
                Some(s) => (Some(s.name.clone()), s.offset + s.length),
                None => (dd.segments.first().map(|(n, _)| n.clone()), 0),
            };
            Start {
                line: prev.bri.end_line,
                anchor: prev.bri.head.clone().or(prev.bri.anchor.clone()),
                state,
                segment,
                offset,
            }
        }
        None => first_start(&dd, snapshot_bytes.as_deref(), key.as_ref())?,
    };
    // The portions to archive, from the start position to the last complete line.
    let mut portions: Vec<(SegmentPortion, PathBuf)> = Vec::new();
    let mut line = start.line;
    let mut started_seg = start.segment.is_none();
    let nsegs = dd.segments.len();
    for (i, (name, path)) in dd.segments.iter().enumerate() {
        if !started_seg {
            if Some(name) != start.segment.as_ref() {
                if start.segment.as_deref().is_some_and(|s| name.as_str() < s) {
                    continue;
                }
                return Err(CliError::History(format!("segment {:?}, where the previous archive ended, is missing from {}; the data directory does not continue the archived history", start.segment, dd.root.display())));
            }
            started_seg = true;
        }
        let offset = if Some(name) == start.segment.as_ref() {
            start.offset
        } else {
            0
        };
        let len = fs::metadata(path)
            .map_err(|e| CliError::io(format!("reading {}", path.display()), e))?
            .len();
        let last = i + 1 == nsegs;
        let end = if last { complete_len(path, len)? } else { len };
        if end < offset {
            return Err(CliError::History(format!("{name} is shorter than what was already archived ({end} < {offset} bytes); the data directory was replaced or rewritten")));
        }
        if end == offset {
            continue;
        }
        let (n, _) = scan_lines(path, offset, end - offset, !last)?;
        portions.push((
            SegmentPortion {
                name: name.clone(),
                offset,
                length: end - offset,
                first_line: line + 1,
                last_line: line + n,
            },
            path.clone(),
        ));
        line += n;
    }
    if !started_seg && start.segment.is_some() {
        return Err(CliError::History(format!(
            "segment {:?}, where the previous archive ended, is missing from {}",
            start.segment,
            dd.root.display()
        )));
    }
    if portions.is_empty() {
        return Ok(BriCreateSummary {
            archive: None,
            archive_id: None,
            bri: None,
            archive_bytes: 0,
            input_bytes: 0,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    // Members: the snapshot at the start line, the WAL portions, the open-transaction logs.
    let now = files::now_ms();
    let iv: [u8; 12] = rand::random();
    let snapshot = match (&key, encrypted) {
        (Some(k), true) => write_snapshot_v1_encrypted(&start.state, start.line, now as u64, k, iv),
        _ => write_snapshot_v1(&start.state, start.line, now as u64),
    };
    let mtime = (now / 1000) as u64;
    let mut members = vec![Planned {
        meta: MemberMeta::file("snapshot.jss", snapshot.len() as u64, 0o644, mtime),
        source: Source::Bytes(snapshot),
    }];
    for (p, path) in &portions {
        members.push(Planned {
            meta: MemberMeta::file(&format!("wal/{}", p.name), p.length, 0o644, mtime),
            source: Source::File {
                path: path.clone(),
                offset: p.offset,
            },
        });
    }
    let mut txn = Vec::new();
    for p in &dd.txn {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let len = fs::metadata(p)
            .map_err(|e| CliError::io(format!("reading {}", p.display()), e))?
            .len();
        members.push(Planned {
            meta: MemberMeta::file(&format!("txn/{name}"), len, 0o644, mtime),
            source: Source::File {
                path: p.clone(),
                offset: 0,
            },
        });
        txn.push(name);
    }
    let total: u64 = members.iter().map(|m| m.meta.size).sum();
    bar.set_length(total);
    let archive_id = files::new_archive_id(now);
    let mut wopts = WriterOptions::files(&archive_id, now);
    wopts.kind = ArchiveKind::Bri;
    wopts.level = opts.write.level;
    wopts.frame_size = opts.write.frame_size;
    wopts.redundancy_percent = opts.write.redundancy;
    wopts.round_trip = opts.write.verify;
    wopts.size_hint = total / 8;
    wopts.name = opts.write.name.clone();
    wopts.retention = opts.retention.clone();
    // Statistics and the chain check of the archived lines, while they stream by.
    let engine = std::cell::RefCell::new((
        WalEngine::new(
            State::new(),
            ReplayOptions {
                apply: false,
                first_line_after: start.line,
                anchor: start.anchor.clone(),
                unanchored: start.anchor.is_none(),
                ..ReplayOptions::default()
            },
            key.clone(),
        ),
        None::<usize>,
    ));
    let wal_members = 1..1 + portions.len();
    let mut observe = |i: usize, chunk: &[u8]| -> Result<(), CliError> {
        if !wal_members.contains(&i) {
            return Ok(());
        }
        let mut g = engine.borrow_mut();
        let (e, current) = &mut *g;
        if *current != Some(i) {
            if current.is_some() {
                e.end_segment()?;
            }
            e.begin_segment(&portions[i - 1].0.name)?;
            *current = Some(i);
        }
        e.feed(chunk)?;
        Ok(())
    };
    let dest = store.dir.join(format!("{archive_id}.bri.zst"));
    // Temporary archives of killed runs are swept (never listed: their names start with '.').
    if let Ok(rd) = fs::read_dir(&store.dir) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(".arc_") {
                fsutil::sweep_stale_temps(
                    &store.dir.join(&n[1..n.find(".tmp-").unwrap_or(n.len())]),
                );
            }
        }
    }
    let mut finalize = |w: &mut bri_core::writer::ArchiveWriter| -> Result<(), CliError> {
        let (mut e, current) = engine.replace((
            WalEngine::new(State::new(), ReplayOptions::default(), None),
            None,
        ));
        if current.is_some() {
            e.end_segment()?;
        }
        let out = e.finish()?;
        if out.chain.checked && !out.chain.valid {
            return Err(CliError::History(format!(
                "the WAL lines to archive do not continue the archived chain ({} broken links, first at line {}); the data directory does not continue the archived history",
                out.chain.broken_count,
                out.chain.broken.first().map(|b| b.line).unwrap_or(0)
            )));
        }
        let info = BriInfo {
            instance_id: inst.instance_id.clone(),
            timeline: inst.timeline,
            start_line: start.line,
            end_line: line,
            first_timestamp: out.stats.first_timestamp,
            last_timestamp: out.stats.last_timestamp,
            anchor: start.anchor.clone(),
            head: out.stats.chain_head.clone().or(start.anchor.clone()),
            segments: portions.iter().map(|(p, _)| p.clone()).collect(),
            snapshot_documents: start.state.documents.len() as u64,
            snapshot_collections: start.state.collections.len() as u64,
            actions: out.stats.actions.clone(),
            entries: out.stats.total_entries,
            encrypted,
            txn: txn.clone(),
        };
        w.set_metadata(
            Some(serde_json::to_value(&info).unwrap_or_default()),
            serde_json::Map::new(),
        )?;
        Ok(())
    };
    let written = files::write_archive(
        &members,
        &dest,
        wopts,
        &opts.write,
        bar,
        &mut observe,
        &mut finalize,
    )?;
    Ok(BriCreateSummary {
        archive: Some(dest),
        archive_id: Some(archive_id),
        bri: written
            .manifest
            .bri
            .and_then(|v| serde_json::from_value(v).ok()),
        archive_bytes: written.archive_bytes,
        input_bytes: written.input_bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Which point to restore.
#[derive(Debug, Clone)]
pub enum Point {
    Latest,
    Archive(String),
    Time(u64),
}

/// Settings of a restore.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    pub store: PathBuf,
    /// The data directory the store belongs to (a restore onto it starts a new timeline).
    pub data_dir: PathBuf,
    pub target: PathBuf,
    pub point: Point,
    pub clean: bool,
    pub dry_run: bool,
}

/// What a restore did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreSummary {
    pub archive_id: String,
    pub target: PathBuf,
    pub backup: Option<PathBuf>,
    /// Last line applied and its time.
    pub line: u64,
    pub timestamp: Option<u64>,
    pub documents: u64,
    pub collections: u64,
    pub txn_logs: u64,
    pub dry_run: bool,
    pub timeline: u32,
}

/// Pick the archive that holds `point` in the current timeline's chain.
pub fn choose(chain: &[Listed], point: &Point) -> Result<(usize, Option<u64>), CliError> {
    if chain.is_empty() {
        return Err(CliError::NotFound(
            "the archive store holds no archive of this database; run `bri archive create` first"
                .into(),
        ));
    }
    match point {
        Point::Latest => Ok((chain.len() - 1, None)),
        Point::Archive(id) => chain
            .iter()
            .position(|a| &a.manifest.archive_id == id)
            .map(|i| (i, None))
            .ok_or_else(|| CliError::NotFound(format!("no archive {id} in the store"))),
        Point::Time(t) => {
            let first = chain.iter().find_map(|a| a.bri.first_timestamp);
            let last = chain.iter().rev().find_map(|a| a.bri.last_timestamp);
            let range = match (first, last) {
                (Some(f), Some(l)) => format!(
                    "{f} ({}) to {l} ({})",
                    bri::replay::iso_ms(f),
                    bri::replay::iso_ms(l)
                ),
                _ => "empty".into(),
            };
            let outside = BriError::TimestampNotFound {
                message: format!(
                    "{t} ({}) is outside the archived range: {range}",
                    bri::replay::iso_ms(*t)
                ),
            };
            match (first, last) {
                (Some(f), Some(l)) if *t >= f && *t <= l => {}
                _ => return Err(outside.into()),
            }
            // The last archive whose first line is at or before t holds it (or ends before it,
            // when t falls between two archives: its end state is the state at t).
            let i = chain
                .iter()
                .rposition(|a| a.bri.first_timestamp.is_some_and(|f| f <= *t))
                .unwrap_or(0);
            Ok((i, Some(*t)))
        }
    }
}

/// Restore a data directory. See the module docs for what is written and how.
/// What a restore is doing, for hooks (`--hook`) and the Node module's callbacks. An error
/// returned from the callback at `Before` aborts the restore before anything is written.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "phase", rename_all = "camelCase")]
pub enum RestoreEvent {
    /// The archive is chosen; nothing has been written yet.
    Before { archive_id: String, target: PathBuf },
    /// The snapshot (the state at the point) is written and checked in the staging directory.
    AfterSnapshot {
        archive_id: String,
        target: PathBuf,
        documents: u64,
    },
    /// The restored directory is in place.
    After {
        archive_id: String,
        target: PathBuf,
        backup: Option<PathBuf>,
    },
}

/// [`restore_with`] without event callbacks.
pub fn restore(opts: &RestoreOptions, bar: &ProgressBar) -> Result<RestoreSummary, CliError> {
    restore_with(opts, bar, &mut |_| Ok(()))
}

/// Restore a data directory, reporting its phases to `events`.
pub fn restore_with(
    opts: &RestoreOptions,
    bar: &ProgressBar,
    events: &mut dyn FnMut(&RestoreEvent) -> Result<(), CliError>,
) -> Result<RestoreSummary, CliError> {
    let store = Store::new(&opts.store);
    let inst = store.instance()?;
    // The current timeline first, then older ones (newest first): after an in-place restore
    // the current timeline is empty until its first archive, and earlier points stay
    // restorable.
    let all: Vec<Listed> = store
        .list()?
        .into_iter()
        .filter(|a| a.bri.instance_id == inst.instance_id)
        .collect();
    let mut timelines: Vec<u32> = all.iter().map(|a| a.bri.timeline).collect();
    timelines.sort_unstable_by(|a, b| b.cmp(a));
    timelines.dedup();
    timelines.retain(|t| *t != inst.timeline);
    timelines.insert(0, inst.timeline);
    let mut found = None;
    let mut first_err = None;
    for tl in timelines {
        let chain: Vec<Listed> = all
            .iter()
            .filter(|a| a.bri.timeline == tl)
            .cloned()
            .collect();
        match choose(&chain, &opts.point) {
            Ok((i, until)) => {
                found = Some((chain, i, until));
                break;
            }
            Err(e) => {
                if first_err.is_none()
                    || (!chain.is_empty() && matches!(first_err, Some(CliError::NotFound(_))))
                {
                    first_err = Some(e);
                }
            }
        }
    }
    let Some((chain, i, until)) = found else {
        return Err(first_err.unwrap_or_else(|| CliError::NotFound("no archive".into())));
    };
    let a = &chain[i];
    let key = key_from_env()?;
    if a.bri.encrypted && key.is_none() {
        return Err(CliError::KeyRequired("this database is encrypted: set BRI_ENCRYPTION_KEY (64 hex characters) to restore it; without it no snapshot BRI can read can be written".into()));
    }
    let latest = matches!(opts.point, Point::Latest) || (i + 1 == chain.len() && until.is_none());
    let (state, line, ts) = archive_state(a, key.as_ref(), until)?;
    bar.inc(a.bytes);
    let mut summary = RestoreSummary {
        archive_id: a.manifest.archive_id.clone(),
        target: opts.target.clone(),
        backup: None,
        line,
        timestamp: ts,
        documents: state.documents.len() as u64,
        collections: state.collections.len() as u64,
        txn_logs: if latest { a.bri.txn.len() as u64 } else { 0 },
        dry_run: opts.dry_run,
        timeline: inst.timeline,
    };
    if opts.dry_run {
        return Ok(summary);
    }
    events(&RestoreEvent::Before {
        archive_id: a.manifest.archive_id.clone(),
        target: opts.target.clone(),
    })?;
    // Build the new directory beside the target.
    let target = &opts.target;
    let parent = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent)
        .map_err(|e| CliError::io(format!("creating {}", parent.display()), e))?;
    // Staging directories of restores that were killed are swept first.
    fsutil::sweep_stale_temps(target);
    let stage = fsutil::temp_sibling(target);
    let mut guard = DirGuard(Some(stage.clone()));
    fs::create_dir(&stage).map_err(|e| CliError::io(format!("creating {}", stage.display()), e))?;
    let now = files::now_ms() as u64;
    let snap = match (&key, a.bri.encrypted) {
        (Some(k), true) => write_snapshot_v1_encrypted(&state, 0, now, k, rand::random()),
        _ => write_snapshot_v1(&state, 0, now),
    };
    write_synced(&stage.join("snapshot.jss"), &snap)?;
    // Validate before anything is swapped: the staged snapshot reads back byte for byte as
    // written (the encoding itself is covered by core's round-trip tests; re-parsing a large
    // snapshot here would double the restore's memory).
    let staged = fs::read(stage.join("snapshot.jss"))
        .map_err(|e| CliError::io("re-reading the staged snapshot", e))?;
    if staged != snap {
        return Err(bri_core::Error::Corrupted {
            what: "the staged snapshot.jss does not read back as written; nothing was changed"
                .into(),
        }
        .into());
    }
    drop(staged);
    drop(snap);
    events(&RestoreEvent::AfterSnapshot {
        archive_id: a.manifest.archive_id.clone(),
        target: opts.target.clone(),
        documents: summary.documents,
    })?;
    fs::create_dir(stage.join("wal")).map_err(|e| CliError::io("creating wal/", e))?;
    fs::create_dir(stage.join("txn")).map_err(|e| CliError::io("creating txn/", e))?;
    if latest {
        for name in &a.bri.txn {
            let mut body = Vec::new();
            read_member_stream(&a.path, &format!("txn/{name}"), &mut |c| {
                body.extend_from_slice(c);
                Ok(())
            })?;
            write_synced(&stage.join("txn").join(name), &body)?;
        }
    }
    for d in [stage.join("wal"), stage.join("txn"), stage.clone()] {
        fsutil::sync_dir(&d)?;
    }
    // The archive store must survive the swap: if it lives inside the target, carry it over.
    let store_abs = fs::canonicalize(&opts.store).ok();
    let target_abs = fs::canonicalize(target).ok();
    let carried = match (&store_abs, &target_abs) {
        (Some(s), Some(t)) if s.starts_with(t) => {
            Some(s.strip_prefix(t).map(Path::to_path_buf).unwrap_or_default())
        }
        _ => None,
    };
    // Restoring over the data directory itself starts a new timeline, first: if we die after
    // this, the next archive starts fresh from whatever directory is in place, never chaining
    // two histories. (A restore elsewhere leaves the data directory's history as it is.)
    let in_place = match (fs::canonicalize(&opts.data_dir), fs::canonicalize(target)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if in_place {
        store.save_instance(&Instance {
            instance_id: inst.instance_id.clone(),
            timeline: inst.timeline + 1,
        })?;
    }
    if in_place {
        summary.timeline = inst.timeline + 1;
    }
    if target.exists() {
        let backup = PathBuf::from(format!(
            "{}.bak-{}",
            target.display(),
            bri::replay::iso_ms(now).replace(':', "")
        ));
        if let Some(rel) = &carried {
            let dst = stage.join(rel);
            if let Some(p) = dst.parent() {
                fs::create_dir_all(p)
                    .map_err(|e| CliError::io(format!("creating {}", p.display()), e))?;
            }
            fs::rename(target.join(rel), &dst).map_err(|e| {
                CliError::io("moving the archive store into the restored directory", e)
            })?;
        }
        if let Err(e) = fs::rename(target, &backup) {
            if let Some(rel) = &carried {
                let _ = fs::rename(stage.join(rel), target.join(rel));
            }
            return Err(CliError::io(
                format!("moving {} aside", target.display()),
                e,
            ));
        }
        if let Err(e) = fs::rename(&stage, target) {
            let _ = fs::rename(&backup, target);
            if let Some(rel) = &carried {
                let _ = fs::rename(stage.join(rel), target.join(rel));
            }
            return Err(CliError::io(
                format!("moving the restored directory to {}", target.display()),
                e,
            ));
        }
        fsutil::sync_dir(parent)?;
        if opts.clean {
            fs::remove_dir_all(&backup)
                .map_err(|e| CliError::io(format!("removing {}", backup.display()), e))?;
        } else {
            summary.backup = Some(backup);
        }
    } else {
        fs::rename(&stage, target).map_err(|e| {
            CliError::io(
                format!("moving the restored directory to {}", target.display()),
                e,
            )
        })?;
        fsutil::sync_dir(parent)?;
    }
    guard.0 = None;
    events(&RestoreEvent::After {
        archive_id: summary.archive_id.clone(),
        target: summary.target.clone(),
        backup: summary.backup.clone(),
    })?;
    Ok(summary)
}

fn write_synced(path: &Path, body: &[u8]) -> Result<(), CliError> {
    use std::io::Write;
    let mut f = fsutil::create_new(path)?;
    f.write_all(body)
        .and_then(|_| f.sync_all())
        .map_err(|e| CliError::io(format!("writing {}", path.display()), e))
}

/// Removes a staging directory on failure.
struct DirGuard(Option<PathBuf>);

impl Drop for DirGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_dir_all(p);
        }
    }
}
