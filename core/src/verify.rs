//! Whole-archive verification, sans-IO: the host feeds every data frame in order and gets a
//! report of what is intact and what is damaged.
//!
//! Checked: every frame decodes to the size and checksum in the seek table; the tar stream is
//! well-formed and safe; every member's header agrees with the manifest; every member's sha256
//! matches the manifest *and* `checksums.sha256`; no member is missing. Damage in one frame
//! does not hide damage elsewhere: the verifier resumes at the next member's first frame.

use crate::checksums::{self, CHECKSUMS_NAME};
use crate::codec::Codec;
use crate::error::Error;
use crate::manifest::{Manifest, MANIFEST_NAME};
use crate::reader::ArchiveIndex;
use crate::tarstream::{TarEvent, TarReader};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Lowercase hex sha256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Largest `checksums.sha256` the verifier keeps in memory to compare.
const MAX_CHECKSUMS: u64 = 256 << 20;

/// Verification result of one member.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MemberCheck {
    pub path: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// A frame that failed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FrameProblem {
    pub frame: u32,
    pub offset: u64,
    pub length: u32,
    pub problem: String,
}

/// The verification report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// True only when nothing is damaged.
    pub ok: bool,
    pub frames_checked: u32,
    pub bytes_decoded: u64,
    pub members: Vec<MemberCheck>,
    pub damaged_frames: Vec<FrameProblem>,
    /// Problems not tied to one member (manifest, checksums file, structure).
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// Paths of damaged members.
    pub fn damaged_members(&self) -> Vec<&str> {
        self.members
            .iter()
            .filter(|m| !m.ok)
            .map(|m| m.path.as_str())
            .collect()
    }
}

struct Open {
    path: String,
    hasher: Sha256,
}

/// Feed-frames verifier. See the module docs.
pub struct Verifier<'a> {
    index: &'a ArchiveIndex,
    manifest: &'a Manifest,
    by_path: HashMap<&'a str, usize>,
    first_frames: HashMap<u32, usize>,
    tar: TarReader,
    open: Option<Open>,
    results: Vec<Option<MemberCheck>>,
    frames: Vec<FrameProblem>,
    problems: Vec<String>,
    checksums_text: Vec<u8>,
    desync: bool,
    next_frame: usize,
    bytes: u64,
}

impl<'a> Verifier<'a> {
    pub fn new(index: &'a ArchiveIndex, manifest: &'a Manifest) -> Self {
        Verifier {
            index,
            manifest,
            by_path: manifest
                .members
                .iter()
                .enumerate()
                .map(|(i, m)| (m.path.as_str(), i))
                .collect(),
            first_frames: manifest
                .members
                .iter()
                .enumerate()
                .map(|(i, m)| (m.first_frame, i))
                .collect(),
            tar: TarReader::new(),
            open: None,
            results: vec![None; manifest.members.len()],
            frames: Vec::new(),
            problems: Vec::new(),
            checksums_text: Vec::new(),
            desync: false,
            next_frame: 0,
            bytes: 0,
        }
    }

    /// The frame the verifier expects next, or `None` when all data frames were fed.
    pub fn next_frame(&self) -> Option<usize> {
        (self.next_frame <= self.index.manifest_frame).then_some(self.next_frame)
    }

    fn owner(&self, frame: u32) -> Option<usize> {
        self.manifest
            .members
            .iter()
            .position(|m| frame >= m.first_frame && frame < m.first_frame + m.frame_count)
    }

    fn damage(&mut self, member: Option<usize>, problem: String) {
        match member {
            Some(i) => {
                if self.results[i].as_ref().is_none_or(|r| r.ok) {
                    self.results[i] = Some(MemberCheck {
                        path: self.manifest.members[i].path.clone(),
                        ok: false,
                        problem: Some(problem),
                    });
                }
            }
            None => self.problems.push(problem),
        }
    }

    /// Feed the file bytes of the next data frame ([`Self::next_frame`]).
    pub fn feed_frame(&mut self, bytes: &[u8], codec: &dyn Codec) {
        let i = self.next_frame;
        if i > self.index.manifest_frame {
            return;
        }
        self.next_frame += 1;
        let owner = self.owner(i as u32);
        let data = match self.index.decode_frame(i, bytes, codec) {
            Ok(d) => d,
            Err(e) => {
                let f = self.index.frames[i];
                self.frames.push(FrameProblem {
                    frame: i as u32,
                    offset: f.offset,
                    length: f.compressed,
                    problem: e.to_string(),
                });
                let what = if i == self.index.manifest_frame {
                    format!("{MANIFEST_NAME}: {e}")
                } else {
                    e.to_string()
                };
                self.damage(owner, what);
                self.open = None;
                self.desync = true;
                return;
            }
        };
        self.bytes += data.len() as u64;
        if self.desync {
            match self.first_frames.get(&(i as u32)) {
                Some(&m) => {
                    self.tar.resync(self.manifest.members[m].tar_offset);
                    self.desync = false;
                }
                None if i == self.index.manifest_frame => {
                    let off = self
                        .manifest
                        .members
                        .last()
                        .map(|m| m.tar_offset)
                        .unwrap_or(0);
                    let _ = off;
                    // The manifest frame starts at a header boundary: its tar offset is the
                    // tar length of everything before it.
                    let before: u64 = self.index.frames[..i]
                        .iter()
                        .map(|f| u64::from(f.decompressed))
                        .sum();
                    self.tar.resync(before);
                    self.desync = false;
                }
                None => return,
            }
        }
        let mut tar = std::mem::take(&mut self.tar);
        let mut events: Vec<Result<(), Error>> = Vec::new();
        let r = tar.feed(&data, |ev| {
            events.push(self.on_event(ev));
            Ok(())
        });
        self.tar = tar;
        for e in events.into_iter().filter_map(Result::err) {
            self.damage(owner, e.to_string());
        }
        if let Err(e) = r {
            self.damage(owner, format!("tar stream: {e}"));
            self.open = None;
            self.desync = true;
        }
    }

    fn on_event(&mut self, ev: TarEvent<'_>) -> Result<(), Error> {
        match ev {
            TarEvent::Member { header, offset } => {
                if header.path == MANIFEST_NAME && self.next_frame - 1 == self.index.manifest_frame
                {
                    self.open = None;
                    return Ok(());
                }
                let Some(&i) = self.by_path.get(header.path.as_str()) else {
                    return Err(Error::corrupted(format!(
                        "{:?} is in the tar stream but not in the manifest",
                        header.path
                    )));
                };
                let e = &self.manifest.members[i];
                if e.kind != header.kind
                    || e.size != header.size
                    || e.tar_offset != offset
                    || e.mode != header.mode
                    || e.mtime != header.mtime
                {
                    self.open = None;
                    return Err(Error::corrupted(format!(
                        "{:?}: tar header disagrees with the manifest",
                        header.path
                    )));
                }
                self.open = Some(Open {
                    path: header.path,
                    hasher: Sha256::new(),
                });
            }
            TarEvent::Data(d) => {
                if let Some(o) = self.open.as_mut() {
                    o.hasher.update(d);
                    if o.path == CHECKSUMS_NAME
                        && (self.checksums_text.len() as u64) < MAX_CHECKSUMS
                    {
                        self.checksums_text.extend_from_slice(d);
                    }
                }
            }
            TarEvent::MemberEnd => {
                if let Some(o) = self.open.take() {
                    let i = self.by_path[o.path.as_str()];
                    let e = &self.manifest.members[i];
                    let digest = match &e.kind {
                        crate::ustar::MemberKind::Link { target } => self
                            .by_path
                            .get(target.as_str())
                            .map(|&t| self.manifest.members[t].sha256.clone())
                            .unwrap_or_default(),
                        _ => hex::encode(o.hasher.finalize()),
                    };
                    if digest != e.sha256 {
                        return Err(Error::corrupted(format!(
                            "{:?}: sha256 does not match the manifest",
                            o.path
                        )));
                    }
                    if self.results[i].is_none() {
                        self.results[i] = Some(MemberCheck {
                            path: o.path,
                            ok: true,
                            problem: None,
                        });
                    }
                }
            }
            TarEvent::End => {}
        }
        Ok(())
    }

    /// Finish: members never seen are reported missing; `checksums.sha256` is compared.
    pub fn finish(mut self) -> VerifyReport {
        if self.next_frame <= self.index.manifest_frame {
            self.problems.push(format!(
                "only {} of {} data frames were checked",
                self.next_frame,
                self.index.manifest_frame + 1
            ));
        }
        if !self.desync && self.next_frame > self.index.manifest_frame {
            if let Err(e) = self.tar.finish() {
                self.problems.push(format!("tar stream: {e}"));
            }
        }
        let ck_ok = self
            .results
            .iter()
            .zip(&self.manifest.members)
            .any(|(r, m)| m.path == CHECKSUMS_NAME && r.as_ref().is_some_and(|r| r.ok));
        if ck_ok {
            match std::str::from_utf8(&self.checksums_text)
                .map_err(|_| Error::corrupted("not UTF-8"))
                .and_then(checksums::parse)
            {
                Ok(list) => {
                    let listed: HashMap<&str, String> = list
                        .iter()
                        .map(|(p, d)| (p.as_str(), hex::encode(d)))
                        .collect();
                    for (i, m) in self.manifest.members.iter().enumerate() {
                        if m.path == CHECKSUMS_NAME {
                            continue;
                        }
                        match listed.get(m.path.as_str()) {
                            Some(d) if *d == m.sha256 => {}
                            Some(_) => self.damage(
                                Some(i),
                                format!("{CHECKSUMS_NAME} and the manifest disagree on its sha256"),
                            ),
                            None => self.damage(Some(i), format!("missing from {CHECKSUMS_NAME}")),
                        }
                    }
                    if list.len() + 1 != self.manifest.members.len() {
                        self.problems.push(format!(
                            "{CHECKSUMS_NAME} lists {} members, the manifest {}",
                            list.len(),
                            self.manifest.members.len() - 1
                        ));
                    }
                }
                Err(e) => self.problems.push(format!("{CHECKSUMS_NAME}: {e}")),
            }
        }
        let members: Vec<MemberCheck> = self
            .results
            .into_iter()
            .zip(&self.manifest.members)
            .map(|(r, m)| {
                r.unwrap_or_else(|| MemberCheck {
                    path: m.path.clone(),
                    ok: false,
                    problem: Some("not found in the data".into()),
                })
            })
            .collect();
        let ok = self.frames.is_empty() && self.problems.is_empty() && members.iter().all(|m| m.ok);
        VerifyReport {
            ok,
            frames_checked: self.next_frame as u32,
            bytes_decoded: self.bytes,
            members,
            damaged_frames: self.frames,
            problems: self.problems,
        }
    }
}

/// Verify an archive held in memory.
pub fn verify_bytes(file: &[u8], codec: &dyn Codec) -> crate::Result<VerifyReport> {
    let (index, manifest) = crate::reader::open_bytes(file, codec)?;
    let mut v = Verifier::new(&index, &manifest);
    while let Some(i) = v.next_frame() {
        let r = index.frames[i].range();
        v.feed_frame(&file[r.start as usize..r.end as usize], codec);
    }
    Ok(v.finish())
}

/// The overall verdict of a verification, combining the parity layer and the content check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Verdict {
    /// Every byte as written, every member's checksum right.
    Intact,
    /// Damaged, and the parity inside the file rebuilds it.
    Repairable,
    /// Damaged beyond what the parity can rebuild (or the file has no parity).
    BeyondRepair,
}

impl Verdict {
    /// `"intact"`, `"repairable"` or `"beyondRepair"` (the `state` of `verify --json`).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Intact => "intact",
            Verdict::Repairable => "repairable",
            Verdict::BeyondRepair => "beyondRepair",
        }
    }

    /// Combine the parity report with the content check. `content_ok` is the content
    /// verification's result (true when it was skipped because parity covers every byte);
    /// `parity_expected` says whether the manifest records error correction (true when the
    /// manifest could not be read).
    pub fn of(
        parity: &crate::parity::ParityReport,
        content_ok: bool,
        parity_expected: bool,
    ) -> Verdict {
        use crate::parity::OverallState;
        match parity.state {
            OverallState::Intact if content_ok => Verdict::Intact,
            // Parity matches content that is damaged: there is nothing to rebuild from.
            OverallState::Intact => Verdict::BeyondRepair,
            OverallState::Repairable => Verdict::Repairable,
            OverallState::BeyondRepair => Verdict::BeyondRepair,
            OverallState::IndexLost if content_ok && !parity_expected => Verdict::Intact,
            OverallState::IndexLost => Verdict::BeyondRepair,
        }
    }
}

/// Paths of the members that have bytes in any of `lost_frames` (data-frame indices).
pub fn members_in_frames(manifest: &Manifest, lost_frames: &[usize]) -> Vec<String> {
    manifest
        .members
        .iter()
        .filter(|e| {
            let r = e.first_frame as usize..(e.first_frame + e.frame_count) as usize;
            lost_frames.iter().any(|f| r.contains(f))
        })
        .map(|e| e.path.clone())
        .collect()
}
