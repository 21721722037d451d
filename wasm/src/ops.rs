//! The operations behind the JS API, in plain Rust (no wasm-bindgen types), so that they are
//! unit-tested natively and the bindings in `lib.rs` stay argument conversion only.
//!
//! Result shapes follow the `bri` CLI's `--json` output, so that the same archive gives the
//! same answer in the browser and on the command line (checked by `wasm/tests/crosscheck.test.mjs`).

use bri_core::bri::wal::{parse_entry, split_line, LineShape, LineSplitter};
use bri_core::bri::{read_snapshot, Key, ReplayOptions, State, WalEngine, WalOutcome};
use bri_core::codec::{Codec, PureZstd};
use bri_core::manifest::{Manifest, MAX_MANIFEST};
use bri_core::parity::{self, CopyState, OverallState};
use bri_core::reader::{read_member, ArchiveIndex, Tail};
use bri_core::verify::{Verifier, VerifyReport};
use bri_core::ErrorCode;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// An error with its stable code (`ErrorCode::as_str`) and a sentence a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    pub code: &'static str,
    pub message: String,
}

impl OpError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        OpError {
            code: code.as_str(),
            message: message.into(),
        }
    }
}

impl From<bri_core::Error> for OpError {
    fn from(e: bri_core::Error) -> Self {
        OpError::new(e.code(), e.to_string())
    }
}

impl From<bri_core::bri::BriError> for OpError {
    fn from(e: bri_core::bri::BriError) -> Self {
        OpError::new(e.code(), e.to_string())
    }
}

pub type OpResult<T> = Result<T, OpError>;

const CODEC: PureZstd = PureZstd;

fn codec() -> &'static dyn Codec {
    &CODEC
}

/// Slice `file[r]`, clamped to the file (a truncated file gives a short slice, which the
/// decoder reports as damage instead of panicking).
fn clamp(file: &[u8], start: u64, end: u64) -> &[u8] {
    let len = file.len() as u64;
    let s = start.min(len) as usize;
    let e = end.min(len).max(start.min(len)) as usize;
    &file[s..e]
}

/// Open the index from the file's own seek table; when that fails, from the copy the parity
/// index regenerates (a damaged seek table is repairable damage).
fn open_index(file: &[u8]) -> OpResult<(ArchiveIndex, bool)> {
    let own = match ArchiveIndex::open(file.len() as u64, file) {
        Ok(Tail::Index(i)) => Ok(i),
        Ok(Tail::Need { .. }) => Err(OpError::new(
            ErrorCode::InvalidInput,
            "not a bri archive: file too short",
        )),
        Err(e) => Err(OpError::from(e)),
    };
    match own {
        Ok(i) => Ok((i, false)),
        Err(e) => match parity::locate(file) {
            Ok(p) => Ok((
                ArchiveIndex::from_seek_entries(p.file_len(), &p.seek_entries())?,
                true,
            )),
            Err(_) => Err(e),
        },
    }
}

fn read_manifest(file: &[u8], index: &ArchiveIndex) -> OpResult<Manifest> {
    let r = index.manifest_range();
    if r.end - r.start > MAX_MANIFEST as u64 {
        return Err(OpError::new(
            ErrorCode::ArchiveCorrupted,
            "archive is corrupted: manifest frame is implausibly large",
        ));
    }
    Ok(index.read_manifest(clamp(file, r.start, r.end), codec())?)
}

fn open(file: &[u8]) -> OpResult<(ArchiveIndex, Manifest)> {
    let (index, _) = open_index(file)?;
    let m = read_manifest(file, &index)?;
    Ok((index, m))
}

fn inspect_value(file_len: u64, index: &ArchiveIndex, m: &Manifest) -> Value {
    json!({
        "fileBytes": file_len,
        "frames": index.frames.len(),
        "dataRegionBytes": index.data_region_len(),
        "tarBytes": index.tar_len(),
        "manifest": m,
    })
}

/// `inspect(bytes)`: the shape of `bri --json archive inspect` (without `file`).
pub fn inspect(file: &[u8]) -> OpResult<Value> {
    let (index, m) = open(file)?;
    Ok(inspect_value(file.len() as u64, &index, &m))
}

/// First step of opening a file read with range requests: from the last bytes of a file of
/// `file_len` bytes, either `{need: bytesFromEnd}` or `{manifestStart, manifestEnd}` (the byte
/// range to fetch next for [`inspect_tail`]).
pub fn open_tail(file_len: u64, tail: &[u8]) -> OpResult<Value> {
    match ArchiveIndex::open(file_len, tail)? {
        Tail::Need { bytes_from_end } => {
            if bytes_from_end > file_len {
                return Err(OpError::new(
                    ErrorCode::InvalidInput,
                    "not a bri archive: the seek table does not fit in the file",
                ));
            }
            Ok(json!({ "need": bytes_from_end }))
        }
        Tail::Index(i) => {
            let r = i.manifest_range();
            Ok(json!({ "manifestStart": r.start, "manifestEnd": r.end, "frames": i.frames.len() }))
        }
    }
}

/// Second step: the same result as [`inspect`], from the tail and the manifest frame only.
pub fn inspect_tail(file_len: u64, tail: &[u8], manifest_frame: &[u8]) -> OpResult<Value> {
    let index = match ArchiveIndex::open(file_len, tail)? {
        Tail::Index(i) => i,
        Tail::Need { bytes_from_end } => {
            return Err(OpError::new(
                ErrorCode::InvalidInput,
                format!("give the last {bytes_from_end} bytes of the file"),
            ))
        }
    };
    let m = index.read_manifest(manifest_frame, codec())?;
    Ok(inspect_value(file_len, &index, &m))
}

/// For range reads: the file bytes holding each member's frames, `[{path, start, end}]` (end
/// exclusive; empty members and directories have `start == end`), from the tail and the
/// manifest frame. A buffer of the file's length holding only the tail, the manifest frame and
/// some members' ranges is enough for [`extract`], [`db_state`] and [`timeline`] on those members.
pub fn member_ranges(file_len: u64, tail: &[u8], manifest_frame: &[u8]) -> OpResult<Value> {
    let index = match ArchiveIndex::open(file_len, tail)? {
        Tail::Index(i) => i,
        Tail::Need { bytes_from_end } => {
            return Err(OpError::new(
                ErrorCode::InvalidInput,
                format!("give the last {bytes_from_end} bytes of the file"),
            ))
        }
    };
    let m = index.read_manifest(manifest_frame, codec())?;
    let v: Vec<Value> = m
        .members
        .iter()
        .map(|e| {
            let end = u64::from(e.first_frame) + u64::from(e.frame_count);
            if end > index.frames.len() as u64 {
                return Err(OpError::new(
                    ErrorCode::ArchiveCorrupted,
                    format!(
                        "archive is corrupted: the manifest places {:?} past the last frame",
                        e.path
                    ),
                ));
            }
            let r = if e.frame_count == 0 {
                0..0
            } else {
                index.member_range(e)
            };
            Ok(json!({"path": e.path, "start": r.start, "end": r.end}))
        })
        .collect::<OpResult<_>>()?;
    Ok(Value::Array(v))
}

/// Progress of a long operation: (phase, done, total).
pub type Progress<'a> = &'a mut dyn FnMut(&str, f64, f64);

fn content_check(
    file: &[u8],
    seek: Option<&parity::ParityIndex>,
    progress: Progress,
) -> OpResult<(Manifest, VerifyReport)> {
    let index = match seek {
        Some(p) => ArchiveIndex::from_seek_entries(p.file_len(), &p.seek_entries())?,
        None => match ArchiveIndex::open(file.len() as u64, file)? {
            Tail::Index(i) => i,
            Tail::Need { .. } => {
                return Err(OpError::new(
                    ErrorCode::InvalidInput,
                    "not a bri archive: file too short",
                ))
            }
        },
    };
    let m = read_manifest(file, &index)?;
    let total = index.data_region_len() as f64;
    let mut v = Verifier::new(&index, &m);
    let mut done = 0f64;
    while let Some(i) = v.next_frame() {
        let f = index.frames[i];
        v.feed_frame(clamp(file, f.range().start, f.range().end), codec());
        done += f64::from(f.compressed);
        progress("content", done, total);
    }
    let report = v.finish();
    Ok((m, report))
}

/// `verify(bytes)`: parity (every stripe, index copies, seek table) and content (every frame,
/// tar header and member checksum); the shape of `bri --json archive verify` (without `file`).
pub fn verify(file: &[u8], progress: Progress) -> Value {
    progress("parity", 0.0, file.len() as f64);
    let parity = parity::verify(file);
    progress("parity", file.len() as f64, file.len() as f64);
    let seek = match (&parity.state, parity.seek_table) {
        (OverallState::Repairable | OverallState::BeyondRepair, Some(st))
            if st != CopyState::Intact =>
        {
            parity::locate(file).ok()
        }
        _ => None,
    };
    let content = content_check(file, seek.as_ref(), progress);
    let (manifest, content) = match content {
        Ok((m, r)) => (Some(m), Ok(r)),
        Err(e) => (None, Err(e.message)),
    };
    let content_ok = matches!(&content, Ok(r) if r.ok);
    let has_parity = parity.state != OverallState::IndexLost;
    let parity_expected = manifest
        .as_ref()
        .map(|m| m.error_correction.is_some())
        .unwrap_or(true);
    let state = bri_core::verify::Verdict::of(&parity, content_ok, parity_expected).as_str();
    let lost_members: Vec<String> = manifest
        .as_ref()
        .map(|m| bri_core::verify::members_in_frames(m, &parity.lost_frames))
        .unwrap_or_default();
    json!({
        "archiveId": manifest.as_ref().map(|m| m.archive_id.clone()),
        "ok": state == "intact",
        "state": state,
        "parity": if has_parity { serde_json::to_value(&parity).unwrap_or_default() } else { Value::Null },
        "parityMessage": parity.message,
        // Always a full check here (the CLI's `--quick` skips decompressing the content).
        "quick": false,
        "lostMembers": lost_members,
        "content": match &content {
            Ok(r) => serde_json::to_value(r).unwrap_or_default(),
            Err(e) => json!({"ok": false, "problems": [e]}),
        },
    })
}

/// `repair(bytes)`: the original bytes, rebuilt from parity.
pub fn repair(file: &[u8]) -> OpResult<Vec<u8>> {
    Ok(parity::repair(file)?)
}

/// `extract(bytes, member)`: one member's content, checked against its sha256.
pub fn extract(file: &[u8], member: &str) -> OpResult<Vec<u8>> {
    let (index, m) = open(file)?;
    Ok(read_member(file, &index, &m, member, codec())?)
}

/// The BRI parts of an archive of a data directory: `snapshot.jss`, `wal/*.wal` (name order),
/// `cold/<type>/<file>`.
struct BriMembers {
    snapshot: Option<Vec<u8>>,
    segments: Vec<(String, Vec<u8>)>,
    cold: Vec<(String, String, Vec<u8>)>,
}

fn bri_members(file: &[u8]) -> OpResult<BriMembers> {
    let (index, m) = open(file)?;
    let mut out = BriMembers {
        snapshot: None,
        segments: Vec::new(),
        cold: Vec::new(),
    };
    let mut names: Vec<&str> = m.members.iter().map(|e| e.path.as_str()).collect();
    names.sort_unstable();
    for path in names {
        let is_file = matches!(
            m.member(path).map(|e| &e.kind),
            Some(bri_core::ustar::MemberKind::File)
                | Some(bri_core::ustar::MemberKind::Link { .. })
        );
        if !is_file {
            continue;
        }
        if path == "snapshot.jss" {
            out.snapshot = Some(read_member(file, &index, &m, path, codec())?);
        } else if let Some(name) = path.strip_prefix("wal/") {
            if name.ends_with(".wal") && !name.contains('/') {
                out.segments.push((
                    name.to_string(),
                    read_member(file, &index, &m, path, codec())?,
                ));
            }
        } else if let Some(rest) = path.strip_prefix("cold/") {
            if let Some((ty, f)) = rest.split_once('/') {
                if !f.contains('/') {
                    out.cold.push((
                        ty.to_string(),
                        f.to_string(),
                        read_member(file, &index, &m, path, codec())?,
                    ));
                }
            }
        }
    }
    if out.snapshot.is_none() && out.segments.is_empty() {
        return Err(OpError::new(
            ErrorCode::InvalidInput,
            "this archive holds no BRI data (no snapshot.jss and no wal/*.wal member)",
        ));
    }
    Ok(out)
}

fn replay(
    b: &BriMembers,
    initial: State,
    opts: ReplayOptions,
    key: Option<&Key>,
) -> OpResult<WalOutcome> {
    let mut e = WalEngine::new(initial, opts, key.cloned());
    for (name, bytes) in &b.segments {
        e.begin_segment(name)?;
        for chunk in bytes.chunks(1 << 20) {
            e.feed(chunk)?;
        }
        e.end_segment()?;
    }
    Ok(e.finish()?)
}

/// `dbState(bytes, at)`: the state BRI recovers at `at` (epoch ms; the end when `None`), as
/// `bri db state --at` computes it for the archived data directory: WAL replay when the WAL is
/// complete from line 1, else `snapshot.jss` (+ `cold/`) and the lines after its `walLine`.
/// `state` is the canonical form (that of the fixtures' `expected/*.json`).
///
/// `key_hex`: the 64 hex characters of `BRI_ENCRYPTION_KEY`, for encrypted databases.
pub fn db_state(file: &[u8], at: Option<u64>, key_hex: Option<&str>) -> OpResult<Value> {
    let key = key_hex
        .filter(|k| !k.trim().is_empty())
        .map(|k| Key::from_hex(k.as_bytes()))
        .transpose()?;
    let key = key.as_ref();
    let b = bri_members(file)?;
    let wal_opts = ReplayOptions {
        until_time: at,
        ..Default::default()
    };
    let out = replay(&b, State::new(), wal_opts.clone(), key)?;
    let complete = out.chain.complete_from_line_1 == Some(true);
    let no_wal = out.stats.total_entries == 0;
    let (out, source, snap_info) = if (complete && !no_wal) || b.snapshot.is_none() {
        (out, "walReplay", Value::Null)
    } else {
        let snap = read_snapshot(b.snapshot.as_deref().unwrap_or_default(), key)?;
        if let (Some(t), Some(st)) = (at, snap.timestamp) {
            if t < st {
                return Err(OpError::new(
                    ErrorCode::TimestampNotFound,
                    format!("{t} is before snapshot.jss was taken ({st}), and the archived WAL does not start at line 1, so there is no state at that time"),
                ));
            }
        }
        let mut state = snap.state.clone();
        for (ty, f, text) in &b.cold {
            state.add_cold_document(ty, f, &String::from_utf8_lossy(text));
        }
        let out = replay(
            &b,
            state,
            ReplayOptions {
                after_line: snap.wal_line,
                ..wal_opts
            },
            key,
        )?;
        (
            out,
            "snapshot",
            json!({"version": snap.version, "walLine": snap.wal_line, "timestamp": snap.timestamp}),
        )
    };
    Ok(json!({
        "at": at,
        "source": source,
        "snapshot": snap_info,
        "appliedEntries": out.applied_entries,
        "lastAppliedLine": out.last_applied_line,
        "lastAppliedTimestamp": out.last_applied_timestamp,
        "documentCount": out.state.documents.len(),
        "collectionCount": out.state.collections.len(),
        "chainValid": out.chain.valid,
        "tornTail": out.torn_tail,
        "corruptLines": out.stats.corrupt_line_count,
        "state": out.state.to_canonical_value(),
    }))
}

const HOUR: u64 = 3_600_000;
const DAY: u64 = 24 * HOUR;
const MAX_BUCKETS: u64 = 5000;

/// `timeline(bytes, bucketMs)`: WAL entries per time bucket (by action), for a chart. The
/// bucket is an hour when the WAL spans up to two weeks, else a day, unless given; it grows
/// when more than 5000 buckets would be needed.
pub fn timeline(file: &[u8], bucket_ms: Option<u64>) -> OpResult<Value> {
    let b = bri_members(file)?;
    let mut stamps: Vec<(u64, String)> = Vec::new();
    let mut splitter = LineSplitter::new(ReplayOptions::default().max_line_bytes);
    let mut corrupt = 0u64;
    let mut on_line = |l: bri_core::bri::wal::RawLine<'_>| -> Result<(), bri_core::bri::BriError> {
        match split_line(l.bytes) {
            LineShape::Fields(f) => {
                let action = if f.is_encrypted() {
                    "encrypted".to_string()
                } else {
                    match parse_entry(f.payload) {
                        Ok(e) => e.op.action().to_string(),
                        Err(_) => {
                            corrupt += 1;
                            return Ok(());
                        }
                    }
                };
                stamps.push((f.timestamp, action));
            }
            LineShape::Empty => {}
            LineShape::Corrupt(_) => corrupt += 1,
        }
        Ok(())
    };
    for (_, bytes) in &b.segments {
        splitter.push(bytes, &mut on_line)?;
        splitter.end_segment(&mut on_line)?;
    }
    let first = stamps.iter().map(|s| s.0).min();
    let last = stamps.iter().map(|s| s.0).max();
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(
            json!({"bucketMs": bucket_ms.unwrap_or(HOUR), "firstTimestamp": null, "lastTimestamp": null, "entries": 0, "corruptLines": corrupt, "buckets": []}),
        );
    };
    let span = last - first;
    let mut bucket = match bucket_ms {
        Some(0) => {
            return Err(OpError::new(
                ErrorCode::InvalidInput,
                "bucketMs must be positive",
            ))
        }
        Some(b) => b,
        None if span <= 14 * DAY => HOUR,
        None => DAY,
    };
    while span / bucket + 1 > MAX_BUCKETS {
        bucket *= 2;
    }
    let start = first - first % bucket;
    let n = ((last - start) / bucket + 1) as usize;
    let mut counts = vec![0u64; n];
    let mut actions: Vec<BTreeMap<String, u64>> = vec![BTreeMap::new(); n];
    for (t, a) in &stamps {
        let i = ((t - start) / bucket) as usize;
        counts[i] += 1;
        *actions[i].entry(a.clone()).or_default() += 1;
    }
    let buckets: Vec<Value> = (0..n)
        .map(|i| json!({"start": start + i as u64 * bucket, "count": counts[i], "actions": actions[i]}))
        .collect();
    Ok(json!({
        "bucketMs": bucket,
        "firstTimestamp": first,
        "lastTimestamp": last,
        "entries": stamps.len(),
        "corruptLines": corrupt,
        "buckets": buckets,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &[u8] = include_bytes!("../../tests/vectors/v1-basic.bri.zst");

    fn quiet() -> impl FnMut(&str, f64, f64) {
        |_: &str, _: f64, _: f64| {}
    }

    #[test]
    fn inspect_and_tail_path_agree() {
        let full = inspect(V1).unwrap();
        let len = V1.len() as u64;
        let tail = &V1[V1.len().saturating_sub(bri_core::reader::TAIL_HINT)..];
        let t = open_tail(len, tail).unwrap();
        let (s, e) = (
            t["manifestStart"].as_u64().unwrap() as usize,
            t["manifestEnd"].as_u64().unwrap() as usize,
        );
        assert_eq!(inspect_tail(len, tail, &V1[s..e]).unwrap(), full);
        assert_eq!(full["fileBytes"], json!(V1.len()));
        assert!(!full["manifest"]["members"].as_array().unwrap().is_empty());
    }

    #[test]
    fn verify_intact_and_progress_reaches_the_end() {
        let mut last = (String::new(), 0.0, 0.0);
        let mut cb = |p: &str, d: f64, t: f64| last = (p.to_string(), d, t);
        let v = verify(V1, &mut cb);
        assert_eq!(v["state"], "intact", "{v}");
        assert_eq!(v["ok"], true);
        assert_eq!(last.0, "content");
        assert_eq!(last.1, last.2);
    }

    #[test]
    fn extract_every_member_matches_its_sha256() {
        let (_, m) = open(V1).unwrap();
        for e in m
            .members
            .iter()
            .filter(|e| e.kind == bri_core::ustar::MemberKind::File)
        {
            let data = extract(V1, &e.path).unwrap();
            assert_eq!(bri_core::verify::sha256_hex(&data), e.sha256);
        }
        assert_eq!(extract(V1, "nope").unwrap_err().code, "ARCHIVE_NOT_FOUND");
    }

    #[test]
    fn damage_is_reported_and_repaired_when_parity_present() {
        let (index, m) = open(V1).unwrap();
        let mut bad = V1.to_vec();
        let mid = (index.data_region_len() / 2) as usize;
        for b in &mut bad[mid..mid + 16] {
            *b ^= 0xff;
        }
        let v = verify(&bad, &mut quiet());
        assert_ne!(v["state"], "intact");
        assert_eq!(v["ok"], false);
        if m.error_correction.is_some() {
            assert_eq!(v["state"], "repairable");
            assert_eq!(repair(&bad).unwrap(), V1);
        }
    }

    #[test]
    fn bad_input_gets_codes_not_panics() {
        assert_eq!(inspect(&[]).unwrap_err().code, "INVALID_INPUT");
        assert_eq!(inspect(&[7u8; 5000]).unwrap_err().code, "INVALID_INPUT");
        let v = verify(&[1u8; 100], &mut quiet());
        assert_eq!(v["state"], "beyondRepair");
        // Truncated archives: every prefix opens or fails with a code, never panics.
        for cut in [1usize, 17, 100, V1.len() / 2, V1.len() - 1] {
            let _ = inspect(&V1[..cut]);
            let _ = verify(&V1[..cut], &mut quiet());
            let _ = db_state(&V1[..cut], None, None);
        }
        // Not a BRI data directory archive.
        if let Err(e) = db_state(V1, None, None) {
            assert!(
                ["INVALID_INPUT", "ARCHIVE_CORRUPTED"].contains(&e.code),
                "{e:?}"
            );
        }
    }
}
