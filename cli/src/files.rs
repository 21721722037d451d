//! Archives over real files: create (parallel frame compression, bounded memory, atomic
//! write, verify by re-reading), open (tail first), verify and extract (streaming).

use crate::error::CliError;
use crate::fsutil::{self, TempGuard};
use bri_core::codec::{self, Codec};
use bri_core::manifest::{Manifest, MemberEntry, MANIFEST_NAME};
use bri_core::reader::{ArchiveIndex, Tail, TAIL_HINT};
use bri_core::tarstream::{TarEvent, TarReader};
use bri_core::ustar::MemberKind;
use bri_core::verify::{Verifier, VerifyReport};
use bri_core::writer::{
    ArchiveWriter, CompressedFrame, FrameJob, MemberMeta, Output as WriterOutput, WriterOptions,
};
use indicatif::ProgressBar;
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Read size for input files.
const READ_CHUNK: usize = 1 << 20;

/// A file chosen for an archive.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub source: PathBuf,
    /// Path inside the archive (`/`-separated, relative).
    pub path: String,
    pub size: u64,
    pub mode: u32,
    pub mtime: u64,
}

/// Inputs found, and what was left out and why.
#[derive(Debug, Default)]
pub struct Inputs {
    pub files: Vec<InputFile>,
    pub skipped: Vec<(PathBuf, String)>,
}

fn to_input(source: PathBuf, path: String, meta: &fs::Metadata) -> InputFile {
    InputFile {
        source,
        path,
        size: meta.len(),
        mode: meta.mode() & 0o7777,
        mtime: meta.mtime().max(0) as u64,
    }
}

/// Expand the command-line inputs: a directory contributes its regular files recursively
/// (paths relative to it, sorted); a file contributes itself under its file name. Symbolic
/// links and special files are skipped and reported.
pub fn collect_inputs(inputs: &[PathBuf]) -> Result<Inputs, CliError> {
    let mut out = Inputs::default();
    for input in inputs {
        let meta = fs::symlink_metadata(input)
            .map_err(|e| CliError::io(format!("reading {}", input.display()), e))?;
        if meta.is_dir() {
            walk(input, "", &mut out)?;
        } else if meta.is_file() {
            let name = input.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
                CliError::Usage(format!("{} has no UTF-8 file name", input.display()))
            })?;
            out.files
                .push(to_input(input.clone(), name.to_string(), &meta));
        } else {
            out.skipped
                .push((input.clone(), "not a regular file or directory".into()));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for f in &out.files {
        if !seen.insert(f.path.as_str()) {
            return Err(CliError::Usage(format!(
                "two inputs would both be stored as {:?}; archive their parent directory instead",
                f.path
            )));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, prefix: &str, out: &mut Inputs) -> Result<(), CliError> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(|e| CliError::io(format!("listing {}", dir.display()), e))?
        .collect::<Result<_, _>>()
        .map_err(|e| CliError::io(format!("listing {}", dir.display()), e))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            out.skipped.push((p, "file name is not UTF-8".into()));
            continue;
        };
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let meta = fs::symlink_metadata(&p)
            .map_err(|e| CliError::io(format!("reading {}", p.display()), e))?;
        if meta.file_type().is_symlink() {
            out.skipped.push((p, "symbolic link".into()));
        } else if meta.is_dir() {
            walk(&p, &rel, out)?;
        } else if meta.is_file() {
            if bri_core::ustar::check_path(&rel).is_err() {
                out.skipped.push((
                    p,
                    "name cannot be stored safely (line break or backslash)".into(),
                ));
                continue;
            }
            out.files.push(to_input(p, rel, &meta));
        } else {
            out.skipped.push((p, "special file".into()));
        }
    }
    Ok(())
}

/// Milliseconds since the Unix epoch, from the system clock.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A new archive id: `arc_<UTC yyyymmddThhmmssZ>-<8 random hex>`.
pub fn new_archive_id(now_ms: i64) -> String {
    let s = bri_core::manifest::rfc3339_ms(now_ms);
    let compact: String = s[..19].chars().filter(|c| *c != '-' && *c != ':').collect();
    format!("arc_{compact}Z-{:08x}", rand::random::<u32>())
}

/// Compression worker pool: frame jobs in, compressed frames out, memory bounded by the
/// number of frames in flight.
pub struct Pool {
    jobs: Option<mpsc::SyncSender<FrameJob>>,
    results: mpsc::Receiver<Result<CompressedFrame, bri_core::Error>>,
    handles: Vec<std::thread::JoinHandle<()>>,
    /// Most frames handed out and not yet submitted back.
    pub max_in_flight: usize,
}

impl Pool {
    pub fn new(threads: usize, codec: &'static dyn Codec) -> Pool {
        let threads = threads.max(1);
        let (jtx, jrx) = mpsc::sync_channel::<FrameJob>(threads);
        let (rtx, rrx) = mpsc::channel();
        let jrx = Arc::new(Mutex::new(jrx));
        let handles = (0..threads)
            .map(|_| {
                let jrx = Arc::clone(&jrx);
                let rtx = rtx.clone();
                std::thread::spawn(move || loop {
                    let job = match jrx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    if rtx.send(job.run(codec)).is_err() {
                        return;
                    }
                })
            })
            .collect();
        Pool {
            jobs: Some(jtx),
            results: rrx,
            handles,
            max_in_flight: threads * 2 + 1,
        }
    }

    /// Move ready jobs to the workers, completed frames back into the writer, and ready
    /// output to `out`. Blocks only when too many frames are in flight, or, with `wait`, until
    /// the writer is done.
    pub fn pump(
        &self,
        w: &mut ArchiveWriter,
        out: &mut dyn FnMut(WriterOutput) -> Result<(), CliError>,
        wait: bool,
    ) -> Result<(), CliError> {
        let stopped = || CliError::Usage("a compression worker stopped unexpectedly".into());
        loop {
            let mut handed = false;
            while w.in_flight() < self.max_in_flight {
                let Some(job) = w.next_job() else { break };
                self.jobs
                    .as_ref()
                    .ok_or_else(stopped)?
                    .send(job)
                    .map_err(|_| stopped())?;
                handed = true;
            }
            let block = w.in_flight() >= self.max_in_flight || (wait && w.in_flight() > 0);
            let got = if block {
                Some(self.results.recv().map_err(|_| stopped())?)
            } else {
                self.results.try_recv().ok()
            };
            let progressed = got.is_some();
            if let Some(r) = got {
                w.submit(r?)?;
            }
            while let Some(o) = w.next_output() {
                out(o)?;
            }
            if wait {
                if w.is_done() && w.in_flight() == 0 {
                    return Ok(());
                }
                if !progressed && !handed && w.in_flight() == 0 {
                    return Err(CliError::Usage(
                        "internal error: the archive writer stalled".into(),
                    ));
                }
            } else if !progressed {
                return Ok(());
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.jobs = None;
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

/// Settings of `create-files`.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    pub level: i32,
    pub frame_size: usize,
    pub threads: usize,
    pub name: Option<String>,
    pub overwrite: bool,
    pub verify: bool,
    /// Reed-Solomon redundancy in percent (0: no parity).
    pub redundancy: u8,
}

/// What `create` did.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateSummary {
    pub archive: PathBuf,
    pub archive_id: String,
    pub members: u64,
    pub input_bytes: u64,
    pub archive_bytes: u64,
    pub ratio: f64,
    pub seconds: f64,
    pub verified: bool,
}

/// Where a member's content comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Bytes already in memory (small generated members).
    Bytes(Vec<u8>),
    /// `meta.size` bytes of a file, from `offset`.
    File { path: PathBuf, offset: u64 },
}

/// One member to write.
#[derive(Debug, Clone)]
pub struct Planned {
    pub meta: MemberMeta,
    pub source: Source,
}

/// What [`write_archive`] produced.
#[derive(Debug, Clone)]
pub struct Written {
    pub manifest: Manifest,
    pub archive_bytes: u64,
    pub input_bytes: u64,
    pub verified: bool,
}

/// Write `members` as an archive at `dest`, atomically: temporary sibling, frames compressed
/// (and, with `opts.verify`, decoded again) on `opts.threads` workers, fsync, re-read against
/// the checksum of the bytes written, then a no-clobber publish (or replace with
/// `opts.overwrite`). `observe` sees every member's content as it is read (member index,
/// chunk); `finalize` runs after the last member, before the manifest is built.
pub fn write_archive(
    members: &[Planned],
    dest: &Path,
    wopts: WriterOptions,
    opts: &CreateOptions,
    bar: &ProgressBar,
    observe: &mut dyn FnMut(usize, &[u8]) -> Result<(), CliError>,
    finalize: &mut dyn FnMut(&mut ArchiveWriter) -> Result<(), CliError>,
) -> Result<Written, CliError> {
    if !opts.overwrite && dest.exists() {
        return Err(CliError::Usage(format!(
            "{} already exists; pass --force to replace it",
            dest.display()
        )));
    }
    let mut w = ArchiveWriter::new(wopts)?;
    let tmp = fsutil::temp_sibling(dest);
    let mut guard = TempGuard(Some(tmp.clone()));
    let file = fsutil::create_new(&tmp)?;
    let mut sink = FileSink::new(file, &tmp)?;
    let pool = Pool::new(opts.threads, codec::default_codec());
    let mut buf = vec![0u8; READ_CHUNK];
    let mut input_bytes = 0u64;
    for (i, m) in members.iter().enumerate() {
        w.begin_member(m.meta.clone())?;
        match &m.source {
            Source::Bytes(b) => {
                observe(i, b)?;
                w.write(b)?;
                input_bytes += b.len() as u64;
                bar.inc(b.len() as u64);
                pool.pump(&mut w, &mut |o| sink.push(o), false)?;
            }
            Source::File { path, offset } => {
                let mut src = File::open(path)
                    .map_err(|e| CliError::io(format!("opening {}", path.display()), e))?;
                if *offset > 0 {
                    src.seek(SeekFrom::Start(*offset))
                        .map_err(|e| CliError::io(format!("reading {}", path.display()), e))?;
                }
                let mut left = m.meta.size;
                while left > 0 {
                    let want = buf.len().min(left as usize);
                    let n = src
                        .read(&mut buf[..want])
                        .map_err(|e| CliError::io(format!("reading {}", path.display()), e))?;
                    if n == 0 {
                        return Err(CliError::Usage(format!(
                            "{} shrank while being archived ({} of {} bytes read); archive it again when it is not being written",
                            path.display(),
                            m.meta.size - left,
                            m.meta.size
                        )));
                    }
                    observe(i, &buf[..n])?;
                    w.write(&buf[..n])?;
                    left -= n as u64;
                    input_bytes += n as u64;
                    bar.inc(n as u64);
                    pool.pump(&mut w, &mut |o| sink.push(o), false)?;
                }
            }
        }
        w.end_member()?;
    }
    finalize(&mut w)?;
    w.finish()?;
    pool.pump(&mut w, &mut |o| sink.push(o), true)?;
    drop(pool);
    if !w.is_done() || !sink.ended {
        return Err(CliError::Usage(
            "internal error: archive not complete".into(),
        ));
    }
    let (written, digest) = sink.finish()?;
    let manifest = w
        .manifest()
        .cloned()
        .ok_or_else(|| CliError::Usage("no manifest".into()))?;
    // Every frame was already decoded and compared with its input by the workers
    // (round trip); now check that the file on disk holds exactly the bytes written, and that
    // its tail and manifest open.
    if opts.verify {
        reread_check(&tmp, written, digest, &manifest.archive_id)?;
    }
    fsutil::publish(&tmp, dest, opts.overwrite)?;
    guard.disarm();
    Ok(Written {
        manifest,
        archive_bytes: written,
        input_bytes,
        verified: opts.verify,
    })
}

/// Write a file-set archive of `inputs` to `dest` (see [`write_archive`]).
pub fn create_archive(
    inputs: &[InputFile],
    dest: &Path,
    opts: &CreateOptions,
    bar: &ProgressBar,
) -> Result<CreateSummary, CliError> {
    let started = std::time::Instant::now();
    let now = now_ms();
    let mut wopts = WriterOptions::files(&new_archive_id(now), now);
    wopts.redundancy_percent = opts.redundancy;
    wopts.round_trip = opts.verify;
    wopts.size_hint = inputs.iter().map(|f| f.size).sum::<u64>() / 3;
    wopts.level = opts.level;
    wopts.frame_size = opts.frame_size;
    wopts.name = opts.name.clone();
    let archive_id = wopts.archive_id.clone();
    let members: Vec<Planned> = inputs
        .iter()
        .map(|f| Planned {
            meta: MemberMeta::file(&f.path, f.size, f.mode, f.mtime),
            source: Source::File {
                path: f.source.clone(),
                offset: 0,
            },
        })
        .collect();
    let w = write_archive(
        &members,
        dest,
        wopts,
        opts,
        bar,
        &mut |_, _| Ok(()),
        &mut |_| Ok(()),
    )?;
    Ok(CreateSummary {
        archive: dest.to_path_buf(),
        archive_id,
        members: w.manifest.totals.members,
        input_bytes: w.input_bytes,
        archive_bytes: w.archive_bytes,
        ratio: if w.archive_bytes > 0 {
            w.input_bytes as f64 / w.archive_bytes as f64
        } else {
            0.0
        },
        seconds: started.elapsed().as_secs_f64(),
        verified: w.verified,
    })
}

/// Writes a writer's [`WriterOutput`] to the archive file, keeping parity frames in an
/// unlinked temporary file until the end (so memory stays bounded by one frame).
pub struct FileSink {
    out: std::io::BufWriter<File>,
    parity: Option<File>,
    path: PathBuf,
    written: u64,
    /// XXH64 of every byte written, to compare with a re-read of the file.
    hash: xxhash_rust::xxh64::Xxh64,
    /// True once the writer's `End` was written.
    pub ended: bool,
}

impl FileSink {
    pub fn new(file: File, path: &Path) -> Result<Self, CliError> {
        Ok(FileSink {
            out: std::io::BufWriter::with_capacity(1 << 20, file),
            parity: None,
            path: path.to_path_buf(),
            written: 0,
            hash: xxhash_rust::xxh64::Xxh64::new(0),
            ended: false,
        })
    }

    fn io(&self, e: std::io::Error) -> CliError {
        CliError::io(format!("writing {}", self.path.display()), e)
    }

    fn spill(&mut self) -> Result<&mut File, CliError> {
        if self.parity.is_none() {
            let p = fsutil::temp_sibling(&self.path.with_extension("parity"));
            let f = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&p)
                .map_err(|e| CliError::io(format!("creating {}", p.display()), e))?;
            // Unlinked at once: the space is freed even if the process dies.
            let _ = fs::remove_file(&p);
            self.parity = Some(f);
        }
        Ok(self.parity.as_mut().expect("just set"))
    }

    fn put(&mut self, b: &[u8]) -> Result<(), CliError> {
        self.out.write_all(b).map_err(|e| self.io(e))?;
        self.hash.update(b);
        self.written += b.len() as u64;
        Ok(())
    }

    pub fn push(&mut self, o: WriterOutput) -> Result<(), CliError> {
        match o {
            WriterOutput::Data(b) => self.put(&b)?,
            WriterOutput::Parity(b) => {
                let r = self.spill()?.write_all(&b);
                r.map_err(|e| self.io(e))?;
            }
            WriterOutput::End { head, tail } => {
                self.put(&head)?;
                if let Some(mut p) = self.parity.take() {
                    p.seek(SeekFrom::Start(0)).map_err(|e| self.io(e))?;
                    let mut buf = vec![0u8; 1 << 20];
                    loop {
                        let n = p.read(&mut buf).map_err(|e| self.io(e))?;
                        if n == 0 {
                            break;
                        }
                        self.put(&buf[..n])?;
                    }
                }
                self.put(&tail)?;
                self.ended = true;
            }
        }
        Ok(())
    }

    /// Flush and fsync; returns the file's length and the XXH64 of its bytes.
    pub fn finish(self) -> Result<(u64, u64), CliError> {
        let path = self.path.clone();
        let digest = self.hash.digest();
        let written = self.written;
        let file = self
            .out
            .into_inner()
            .map_err(|e| CliError::io(format!("writing {}", path.display()), e.into_error()))?;
        file.sync_all()
            .map_err(|e| CliError::io(format!("syncing {}", path.display()), e))?;
        Ok((written, digest))
    }
}

/// Re-read a just-written archive: its length and XXH64 must be those of the bytes written,
/// and its seek table and manifest must open. Errors leave the temporary file unpublished.
pub fn reread_check(path: &Path, len: u64, digest: u64, archive_id: &str) -> Result<(), CliError> {
    let mut f =
        File::open(path).map_err(|e| CliError::io(format!("re-reading {}", path.display()), e))?;
    let mut h = xxhash_rust::xxh64::Xxh64::new(0);
    let mut buf = vec![0u8; 1 << 20];
    let mut n_total = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| CliError::io(format!("re-reading {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        n_total += n as u64;
    }
    if n_total != len || h.digest() != digest {
        return Err(bri_core::Error::Corrupted {
            what: format!(
                "{} does not read back as written ({n_total} of {len} bytes, checksum {}); the disk or file system lost data; nothing was published",
                path.display(),
                if h.digest() == digest { "equal" } else { "different" }
            ),
        }
        .into());
    }
    let o = open_archive(path)?;
    let m = o.manifest?;
    if m.archive_id != archive_id {
        return Err(bri_core::Error::Corrupted {
            what: "re-read manifest names another archive".into(),
        }
        .into());
    }
    Ok(())
}

/// An archive file opened for reading: index and manifest.
pub struct Opened {
    pub file: File,
    pub len: u64,
    pub index: ArchiveIndex,
    pub manifest: Result<Manifest, bri_core::Error>,
}

fn read_at(file: &mut File, offset: u64, len: u64, what: &str) -> Result<Vec<u8>, CliError> {
    let mut buf = vec![0u8; len as usize];
    file.seek(SeekFrom::Start(offset))
        .and_then(|_| file.read_exact(&mut buf))
        .map_err(|e| CliError::io(format!("reading {what}"), e))?;
    Ok(buf)
}

/// Open an archive: read its tail, parse the seek table, read and check the manifest. Only
/// the tail and the manifest frame are read. A damaged manifest is returned as an error in
/// `manifest` so that callers can still report on frames.
pub fn open_archive(path: &Path) -> Result<Opened, CliError> {
    open_archive_with(path, None)
}

/// Like [`open_archive`], with the seek table given (`Some`) instead of read from the file.
pub fn open_archive_with(
    path: &Path,
    seek: Option<(&[bri_core::seek::SeekEntry], u64)>,
) -> Result<Opened, CliError> {
    let mut file = File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            CliError::NotFound(format!("archive {} does not exist", path.display()))
        } else {
            CliError::io(format!("opening {}", path.display()), e)
        }
    })?;
    let len = file
        .metadata()
        .map_err(|e| CliError::io(format!("reading {}", path.display()), e))?
        .len();
    let mut want = (TAIL_HINT as u64).min(len);
    let index = if let Some(entries) = seek {
        let (entries, expected_len) = entries;
        ArchiveIndex::from_seek_entries(expected_len, entries)?
    } else {
        loop {
            let tail = read_at(&mut file, len - want, want, &path.display().to_string())?;
            match ArchiveIndex::open(len, &tail)? {
                Tail::Index(i) => break i,
                Tail::Need { bytes_from_end } if bytes_from_end > want && bytes_from_end <= len => {
                    want = bytes_from_end
                }
                Tail::Need { .. } => {
                    return Err(bri_core::Error::NotAnArchive {
                        reason: "seek table does not fit in the file".into(),
                    }
                    .into())
                }
            }
        }
    };
    let r = index.manifest_range();
    let manifest = if r.end - r.start > bri_core::manifest::MAX_MANIFEST as u64 {
        Err(bri_core::Error::Corrupted {
            what: "manifest frame is implausibly large".into(),
        })
    } else {
        let bytes = read_at(&mut file, r.start, r.end - r.start, "the manifest")?;
        index.read_manifest(&bytes, codec::default_codec())
    };
    Ok(Opened {
        file,
        len,
        index,
        manifest,
    })
}

/// Verify every frame and member of the archive at `path`, streaming.
pub fn verify_file(path: &Path, bar: &ProgressBar) -> Result<(Manifest, VerifyReport), CliError> {
    verify_file_with(path, None, bar)
}

/// Like [`verify_file`], with the seek table given instead of read from the file.
pub fn verify_file_with(
    path: &Path,
    seek: Option<(&[bri_core::seek::SeekEntry], u64)>,
    bar: &ProgressBar,
) -> Result<(Manifest, VerifyReport), CliError> {
    let mut o = open_archive_with(path, seek)?;
    let manifest = o.manifest?;
    let codec = codec::default_codec();
    let mut v = Verifier::new(&o.index, &manifest);
    o.file
        .seek(SeekFrom::Start(0))
        .map_err(|e| CliError::io("seeking", e))?;
    let mut reader = BufReader::with_capacity(1 << 20, &mut o.file);
    let mut buf = Vec::new();
    while let Some(i) = v.next_frame() {
        let f = o.index.frames[i];
        buf.resize(f.compressed as usize, 0);
        reader
            .read_exact(&mut buf)
            .map_err(|e| CliError::io(format!("reading {}", path.display()), e))?;
        v.feed_frame(&buf, codec);
        bar.inc(u64::from(f.compressed));
    }
    Ok((manifest.clone(), v.finish()))
}

/// What extraction did.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtractSummary {
    pub files: u64,
    pub links: u64,
    pub dirs: u64,
    pub bytes: u64,
}

struct OpenMember {
    entry: MemberEntry,
    dest: PathBuf,
    tmp: PathBuf,
    file: File,
    hasher: Sha256,
}

/// Extract members into `to` (every member, or those in `only`), streaming: each file is
/// written to a temporary name, checked against its sha256, fsynced and renamed. Nothing is
/// ever written outside `to`.
pub fn extract(
    path: &Path,
    to: &Path,
    only: &[String],
    overwrite: bool,
    bar: &ProgressBar,
) -> Result<ExtractSummary, CliError> {
    let mut o = open_archive(path)?;
    let manifest = o.manifest?;
    for p in only {
        if manifest.member(p).is_none() {
            return Err(CliError::NotFound(format!(
                "{p:?} is not a member of {}",
                path.display()
            )));
        }
    }
    fs::create_dir_all(to).map_err(|e| CliError::io(format!("creating {}", to.display()), e))?;
    if !overwrite
        && fs::read_dir(to)
            .map_err(|e| CliError::io(format!("listing {}", to.display()), e))?
            .next()
            .is_some()
    {
        return Err(CliError::Usage(format!(
            "{} is not empty; pass --force to extract into it anyway",
            to.display()
        )));
    }
    let to =
        fs::canonicalize(to).map_err(|e| CliError::io(format!("resolving {}", to.display()), e))?;
    let codec = codec::default_codec();
    let mut summary = ExtractSummary {
        files: 0,
        links: 0,
        dirs: 0,
        bytes: 0,
    };
    let selected: Vec<&MemberEntry> = if only.is_empty() {
        manifest.members.iter().collect()
    } else {
        manifest
            .members
            .iter()
            .filter(|m| only.contains(&m.path))
            .collect()
    };
    // Frames to read: all member frames (streaming) or just the selected members' (seeking).
    let mut frames: Vec<usize> = Vec::new();
    for m in &selected {
        let src = match &m.kind {
            MemberKind::Link { target } if !only.is_empty() && !only.contains(target) => {
                manifest.member(target).unwrap_or(m)
            }
            _ => m,
        };
        frames.extend(o.index.member_frames(src));
    }
    frames.sort_unstable();
    frames.dedup();
    let mut tar = TarReader::new();
    let mut open: Option<OpenMember> = None;
    let mut expect_resync = true;
    let mut prev: Option<usize> = None;
    let mut buf = Vec::new();
    let mut result = Ok(());
    for &i in &frames {
        let f = o.index.frames[i];
        if prev.map(|p| p + 1 != i).unwrap_or(true) {
            expect_resync = true;
        }
        prev = Some(i);
        if expect_resync {
            let m = manifest
                .members
                .iter()
                .find(|m| m.first_frame as usize == i)
                .ok_or_else(|| CliError::Usage("internal: frame plan".into()))?;
            tar.resync(m.tar_offset);
            expect_resync = false;
        }
        buf.resize(f.compressed as usize, 0);
        o.file
            .seek(SeekFrom::Start(f.offset))
            .and_then(|_| o.file.read_exact(&mut buf))
            .map_err(|e| CliError::io(format!("reading {}", path.display()), e))?;
        let data = o.index.decode_frame(i, &buf, codec)?;
        bar.inc(u64::from(f.compressed));
        let step = tar.feed(&data, |ev| {
            on_event(ev, &manifest, &to, only, overwrite, &mut open, &mut summary).map_err(|e| {
                match e {
                    CliError::Core(c) => c,
                    other => bri_core::Error::InvalidInput {
                        message: other.to_string(),
                    },
                }
            })
        });
        if let Err(e) = step {
            result = Err(CliError::Core(e));
            break;
        }
    }
    if let Some(m) = open.take() {
        let _ = fs::remove_file(&m.tmp);
        if result.is_ok() {
            result = Err(bri_core::Error::Corrupted {
                what: format!("{:?} is cut short", m.entry.path),
            }
            .into());
        }
    }
    result.map(|_| summary)
}

fn on_event(
    ev: TarEvent<'_>,
    manifest: &Manifest,
    to: &Path,
    only: &[String],
    overwrite: bool,
    open: &mut Option<OpenMember>,
    summary: &mut ExtractSummary,
) -> Result<(), CliError> {
    match ev {
        TarEvent::Member { header, .. } => {
            if header.path == MANIFEST_NAME {
                return Ok(());
            }
            let entry = manifest.member(&header.path).cloned().ok_or_else(|| {
                bri_core::Error::Corrupted {
                    what: format!("{:?} is in the data but not in the manifest", header.path),
                }
            })?;
            if entry.kind != header.kind || entry.size != header.size {
                return Err(bri_core::Error::Corrupted {
                    what: format!("{:?}: tar header disagrees with the manifest", header.path),
                }
                .into());
            }
            // Members selected only as a link's content source are written under the link's name.
            let wanted: Vec<String> = if only.is_empty() || only.contains(&entry.path) {
                vec![entry.path.clone()]
            } else {
                Vec::new()
            };
            let link_users: Vec<String> = if only.is_empty() {
                Vec::new()
            } else {
                manifest
                    .members
                    .iter()
                    .filter(|m| {
                        matches!(&m.kind, MemberKind::Link { target } if *target == entry.path)
                            && only.contains(&m.path)
                    })
                    .map(|m| m.path.clone())
                    .collect()
            };
            match &entry.kind {
                MemberKind::Dir => {
                    let d = fsutil::safe_join(to, &entry.path)?;
                    fs::create_dir_all(&d)
                        .map_err(|e| CliError::io(format!("creating {}", d.display()), e))?;
                    summary.dirs += 1;
                }
                MemberKind::Link { target } => {
                    if wanted.is_empty() {
                        return Ok(());
                    }
                    let dest = fsutil::safe_join(to, &entry.path)?;
                    let src = fsutil::safe_join(to, target)?;
                    if overwrite
                        && fs::symlink_metadata(&dest)
                            .map(|m| m.is_file())
                            .unwrap_or(false)
                    {
                        let _ = fs::remove_file(&dest);
                    }
                    fs::hard_link(&src, &dest).map_err(|e| {
                        CliError::io(
                            format!("linking {} to {}", dest.display(), src.display()),
                            e,
                        )
                    })?;
                    summary.links += 1;
                }
                MemberKind::File => {
                    let name = wanted.into_iter().chain(link_users).next();
                    let Some(name) = name else { return Ok(()) };
                    let dest = fsutil::safe_join(to, &name)?;
                    if !overwrite && fs::symlink_metadata(&dest).is_ok() {
                        return Err(CliError::Usage(format!(
                            "{} exists; pass --force to overwrite",
                            dest.display()
                        )));
                    }
                    let tmp = fsutil::temp_sibling(&dest);
                    let file = fsutil::create_new(&tmp)?;
                    *open = Some(OpenMember {
                        entry,
                        dest,
                        tmp,
                        file,
                        hasher: Sha256::new(),
                    });
                }
            }
        }
        TarEvent::Data(d) => {
            if let Some(m) = open.as_mut() {
                m.hasher.update(d);
                m.file
                    .write_all(d)
                    .map_err(|e| CliError::io(format!("writing {}", m.tmp.display()), e))?;
                summary.bytes += d.len() as u64;
            }
        }
        TarEvent::MemberEnd => {
            if let Some(m) = open.take() {
                let digest = hex::encode(m.hasher.finalize());
                if digest != m.entry.sha256 {
                    let _ = fs::remove_file(&m.tmp);
                    return Err(bri_core::Error::Corrupted {
                        what: format!(
                            "{:?}: sha256 does not match the manifest; not extracted",
                            m.entry.path
                        ),
                    }
                    .into());
                }
                let done = (|| -> std::io::Result<()> {
                    m.file
                        .set_permissions(fs::Permissions::from_mode(m.entry.mode & 0o777))?;
                    m.file
                        .set_modified(UNIX_EPOCH + Duration::from_secs(m.entry.mtime))?;
                    m.file.sync_all()?;
                    fs::rename(&m.tmp, &m.dest)
                })();
                if let Err(e) = done {
                    let _ = fs::remove_file(&m.tmp);
                    return Err(CliError::io(format!("finishing {}", m.dest.display()), e));
                }
                summary.files += 1;
            }
        }
        TarEvent::End => {}
    }
    Ok(())
}
